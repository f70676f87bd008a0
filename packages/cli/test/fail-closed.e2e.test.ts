/**
 * Attacks on a credential-holding gateway, carried out through the built CLI, that must fail:
 * credentials in server URLs and escape sequences in downstream errors (item 2), probing for hidden
 * server names (item 6), a gateway that lists itself (item 8), connect timeouts and exit codes that
 * scripts rely on (item 9).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listenOnLoopback, startHttpMcpServer } from '@agent-mcp-gateway/testing';
import { alive, binPath, closeAfterEach, demoServer, errorOf, json, runCli, tempDir, waitForExit, writeConfig } from './harness.js';
import { serveIn } from './in-folder.js';

const { later, gateway } = closeAfterEach();

const KEY = 'sk_live_fromTheEnvironment_7781';
const LITERAL = 'literal-secret-in-the-url-5521';
const USERINFO_PASSWORD = 'pw-in-the-userinfo-9931';

/** A server that answers every request with HTTP 500 and a body full of terminal escapes and the request's `token`. */
async function hostileServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '';
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`\x1b]0;owned\x07\x1b[2J\x1b[31mboom, token=${token}\x1b[0m\r\nsecond line`);
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('credentials in server URLs and hostile downstream strings (item 2)', () => {
  it('list_servers, servers and servers --json show URLs without userinfo or query values; lastError is redacted and free of control characters', async () => {
    const open = later(await startHttpMcpServer({ name: 'open' }));
    const hostile = later(await hostileServer());
    const port = new URL(open.url).port;
    const servers = {
      open: { url: `${open.url}?api_key=\${KEY}&session=${LITERAL}` },
      userinfo: { url: `http://alice:${USERINFO_PASSWORD}@127.0.0.1:${port}/mcp` },
      hostile: { url: `${hostile.url}?token=${LITERAL}` },
    };
    const env = { KEY };

    const g = await gateway({ servers, env: { ...env, GATEWAY_LOG_LEVEL: 'debug' } });
    await g.call('execute_tool', { server: 'open', tool: 'echo', args: { text: 'hi' } });
    await g.call('execute_tool', { server: 'hostile', tool: 'echo', args: { text: 'hi' } });
    await g.call('execute_tool', { server: 'userinfo', tool: 'echo', args: { text: 'hi' } });
    const listed = json<{ servers: { name: string; url: string; state: string }[] }>(await g.call('list_servers', { include_metadata: true }));
    expect(listed.servers.find((s) => s.name === 'open')).toMatchObject({ url: `${open.url}?api_key=***&session=***`, state: 'ready' });
    expect(listed.servers.find((s) => s.name === 'userinfo')?.url).toBe(`http://127.0.0.1:${port}/mcp`);
    expect(listed.servers.find((s) => s.name === 'hostile')?.url).toBe(`${hostile.url}?token=***`);
    const shown = JSON.stringify(listed);
    for (const secret of [KEY, LITERAL, USERINFO_PASSWORD]) expect(shown).not.toContain(secret);
    // the gateway's own log at debug level too
    for (const secret of [KEY, LITERAL, USERINFO_PASSWORD]) expect(g.stderr()).not.toContain(secret);

    const { config } = await writeConfig(servers);
    const home = await tempDir();
    const human = await runCli(['servers', '--config', config], { env: { ...env, HOME: home } });
    const machine = await runCli(['servers', '--json', '--config', config], { env: { ...env, HOME: home } });
    for (const out of [human, machine]) {
      expect(out.code).toBe(3); // hostile and userinfo are in error
      for (const secret of [KEY, LITERAL, USERINFO_PASSWORD]) {
        expect(out.stdout).not.toContain(secret);
        expect(out.stderr).not.toContain(secret);
      }
      // eslint-disable-next-line no-control-regex
      expect(out.stdout).not.toMatch(/[\x07\x1b\r]/);
    }
    const rows = (JSON.parse(machine.stdout) as { servers: { name: string; url: string; state: string; lastError: string | null }[] }).servers;
    expect(rows.find((r) => r.name === 'open')).toMatchObject({ url: `${open.url}?api_key=***&session=***`, state: 'ready' });
    const failed = rows.find((r) => r.name === 'hostile');
    expect(failed?.state).toBe('error');
    // the server's words arrive, minus what could drive the terminal or leak the token
    expect(failed?.lastError).toMatch(/boom, token=\[REDACTED\].*second line/);
    expect(human.stdout).toMatch(/^hostile\s+http\s+none\s+error\s+-\s+.*boom, token=\[REDACTED\]/m);
  });
});

