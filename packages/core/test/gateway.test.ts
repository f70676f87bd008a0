import { afterEach, describe, expect, it } from 'vitest';
import { McpServer, InMemoryTransport } from '@modelcontextprotocol/server';
import { createDemoServer } from '@agent-mcp-gateway/testing';
import { z } from 'zod';
import {
  Gateway,
  GatewayError,
  GatewaySettingsSchema,
  PolicyPlugin,
  silentLogger,
  type AuthStrategy,
  type ConnectContext,
  type GatewayConfig,
  type GatewayPlugin,
  type GatewaySettingsInput,
  type ResolveContext,
  type RulesFile,
  type ServerInfo,
  type ServerSpec,
  type ServerState,
  type Tool,
  type CallOutcome,
  type TransportFactory,
} from '../src/index.js';

// ---------------------------------------------------------------------------
// Fixtures: real in-process MCP servers, handed to the gateway by a plugin.
// ---------------------------------------------------------------------------

const WAIT_MS = 5_000;

/** Races `promise` against a timer so no wait in this file is unbounded. */
function within<T>(promise: Promise<T>, label: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One downstream server living in this process. Every `create()` makes a fresh
 * linked pair and connects a fresh McpServer (from `build`) to its server side.
 */
class MemoryServer {
  creates = 0;
  readonly servers: McpServer[] = [];
  readonly serverSides: InMemoryTransport[] = [];
  readonly contexts: ConnectContext[] = [];

  constructor(readonly build: () => McpServer = demo) {}

  factory(kind = 'memory'): TransportFactory {
    return {
      kind,
      create: async (ctx) => {
        this.creates += 1;
        this.contexts.push(ctx);
        const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
        const mcp = this.build();
        await mcp.connect(serverSide);
        this.servers.push(mcp);
        this.serverSides.push(serverSide);
        return clientSide;
      },
    };
  }

  get latest(): McpServer {
    const mcp = this.servers.at(-1);
    if (!mcp) throw new Error('not connected yet');
    return mcp;
  }
}

/** A factory whose transports never finish `start()`. */
function hangingStartFactory(counter: { creates: number }): TransportFactory {
  return {
    kind: 'memory',
    create: async () => {
      counter.creates += 1;
      const [clientSide] = InMemoryTransport.createLinkedPair();
      clientSide.start = () => new Promise<void>(() => undefined);
      return clientSide;
    },
  };
}

/** A factory whose transports start, but nobody ever answers `initialize`. */
function silentFactory(counter: { creates: number }): TransportFactory {
  return {
    kind: 'memory',
    create: async () => {
      counter.creates += 1;
      const [clientSide] = InMemoryTransport.createLinkedPair();
      return clientSide;
    },
  };
}

function demo(): McpServer {
  return createDemoServer({ log: () => undefined });
}

/** A third-party transport plugin: answers `resolveTransport` for the servers it knows. */
function memoryTransport(factories: Record<string, TransportFactory | MemoryServer>, name = 'memory-transport'): GatewayPlugin {
  return {
    name,
    apply(gateway) {
      gateway.hooks.resolveTransport.tapPromise(name, async (spec) => {
        const entry = factories[spec.name];
        return entry instanceof MemoryServer ? entry.factory() : entry;
      });
    },
  };
}

function spec(name: string, extra: Partial<ServerSpec> = {}): ServerSpec {
  return { name, transport: 'stdio', args: [], env: {}, headers: {}, secretValues: [], enabled: true, ...extra };
}

function config(servers: ServerSpec[], settings: GatewaySettingsInput = {}, rules?: RulesFile): GatewayConfig {
  return {
    servers,
    settings: GatewaySettingsSchema.parse(settings),
    sources: {},
    warnings: [],
    ...(rules && { rules }),
  };
}

const gateways: Gateway[] = [];

/** A gateway with the policy (as the CLI composes it), then `plugins`. */
function gatewayOf(cfg: GatewayConfig, plugins: GatewayPlugin[]): Gateway {
  const gateway = new Gateway({ config: cfg, plugins: [new PolicyPlugin(), ...plugins], logger: silentLogger });
  gateways.push(gateway);
  return gateway;
}

afterEach(async () => {
  await within(Promise.all(gateways.splice(0).map((g) => g.close())), 'gateway.close()');
});

/** Resolves with the server's info once it is (or becomes) `state`. Tap before acting. */
function stateOf(gateway: Gateway, server: string, state: ServerState): Promise<ServerInfo> {
  const current = gateway.server(server);
  if (current?.state === state) return Promise.resolve(current.info());
  return within(
    new Promise<ServerInfo>((resolve) => {
      gateway.hooks.serverStateChanged.tap('test-wait', (name, s, info) => {
        if (name === server && s === state) resolve(info);
      });
    }),
    `${server} → ${state}`,
  );
}

/** Calls `fn` and returns the GatewayError it rejects with (fails on anything else). */
async function rejection(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error('expected a rejection');
}

function textOf(result: { content?: unknown }): string {
  const content = result.content as { type: string; text?: string }[];
  return content.map((c) => c.text ?? '').join('');
}

const AGENT = 'tester';

// ---------------------------------------------------------------------------

describe('hooks', () => {
  const HOOK_NAMES = [
    'configLoaded',
    'rulesEnforcer',
    'configApplied',
    'reloadFailed',
    'resolveTransport',
    'resolveAuth',
    'authFor',
    'resolveTokenStore',
    'resolveAgent',
    'authorizeServer',
    'filterServers',
    'filterTools',
    'beforeToolCall',
    'afterToolCall',
    'callSettled',
    'authEvent',
    'serverStateChanged',
    'toolsChanged',
    'status',
    'metrics',
    'shutdown',
  ];

  it('is a frozen object holding every hook', () => {
    const gateway = gatewayOf(config([]), []);
    expect(Object.isFrozen(gateway.hooks)).toBe(true);
    expect(Object.keys(gateway.hooks).sort()).toEqual([...HOOK_NAMES].sort());
    for (const name of HOOK_NAMES) {
      const hook = (gateway.hooks as unknown as Record<string, { tap?: unknown }>)[name];
      expect(typeof hook?.tap, name).toBe('function');
    }
    expect(() => {
      (gateway.hooks as unknown as Record<string, unknown>).resolveTransport = undefined;
    }).toThrow(TypeError);
  });

  it('bail hook: the first plugin answering wins, one returning undefined lets the next answer; tap names trace it', async () => {
    const first = new MemoryServer();
    const second = new MemoryServer();
    const third = new MemoryServer();
    const declines: GatewayPlugin = {
      name: 'declines',
      apply: (g) => g.hooks.resolveTransport.tapPromise('declines', async () => undefined),
    };
    const answered: string[] = [];
    const tracer: GatewayPlugin = {
      name: 'tracer',
      apply: (g) =>
        g.hooks.resolveTransport.intercept({
          tap: (tap) => {
            answered.push(tap.name);
          },
        }),
    };
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [
      tracer,
      declines,
      memoryTransport({ s: first }, 'first-answer'),
      memoryTransport({ s: second }, 'second-answer'),
      memoryTransport({ s: third }, 'third-answer'),
    ]);
    await gateway.start();
    expect(gateway.hooks.resolveTransport.taps.map((t) => t.name)).toEqual(['declines', 'first-answer', 'second-answer', 'third-answer']);

    const tools = await gateway.listTools(AGENT, 's');
    expect(tools.map((t) => t.name)).toContain('echo');
    // Taps run in order until one answers: the trace ends with who answered.
    expect(answered).toEqual(['declines', 'first-answer']);
    expect([first.creates, second.creates, third.creates]).toEqual([1, 0, 0]);
  });

  it('a plugin throwing in apply makes start() reject with PLUGIN_ERROR naming the plugin', async () => {
    const broken: GatewayPlugin = {
      name: 'broken-plugin',
      apply() {
        throw new Error('cannot apply');
      },
    };
    const gateway = gatewayOf(config([spec('s')]), [broken]);
    const error = await rejection(gateway.start());
    expect(error.code).toBe('PLUGIN_ERROR');
    expect(error.message).toContain("'broken-plugin'");
    expect(error.message).toContain('cannot apply');
    expect((error.cause as Error).message).toBe('cannot apply');
  });

  it('a plugin rejecting asynchronously in apply is reported the same way', async () => {
    const broken: GatewayPlugin = { name: 'async-broken', apply: async () => Promise.reject(new Error('later')) };
    const error = await rejection(gatewayOf(config([]), [broken]).start());
    expect(error.code).toBe('PLUGIN_ERROR');
    expect(error.message).toContain("'async-broken'");
  });

  it('no transport plugin: the server ends in error with the NO_TRANSPORT message; a call rejects with NO_TRANSPORT', async () => {
    const gateway = gatewayOf(config([spec('orphan', { command: 'nothing' })], { initStrategy: 'lazy' }), []);
    await gateway.start();
    // Whether start() already found out (transports are resolved up front) or not, nothing was connected.
    expect(['idle', 'error']).toContain(gateway.server('orphan')?.state);

    const error = await rejection(gateway.callTool({ agent: AGENT, server: 'orphan', tool: 'echo', args: {} }));
    expect(error.code).toBe('NO_TRANSPORT');
    expect(error.details).toEqual({ server: 'orphan' });
    const info = gateway.server('orphan')!.info();
    expect(info.state).toBe('error');
    expect(info.lastError).toContain("No transport plugin can start server 'orphan'");
  });

  it('eager init without a transport plugin surfaces NO_TRANSPORT as the server state', async () => {
    const gateway = gatewayOf(config([spec('orphan')]), []);
    const errored = stateOf(gateway, 'orphan', 'error');
    await gateway.start();
    const info = await errored;
    expect(info.lastError).toContain('No transport plugin');
    expect(gateway.status().servers).toEqual([expect.objectContaining({ name: 'orphan', state: 'error' })]);
  });

  it('configLoaded can rewrite the config before servers are built', async () => {
    const host = new MemoryServer();
    const adder: GatewayPlugin = {
      name: 'adder',
      apply: (g) => g.hooks.configLoaded.tap('adder', (cfg) => ({ ...cfg, servers: [...cfg.servers, spec('added')] })),
    };
    const gateway = gatewayOf(config([], { initStrategy: 'lazy' }), [adder, memoryTransport({ added: host })]);
    await gateway.start();
    expect(gateway.listServers(AGENT).map((s) => s.name)).toEqual(['added']);
    expect(gateway.config.servers.map((s) => s.name)).toEqual(['added']);
  });
});

