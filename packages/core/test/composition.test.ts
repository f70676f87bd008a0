/**
 * Composition: the Gateway constructs no plugin (policy, metrics, audit and reload status are
 * plugins on the public hooks), rules nobody enforces fail closed, and `callSettled` reports
 * every gateway tool call exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Gateway,
  GatewayError,
  PolicyPlugin,
  ReloadStatusPlugin,
  rulesNotEnforced,
  silentLogger,
  type CallOutcome,
  type CallToolResult,
  type GatewayPlugin,
  type RulesFile,
} from '../src/index.js';
import { Downstreams, config, spec, startWithClient, type Running } from './ops-fixtures.js';

const RULES: RulesFile = {
  agents: {
    ops: { allow: { servers: ['*'] } },
    intern: { allow: { servers: ['notes'] }, deny: { tools: { notes: ['add'] } } },
  },
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A third-party plugin recording every outcome the gateway reports. */
function recorder(): GatewayPlugin & { readonly outcomes: { outcome: CallOutcome; error: GatewayError | undefined }[] } {
  const outcomes: { outcome: CallOutcome; error: GatewayError | undefined }[] = [];
  return {
    name: 'recorder',
    outcomes,
    apply: (g) => g.hooks.callSettled.tap('recorder', (outcome, error) => void outcomes.push({ outcome, error })),
  };
}

function gateway(rules: RulesFile | undefined, plugins: GatewayPlugin[]): Gateway {
  const g = new Gateway({ config: { ...config([spec('notes')], { initStrategy: 'lazy' }, rules), sources: { rules: '/x/rules.json' } }, plugins, logger: silentLogger });
  cleanups.push(() => g.close());
  return g;
}