describe("a tool's error result cannot hand the agent a credential (item 5)", () => {
  it('known secrets are blanked out of a downstream isError result; a successful result is the agent\'s data, unchanged', async () => {
    const g = await gateway({ servers: { notes: demoServer('notes', { env: { API_KEY: '${KEY}' } }) }, env: { KEY } });
    const failed = await g.call('execute_tool', { server: 'notes', tool: 'fail', args: { message: `bad key ${KEY}` } });
    expect(failed.isError).toBe(true);
    expect(failed.content).toEqual([{ type: 'text', text: 'bad key [REDACTED]' }]);
    const echoed = await g.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: 'plain words' } });
    expect(echoed.content).toEqual([{ type: 'text', text: 'plain words' }]);
  });
});

describe('hidden servers cannot be probed for (item 6)', () => {
  const rules = {
    agents: {
      researcher: { allow: { servers: ['notes'] }, deny: { tools: { notes: ['add'] } } },
      ops: { allow: { servers: ['*'] } },
    },
  };

  it('a server the agent may not see answers exactly as one that does not exist; a denied tool keeps its rule; status shows only its own view', async () => {
    const audit = join(await tempDir(), 'audit.jsonl');
    const g = await gateway({
      servers: { notes: demoServer('notes'), 'vault-7f3': demoServer('vault-7f3') },
      rules,
      args: ['--debug'],
      env: { GATEWAY_AUDIT_LOG: audit },
    });
    const asResearcher = (tool: string, args: Record<string, unknown>) => g.call(tool, { agent_id: 'researcher', ...args });
    const same = async (tool: string, args: Record<string, unknown>) => {
      const hidden = errorOf(await asResearcher(tool, { ...args, server: 'vault-7f3' }));
      const missing = errorOf(await asResearcher(tool, { ...args, server: 'no-such-9c1' }));
      expect(JSON.stringify(hidden).replaceAll('vault-7f3', 'X')).toBe(JSON.stringify(missing).replaceAll('no-such-9c1', 'X'));
      expect(hidden.code).toBe('SERVER_NOT_FOUND');
    };
    await same('get_server_tools', {});
    await same('execute_tool', { tool: 'echo', args: { text: 'x' } });
    const listed = json<{ servers: { name: string }[] }>(await asResearcher('list_servers', { include_metadata: true }));
    expect(listed.servers.map((s) => s.name)).toEqual(['notes']);

    const tool = errorOf(await asResearcher('execute_tool', { server: 'notes', tool: 'add', args: { a: 1, b: 2 } }));
    expect(tool).toMatchObject({ code: 'DENIED_BY_POLICY', server: 'notes', tool: 'add', rule: 'deny.tools["notes"]["add"]' });

    const status = await asResearcher('get_gateway_status', {});
    const text = JSON.stringify(status);
    expect(text).not.toContain('vault-7f3');
    const view = json<{ servers: { name: string }[]; policy: { agents: string[] } }>(status);
    expect(view.servers.map((s) => s.name)).toEqual(['notes']);
    expect(view.policy.agents).toEqual(['researcher']);
    // ops sees both
    const ops = json<{ servers: { name: string }[] }>(await g.call('get_gateway_status', { agent_id: 'ops' }));
    expect(ops.servers.map((s) => s.name)).toEqual(['notes', 'vault-7f3']);

    // The operator's audit log records what really happened: policy denials.
    await g.close();
    const records = (await readFile(audit, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const probes = records.filter((r) => r.server === 'vault-7f3');
    expect(probes.map((r) => [r.operation, r.decision, r.error_code])).toEqual([
      ['get_server_tools', 'DENY', 'DENIED_BY_POLICY'],
      ['execute_tool', 'DENY', 'DENIED_BY_POLICY'],
    ]);
    expect(records.filter((r) => r.server === 'no-such-9c1').map((r) => r.error_code)).toEqual(['SERVER_NOT_FOUND', 'SERVER_NOT_FOUND']);
  });
});

/** Processes whose working folder is `dir` (each test runs its gateways in a folder of its own). */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

describe('a gateway listed in its own servers file (item 8)', () => {
  /** A user folder whose `.mcp.json` lists the gateway itself with no flags: the default setup of a client. */
  async function selfListingHome(): Promise<string> {
    const home = await tempDir();
    const dir = join(home, '.config', 'agent-mcp-gateway');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '.mcp.json'), JSON.stringify({ mcpServers: { me: { command: process.execPath, args: [binPath], cwd: home } } }));
    return home;
  }

  it('refuses itself: `servers` shows the entry in error with the reason and exits non-zero; no process is left', async () => {
    const home = await selfListingHome();
    const r = await runCli(['servers', '--json'], { env: { HOME: home }, cwd: home });
    expect(r.code).toBe(3);
    const [row] = (JSON.parse(r.stdout) as { servers: { name: string; state: string; lastError: string }[] }).servers;
    expect(row).toMatchObject({ name: 'me', state: 'error' });
    expect(row?.lastError).toContain('refuses to serve');
    expect(row?.lastError).toContain('same servers file');
    for (const pid of processesIn(home)) expect(await waitForExit(pid, 5_000)).toBe(true);
  });

  it('served to an MCP client with no flags: the self entry is an error, the gateway keeps serving, nothing multiplies', async () => {
    const home = await selfListingHome();
    const g = later(await serveIn({ cwd: home, home }));
    const error = errorOf(await g.call('execute_tool', { server: 'me', tool: 'list_servers', args: {} }));
    expect(error.code).toBe('SERVER_UNAVAILABLE');
    expect(error.message).toContain('refuses to serve');
    // Only the gateway the client started is left in this folder: the child it started has exited.
    const others = () => processesIn(home).filter((pid) => pid !== g.pid);
    for (const pid of others()) expect(await waitForExit(pid, 5_000)).toBe(true);
    expect(processesIn(home)).toEqual([g.pid]);
    // and it still serves
    const listed = json<{ servers: { name: string }[] }>(await g.call('list_servers', {}));
    expect(listed.servers.map((s) => s.name)).toEqual(['me']);
  });
});

