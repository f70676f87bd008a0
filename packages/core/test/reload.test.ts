import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Gateway,
  PolicyPlugin,
  ReloadStatusPlugin,
  diffServers,
  loadGatewayConfig,
  reloadGatewayConfig,
  silentLogger,
  watchConfig,
  type CallToolResult,
  type GatewayPlugin,
  type RulesFile,
} from '../src/index.js';
import { Downstreams, capturingLogger, config, spec, until } from './ops-fixtures.js';

const AGENT = 'tester';
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** The policy and the reload status, as the CLI composes them, then `plugins`. */
function withBuiltins(plugins: GatewayPlugin[]): GatewayPlugin[] {
  return [new PolicyPlugin(), new ReloadStatusPlugin(), ...plugins];
}

async function started(cfg: ReturnType<typeof config>, plugins: GatewayPlugin[], logger = silentLogger): Promise<Gateway> {
  const gateway = new Gateway({ config: cfg, plugins: withBuiltins(plugins), logger });
  cleanups.push(() => gateway.close());
  await gateway.start();
  return gateway;
}

function textOf(result: CallToolResult): string {
  return (result.content as { text?: string }[]).map((c) => c.text ?? '').join('');
}

describe('diffServers', () => {
  it('sorts servers into added, changed, removed and unchanged by name and deep equality', () => {
    const before = [spec('a'), spec('b', { env: { K: '1' } }), spec('c')];
    const after = [spec('a'), spec('b', { env: { K: '2' } }), spec('d')];
    expect(diffServers(before, after)).toEqual({ added: ['d'], changed: ['b'], removed: ['c'], unchanged: ['a'] });
    expect(diffServers(before, before.map((s) => ({ ...s, args: [...s.args] })))).toMatchObject({ changed: [], unchanged: ['a', 'b', 'c'] });
  });
});

