import { describe, it, expect } from 'vitest';
import { GatewayError, ErrorCodes, errors } from '../src/errors.js';
import { createHooks, type GatewayHooks } from '../src/hooks.js';
import { silentLogger, type Logger } from '../src/logger.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { globMatch } from '../src/policy/glob.js';
import { PolicyPlugin } from '../src/policy/plugin.js';
import { RulesFileSchema } from '../src/policy/rules.js';
import type { GatewayConfig, ServerInfo, ServerSpec, Tool, ToolCall } from '../src/types.js';

const RULES = {
  agents: {
    researcher: {
      allow: {
        servers: ['github', 'brave-search', 'db-?'],
        tools: { github: ['get_*', 'search_code', 'list_issue?'] },
      },
      deny: {
        servers: ['secret*'],
        tools: { github: ['get_secret', 'get_private_*'] },
      },
    },
    admin: { allow: { servers: ['*'] }, deny: { servers: ['vault'] } },
    contradiction: { allow: { servers: ['github'], tools: { github: ['x'] } }, deny: { servers: ['github'] } },
    precedence: {
      allow: { servers: ['s'], tools: { s: ['drop_table', 'r*', 'keep'] } },
      deny: { tools: { s: ['drop_*', 'run', 'r*'] } },
    },
    everywhere: {
      allow: { servers: ['*'], tools: { '*': ['read_*', 'delete_safe'], fs: ['write_file'] } },
      deny: { servers: ['vault'], tools: { '*': ['delete_*'] } },
    },
    locked: { allow: { servers: ['github'], tools: { github: [] } } },
    default: { allow: { servers: ['brave-search'] } },
  },
};

const rules = RulesFileSchema.parse(RULES);
const engine = new PolicyEngine(rules);

/** The code of the GatewayError `fn` throws (fails the test on any other throw). */
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return (error as GatewayError).code;
  }
  return undefined;
}

describe('globMatch', () => {
  it.each([
    ['*', '', true],
    ['*', 'anything', true],
    ['get_*', 'get_', true],
    ['get_*', 'Get_issue', false],
    ['*_issue', 'get_issue', true],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYY', false],
    ['db-?', 'db-1', true],
    ['db-?', 'db-', false],
    ['db-?', 'db-12', false],
    ['db-?', 'db-😀', true],
    ['a.b', 'aXb', false],
    ['a.b', 'a.b', true],
    ['[x]', '[x]', true],
    ['(a|b)', 'a', false],
    ['a\\*', 'a\\xyz', true],
    ['GitHub', 'github', false],
  ])('%j against %j → %s', (pattern, value, expected) => {
    expect(globMatch(pattern, value)).toBe(expected);
  });
});

describe('PolicyEngine.serverDecision', () => {
  it.each([
    ['researcher', 'github', true, 'allow.servers["github"]'],
    ['researcher', 'secret-store', false, 'deny.servers["secret*"]'],
    ['researcher', 'db-1', true, 'allow.servers["db-?"]'],
    ['researcher', 'db-12', false, 'no allow.servers entry matches'],
    ['researcher', 'GitHub', false, 'no allow.servers entry matches'],
    ['researcher', 'slack', false, 'no allow.servers entry matches'],
    ['admin', 'anything', true, 'allow.servers["*"]'],
    ['admin', 'vault', false, 'deny.servers["vault"]'],
    ['contradiction', 'github', false, 'deny.servers["github"]'],
    ['nobody', 'github', false, 'agent "nobody" is not defined in the rules'],
  ])('%s on %s → %s', (agent, server, allowed, rule) => {
    expect(engine.serverDecision(agent, server)).toEqual({ allowed, rule });
  });
});

