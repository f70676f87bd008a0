/**
 * Hot reload re-reads exactly the files in use at start, and fails closed: a rules file
 * that vanishes is a reload error (the running rules stay), never "no rules"; files
 * created later in the working folder never replace those in use; an HTTP listener that
 * started with credentials never serves without them. Through the built CLI started with
 * no flags, as an MCP client starts it in a folder, with real stdio servers.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { binPath, demoServer, errorOf, json, runCli, type RunningGateway } from './harness.js';
import { realTempDir, serveIn } from './in-folder.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn().catch(() => undefined);
});

const LONG_MS = 60_000;
const SERVERS = { mcpServers: { open: demoServer('open'), secret: demoServer('secret') } };
/** `default` may use everything but `secret`. */
const RULES = { agents: { default: { allow: { servers: ['*'] }, deny: { servers: ['secret'] } } } };

interface Status {
  sources: { config: string; rules?: string };
  reload: Record<'config' | 'rules', { file: string; lastError?: string } | undefined>;
  policy: { rulesLoaded: boolean };
}

async function started(options: Parameters<typeof serveIn>[0]): Promise<RunningGateway> {
  const g = await serveIn({ ...options, env: { GATEWAY_DEBUG: '1', ...options.env } });
  cleanup.unshift(() => g.close());
  return g;
}
const listed = async (g: RunningGateway) => json<{ servers: { name: string }[] }>(await g.call('list_servers', {})).servers.map((s) => s.name);
const status = async (g: RunningGateway) => json<Status>(await g.call('get_gateway_status', {}));
const saveByRename = async (path: string, value: unknown) => {
  await writeFile(`${path}.tmp`, JSON.stringify(value));
  await rename(`${path}.tmp`, path);
};

/** The denied server stays hidden and its tool does not run. */
async function secretRefused(g: RunningGateway): Promise<void> {
  expect(await listed(g)).toEqual(['open']);
  const called = await g.call('execute_tool', { server: 'secret', tool: 'echo', args: { text: 'ran' } });
  expect(errorOf(called).code).toMatch(/SERVER_NOT_FOUND|DENIED_BY_POLICY/);
  expect(JSON.stringify(called.content)).not.toContain('ran');
}