describe('resolveAuth', () => {
  it('a third-party tap is consulted with (spec, null, ctx) before connecting; its kind shows in info().auth', async () => {
    const events: string[] = [];
    const seen: { spec: ServerSpec; challenge: unknown; ctx: ResolveContext }[] = [];
    const strategy: AuthStrategy = {
      kind: 'test-auth',
      headers: async () => ({ 'x-test': 'yes' }),
      onChallenge: async () => 'fail',
      status: () => ({ kind: 'test-auth', state: 'ok' }),
    };
    const auth: GatewayPlugin = {
      name: 'test-auth',
      apply: (g) =>
        g.hooks.resolveAuth.tapPromise('test-auth', async (s, challenge, ctx) => {
          events.push('auth');
          seen.push({ spec: s, challenge, ctx });
          return strategy;
        }),
    };
    const host = new MemoryServer();
    const recording: TransportFactory = {
      kind: 'memory',
      create: async (ctx) => {
        events.push('create');
        return host.factory().create(ctx);
      },
    };
    const s = spec('s', { description: 'with auth' });
    const gateway = gatewayOf(config([s], { initStrategy: 'lazy' }), [auth, memoryTransport({ s: recording })]);
    await gateway.start();
    expect(host.creates).toBe(0);
    expect(events).not.toContain('create');

    await gateway.listTools(AGENT, 's');
    expect(events).toEqual(['auth', 'create']);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.spec).toBe(s);
    expect(seen[0]!.challenge).toBeNull();
    expect(seen[0]!.ctx.signal).toBeInstanceOf(AbortSignal);
    expect(typeof seen[0]!.ctx.logger.info).toBe('function');
    // The transport is created with the chosen strategy.
    expect(host.contexts[0]!.auth).toBe(strategy);
    expect(gateway.server('s')!.info().auth).toBe('test-auth');
    expect(gateway.listServers(AGENT)[0]).toMatchObject({ name: 's', auth: 'test-auth', state: 'ready' });
  });
});