describe('PolicyEngine.toolDecision', () => {
  it.each([
    ['researcher', 'github', 'get_issue', true, 'allow.tools["github"]["get_*"]'],
    ['researcher', 'github', 'get_secret', false, 'deny.tools["github"]["get_secret"]'],
    ['researcher', 'github', 'get_private_repo', false, 'deny.tools["github"]["get_private_*"]'],
    ['researcher', 'github', 'search_code', true, 'allow.tools["github"]["search_code"]'],
    ['researcher', 'github', 'list_issues', true, 'allow.tools["github"]["list_issue?"]'],
    ['researcher', 'github', 'list_issue', false, 'no allow.tools entry for "github" matches'],
    ['researcher', 'github', 'Get_issue', false, 'no allow.tools entry for "github" matches'],
    ['researcher', 'github', 'delete_repo', false, 'no allow.tools entry for "github" matches'],
    // implicit grant: server allowed and no allow.tools list for it
    ['researcher', 'brave-search', 'web_search', true, 'allow.servers["brave-search"] with no allow.tools list for "brave-search"'],
    ['researcher', 'secret-x', 'get_issue', false, 'deny.servers["secret*"]'],
    ['contradiction', 'github', 'x', false, 'deny.servers["github"]'],
    // wildcard deny beats explicit allow; explicit deny is reported before a wildcard deny
    ['precedence', 's', 'drop_table', false, 'deny.tools["s"]["drop_*"]'],
    ['precedence', 's', 'run', false, 'deny.tools["s"]["run"]'],
    ['precedence', 's', 'keep', true, 'allow.tools["s"]["keep"]'],
    // the "*" key applies to every server, alongside the server's own list
    ['everywhere', 'fs', 'delete_safe', false, 'deny.tools["*"]["delete_*"]'],
    ['everywhere', 'fs', 'write_file', true, 'allow.tools["fs"]["write_file"]'],
    ['everywhere', 'fs', 'read_dir', true, 'allow.tools["*"]["read_*"]'],
    ['everywhere', 'other', 'write_file', false, 'no allow.tools entry for "other" matches'],
    ['everywhere', 'vault', 'read_dir', false, 'deny.servers["vault"]'],
    // an empty allow list allows nothing
    ['locked', 'github', 'get_issue', false, 'no allow.tools entry for "github" matches'],
  ])('%s: %s/%s → %s', (agent, server, tool, allowed, rule) => {
    expect(engine.toolDecision(agent, server, tool)).toEqual({ allowed, rule });
  });
});

const WITHOUT_DEFAULT = { agents: { researcher: {}, other: {} } };
const WITH_DEFAULT = { agents: { researcher: {}, default: {} } };
const STRICT = { agents: { researcher: {}, default: {} }, defaults: { deny_on_missing_agent: true } };
const LENIENT = { agents: { researcher: {}, default: {} }, defaults: { deny_on_missing_agent: false } };

