import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { resolveUserPath } from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { RULES_TEMPLATE, SERVERS_TEMPLATE } from './templates.js';

/**
 * `init`: writes the templates — into the user's folder, or where `--config` / `--rules` say; never
 * overwrites without `--force` or a yes at a prompt.
 */
export async function runInit(args: CliArgs, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const home = env.HOME ?? homedir();
  const dir = join(home, '.config', 'agent-mcp-gateway');
  const files: [string, unknown][] = [
    [args.config !== undefined ? resolveUserPath(args.config, process.cwd(), home) : join(dir, '.mcp.json'), SERVERS_TEMPLATE],
    [args.rules !== undefined ? resolveUserPath(args.rules, process.cwd(), home) : join(dir, '.mcp-gateway-rules.json'), RULES_TEMPLATE],
  ];
  let failed = false;
  for (const [file, content] of files) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    if ((await exists(file)) && !args.force && !(await confirm(`${file} exists. Overwrite? [y/N] `))) {
      process.stderr.write(`Kept ${file} (use --force to overwrite)\n`);
      failed = true;
      continue;
    }
    await writeFile(file, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
    // `mode` applies only when the file is created: an overwritten file keeps its old (maybe readable) mode.
    await chmod(file, 0o600);
    process.stdout.write(`Wrote ${file}\n`);
  }
  return failed ? 1 : 0;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Asks only when a person is there to answer; otherwise the answer is no. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