describe('hot reload fails closed (built CLI, no flags)', () => {
  it(
    'a trusted project folder: deleting the rules file fails the reload, status says so, the denied server stays hidden and cannot run',
    async () => {
      const home = await realTempDir();
      const project = await realTempDir();
      const rulesPath = join(project, '.mcp-gateway-rules.json');
      await writeFile(join(project, '.mcp.json'), JSON.stringify(SERVERS));
      await writeFile(rulesPath, JSON.stringify(RULES));
      expect((await runCli(['trust'], { cwd: project, env: { HOME: home } })).code).toBe(0);

      const g = await started({ cwd: project, home });
      expect((await status(g)).sources).toEqual({ config: join(project, '.mcp.json'), rules: rulesPath });
      await secretRefused(g);

      await rm(rulesPath);
      await g.waitForStderr(/Config reload after a change to \.mcp-gateway-rules\.json failed; the previous config stays in use: .*rules file not found/);
      const now = await status(g);
      expect(now.reload.rules?.lastError).toContain(`${rulesPath}: rules file not found`);
      expect(now.policy.rulesLoaded).toBe(true);
      await secretRefused(g);

      // Rules that open everything, written in place of the deleted file: not what was trusted, not applied.
      await saveByRename(rulesPath, { agents: { default: { allow: { servers: ['*'] } } } });
      await g.waitForStderr(/failed; the previous config stays in use: .*\.mcp-gateway-rules\.json: not loaded: changed since its folder was trusted/);
      await secretRefused(g);
    },
    LONG_MS,
  );

  it(
    "the user's folder: files created later in the working folder never replace the files in use, and a deleted rules file keeps the rules",
    async () => {
      const home = await realTempDir();
      const userDir = join(home, '.config', 'agent-mcp-gateway');
      await mkdir(userDir, { recursive: true });
      const configPath = join(userDir, '.mcp.json');
      const rulesPath = join(userDir, '.mcp-gateway-rules.json');
      await writeFile(configPath, JSON.stringify(SERVERS));
      await writeFile(rulesPath, JSON.stringify(RULES));
      const work = await realTempDir();

      const g = await started({ cwd: work, home });
      await secretRefused(g);

      // A project's servers and open rules appear (and are even trusted); then the user's rules change.
      await writeFile(join(work, '.mcp.json'), JSON.stringify({ mcpServers: { intruder: demoServer('intruder') } }));
      await writeFile(join(work, '.mcp-gateway-rules.json'), JSON.stringify({ agents: { default: { allow: { servers: ['*'] } } } }));
      expect((await runCli(['trust'], { cwd: work, env: { HOME: home } })).code).toBe(0);
      await saveByRename(rulesPath, { agents: { ...RULES.agents, other: { allow: { servers: ['open'] } } } });
      await g.waitForStderr(/Config reloaded after a change to \.mcp-gateway-rules\.json: no server changed/);
      expect((await status(g)).sources).toEqual({ config: configPath, rules: rulesPath });
      await secretRefused(g);

      await rm(rulesPath);
      await g.waitForStderr(/Config reload after a change to \.mcp-gateway-rules\.json failed/);
      expect((await status(g)).reload.rules?.lastError).toContain('rules file not found');
      await secretRefused(g);
    },
    LONG_MS,
  );

  it(
    'an HTTP listener started with API keys keeps requiring them: after the rules file vanishes, and after it changes to have none',
    async () => {
      const home = await realTempDir();
      const project = await realTempDir();
      const rulesPath = join(project, '.mcp-gateway-rules.json');
      const key = randomBytes(32).toString('hex');
      const hash = `sha256:${createHash('sha256').update(key).digest('hex')}`;
      await writeFile(join(project, '.mcp.json'), JSON.stringify(SERVERS));
      await writeFile(rulesPath, JSON.stringify({ agents: { a: { allow: { servers: ['open'] }, api_keys: [hash] } } }));
      const env = { PATH: process.env.PATH ?? '', HOME: home };
      expect((await runCli(['trust'], { cwd: project, env: { HOME: home } })).code).toBe(0);

      const child = spawn(process.execPath, [binPath, '--transport', 'http', '--port', '0'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      cleanup.push(async () => {
        child.kill('SIGTERM');
        await exited;
      });
      let stderr = '';
      const waitFor = (re: RegExp) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`stderr never showed ${String(re)}:\n${stderr}`)), 10_000);
          const check = () => {
            if (!re.test(stderr)) return;
            clearTimeout(timer);
            resolve();
          };
          child.stderr.on('data', (c: Buffer) => {
            stderr += c.toString();
            check();
          });
          check();
        });
      await waitFor(/Gateway listening on http:\/\/\S+/);
      const url = /Gateway listening on (http:\/\/\S+)/.exec(stderr)?.[1] as string;
      const initialize = (headers: Record<string, string> = {}) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
        }).then((r) => r.status);
      const withKey = { Authorization: `Bearer ${key}` };
      expect(await initialize()).toBe(401);
      expect(await initialize(withKey)).toBe(200);

      await rm(rulesPath);
      await waitFor(/Config reload after a change to \.mcp-gateway-rules\.json failed/);
      expect(await initialize()).toBe(401);
      expect(await initialize(withKey)).toBe(200);

      // Rules without any key: refused while untrusted, then applied once trusted — and still no open door.
      await saveByRename(rulesPath, { agents: { default: { allow: { servers: ['*'] } } } });
      await waitFor(/\.mcp-gateway-rules\.json: not loaded: changed since its folder was trusted/);
      expect(await initialize()).toBe(401);
      expect((await runCli(['trust'], { cwd: project, env: { HOME: home } })).code).toBe(0);
      await waitFor(/Config reloaded after a change to trusted\.json/);
      expect(await initialize()).toBe(503);
      expect(await initialize(withKey)).toBe(503);
    },
    LONG_MS,
  );
});