describe('PolicyEngine.resolveAgent', () => {
  it.each([
    ['explicit known id', WITH_DEFAULT, undefined, 'researcher', 'researcher'],
    ['explicit id under deny_on_missing_agent', STRICT, undefined, 'researcher', 'researcher'],
    ['explicit unknown id, even with a fallback', WITH_DEFAULT, 'researcher', 'ghost', ErrorCodes.INVALID_AGENT_ID],
    ['ids are case-sensitive', WITH_DEFAULT, undefined, 'Researcher', ErrorCodes.INVALID_AGENT_ID],
    ['malformed id (space)', WITH_DEFAULT, undefined, 'bad id', ErrorCodes.INVALID_AGENT_ID],
    ['malformed id (slash)', WITH_DEFAULT, undefined, '../default', ErrorCodes.INVALID_AGENT_ID],
    ['empty id', WITH_DEFAULT, undefined, '', ErrorCodes.INVALID_AGENT_ID],
    ['missing id → agent named default', WITH_DEFAULT, undefined, undefined, 'default'],
    ['missing id → defaultAgent alone suffices', WITHOUT_DEFAULT, 'researcher', undefined, 'researcher'],
    ['defaultAgent wins over the default agent', WITH_DEFAULT, 'researcher', undefined, 'researcher'],
    ['defaultAgent not in rules', WITH_DEFAULT, 'ghost', undefined, ErrorCodes.FALLBACK_AGENT_NOT_IN_RULES],
    ['empty defaultAgent counts as unset', WITH_DEFAULT, '', undefined, 'default'],
    ['no fallback at all', WITHOUT_DEFAULT, undefined, undefined, ErrorCodes.NO_FALLBACK_CONFIGURED],
    ['deny_on_missing_agent forbids the default agent', STRICT, undefined, undefined, ErrorCodes.NO_FALLBACK_CONFIGURED],
    ['deny_on_missing_agent forbids defaultAgent', STRICT, 'researcher', undefined, ErrorCodes.NO_FALLBACK_CONFIGURED],
    ['deny_on_missing_agent false keeps the fallback', LENIENT, undefined, undefined, 'default'],
  ])('%s', (_name, raw, defaultAgent, requested, expected) => {
    const e = new PolicyEngine(RulesFileSchema.parse(raw), { defaultAgent });
    if (expected in ErrorCodes) {
      expect(codeOf(() => e.resolveAgent(requested))).toBe(expected);
    } else {
      expect(e.resolveAgent(requested)).toBe(expected);
    }
  });
  it('advises only what helps: in strict mode only an agent_id', () => {
    const message = (raw: unknown) => {
      try {
        new PolicyEngine(RulesFileSchema.parse(raw), {}).resolveAgent(undefined);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('expected NO_FALLBACK_CONFIGURED');
    };
    expect(message(STRICT)).toMatch(/pass agent_id$/);
    expect(message(STRICT)).not.toContain('GATEWAY_DEFAULT_AGENT');
    expect(message(WITHOUT_DEFAULT)).toContain('set GATEWAY_DEFAULT_AGENT');
  });
});

describe('PolicyEngine.warnings', () => {
  it('names each literal server that is not configured, with its JSON path', () => {
    const e = new PolicyEngine(
      RulesFileSchema.parse({
        agents: {
          researcher: {
            allow: { servers: ['github', 'foo', 'db-*'], tools: { bar: ['x'], '*': ['y'], github: ['z'] } },
            deny: { servers: ['baz'] },
          },
          'ops.team': { allow: { servers: ['github'] } },
        },
      }),
    );
    expect(e.warnings(['github'])).toEqual([
      "agents.researcher.allow.servers[1]: server 'foo' is not configured",
      "agents.researcher.allow.tools.bar: server 'bar' is not configured",
      "agents.researcher.deny.servers[0]: server 'baz' is not configured",
    ]);
    expect(e.warnings(['github', 'foo', 'bar', 'baz'])).toEqual([]);
  });
});

// ── the plugin, through real tapable hooks ──────────────────────────────────

function config(raw: unknown, options: { servers?: string[]; defaultAgent?: string } = {}): GatewayConfig {
  return {
    servers: (options.servers ?? []).map((name) => ({ name }) as ServerSpec),
    ...(raw !== undefined && { rules: RulesFileSchema.parse(raw) }),
    settings: { defaultAgent: options.defaultAgent } as GatewayConfig['settings'],
    sources: { rules: '/etc/rules.json' },
    warnings: [],
  };
}

const info = (name: string): ServerInfo => ({ name, transport: 'stdio', auth: 'none', state: 'ready' });
const tool = (name: string): Tool => ({ name, inputSchema: { type: 'object' } });
const call = (agent: string, server: string, tool: string): ToolCall => ({ agent, server, tool, args: {} });

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger & { warnings: string[] } = {
    warnings,
    error() {},
    warn: (message) => void warnings.push(message),
    info() {},
    debug() {},
    isLevelEnabled: () => true,
    child: () => logger,
  };
  return logger;
}

/** What the gateway does with a config at start and at each reload: configLoaded, then (accepted) configApplied. */
async function load(hooks: GatewayHooks, cfg: GatewayConfig): Promise<void> {
  const final = await hooks.configLoaded.promise(cfg);
  if (final.rules) expect(hooks.rulesEnforcer.call(final.rules, final)).toBe('PolicyPlugin');
  hooks.configApplied.call(final);
}

async function setup(raw: unknown, options: { servers?: string[]; defaultAgent?: string; logger?: Logger } = {}) {
  const hooks = createHooks();
  const plugin = new PolicyPlugin();
  plugin.apply({ hooks, logger: options.logger ?? silentLogger });
  await load(hooks, config(raw, options));
  return { hooks, plugin };
}

