import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/client';
import {
  binPath,
  demoServer,
  errorOf,
  json,
  startGateway,
  stdioServerPath,
  tempDir,
  waitForExit,
  writeConfig,
  type RunningGateway,
} from './harness.js';

const running: RunningGateway[] = [];
async function start(options: Parameters<typeof startGateway>[0]): Promise<RunningGateway> {
  const gateway = await startGateway(options);
  running.push(gateway);
  return gateway;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.close().catch(() => undefined)));
});

const RULES = {
  agents: {
    researcher: {
      allow: { servers: ['notes', 'extra-?'], tools: { 'extra-1': ['ec*'] } },
      deny: { tools: { notes: ['crash', 'thr*'] } },
    },
    ops: { allow: { servers: ['*'] }, deny: { servers: ['secret'] } },
    default: { allow: { servers: ['notes'] } },
  },
};
const SERVERS = { notes: demoServer('notes'), secret: demoServer('secret'), 'extra-1': demoServer('extra-1') };

describe('the gateway served over stdio (built CLI, SDK client)', () => {
  it('offers exactly the three meta-tools, four with --debug, with usable descriptions', async () => {
    const plain = await start({ servers: SERVERS, rules: RULES });
    const { tools } = await plain.client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['list_servers', 'get_server_tools', 'execute_tool']);
    for (const tool of tools) expect(tool.description?.length).toBeGreaterThan(30);
    expect(tools[2]?.inputSchema.required).toEqual(['server', 'tool']);
    expect(tools[1]?.description).toMatch(/names|pattern/);

    const debug = await start({ servers: SERVERS, rules: RULES, args: ['--debug'] });
    const withStatus = await debug.client.listTools();
    expect(withStatus.tools.map((t) => t.name)).toEqual(['list_servers', 'get_server_tools', 'execute_tool', 'get_gateway_status']);
    const status = json<{ servers: { name: string }[]; agent: string }>(await debug.call('get_gateway_status', { agent_id: 'ops' }));
    // only what ops may see: 'secret' is denied to it under "*"
    expect(status.servers.map((s) => s.name)).toEqual(['notes', 'extra-1']);
    expect(status.agent).toBe('ops');
  });

  it('lists only the servers an agent may use; a server denied under "*" is never listed', async () => {
    const g = await start({ servers: SERVERS, rules: RULES });
    const names = async (args: Record<string, unknown>) =>
      json<{ servers: { name: string }[] }>(await g.call('list_servers', args)).servers.map((s) => s.name);
    expect(await names({ agent_id: 'researcher' })).toEqual(['notes', 'extra-1']);
    expect(await names({ agent_id: 'ops' })).toEqual(['notes', 'extra-1']);
    expect(await names({})).toEqual(['notes']); // the `default` agent
    expect(errorOf(await g.call('list_servers', { agent_id: 'nobody' })).code).toBe('INVALID_AGENT_ID');
    expect(errorOf(await g.call('list_servers', { agent_id: 'bad id!' })).code).toBe('INVALID_AGENT_ID');
    const meta = json<{ servers: Record<string, unknown>[] }>(await g.call('list_servers', { agent_id: 'researcher', include_metadata: true }));
    expect(meta.servers[0]).toMatchObject({ name: 'notes', transport: 'stdio', command: process.execPath, auth: 'none' });
    expect(['idle', 'connecting', 'ready']).toContain(meta.servers[0]?.state);
  });

  it('get_server_tools filters by policy, names, pattern and a token budget', async () => {
    const g = await start({ servers: SERVERS, rules: RULES });
    type Tools = { tools: { name: string }[]; server: string; total_available: number; returned: number; tokens_used: number };
    const all = json<Tools>(await g.call('get_server_tools', { agent_id: 'ops', server: 'notes' }));
    const researcher = json<Tools>(await g.call('get_server_tools', { agent_id: 'researcher', server: 'notes' }));
    expect(all.tools.map((t) => t.name)).toContain('crash');
    expect(researcher.tools.map((t) => t.name)).not.toContain('crash');
    expect(researcher.tools.map((t) => t.name)).not.toContain('throw');
    expect(researcher.total_available).toBe(all.total_available - 2);
    // downstream order is kept
    expect(researcher.tools.map((t) => t.name)).toEqual(all.tools.map((t) => t.name).filter((n) => n !== 'crash' && n !== 'throw'));

    const named = json<Tools>(await g.call('get_server_tools', { agent_id: 'ops', server: 'notes', names: 'add, echo ,nope' }));
    expect(named.tools.map((t) => t.name)).toEqual(['echo', 'add']);
    expect(named.returned).toBe(2);
    expect(named.tokens_used).toBeGreaterThan(0);

    const pattern = json<Tools>(await g.call('get_server_tools', { agent_id: 'ops', server: 'notes', pattern: '?ar*' }));
    expect(pattern.tools.map((t) => t.name).sort()).toEqual(['large']);

    // budget: exactly the first tool fits, the second would overflow → stop there
    const first = json<Tools>(await g.call('get_server_tools', { agent_id: 'ops', server: 'notes', names: 'echo' }));
    const budget = json<Tools>(await g.call('get_server_tools', { agent_id: 'ops', server: 'notes', max_schema_tokens: first.tokens_used }));
    expect(budget.tools.map((t) => t.name)).toEqual(['echo']);
    expect(budget.tokens_used).toBe(first.tokens_used);
    expect(budget.total_available).toBe(all.total_available);
    const none = json<Tools>(await g.call('get_server_tools', { agent_id: 'ops', server: 'notes', max_schema_tokens: 1 }));
    expect(none.returned).toBe(0);

    const restricted = json<Tools>(await g.call('get_server_tools', { agent_id: 'researcher', server: 'extra-1' }));
    expect(restricted.tools.map((t) => t.name)).toEqual(['echo']);
    expect(errorOf(await g.call('get_server_tools', { agent_id: 'researcher', server: 'secret' })).code).toBe('SERVER_NOT_FOUND');
    expect(errorOf(await g.call('get_server_tools', { agent_id: 'ops', server: 'nope' })).code).toBe('SERVER_NOT_FOUND');
    expect(errorOf(await g.call('get_server_tools', { agent_id: 'ops' })).code).toBe('INVALID_ARGUMENTS');
  });

  it('execute_tool forwards content, structuredContent and isError unchanged', async () => {
    const g = await start({ servers: SERVERS, rules: RULES });
    const direct = new Client({ name: 'direct', version: '1' });
    await direct.connect(new StdioClientTransport({ command: process.execPath, args: [stdioServerPath], stderr: 'pipe' }));
    try {
      for (const [tool, args] of [
        ['echo', { text: 'héllo ✓' }],
        ['fail', { message: 'nope' }],
        ['large', { bytes: 100_000 }],
      ] as const) {
        const expected = await direct.callTool({ name: tool, arguments: args });
        const through = await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool, args });
        expect(through).toEqual(expected);
      }
    } finally {
      await direct.close();
    }
    const echoed = await g.call('execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'echo', args: { text: 'x' } });
    expect(echoed.structuredContent).toEqual({ text: 'x' });
    expect(errorOf(await g.call('execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'crash' })).code).toBe('DENIED_BY_POLICY');
    expect(errorOf(await g.call('execute_tool', { agent_id: 'ops', server: 'nope', tool: 'echo' })).code).toBe('SERVER_NOT_FOUND');
    expect(errorOf(await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'nope' })).code).toBe('TOOL_NOT_FOUND');
    const thrown = errorOf(await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'throw', args: { message: 'kaput' } }));
    expect(thrown.code).toBe('DOWNSTREAM_ERROR');
    expect(thrown.message).toContain('kaput');
  });

  it('timeout_ms gives TIMEOUT and cancels the downstream call', async () => {
    const g = await start({ servers: SERVERS, rules: RULES, env: { GATEWAY_LOG_LEVEL: 'info' } });
    const result = await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'sleep', args: { ms: 20_000 }, timeout_ms: 200 });
    expect(errorOf(result)).toMatchObject({ code: 'TIMEOUT', server: 'notes', tool: 'sleep' });
    // the child saw the cancellation (its stderr reaches the gateway log, tagged with the server)
    await g.waitForStderr(/\[notes\] stderr: sleep aborted/);
  });

  it('a child killed mid-call gives SERVER_UNAVAILABLE promptly, and the next call restarts it', async () => {
    const g = await start({ servers: SERVERS, rules: RULES });
    const pidResult = await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'pid' });
    const pid = Number((pidResult.content[0] as { text: string }).text);
    const pending = g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'sleep', args: { ms: 30_000 }, timeout_ms: 25_000 });
    await g.waitForStderr(/\[notes\] stderr: sleep started/);
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');
    const result = await pending;
    const elapsed = performance.now() - killedAt;
    expect(errorOf(result).code).toBe('SERVER_UNAVAILABLE'); // not TIMEOUT: the call ended long before its 25 s timeout
    console.log(`SERVER_UNAVAILABLE after ${elapsed.toFixed(0)} ms`);
    const status = json<{ servers: { name: string; state: string }[] }>(await g.call('list_servers', { agent_id: 'ops', include_metadata: true }));
    expect(status.servers.find((s) => s.name === 'notes')?.state).toBe('error');
    const again = await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'pid' });
    expect(Number((again.content[0] as { text: string }).text)).not.toBe(pid);
    // crash by the tool itself: same story
    expect(errorOf(await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'crash' })).code).toBe('SERVER_UNAVAILABLE');
    expect(json(await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'echo', args: { text: 'back' } }))).toEqual({ text: 'back' });
  });

  it('passes progress notifications from the downstream tool to the client', async () => {
    const g = await start({ servers: SERVERS, rules: RULES });
    const seen: number[] = [];
    const result = await g.client.callTool(
      { name: 'execute_tool', arguments: { agent_id: 'ops', server: 'notes', tool: 'progress', args: { steps: 3, delayMs: 150 } } },
      { onprogress: (p) => seen.push(p.progress) },
    );
    expect((result as CallToolResult).isError).toBeFalsy();
    expect((result as CallToolResult).content).toEqual([{ type: 'text', text: 'done 3' }]);
    // The SDK client may drop a notification read in the same chunk as the response
    // (typescript-sdk#2580): the steps sent while the tool works must all arrive, in order.
    // 150 ms between steps: at 20 ms a loaded CI machine sometimes read steps 2, 3 and the
    // response of the downstream in one chunk, and the SDK handled the response first.
    expect(seen.slice(0, 2)).toEqual([1, 2]);
    expect(seen).toEqual([1, 2, 3].slice(0, seen.length));
  });

  it('refreshes a server tool list on notifications/tools/list_changed', async () => {
    const g = await start({ servers: SERVERS, rules: RULES });
    const before = json<{ tools: { name: string }[] }>(await g.call('get_server_tools', { agent_id: 'ops', server: 'notes' }));
    expect(before.tools.map((t) => t.name)).not.toContain('extra_1');
    await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'add_tool' });
    await g.waitForStderr(/\[notes\] Tools changed/);
    const after = json<{ tools: { name: string }[] }>(await g.call('get_server_tools', { agent_id: 'ops', server: 'notes' }));
    expect(after.tools.map((t) => t.name)).toContain('extra_1');
    const extra = await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'extra_1' });
    expect(extra.isError).toBeFalsy();
  });

  it('passes configured env to stdio children', async () => {
    const g = await start({
      servers: { notes: demoServer('notes', { env: { DEMO_API_KEY: '${KEY_FROM_ENV:-fallback-key}' } }) },
      env: { KEY_FROM_ENV: 'sk-test-abcdef' },
    });
    const result = await g.call('execute_tool', { server: 'notes', tool: 'env', args: { name: 'DEMO_API_KEY' } });
    expect((result.content[0] as { text: string }).text).toBe('sk-test-abcdef');
    const leaked = await g.call('execute_tool', { server: 'notes', tool: 'env', args: { name: 'KEY_FROM_ENV' } });
    expect((leaked.content[0] as { text: string }).text).toBe('<unset>'); // the gateway's own env is not inherited wholesale
  });

  it('lazy init answers list_servers without starting any downstream', async () => {
    const g = await start({ servers: SERVERS, env: { GATEWAY_INIT_STRATEGY: 'lazy' } });
    const meta = json<{ servers: { state: string }[] }>(await g.call('list_servers', { include_metadata: true }));
    expect(meta.servers.map((s) => s.state)).toEqual(['idle', 'idle', 'idle']);
  });

  it('a failing or slow server never blocks the others', async () => {
    const g = await start({
      servers: {
        broken: { command: '/nonexistent/binary' },
        dying: demoServer('dying', { env: { TEST_SERVER_REQUIRE_ENV: 'NOT_SET_ANYWHERE' } }),
        notes: demoServer('notes'),
      },
    });
    expect(json(await g.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: 'ok' } }))).toEqual({ text: 'ok' });
    const broken = errorOf(await g.call('get_server_tools', { server: 'broken' }));
    expect(broken.code).toBe('SERVER_UNAVAILABLE');
    expect(broken.message).toMatch(/ENOENT/);
    expect(errorOf(await g.call('get_server_tools', { server: 'dying' })).code).toBe('SERVER_UNAVAILABLE');
    // it keeps dying at start: after the immediate retry, restarts back off and calls fail fast meanwhile
    expect(errorOf(await g.call('get_server_tools', { server: 'dying' })).code).toBe('SERVER_UNAVAILABLE');
    const backingOff = errorOf(await g.call('get_server_tools', { server: 'dying' }));
    expect(backingOff).toMatchObject({ code: 'SERVER_UNAVAILABLE', server: 'dying' });
    expect(backingOff.message).toMatch(/next restart attempt in \d+ s/);
  });

  it('keeps a chatty child from flooding the log', async () => {
    const g = await start({ servers: { notes: demoServer('notes', { env: { TEST_SERVER_STDERR_LINES: '5000' } }) } });
    await g.call('get_server_tools', { server: 'notes' });
    await g.waitForStderr(/\[notes\] stderr: \d+ lines dropped/);
    expect(g.stderr().split('\n').filter((l) => l.includes('[notes] stderr:')).length).toBeLessThan(400);
  });

  it('works with a published MCP server from npm (server-memory)', async () => {
    const require = createRequire(import.meta.url);
    const memoryBin = require.resolve('@modelcontextprotocol/server-memory/dist/index.js');
    const dir = await tempDir();
    const g = await start({
      servers: { memory: { command: process.execPath, args: [memoryBin], env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') } } },
    });
    expect(json<{ servers: { name: string }[] }>(await g.call('list_servers', {})).servers.map((s) => s.name)).toEqual(['memory']);
    const tools = json<{ tools: { name: string }[] }>(await g.call('get_server_tools', { server: 'memory' }));
    expect(tools.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['create_entities', 'read_graph']));
    const created = await g.call('execute_tool', {
      server: 'memory',
      tool: 'create_entities',
      args: { entities: [{ name: 'gateway', entityType: 'project', observations: ['behind a gateway'] }] },
    });
    expect(created.isError).toBeFalsy();
    const graph = await g.call('execute_tool', { server: 'memory', tool: 'read_graph', args: {} });
    expect(JSON.stringify(graph.content)).toContain('behind a gateway');
  });
});