describe('Gateway.applyConfig', () => {
  it('adds, replaces and removes servers; unchanged ones keep their connection', async () => {
    const downstreams = new Downstreams();
    const gateway = await started(config([spec('a'), spec('b'), spec('c')], { initStrategy: 'lazy' }), [downstreams.plugin()]);
    for (const server of ['a', 'b', 'c']) await gateway.callTool({ agent: AGENT, server, tool: 'echo', args: { text: server } });
    const a = gateway.server('a');
    const c = downstreams.connections.find((x) => x.server === 'c');

    const diff = await gateway.applyConfig(config([spec('a'), spec('b', { description: 'changed' }), spec('d')], { initStrategy: 'lazy' }));

    expect(diff).toEqual({ added: ['d'], changed: ['b'], removed: ['c'], unchanged: ['a'] });
    expect(gateway.servers().map((s) => s.name)).toEqual(['a', 'b', 'd']);
    expect(gateway.server('a')).toBe(a);
    await gateway.callTool({ agent: AGENT, server: 'a', tool: 'echo', args: { text: 'again' } });
    expect(downstreams.count('a')).toBe(1);
    await gateway.callTool({ agent: AGENT, server: 'b', tool: 'echo', args: { text: 'new b' } });
    expect(downstreams.count('b')).toBe(2);
    expect(gateway.server('b')?.spec.description).toBe('changed');
    expect(textOf(await gateway.callTool({ agent: AGENT, server: 'd', tool: 'echo', args: { text: 'd' } }))).toBe('d');
    await until(() => c?.mcp.isConnected() === false, 'the removed server to be closed');
    await expect(gateway.callTool({ agent: AGENT, server: 'c', tool: 'echo', args: { text: 'x' } })).rejects.toMatchObject({ code: 'SERVER_NOT_FOUND' });
  });

  it('eager init connects added and changed servers at once', async () => {
    const downstreams = new Downstreams();
    const gateway = await started(config([spec('a')]), [downstreams.plugin()]);
    await until(() => gateway.server('a')?.state === 'ready', 'a ready');
    await gateway.applyConfig(config([spec('a'), spec('b')]));
    await until(() => gateway.server('b')?.state === 'ready', 'b ready without a call');
  });

  it('a call in flight finishes on the connection it started on; the replaced connection closes afterwards', async () => {
    const downstreams = new Downstreams();
    const gateway = await started(config([spec('s')], { initStrategy: 'lazy' }), [downstreams.plugin()]);
    const inFlight = gateway.callTool({ agent: AGENT, server: 's', tool: 'sleep', args: { ms: 300 } });
    await until(() => downstreams.lines.includes('s: sleep started 300'), 'the sleep to start');
    const old = downstreams.connections[0];

    await gateway.applyConfig(config([spec('s', { env: { NEW: '1' } })], { initStrategy: 'lazy' }));
    expect(old?.mcp.isConnected()).toBe(true); // still serving the call
    expect(textOf(await gateway.callTool({ agent: AGENT, server: 's', tool: 'echo', args: { text: 'new' } }))).toBe('new');
    expect(downstreams.count('s')).toBe(2);

    expect(textOf(await inFlight)).toBe('slept 300');
    await until(() => old?.mcp.isConnected() === false, 'the old connection to close');
    expect(downstreams.lines).not.toContain('s: sleep aborted');
  });

  it('swaps the rules atomically: a tool hidden by the new rules is refused at once', async () => {
    const rules = (deny: string[]): RulesFile => ({ agents: { [AGENT]: { allow: { servers: ['s'] }, deny: { tools: { s: deny } } } } });
    const downstreams = new Downstreams();
    const gateway = await started(config([spec('s')], { initStrategy: 'lazy' }, rules([])), [downstreams.plugin()]);
    expect((await gateway.listTools(AGENT, 's')).map((t) => t.name)).toContain('echo');
    await gateway.applyConfig(config([spec('s')], { initStrategy: 'lazy' }, rules(['echo'])));
    expect((await gateway.listTools(AGENT, 's')).map((t) => t.name)).not.toContain('echo');
    await expect(gateway.callTool({ agent: AGENT, server: 's', tool: 'echo', args: { text: 'x' } })).rejects.toMatchObject({
      code: 'DENIED_BY_POLICY',
    });
    expect(downstreams.count('s')).toBe(1); // the server itself did not change
  });

  it('a configLoaded tap that refuses the new config keeps the running one and shows the error in status', async () => {
    const picky: GatewayPlugin = {
      name: 'picky',
      apply: (g) =>
        g.hooks.configLoaded.tap('picky', (cfg) => {
          if (cfg.servers.some((s) => s.name === 'forbidden')) throw new Error('no server may be called forbidden');
          return cfg;
        }),
    };
    const gateway = await started({ ...config([spec('a')], { initStrategy: 'lazy' }), sources: { config: '/x/.mcp.json' } }, [
      new Downstreams().plugin(),
      picky,
    ]);
    await expect(gateway.applyConfig(config([spec('forbidden')]))).rejects.toThrow(/forbidden/);
    expect(gateway.servers().map((s) => s.name)).toEqual(['a']);
    expect(gateway.status().reload?.config).toMatchObject({ file: '/x/.mcp.json', lastError: 'no server may be called forbidden' });
  });

  it('closing the gateway during a drain ends the retiring connection too', async () => {
    const downstreams = new Downstreams();
    const gateway = await started(config([spec('s')], { initStrategy: 'lazy' }), [downstreams.plugin()]);
    const inFlight = gateway.callTool({ agent: AGENT, server: 's', tool: 'sleep', args: { ms: 30_000 } });
    await until(() => downstreams.lines.includes('s: sleep started 30000'), 'the sleep to start');
    await gateway.applyConfig(config([], { initStrategy: 'lazy' }));
    await gateway.close();
    await expect(inFlight).rejects.toMatchObject({ code: 'SERVER_UNAVAILABLE' });
    expect(downstreams.connections[0]?.mcp.isConnected()).toBe(false);
  });
});