describe('tool calls through the hooks', () => {
  it('beforeToolCall can rewrite the arguments the downstream sees', async () => {
    const received: unknown[] = [];
    const rewriting: GatewayPlugin = {
      name: 'rewriter',
      apply: (g) =>
        g.hooks.beforeToolCall.tapPromise('rewriter', async (call) => {
          call.args = { ...call.args, text: `rewritten: ${String(call.args.text)}` };
          return call;
        }),
    };
    const capture = new MemoryServer(() => {
      const mcp = new McpServer({ name: 'capture', version: '1.0.0' });
      mcp.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, (args) => {
        received.push(args);
        return { content: [{ type: 'text', text: args.text }] };
      });
      return mcp;
    });
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [rewriting, memoryTransport({ s: capture })]);
    await gateway.start();
    const result = await gateway.callTool({ agent: AGENT, server: 's', tool: 'echo', args: { text: 'hello' } });
    expect(received).toEqual([{ text: 'rewritten: hello' }]);
    expect(textOf(result)).toBe('rewritten: hello');
  });

  it('afterToolCall can rewrite the result', async () => {
    const host = new MemoryServer();
    const calls: string[] = [];
    const after: GatewayPlugin = {
      name: 'after',
      apply: (g) =>
        g.hooks.afterToolCall.tapPromise('after', async (result, call) => {
          calls.push(`${call.server}/${call.tool}`);
          return { content: [{ type: 'text', text: `${textOf(result)} (seen by after)` }] };
        }),
    };
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [after, memoryTransport({ s: host })]);
    await gateway.start();
    const result = await gateway.callTool({ agent: AGENT, server: 's', tool: 'add', args: { a: 2, b: 3 } });
    expect(textOf(result)).toBe('5 (seen by after)');
    expect(calls).toEqual(['s/add']);
  });

  it('callSettled reports each Gateway.callTool once: ALLOW, DENY and ERROR outcomes with their error codes', async () => {
    const host = new MemoryServer();
    const settled: { outcome: CallOutcome; error: GatewayError | undefined }[] = [];
    const audit: GatewayPlugin = {
      name: 'audit',
      apply: (g) => g.hooks.callSettled.tap('audit', (outcome, error) => void settled.push({ outcome, error })),
    };
    const rules: RulesFile = {
      agents: {
        [AGENT]: { allow: { servers: ['s'] }, deny: { tools: { s: ['add'] } } },
      },
    };
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }, rules), [audit, memoryTransport({ s: host })]);
    await gateway.start();

    await gateway.callTool({ agent: AGENT, server: 's', tool: 'echo', args: { text: 'ok' } });
    await gateway.callTool({ agent: AGENT, server: 's', tool: 'fail', args: { message: 'tool says no' } });
    const denied = await rejection(gateway.callTool({ agent: AGENT, server: 's', tool: 'add', args: { a: 1, b: 1 } }));
    const missing = await rejection(gateway.callTool({ agent: AGENT, server: 's', tool: 'nope', args: {} }));
    const nowhere = await rejection(gateway.callTool({ agent: AGENT, server: 'ghost', tool: 'echo', args: {} }));

    expect(denied.code).toBe('DENIED_BY_POLICY');
    expect(missing.code).toBe('TOOL_NOT_FOUND');
    expect(nowhere.code).toBe('SERVER_NOT_FOUND');
    expect(settled.map(({ outcome }) => [outcome.tool, outcome.decision, outcome.errorCode, outcome.toolError])).toEqual([
      ['echo', 'ALLOW', undefined, false],
      ['fail', 'ALLOW', undefined, true],
      ['add', 'DENY', 'DENIED_BY_POLICY', undefined],
      ['nope', 'ERROR', 'TOOL_NOT_FOUND', undefined],
      ['echo', 'ERROR', 'SERVER_NOT_FOUND', undefined],
    ]);
    expect(settled.map(({ error }) => error)).toEqual([undefined, undefined, denied, missing, nowhere]);
    for (const { outcome } of settled) {
      expect(outcome.operation).toBe('execute_tool');
      expect(outcome.agent).toBe(AGENT);
      expect(outcome.durationMs).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('server life cycle', () => {
  it('eager init: start() does not wait for a server that never connects; the others become ready and callable', async () => {
    const fast = new MemoryServer();
    const hanging = { creates: 0 };
    const silent = { creates: 0 };
    const gateway = gatewayOf(
      config([spec('hang-start'), spec('no-answer'), spec('fast')], { connectTimeoutMs: 300 }),
      [memoryTransport({ fast, 'hang-start': hangingStartFactory(hanging), 'no-answer': silentFactory(silent) })],
    );
    const fastReady = stateOf(gateway, 'fast', 'ready');
    const hangErrored = stateOf(gateway, 'hang-start', 'error');
    const silentErrored = stateOf(gateway, 'no-answer', 'error');

    await within(gateway.start(), 'start()');
    await fastReady;
    const result = await gateway.callTool({ agent: AGENT, server: 'fast', tool: 'echo', args: { text: 'hi' } });
    expect(textOf(result)).toBe('hi');
    // The slow ones are still trying, and did not hold anything up.
    expect(gateway.server('hang-start')!.state).toBe('connecting');
    expect(gateway.server('no-answer')!.state).toBe('connecting');

    // Single flight: joining the attempt in progress, not starting another.
    const [hangError, silentError] = await Promise.all([
      rejection(gateway.server('hang-start')!.connect()),
      rejection(gateway.server('no-answer')!.connect()),
    ]);
    expect(hangError.code).toBe('SERVER_UNAVAILABLE');
    expect(silentError.code).toBe('SERVER_UNAVAILABLE');
    expect((await hangErrored).lastError).toContain("Server 'hang-start' is unavailable");
    expect((await silentErrored).lastError).toContain("Server 'no-answer' is unavailable");
    expect([hanging.creates, silent.creates]).toEqual([1, 1]);
    expect(gateway.server('fast')!.state).toBe('ready');
  });

  it('close() does not wait out the connect timeout of a server still connecting', async () => {
    const hanging = { creates: 0 };
    const silent = { creates: 0 };
    const gateway = gatewayOf(config([spec('hang-start'), spec('no-answer')], { connectTimeoutMs: 600_000 }), [
      memoryTransport({ 'hang-start': hangingStartFactory(hanging), 'no-answer': silentFactory(silent) }),
    ]);
    const connecting = Promise.all([stateOf(gateway, 'hang-start', 'connecting'), stateOf(gateway, 'no-answer', 'connecting')]);
    await gateway.start();
    await connecting;
    await within(gateway.close(), 'close() while connecting', 2_000);
    const error = await rejection(gateway.server('no-answer')!.connect());
    expect(error.code).toBe('SERVER_UNAVAILABLE');
  });

  it('lazy init: nothing connects until listTools / callTool', async () => {
    const a = new MemoryServer();
    const b = new MemoryServer();
    const gateway = gatewayOf(config([spec('a'), spec('b')], { initStrategy: 'lazy' }), [memoryTransport({ a, b })]);
    await gateway.start();
    expect([a.creates, b.creates]).toEqual([0, 0]);
    expect(gateway.listServers(AGENT).map((s) => [s.name, s.state])).toEqual([
      ['a', 'idle'],
      ['b', 'idle'],
    ]);
    expect(gateway.status()).toMatchObject({ initStrategy: 'lazy', policy: { rulesLoaded: false, agents: [] } });

    const tools = await gateway.listTools(AGENT, 'a');
    expect(tools.map((t) => t.name)).toContain('echo');
    expect([a.creates, b.creates]).toEqual([1, 0]);
    expect(gateway.server('a')!.info()).toMatchObject({ state: 'ready', toolCount: tools.length });

    await gateway.callTool({ agent: AGENT, server: 'b', tool: 'add', args: { a: 1, b: 2 } });
    expect([a.creates, b.creates]).toEqual([1, 1]);
    // Warm: a second listing comes from cache, no new connection.
    await gateway.listTools(AGENT, 'a');
    expect(a.creates).toBe(1);
  });

  it('serverStateChanged fires connecting → ready, with the info', async () => {
    const host = new MemoryServer();
    const seen: [string, ServerState, ServerState][] = [];
    const watcher: GatewayPlugin = {
      name: 'watcher',
      apply: (g) =>
        g.hooks.serverStateChanged.tapPromise('watcher', async (name, state, info) => void seen.push([name, state, info.state])),
    };
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [watcher, memoryTransport({ s: host })]);
    await gateway.start();
    const ready = stateOf(gateway, 's', 'ready');
    await gateway.listTools(AGENT, 's');
    await ready;
    expect(seen).toEqual([
      ['s', 'connecting', 'connecting'],
      ['s', 'ready', 'ready'],
    ]);
  });

  it('concurrent first uses share one connection (single flight)', async () => {
    const host = new MemoryServer();
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [memoryTransport({ s: host })]);
    await gateway.start();
    await Promise.all([
      gateway.listTools(AGENT, 's'),
      gateway.listTools(AGENT, 's'),
      gateway.callTool({ agent: AGENT, server: 's', tool: 'echo', args: { text: 'x' } }),
    ]);
    expect(host.creates).toBe(1);
  });

  it('the tool cache is refreshed on tools/list_changed and toolsChanged fires', async () => {
    const host = new MemoryServer();
    const changes: string[][] = [];
    let onLate: ((tools: readonly Tool[]) => void) | undefined;
    const lateSeen = new Promise<readonly Tool[]>((resolve) => (onLate = resolve));
    const watcher: GatewayPlugin = {
      name: 'tools-watcher',
      apply: (g) =>
        g.hooks.toolsChanged.tap('tools-watcher', (server, tools) => {
          changes.push(tools.map((t) => t.name));
          if (server === 's' && tools.some((t) => t.name === 'late')) onLate?.(tools);
        }),
    };
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [watcher, memoryTransport({ s: host })]);
    await gateway.start();
    const before = await gateway.listTools(AGENT, 's');
    expect(before.map((t) => t.name)).not.toContain('late');
    expect(changes).toHaveLength(1);

    // McpServer sends notifications/tools/list_changed when a tool is registered after connect.
    host.latest.registerTool('late', { description: 'registered after connect' }, () => ({
      content: [{ type: 'text', text: 'late answer' }],
    }));
    const tools = await within(lateSeen, 'toolsChanged with "late"');
    expect(tools).toHaveLength(before.length + 1);
    expect((await gateway.listTools(AGENT, 's')).map((t) => t.name)).toContain('late');
    expect(gateway.server('s')!.info().toolCount).toBe(before.length + 1);
    expect(host.creates).toBe(1);
    const result = await gateway.callTool({ agent: AGENT, server: 's', tool: 'late', args: {} });
    expect(textOf(result)).toBe('late answer');
  });

  it('a tool added by a downstream call (demo add_tool) becomes callable', async () => {
    const host = new MemoryServer();
    let onExtra: (() => void) | undefined;
    const extraSeen = new Promise<void>((resolve) => (onExtra = resolve));
    const watcher: GatewayPlugin = {
      name: 'tools-watcher',
      apply: (g) =>
        g.hooks.toolsChanged.tap('tools-watcher', (_server, tools) => {
          if (tools.some((t) => t.name === 'extra_1')) onExtra?.();
        }),
    };
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [watcher, memoryTransport({ s: host })]);
    await gateway.start();
    const added = await gateway.callTool({ agent: AGENT, server: 's', tool: 'add_tool', args: {} });
    expect(textOf(added)).toBe('extra_1');
    await within(extraSeen, 'toolsChanged with extra_1');
    expect(textOf(await gateway.callTool({ agent: AGENT, server: 's', tool: 'extra_1', args: {} }))).toBe('extra_1');
  });

  it('restarts after the connection closes: state error, then the next call reconnects', async () => {
    const host = new MemoryServer();
    let resolves = 0;
    const counting: GatewayPlugin = {
      name: 'counting',
      apply: (g) =>
        g.hooks.resolveTransport.tap('counting', () => {
          resolves += 1;
          return undefined;
        }),
    };
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [counting, memoryTransport({ s: host })]);
    await gateway.start();
    expect(textOf(await gateway.callTool({ agent: AGENT, server: 's', tool: 'echo', args: { text: 'one' } }))).toBe('one');
    expect(host.creates).toBe(1);

    const errored = stateOf(gateway, 's', 'error');
    await host.serverSides[0]!.close();
    const info = await errored;
    expect(info.lastError).toContain('closed unexpectedly');

    const ready = stateOf(gateway, 's', 'ready');
    expect(textOf(await gateway.callTool({ agent: AGENT, server: 's', tool: 'echo', args: { text: 'two' } }))).toBe('two');
    await ready;
    expect(host.creates).toBe(2);
    // The transport factory is kept: only create() runs again.
    expect(resolves).toBe(1);
    expect(gateway.server('s')!.info().lastError).toBeUndefined();
  });

  it('a call in flight when the connection closes fails with SERVER_UNAVAILABLE', async () => {
    let started: (() => void) | undefined;
    const inFlight = new Promise<void>((resolve) => (started = resolve));
    const host = new MemoryServer(() =>
      createDemoServer({
        log: (line) => {
          if (line.startsWith('sleep started')) started?.();
        },
      }),
    );
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [memoryTransport({ s: host })]);
    await gateway.start();
    const call = rejection(gateway.callTool({ agent: AGENT, server: 's', tool: 'sleep', args: { ms: 60_000 } }));
    await within(inFlight, 'sleep started');
    await host.serverSides[0]!.close();
    expect((await call).code).toBe('SERVER_UNAVAILABLE');
    expect(gateway.server('s')!.state).toBe('error');
  });
});