describe('both protocol eras over stdio', () => {
  const modernClient = () => new Client({ name: 'e2e-2026', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });

  it.each([
    ['2026-07-28', 'modern'],
    ['2025', 'legacy'],
  ] as const)('a %s client lists servers, gets their tools, executes one; eager servers start without being asked', async (_label, era) => {
    const g = await start({
      servers: { notes: demoServer('notes'), billing: demoServer('billing') },
      rules: { agents: { default: { allow: { servers: ['*'] }, deny: { servers: ['billing'] } }, ops: { allow: { servers: ['billing'] } } } },
      env: { GATEWAY_LOG_LEVEL: 'info' },
      ...(era === 'modern' && { client: modernClient() }),
    });
    expect(g.client.getProtocolEra()).toBe(era);
    if (era === 'modern') expect(g.client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    expect(json<{ servers: { name: string }[] }>(await g.call('list_servers', {})).servers.map((s) => s.name)).toEqual(['notes']);
    expect(json<{ servers: { name: string }[] }>(await g.call('list_servers', { agent_id: 'ops' })).servers.map((s) => s.name)).toEqual(['billing']);
    const tools = json<{ tools: { name: string }[] }>(await g.call('get_server_tools', { server: 'notes' })).tools.map((t) => t.name);
    expect(tools).toContain('echo');
    expect(json(await g.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: era } }))).toEqual({ text: era });
    expect(errorOf(await g.call('execute_tool', { server: 'billing', tool: 'echo', args: { text: 'x' } })).code).toBe('SERVER_NOT_FOUND');
    // billing was never called for this agent, yet it started: connect-all ran for this client
    await g.waitForStderr(/\[billing\][^\n]*Connected \(/);
    const meta = json<{ servers: { name: string; state: string }[] }>(await g.call('list_servers', { agent_id: 'ops', include_metadata: true }));
    expect(meta.servers).toEqual([expect.objectContaining({ name: 'billing', state: 'ready' })]);
  });

  it("a 2026-07-28 client's server/discover probe (a sibling gateway process the SDK spawns) starts no downstream", async () => {
    const dir = await tempDir();
    const starts = join(dir, 'starts.log');
    // Pinned to 2025-11-25: on `auto` the gateway's own era probe of this stdio server is a sibling start of its own.
    const counted = {
      command: '/bin/sh',
      args: ['-c', `echo started >> "${starts}"; exec "${process.execPath}" "${stdioServerPath}" --name notes`],
      protocol: '2025-11-25',
    };
    const g = await start({ servers: { notes: counted }, client: modernClient() });
    expect(g.client.getProtocolEra()).toBe('modern');
    expect(json(await g.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: 'once' } }))).toEqual({ text: 'once' });
    // two gateway processes ran (the probe, then this one); the server started once, for this one
    expect((await readFile(starts, 'utf8')).trim().split('\n')).toEqual(['started']);
  });

  it('a gateway started again reuses the protocol verdict kept in its cache folder: no second probe start of a stdio server', async () => {
    const dir = await tempDir();
    const starts = join(dir, 'starts.log');
    const cache = join(dir, 'cache');
    const counted = { command: '/bin/sh', args: ['-c', `echo started >> "${starts}"; exec "${process.execPath}" "${stdioServerPath}" --name notes`] };
    const startsSoFar = async () => (await readFile(starts, 'utf8')).trim().split('\n').length;
    for (const run of [1, 2]) {
      const g = await start({ servers: { notes: counted }, env: { GATEWAY_CACHE_DIR: cache, GATEWAY_INIT_STRATEGY: 'lazy' } });
      expect(json(await g.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: `run ${run}` } }))).toEqual({ text: `run ${run}` });
      // first run: the era probe (a sibling start), then the server; second run: the server only
      expect(await startsSoFar()).toBe(run === 1 ? 2 : 3);
      await g.close();
    }
    const file = JSON.parse(await readFile(join(cache, 'era-verdicts.json'), 'utf8')) as { verdicts: Record<string, { verdict: { kind: string } }> };
    expect(Object.values(file.verdicts).map((e) => e.verdict.kind)).toEqual(['legacy']);
  });

  it('a 2026-07-28 client closing stdin ends the gateway and its children', async () => {
    const files = await writeConfig({ a: demoServer('a'), b: demoServer('b') });
    const transport = new StdioClientTransport({ command: process.execPath, args: [binPath, '--config', files.config], env: { PATH: process.env.PATH ?? '', HOME: files.dir }, stderr: 'pipe' });
    const client = modernClient();
    await client.connect(transport);
    expect(client.getProtocolEra()).toBe('modern');
    const pids: number[] = [];
    for (const server of ['a', 'b']) {
      const r = (await client.callTool({ name: 'execute_tool', arguments: { server, tool: 'pid' } })) as CallToolResult;
      pids.push(Number((r.content[0] as { text: string }).text));
    }
    const gatewayPid = transport.pid as number;
    await client.close();
    expect(await waitForExit(gatewayPid)).toBe(true);
    for (const pid of pids) expect(await waitForExit(pid, 5_000)).toBe(true);
  });
});