describe('PolicyPlugin', () => {
  it('resolves agents through resolveAgent', async () => {
    const { hooks } = await setup(RULES);
    expect(hooks.resolveAgent.call({}).agent).toBe('default');
    expect(hooks.resolveAgent.call({ requested: 'researcher' }).agent).toBe('researcher');
    expect(codeOf(() => hooks.resolveAgent.call({ requested: 'ghost' }))).toBe(ErrorCodes.INVALID_AGENT_ID);
  });

  it('binds an authenticated request to its credential\'s agent: a different agent_id is INVALID_AGENT_ID', async () => {
    const { hooks } = await setup(RULES);
    expect(hooks.resolveAgent.call({ authenticated: 'researcher' }).agent).toBe('researcher');
    expect(hooks.resolveAgent.call({ authenticated: 'researcher', requested: 'researcher' }).agent).toBe('researcher');
    for (const requested of ['admin', 'default', 'ghost']) {
      expect(codeOf(() => hooks.resolveAgent.call({ authenticated: 'researcher', requested }))).toBe(ErrorCodes.INVALID_AGENT_ID);
    }
    // the credential's agent must exist in the rules like any explicit id
    expect(codeOf(() => hooks.resolveAgent.call({ authenticated: 'ghost' }))).toBe(ErrorCodes.INVALID_AGENT_ID);
    // an earlier tap may map the credential to an agent; the agent_id must then name that one
    hooks.resolveAgent.tap('map', (ctx) => ({ ...ctx, agent: ctx.authenticated === 'svc-1' ? 'admin' : ctx.agent }));
    expect(hooks.resolveAgent.call({ authenticated: 'svc-1' }).agent).toBe('admin');
    expect(hooks.resolveAgent.call({ authenticated: 'svc-1', requested: 'admin' }).agent).toBe('admin');
    expect(codeOf(() => hooks.resolveAgent.call({ authenticated: 'svc-1', requested: 'svc-1' }))).toBe(ErrorCodes.INVALID_AGENT_ID);
    // without rules, the credential's identity is the agent, and still cannot be swapped
    await load(hooks, config(undefined));
    expect(hooks.resolveAgent.call({ authenticated: 'anyone' }).agent).toBe('anyone');
    expect(codeOf(() => hooks.resolveAgent.call({ authenticated: 'anyone', requested: 'someone' }))).toBe(ErrorCodes.INVALID_AGENT_ID);
  });

  it('validates api_keys: sha256 hashes only, each key belonging to one agent', () => {
    const hash = `sha256:${'a'.repeat(64)}`;
    expect(RulesFileSchema.safeParse({ agents: { a: { api_keys: [hash] }, b: { api_keys: [`sha256:${'b'.repeat(64)}`] } } }).success).toBe(true);
    for (const bad of ['plain-key', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `sha512:${'a'.repeat(64)}`]) {
      expect(RulesFileSchema.safeParse({ agents: { a: { api_keys: [bad] } } }).success).toBe(false);
    }
    const shared = RulesFileSchema.safeParse({ agents: { a: { api_keys: [hash] }, b: { api_keys: [hash] } } });
    expect(shared.success).toBe(false);
    expect(shared.error?.issues[0]).toMatchObject({ path: ['agents', 'b', 'api_keys', 0], message: expect.stringContaining('already belongs to agent "a"') });
  });

  it('uses settings.defaultAgent as the fallback', async () => {
    const { hooks } = await setup(WITHOUT_DEFAULT, { defaultAgent: 'other' });
    expect(hooks.resolveAgent.call({}).agent).toBe('other');
  });

  it('never lists a server denied at server level, even under "*"', async () => {
    const { hooks } = await setup(RULES);
    const listed = hooks.filterServers.call(['github', 'vault', 'slack'].map(info), { agent: 'admin' });
    expect(listed.map((s) => s.name)).toEqual(['github', 'slack']);
  });

  it('runs after other filter taps, so they cannot re-add a denied server', async () => {
    const { hooks } = await setup(RULES);
    hooks.filterServers.tap('late', (servers) => [...servers, info('vault')]);
    expect(hooks.filterServers.call([], { agent: 'admin' })).toEqual([]);
  });

  it('hides denied tools', async () => {
    const { hooks } = await setup(RULES);
    const tools = ['get_issue', 'get_secret', 'delete_repo', 'search_code'].map(tool);
    const visible = hooks.filterTools.call(tools, { agent: 'researcher', server: 'github' });
    expect(visible.map((t) => t.name)).toEqual(['get_issue', 'search_code']);
  });

  it('refuses denied calls in beforeToolCall: a hidden server as a missing one, a denied tool with its rule', async () => {
    const { hooks } = await setup(RULES);
    const allowed = call('researcher', 'github', 'get_issue');
    await expect(hooks.beforeToolCall.promise(allowed)).resolves.toBe(allowed);
    const hidden = (await hooks.beforeToolCall.promise(call('admin', 'vault', 'read')).then(
      () => undefined,
      (e: unknown) => e,
    )) as GatewayError;
    // What the agent sees is exactly SERVER_NOT_FOUND; the denial is kept for the audit only.
    expect(hidden.toJSON()).toEqual(errors.serverNotFound('vault').toJSON());
    expect(hidden.denial).toEqual({ agent: 'admin', rule: 'deny.servers["vault"]' });
    await expect(hooks.beforeToolCall.promise(call('researcher', 'github', 'get_secret'))).rejects.toMatchObject({
      code: ErrorCodes.DENIED_BY_POLICY,
      details: { tool: 'get_secret', rule: 'deny.tools["github"]["get_secret"]' },
    });
  });

  it('allows everything without rules, and warns about it once', async () => {
    const logger = recordingLogger();
    const { hooks } = await setup(undefined, { logger });
    await load(hooks, config(undefined));
    expect(hooks.resolveAgent.call({}).agent).toBe('default');
    expect(hooks.resolveAgent.call({ requested: 'anyone' }).agent).toBe('anyone');
    expect(hooks.filterServers.call([info('vault')], { agent: 'anyone' })).toHaveLength(1);
    await expect(hooks.beforeToolCall.promise(call('anyone', 'vault', 'x'))).resolves.toBeDefined();
    expect(logger.warnings).toHaveLength(1);
    // one line that says what it means and how to fix it
    expect(String(logger.warnings[0])).toMatch(/every agent may use every server.*--rules <file>/);
  });

  it('falls back to settings.defaultAgent without rules', async () => {
    const { hooks } = await setup(undefined, { defaultAgent: 'ci' });
    expect(hooks.resolveAgent.call({}).agent).toBe('ci');
  });

  it('logs a warning per rule naming an unconfigured server', async () => {
    const logger = recordingLogger();
    await setup({ agents: { a: { allow: { servers: ['github', 'nope'] } } } }, { servers: ['github'], logger });
    expect(logger.warnings).toEqual(["agents.a.allow.servers[1]: server 'nope' is not configured"]);
  });

  it('rebuilds the engine when the config is reloaded', async () => {
    const { hooks, plugin } = await setup(RULES);
    expect(plugin.policy).toBeDefined();
    await load(hooks, config({ agents: { default: { allow: { servers: ['vault'] } } } }));
    expect(hooks.filterServers.call([info('vault'), info('github')], { agent: 'default' }).map((s) => s.name)).toEqual([
      'vault',
    ]);
    await load(hooks, config(undefined));
    expect(plugin.policy).toBeUndefined();
  });

  it('a reload refused after its configLoaded tap (no configApplied) keeps the running policy', async () => {
    const { hooks } = await setup(RULES);
    const visible = () => hooks.filterServers.call([info('vault'), info('github')], { agent: 'default' }).map((s) => s.name);
    const before = visible();
    // The policy saw the new rules, but a later tap refused the reload: the gateway never applies it.
    await hooks.configLoaded.promise(config({ agents: { default: { allow: { servers: ['vault'] } } } }));
    expect(visible()).toEqual(before);
  });

  it('adds its status section: every agent for the operator, only its own entry for an agent', async () => {
    const { hooks } = await setup(RULES, { defaultAgent: 'default' });
    const operator = { visible: () => true, namesHidden: () => false };
    const all = hooks.status.call({}, operator).policy as { agents: string[] };
    expect(all).toMatchObject({ rulesLoaded: true, defaultAgent: 'default', denyOnMissingAgent: false });
    expect(all.agents.length).toBeGreaterThan(1);
    expect(hooks.status.call({}, { ...operator, agent: 'researcher' }).policy).toMatchObject({ agents: ['researcher'] });
  });
});