describe('coded errors', () => {
  it('a call that outlives its timeout fails with TIMEOUT', async () => {
    const host = new MemoryServer();
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [memoryTransport({ s: host })]);
    await gateway.start();
    const error = await rejection(
      gateway.callTool({ agent: AGENT, server: 's', tool: 'sleep', args: { ms: 60_000 }, timeoutMs: 50 }),
    );
    expect(error.code).toBe('TIMEOUT');
    expect(error.details).toEqual({ server: 's', tool: 'sleep' });
    // The server is still usable afterwards.
    expect(textOf(await gateway.callTool({ agent: AGENT, server: 's', tool: 'echo', args: { text: 'still here' } }))).toBe(
      'still here',
    );
  });

  it("the server's timeoutMs applies when the call sets none", async () => {
    const host = new MemoryServer();
    const gateway = gatewayOf(config([spec('s', { timeoutMs: 50 })], { initStrategy: 'lazy' }), [memoryTransport({ s: host })]);
    await gateway.start();
    const error = await rejection(gateway.callTool({ agent: AGENT, server: 's', tool: 'sleep', args: { ms: 60_000 } }));
    expect(error.code).toBe('TIMEOUT');
  });

  it('unknown tool → TOOL_NOT_FOUND; unknown server → SERVER_NOT_FOUND', async () => {
    const host = new MemoryServer();
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [memoryTransport({ s: host })]);
    await gateway.start();
    const tool = await rejection(gateway.callTool({ agent: AGENT, server: 's', tool: 'no_such_tool', args: {} }));
    expect(tool.code).toBe('TOOL_NOT_FOUND');
    expect(tool.details).toEqual({ server: 's', tool: 'no_such_tool' });
    const server = await rejection(gateway.callTool({ agent: AGENT, server: 'ghost', tool: 'echo', args: {} }));
    expect(server.code).toBe('SERVER_NOT_FOUND');
    expect(server.details).toEqual({ server: 'ghost' });
    expect((await rejection(gateway.listTools(AGENT, 'ghost'))).code).toBe('SERVER_NOT_FOUND');
  });

  it("a downstream's JSON-RPC error → DOWNSTREAM_ERROR", async () => {
    const host = new MemoryServer();
    const gateway = gatewayOf(config([spec('s')], { initStrategy: 'lazy' }), [memoryTransport({ s: host })]);
    await gateway.start();
    const error = await rejection(gateway.callTool({ agent: AGENT, server: 's', tool: 'throw', args: { message: 'boom' } }));
    expect(error.code).toBe('DOWNSTREAM_ERROR');
    expect(error.message).toContain('boom');
  });

  it("a disabled server is 'disabled', never connected, and calls fail with SERVER_UNAVAILABLE", async () => {
    const host = new MemoryServer();
    const on = new MemoryServer();
    const gateway = gatewayOf(config([spec('off', { enabled: false }), spec('on')]), [memoryTransport({ off: host, on })]);
    const ready = stateOf(gateway, 'on', 'ready');
    await gateway.start();
    await ready;
    expect(gateway.server('off')!.state).toBe('disabled');
    const error = await rejection(gateway.callTool({ agent: AGENT, server: 'off', tool: 'echo', args: { text: 'x' } }));
    expect(error.code).toBe('SERVER_UNAVAILABLE');
    expect((await rejection(gateway.listTools(AGENT, 'off'))).code).toBe('SERVER_UNAVAILABLE');
    expect(host.creates).toBe(0);
    expect(gateway.server('off')!.state).toBe('disabled');
  });
});

