/**
 * `trust`: the user's approval of a project folder's gateway files, as MCP clients approve
 * a project's `.mcp.json`. Until a folder is trusted, and again as soon as one of its
 * gateway files changes, appears or disappears, the gateway reads none of them: servers,
 * rules and settings come from flags, variables and ~/.config/agent-mcp-gateway/ instead.
 */
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, resolve } from 'node:path';
import { parseJsonText, projectTrust, readTrustStore, revokeFolder, trustFolder, userConfigDir } from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';

export async function runTrust(args: CliArgs, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const home = env.HOME ?? homedir();
  if (args.list) return list(home);
  const dir = folderOf(args.operands[0]);
  if (args.revoke) {
    const removed = revokeFolder(dir, home);
    process.stdout.write(removed ? `No longer trusted: ${dir}\n` : `${dir} was not trusted\n`);
    return 0;
  }
  if (dir === userConfigDir(home)) {
    process.stdout.write(`${dir} is your own folder: its files are always used\n`);
    return 0;
  }
  const { files, store } = trustFolder(dir, home);
  for (const { file, hash } of files) process.stdout.write(`Trusted ${file} (${hash.slice(0, 'sha256:'.length + 12)}…)${await summary(file)}\n`);
  process.stdout.write(
    `Recorded in ${store}. The gateway now uses these files when started in ${dir}; ` +
      `if any of them changes, or a file is added or removed, none is used until you run 'agent-mcp-gateway trust' again.\n`,
  );
  return 0;
}

/** The folder to act on: the operand or the working folder, as a real path (what `process.cwd()` gives the gateway). */
function folderOf(operand: string | undefined): string {
  const dir = resolve(operand ?? process.cwd());
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

function list(home: string): number {
  const userDir = userConfigDir(home);
  const { store, problem } = readTrustStore(userDir);
  if (problem !== undefined) process.stderr.write(`agent-mcp-gateway: warning: ${problem}\n`);
  if (store.size === 0) {
    process.stdout.write('No trusted folders.\n');
    return 0;
  }
  for (const [dir, entry] of store) {
    const judged = projectTrust(dir, userDir);
    process.stdout.write(`${dir}  ${judged.trusted ? 'trusted' : 'NOT trusted now'} (since ${entry.trustedAt}): ${Object.keys(entry.files).join(', ')}\n`);
    for (const line of judged.problems) process.stdout.write(`  ${line}\n`);
  }
  return 0;
}

/** What trusting the file means, in a few words: the servers it starts, or that it is code. */
async function summary(file: string): Promise<string> {
  const name = basename(file);
  if (/\.(c|m)?js$/.test(name)) return ': JavaScript, runs inside the gateway with access to every token';
  if (name !== '.mcp.json') return '';
  try {
    // JSONC, as the gateway reads it (comments, trailing commas); a file that does not parse is summarised as nothing.
    const doc = parseJsonText(await readFile(file, 'utf8'), file) as { mcpServers?: unknown; servers?: unknown };
    const servers = (doc.mcpServers ?? doc.servers) as Record<string, { command?: unknown; args?: unknown; url?: unknown }> | undefined;
    if (typeof servers !== 'object' || servers === null) return '';
    const described = Object.entries(servers).map(([server, entry]) => {
      const args = Array.isArray(entry?.args) ? entry.args.map(String) : [];
      const what = typeof entry?.url === 'string' ? entry.url : typeof entry?.command === 'string' ? [entry.command, ...args].join(' ') : '?';
      return `${server} (${what})`;
    });
    return described.length > 0 ? `: servers ${described.join(', ')}` : '';
  } catch {
    return '';
  }
}