describe('watchConfig', () => {
  it('applies files rewritten by rename, keeps the running config on invalid JSON or schema, and says so in status', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'amg-reload-'));
    const configPath = join(dir, '.mcp.json');
    const rulesPath = join(dir, '.mcp-gateway-rules.json');
    const servers = (names: string[]) => JSON.stringify({ mcpServers: Object.fromEntries(names.map((n) => [n, { command: 'demo' }])) });
    const rules = (deny: string[]) => JSON.stringify({ agents: { [AGENT]: { allow: { servers: ['*'] }, deny: { tools: { s: deny } } } } });
    /** Like an editor: write a temporary file, rename it over the original. */
    const save = async (path: string, text: string) => {
      await writeFile(`${path}.tmp`, text);
      await rename(`${path}.tmp`, path);
    };
    await writeFile(configPath, servers(['s']));
    await writeFile(rulesPath, rules([]));
    const load = () => loadGatewayConfig({ configPath, rulesPath, cwd: dir, env: { GATEWAY_INIT_STRATEGY: 'lazy' }, home: dir });
    const log = capturingLogger();
    const gateway = new Gateway({ config: await load(), plugins: withBuiltins([new Downstreams().plugin()]), logger: log.logger });
    cleanups.push(() => gateway.close());
    await gateway.start();
    const watcher = watchConfig(gateway, { load, debounceMs: 20 });
    cleanups.push(() => watcher.close());
    const loadedAt = gateway.status().reload?.rules?.loadedAt;
    const toolNames = async () => (await gateway.listTools(AGENT, 's')).map((t) => t.name);
    expect(await toolNames()).toContain('echo');

    let reloaded = log.waitFor(/Config reloaded after a change to \.mcp-gateway-rules\.json: no server changed/);
    await save(rulesPath, rules(['echo']));
    await reloaded;
    expect(await toolNames()).not.toContain('echo');
    expect(gateway.status().reload?.rules?.loadedAt).not.toBe(loadedAt);

    let failed = log.waitFor(/Config reload after a change to \.mcp\.json failed; the previous config stays in use: .*invalid JSON/);
    await save(configPath, '{"mcpServers": {');
    await failed;
    expect(gateway.status().reload?.config).toMatchObject({ file: configPath, lastError: expect.stringMatching(/invalid JSON/) });
    expect(gateway.servers().map((s) => s.name)).toEqual(['s']);

    reloaded = log.waitFor(/Config reloaded after a change to \.mcp\.json: servers added t/);
    await save(configPath, servers(['s', 't']));
    await reloaded;
    expect(gateway.servers().map((s) => s.name)).toEqual(['s', 't']);
    expect(gateway.status().reload?.config?.lastError).toBeUndefined();

    failed = log.waitFor(/Config reload after a change to \.mcp-gateway-rules\.json failed/);
    await save(rulesPath, JSON.stringify({ agents: { 'bad id!': {} } }));
    await failed;
    expect(gateway.status().reload?.rules).toMatchObject({ file: rulesPath, lastError: expect.stringContaining(rulesPath) });
    expect(await toolNames()).not.toContain('echo'); // the previous rules still apply

    reloaded = log.waitFor(/Config reloaded after a change to \.mcp-gateway-rules\.json/);
    await save(rulesPath, rules([]));
    await reloaded;
    expect(await toolNames()).toContain('echo');
    expect(gateway.status().reload?.rules?.lastError).toBeUndefined();
  });
});

describe('watchConfig with reloadGatewayConfig (the files in use, no discovery)', () => {
  it('a deleted rules file fails the reload: the rules stay, status says why; a servers file created elsewhere is not picked up', async () => {
    const home = await mkdtemp(join(tmpdir(), 'amg-reload-home-'));
    const cwd = await mkdtemp(join(tmpdir(), 'amg-reload-cwd-'));
    const userDir = join(home, '.config', 'agent-mcp-gateway');
    await mkdir(userDir, { recursive: true });
    const configPath = join(userDir, '.mcp.json');
    const rulesPath = join(userDir, '.mcp-gateway-rules.json');
    await writeFile(configPath, JSON.stringify({ mcpServers: { s: { command: 'demo' }, hidden: { command: 'demo' } } }));
    await writeFile(rulesPath, JSON.stringify({ agents: { [AGENT]: { allow: { servers: ['*'] }, deny: { servers: ['hidden'] } } } }));
    const opts = { cwd, env: { GATEWAY_INIT_STRATEGY: 'lazy' }, home };
    const config = await loadGatewayConfig(opts);
    const log = capturingLogger();
    const gateway = new Gateway({ config, plugins: withBuiltins([new Downstreams().plugin()]), logger: log.logger });
    cleanups.push(() => gateway.close());
    await gateway.start();
    const watcher = watchConfig(gateway, { load: () => reloadGatewayConfig(config.sources, opts), files: config.watch, debounceMs: 20 });
    cleanups.push(() => watcher.close());
    const visible = () => gateway.listServers(AGENT).map((s) => s.name);
    expect(visible()).toEqual(['s']);

    const failed = log.waitFor(/Config reload after a change to \.mcp-gateway-rules\.json failed; the previous config stays in use: .*rules file not found/);
    await rm(rulesPath);
    await failed;
    expect(gateway.status().reload?.rules).toMatchObject({ file: rulesPath, lastError: expect.stringContaining(`${rulesPath}: rules file not found`) });
    expect(gateway.status().policy?.rulesLoaded).toBe(true);
    expect(visible()).toEqual(['s']);
    await expect(gateway.callTool({ agent: AGENT, server: 'hidden', tool: 'echo', args: {} })).rejects.toMatchObject({ code: expect.stringMatching(/SERVER_NOT_FOUND|DENIED_BY_POLICY/) });

    // A servers file appearing in the working folder (even trusted) changes nothing at the next reload.
    await writeFile(join(cwd, '.mcp.json'), JSON.stringify({ mcpServers: { intruder: { command: 'demo' } } }));
    const reloaded = log.waitFor(/Config reloaded after a change to \.mcp-gateway-rules\.json/);
    await writeFile(rulesPath, JSON.stringify({ agents: { [AGENT]: { allow: { servers: ['*'] } } } }));
    await reloaded;
    expect(gateway.servers().map((s) => s.name)).toEqual(['s', 'hidden']);
    expect(gateway.status().sources).toEqual({ config: configPath, rules: rulesPath });
  });
});