describe('status and shutdown', () => {
  it('status lists every server with its state; close() runs shutdown once and is idempotent', async () => {
    const host = new MemoryServer();
    let shutdowns = 0;
    const plugin: GatewayPlugin = {
      name: 'shutdown-counter',
      apply: (g) => g.hooks.shutdown.tapPromise('shutdown-counter', async () => void (shutdowns += 1)),
    };
    const gateway = gatewayOf(config([spec('s', { description: 'demo' })], { initStrategy: 'lazy' }), [
      plugin,
      memoryTransport({ s: host }),
    ]);
    await gateway.start();
    await expect(gateway.start()).rejects.toThrow(/already/);
    await gateway.listTools(AGENT, 's');
    const status = gateway.status();
    expect(status.servers).toEqual([expect.objectContaining({ name: 's', description: 'demo', state: 'ready', auth: 'none' })]);
    expect(status.warnings).toEqual([]);

    const closed = new Promise<void>((resolve) => {
      host.latest.server.onclose = () => resolve();
    });
    await Promise.all([gateway.close(), gateway.close()]);
    await within(closed, 'downstream closed');
    expect(shutdowns).toBe(1);
    // A close we asked for is no crash.
    expect(gateway.server('s')!.state).not.toBe('error');
    expect((await rejection(gateway.callTool({ agent: AGENT, server: 's', tool: 'echo', args: { text: 'x' } }))).code).toBe(
      'SERVER_UNAVAILABLE',
    );
  });
});