describe('timeouts and exit codes scripts can trust (item 9)', () => {
  /** A stdio "server" that never answers, stays after its stdin ends and ignores SIGTERM; it writes its pid to `pidFile`. */
  async function hungServer(dir: string): Promise<{ entry: Record<string, unknown>; pidFile: string }> {
    const script = join(dir, 'hung.cjs');
    const pidFile = join(dir, 'hung.pid');
    await writeFile(script, `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);\n`);
    return { entry: { command: process.execPath, args: [script] }, pidFile };
  }

  it('connectTimeoutMs bounds the connection: the server is in error (not still connecting), its child is killed, `servers` exits 3', async () => {
    const scripts = await tempDir();
    const hung = await hungServer(scripts);
    // Only the hung server: a real one could itself miss a 2 s bound on a loaded machine.
    const { config, dir } = await writeConfig({ hung: hung.entry });
    // connectTimeoutMs 2000: `servers` gives up on a server after 2000 ms + its grace; a close that waited for
    // SIGTERM (2 s) and SIGKILL (2 s more) reported it still "connecting" then.
    await writeFile(join(dir, '.agent-mcp-gatewayrc.json'), JSON.stringify({ connectTimeoutMs: 2000 }));
    const r = await runCli(['servers', '--json', '--config', config], { env: { HOME: dir }, cwd: dir });
    expect(r.code).toBe(3);
    const rows = (JSON.parse(r.stdout) as { servers: { name: string; state: string; lastError: string | null }[] }).servers;
    expect(rows.find((s) => s.name === 'hung')).toMatchObject({ state: 'error', lastError: expect.stringContaining('did not connect within 2000 ms') });
    const pid = Number(await readFile(hung.pidFile, 'utf8'));
    expect(await waitForExit(pid, 5_000)).toBe(true);
    expect(alive(pid)).toBe(false);
  });

  it('`servers` exits 0 when every enabled server is ready', async () => {
    const { config, dir } = await writeConfig({ notes: demoServer('notes'), off: { ...demoServer('off'), enabled: false } });
    const r = await runCli(['servers', '--config', config], { env: { HOME: dir } });
    expect(r.code).toBe(0);
  });

  it('without any rules file, start-up says in one line that every agent may use everything, and how to fix it', async () => {
    const g = await gateway({ servers: { notes: demoServer('notes') } });
    await g.waitForStderr(/No rules file is loaded: every agent may use every server and tool\. .*--rules <file>/);
  });
});