describe('stdout carries nothing but JSON-RPC', () => {
  it('at debug level, with a chatty child and failing servers', async () => {
    const files = await writeConfig({
      notes: demoServer('notes', { env: { TEST_SERVER_STDERR_LINES: '50' } }),
      broken: { command: '/nonexistent/binary' },
    });
    const child = spawn(process.execPath, [binPath, '--config', files.config, '--debug'], {
      env: { PATH: process.env.PATH ?? '', HOME: files.dir, GATEWAY_LOG_LEVEL: 'debug' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const send = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
    const answered = (id: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${id}; stdout: ${stdout}`)), 15_000);
        const check = () => {
          if (stdout.includes(`"id":${id}`)) {
            clearTimeout(timer);
            child.stdout.off('data', check);
            resolve();
          }
        };
        child.stdout.on('data', check);
        check();
      });
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    await answered(1);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_server_tools', arguments: { server: 'notes' } } });
    send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'get_server_tools', arguments: { server: 'broken' } } });
    send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'get_gateway_status', arguments: {} } });
    await Promise.all([answered(2), answered(3), answered(4), answered(5)]);
    child.stdin.end();
    await new Promise((resolve) => child.once('close', resolve));
    const lines = stdout.split('\n').filter((l) => l.length > 0);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ jsonrpc: '2.0' });
    expect(stderr).toMatch(/DEBUG/);
    expect(stderr).toMatch(/\[notes\] stderr:/);
  });
});

describe('shutdown', () => {
  it.each(['stdin close', 'SIGTERM', 'SIGINT'])('%s ends the gateway and leaves no child process', async (how) => {
    const files = await writeConfig({ a: demoServer('a'), b: demoServer('b'), c: demoServer('c') });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [binPath, '--config', files.config],
      env: { PATH: process.env.PATH ?? '', HOME: files.dir },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'e2e', version: '1' });
    await client.connect(transport);
    const pids: number[] = [];
    for (const server of ['a', 'b', 'c']) {
      const r = (await client.callTool({ name: 'execute_tool', arguments: { server, tool: 'pid' } })) as CallToolResult;
      pids.push(Number((r.content[0] as { text: string }).text));
    }
    const gatewayPid = transport.pid as number;
    if (how.startsWith('SIG')) process.kill(gatewayPid, how);
    else await client.close(); // closes the gateway's stdin
    expect(await waitForExit(gatewayPid)).toBe(true);
    for (const pid of pids) expect(await waitForExit(pid, 5_000)).toBe(true);
    await client.close().catch(() => undefined);
  });
});