describe('the Gateway constructs no plugin', () => {
  it('without plugins no hook is tapped, and status has only the kernel sections', async () => {
    const g = gateway(undefined, []);
    await g.start();
    const hooks = g.hooks as unknown as Record<string, { isUsed?: () => boolean }>;
    for (const [name, hook] of Object.entries(hooks)) if (hook.isUsed) expect(hook.isUsed(), name).toBe(false);
    expect(Object.keys(g.status()).sort()).toEqual(['initStrategy', 'servers', 'sources', 'uptimeMs', 'version', 'warnings']);
    // Without the policy plugin nobody resolves agents: the kernel's fallback.
    expect(g.resolveAgent()).toBe('default');
  });

  it('without the policy plugin, a credential still binds the request: naming another agent is INVALID_AGENT_ID', async () => {
    const g = gateway(undefined, []);
    await g.start();
    expect(g.resolveAgent(undefined, 'alice')).toBe('alice');
    expect(g.resolveAgent('alice', 'alice')).toBe('alice');
    expect(g.resolveAgent('bob')).toBe('bob');
    let caught: unknown;
    try {
      g.resolveAgent('bob', 'alice');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    expect((caught as GatewayError).code).toBe('INVALID_AGENT_ID');
  });

  it('a plugin that maps a credential to an agent is honoured, and only that agent may be named', async () => {
    const mapper: GatewayPlugin = {
      name: 'mapper',
      apply: (gw) => gw.hooks.resolveAgent.tap('mapper', (ctx) => ({ ...ctx, agent: ctx.authenticated === 'svc-1' ? 'admin' : ctx.agent })),
    };
    const g = gateway(undefined, [mapper]);
    await g.start();
    expect(g.resolveAgent(undefined, 'svc-1')).toBe('admin');
    expect(g.resolveAgent('admin', 'svc-1')).toBe('admin');
    expect(() => g.resolveAgent('svc-1', 'svc-1')).toThrow(GatewayError);
  });
});

describe('fail closed: rules need a plugin that enforces them', () => {
  it('a config with rules and no enforcer refuses to start (PLUGIN_ERROR rules_not_enforced, naming the rules file); no server is made', async () => {
    const g = gateway(RULES, [new Downstreams().plugin()]);
    const error = await g.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(rulesNotEnforced.is(error)).toBe(true);
    expect(error).toMatchObject({ code: 'PLUGIN_ERROR', details: { reason: 'rules_not_enforced', file: '/x/rules.json' } });
    expect(g.servers()).toEqual([]);
  });

  it('a third-party plugin answering rulesEnforcer is enough; PolicyPlugin answers it', async () => {
    const own: GatewayPlugin = { name: 'own-policy', apply: (g) => g.hooks.rulesEnforcer.tap('own-policy', () => 'own-policy') };
    await gateway(RULES, [own]).start();
    const policy = gateway(RULES, [new PolicyPlugin()]);
    await policy.start();
    expect(policy.hooks.rulesEnforcer.call(RULES, policy.config)).toBe('PolicyPlugin');
  });

  it('a reload that brings rules nobody enforces is refused: the running config stays, reloadFailed is told once', async () => {
    const reload = new ReloadStatusPlugin();
    const failures: unknown[] = [];
    const tap: GatewayPlugin = { name: 'failures', apply: (g) => g.hooks.reloadFailed.tap('failures', (e) => void failures.push(e)) };
    const g = gateway(undefined, [reload, tap, new Downstreams().plugin()]);
    await g.start();
    const next = { ...config([spec('notes'), spec('other')], { initStrategy: 'lazy' }, RULES), sources: { config: '/x/.mcp.json', rules: '/x/rules.json' } };
    await expect(g.applyConfig(next)).rejects.toMatchObject({ code: 'PLUGIN_ERROR', details: { reason: 'rules_not_enforced' } });
    expect(g.servers().map((s) => s.name)).toEqual(['notes']);
    expect(g.config.rules).toBeUndefined();
    expect(failures).toHaveLength(1);
    expect(rulesNotEnforced.is(failures[0])).toBe(true);
  });
});

describe('callSettled: every gateway tool call, exactly once', () => {
  async function started(): Promise<Running & { record: ReturnType<typeof recorder>; call(name: string, args: Record<string, unknown>): Promise<CallToolResult> }> {
    const record = recorder();
    const r = await startWithClient(config([spec('notes'), spec('vault')], { initStrategy: 'lazy' }, RULES), [new Downstreams().plugin(), record]);
    cleanups.push(() => r.close());
    return { ...r, record, call: async (name, args) => (await r.client.callTool({ name, arguments: args })) as CallToolResult };
  }

  it('reports each operation once, successes and failures alike, with one outcome type', async () => {
    const g = await started();
    const cases: [string, Record<string, unknown>, Partial<CallOutcome>][] = [
      ['list_servers', { agent_id: 'intern' }, { operation: 'list_servers', agent: 'intern', decision: 'ALLOW' }],
      ['list_servers', { agent_id: 'ghost' }, { operation: 'list_servers', agent: undefined, decision: 'ERROR', errorCode: 'INVALID_AGENT_ID' }],
      ['get_server_tools', { agent_id: 'intern', server: 'notes' }, { operation: 'get_server_tools', agent: 'intern', server: 'notes', decision: 'ALLOW' }],
      // hidden from the agent: it is told SERVER_NOT_FOUND, the outcome says what happened
      ['get_server_tools', { agent_id: 'intern', server: 'vault' }, { operation: 'get_server_tools', server: 'vault', decision: 'DENY', errorCode: 'DENIED_BY_POLICY' }],
      ['get_server_tools', { agent_id: 'ops', server: 'nowhere' }, { operation: 'get_server_tools', server: 'nowhere', decision: 'ERROR', errorCode: 'SERVER_NOT_FOUND' }],
      ['execute_tool', { agent_id: 'intern', server: 'notes', tool: 'echo', args: { text: 'x' } }, { operation: 'execute_tool', agent: 'intern', server: 'notes', tool: 'echo', decision: 'ALLOW', toolError: false, args: { text: 'x' } }],
      ['execute_tool', { agent_id: 'ops', server: 'notes', tool: 'fail', args: {} }, { operation: 'execute_tool', tool: 'fail', decision: 'ALLOW', toolError: true }],
      ['execute_tool', { agent_id: 'intern', server: 'notes', tool: 'add', args: { a: 1, b: 2 } }, { operation: 'execute_tool', tool: 'add', decision: 'DENY', errorCode: 'DENIED_BY_POLICY' }],
      ['execute_tool', { agent_id: 'intern', server: 'vault', tool: 'echo', args: {} }, { operation: 'execute_tool', server: 'vault', decision: 'DENY', errorCode: 'DENIED_BY_POLICY' }],
      ['execute_tool', { agent_id: 'ops', server: 'notes', tool: 'throw', args: {} }, { operation: 'execute_tool', tool: 'throw', decision: 'ERROR', errorCode: 'DOWNSTREAM_ERROR' }],
      // refused before the kernel: unknown agent, invalid arguments
      ['execute_tool', { agent_id: 'ghost', server: 'notes', tool: 'echo', args: {} }, { operation: 'execute_tool', agent: undefined, server: 'notes', tool: 'echo', decision: 'ERROR', errorCode: 'INVALID_AGENT_ID' }],
      ['execute_tool', { agent_id: 'ops', server: 'notes' }, { operation: 'execute_tool', server: 'notes', decision: 'ERROR', errorCode: 'INVALID_ARGUMENTS' }],
      ['get_gateway_status', { agent_id: 'ops' }, { operation: 'get_gateway_status', agent: 'ops', decision: 'ALLOW' }],
      ['get_gateway_status', { agent_id: 'ghost' }, { operation: 'get_gateway_status', decision: 'ERROR', errorCode: 'INVALID_AGENT_ID' }],
      ['no_such_tool', {}, { operation: 'no_such_tool', decision: 'ERROR', errorCode: 'TOOL_NOT_FOUND' }],
    ];
    for (const [name, args, expected] of cases) {
      const before = g.record.outcomes.length;
      await g.call(name, args);
      // Reported before the answer went out, and once.
      expect(g.record.outcomes.length - before, `${name} ${JSON.stringify(args)}`).toBe(1);
      const { outcome, error } = g.record.outcomes[before]!;
      expect(outcome, `${name} ${JSON.stringify(args)}`).toMatchObject(expected);
      expect(outcome.durationMs).toBeGreaterThanOrEqual(0);
      if (outcome.decision === 'ALLOW') expect(error).toBeUndefined();
      else expect(error).toBeInstanceOf(GatewayError);
    }
    // The metrics plugin taps the same hook: it counted exactly these calls.
    const counted = g.metrics.snapshot().reduce((sum, s) => sum + s.count, 0);
    expect(counted).toBe(cases.length);
  });

  it('an execute_tool carries the arguments beforeToolCall left, as the downstream got them', async () => {
    const record = recorder();
    const rewrite: GatewayPlugin = {
      name: 'rewrite',
      apply: (g) => g.hooks.beforeToolCall.tap('rewrite', (call) => ({ ...call, args: { ...call.args, text: 'rewritten' } })),
    };
    const r = await startWithClient(config([spec('notes')], { initStrategy: 'lazy' }), [new Downstreams().plugin(), rewrite, record]);
    cleanups.push(() => r.close());
    const result = (await r.client.callTool({ name: 'execute_tool', arguments: { server: 'notes', tool: 'echo', args: { text: 'original' } } })) as CallToolResult;
    expect(result.structuredContent).toEqual({ text: 'rewritten' });
    expect(record.outcomes.map((o) => o.outcome.args)).toEqual([{ text: 'rewritten' }]);
  });

  it('Gateway.callTool without a front reports itself once; with `settled` it hands the outcome over instead', async () => {
    const record = recorder();
    const g = gateway(undefined, [new Downstreams().plugin(), record]);
    await g.start();
    await g.callTool({ agent: 'a', server: 'notes', tool: 'echo', args: { text: 'x' } });
    expect(record.outcomes.map((o) => o.outcome.operation)).toEqual(['execute_tool']);
    const handed: CallOutcome[] = [];
    await g.callTool({ agent: 'a', server: 'notes', tool: 'echo', args: { text: 'y' } }, { settled: (o) => void handed.push(o) });
    expect(record.outcomes).toHaveLength(1);
    expect(handed).toMatchObject([{ operation: 'execute_tool', agent: 'a', server: 'notes', tool: 'echo', decision: 'ALLOW' }]);
  });
});

describe('reload status, a plugin', () => {
  it('shows each file with its last load and error; an agent is not shown an error that names a server hidden from it', async () => {
    const r = await startWithClient({ ...config([spec('notes'), spec('vault')], { initStrategy: 'lazy' }, RULES), sources: { config: '/x/.mcp.json', rules: '/x/rules.json' } }, [new Downstreams().plugin()]);
    cleanups.push(() => r.close());
    expect(r.gateway.status().reload).toMatchObject({ config: { file: '/x/.mcp.json' }, rules: { file: '/x/rules.json' } });
    r.gateway.reloadFailed(new Error("server 'vault' is broken"));
    expect(r.gateway.status().reload?.config?.lastError).toBe("server 'vault' is broken");
    expect(r.gateway.status('ops').reload?.config?.lastError).toBe("server 'vault' is broken");
    expect(r.gateway.status('intern').reload?.config?.lastError).not.toContain('vault');
    expect(r.gateway.status('intern').reload?.rules?.lastError).toBeUndefined();
  });
});
