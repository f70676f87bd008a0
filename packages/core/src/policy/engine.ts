import { errors } from '../errors.js';
import { compileGlob, isGlobPattern, type GlobMatcher } from './glob.js';
import { AGENT_ID_PATTERN, type AgentRules, type RulesFile } from './rules.js';

/** The outcome of one policy question, with the rule that settled it (for errors and audit). */
export interface Decision {
  readonly allowed: boolean;
  /** A short human string naming the deciding rule, e.g. `deny.servers["secret*"]`. */
  readonly rule: string;
}

export interface PolicyEngineOptions {
  /** `GATEWAY_DEFAULT_AGENT`: the agent used when a request names none. Empty counts as unset. */
  readonly defaultAgent?: string | undefined;
}

/** Key of `allow.tools` / `deny.tools` that applies to every server. */
export const ALL_SERVERS_KEY = '*';

interface PatternRule {
  readonly rule: string;
  readonly match: GlobMatcher;
}

/** One `tools[server]` list, split so explicit names are a map lookup. */
interface ToolList {
  /** Literal tool name → rule text. */
  readonly explicit: ReadonlyMap<string, string>;
  readonly wildcard: readonly PatternRule[];
}

interface CompiledAgent {
  readonly denyServers: readonly PatternRule[];
  readonly allowServers: readonly PatternRule[];
  readonly denyTools: ReadonlyMap<string, ToolList>;
  readonly allowTools: ReadonlyMap<string, ToolList>;
}

const q = (s: string): string => JSON.stringify(s);

/**
 * Decides, from a validated rules file, which agent a request acts for and
 * which servers and tools that agent may use. Every pattern is compiled once
 * here, so decisions on the per-call path only run matchers.
 *
 * Precedence (DESIGN "Policy"): a server must match `allow.servers` and no
 * `deny.servers` entry (deny wins). For a tool on an allowed server: explicit
 * deny, wildcard deny, explicit allow, wildcard allow, implicit grant (no
 * `allow.tools` list applies to the server), else deny.
 *
 * `tools` keys are exact server names, plus the key `"*"` meaning every
 * server: its list applies alongside the server's own (so an `allow.tools["*"]`
 * list also ends the implicit grant). Keys are not otherwise globs. An empty
 * `allow.tools[server]` list allows no tool of that server.
 */
export class PolicyEngine {
  private readonly agents = new Map<string, CompiledAgent>();
  private readonly defaultAgent: string | undefined;

  constructor(
    private readonly rules: RulesFile,
    options: PolicyEngineOptions = {},
  ) {
    // An empty GATEWAY_DEFAULT_AGENT is how shells "unset" a variable.
    this.defaultAgent = options.defaultAgent || undefined;
    for (const [id, agent] of Object.entries(rules.agents)) this.agents.set(id, compileAgent(agent));
  }

  /** Agent ids defined in the rules, in file order. */
  agentIds(): string[] {
    return [...this.agents.keys()];
  }

  /**
   * The agent a request acts for (DESIGN Policy rules 3 and 4). An explicit id
   * must be well-formed and defined in the rules; a missing one falls back to
   * `defaultAgent`, then to an agent named `default`, unless
   * `defaults.deny_on_missing_agent` is true.
   * @throws GatewayError INVALID_AGENT_ID, FALLBACK_AGENT_NOT_IN_RULES or NO_FALLBACK_CONFIGURED
   */
  resolveAgent(requested: string | undefined): string {
    if (requested !== undefined) {
      if (!AGENT_ID_PATTERN.test(requested)) {
        throw errors.invalidAgent(requested, 'agent ids may only hold letters, digits, "_", "." and "-"');
      }
      // Never an implicit allow: an unknown agent is an error, not "no rules apply".
      if (!this.agents.has(requested)) throw errors.invalidAgent(requested, 'no agent with this id is defined in the rules');
      return requested;
    }
    if (this.rules.defaults?.deny_on_missing_agent === true) {
      throw errors.noFallback('the rules set defaults.deny_on_missing_agent to true, so every call must name its agent', true);
    }
    if (this.defaultAgent !== undefined) {
      if (!this.agents.has(this.defaultAgent)) throw errors.fallbackNotInRules(this.defaultAgent);
      return this.defaultAgent;
    }
    if (this.agents.has('default')) return 'default';
    throw errors.noFallback("neither GATEWAY_DEFAULT_AGENT is set nor an agent named 'default' is defined");
  }

  /** May `agent` use `server` at all? Deny patterns beat allow patterns. Unknown agents are denied. */
  serverDecision(agent: string, server: string): Decision {
    const rules = this.agents.get(agent);
    if (!rules) return { allowed: false, rule: `agent ${q(agent)} is not defined in the rules` };
    const denied = firstMatch(rules.denyServers, server);
    if (denied) return { allowed: false, rule: denied };
    const allowed = firstMatch(rules.allowServers, server);
    if (allowed) return { allowed: true, rule: allowed };
    return { allowed: false, rule: 'no allow.servers entry matches' };
  }

  /** May `agent` call (or see) `tool` on `server`? The server must be allowed first. */
  toolDecision(agent: string, server: string, tool: string): Decision {
    const serverDecision = this.serverDecision(agent, server);
    if (!serverDecision.allowed) return serverDecision;
    const rules = this.agents.get(agent) as CompiledAgent; // known: the server decision allowed it
    const deny = listsFor(rules.denyTools, server);
    const allow = listsFor(rules.allowTools, server);
    const denyRule = explicitMatch(deny, tool) ?? wildcardMatch(deny, tool);
    if (denyRule) return { allowed: false, rule: denyRule };
    const allowRule = explicitMatch(allow, tool) ?? wildcardMatch(allow, tool);
    if (allowRule) return { allowed: true, rule: allowRule };
    if (allow.length === 0) {
      return { allowed: true, rule: `${serverDecision.rule} with no allow.tools list for ${q(server)}` };
    }
    return { allowed: false, rule: `no allow.tools entry for ${q(server)} matches` };
  }

  /**
   * Rules naming servers that are not configured (DESIGN Policy rule 5): one
   * line per literal server name in `allow`/`deny` `servers` lists and `tools`
   * keys, with its JSON path. Glob patterns and the `"*"` key are not checked.
   */
  warnings(configuredServers: readonly string[]): string[] {
    const configured = new Set(configuredServers);
    const out: string[] = [];
    const unknown = (name: string): boolean => !isGlobPattern(name) && !configured.has(name);
    for (const [id, agent] of Object.entries(this.rules.agents)) {
      for (const kind of ['allow', 'deny'] as const) {
        const set = agent[kind];
        const base = `agents${pathKey(id)}.${kind}`;
        set?.servers?.forEach((name, i) => {
          if (unknown(name)) out.push(`${base}.servers[${i}]: server '${name}' is not configured`);
        });
        for (const key of Object.keys(set?.tools ?? {})) {
          if (key !== ALL_SERVERS_KEY && !configured.has(key)) {
            out.push(`${base}.tools${pathKey(key)}: server '${key}' is not configured`);
          }
        }
      }
    }
    return out;
  }
}

function compileAgent(agent: AgentRules): CompiledAgent {
  return {
    denyServers: compileServers(agent.deny?.servers, 'deny'),
    allowServers: compileServers(agent.allow?.servers, 'allow'),
    denyTools: compileTools(agent.deny?.tools, 'deny'),
    allowTools: compileTools(agent.allow?.tools, 'allow'),
  };
}

function compileServers(patterns: readonly string[] | undefined, kind: 'allow' | 'deny'): PatternRule[] {
  return (patterns ?? []).map((p) => ({ rule: `${kind}.servers[${q(p)}]`, match: compileGlob(p) }));
}

function compileTools(tools: Readonly<Record<string, string[]>> | undefined, kind: 'allow' | 'deny'): Map<string, ToolList> {
  const out = new Map<string, ToolList>();
  for (const [server, patterns] of Object.entries(tools ?? {})) {
    const explicit = new Map<string, string>();
    const wildcard: PatternRule[] = [];
    for (const p of patterns) {
      const rule = `${kind}.tools[${q(server)}][${q(p)}]`;
      if (isGlobPattern(p)) wildcard.push({ rule, match: compileGlob(p) });
      else if (!explicit.has(p)) explicit.set(p, rule);
    }
    out.set(server, { explicit, wildcard });
  }
  return out;
}

/** The lists that apply to `server`: its own, then the `"*"` one. */
function listsFor(map: ReadonlyMap<string, ToolList>, server: string): ToolList[] {
  const own = map.get(server);
  const all = server === ALL_SERVERS_KEY ? undefined : map.get(ALL_SERVERS_KEY);
  return own && all ? [own, all] : own ? [own] : all ? [all] : [];
}

function firstMatch(rules: readonly PatternRule[], value: string): string | undefined {
  for (const r of rules) if (r.match(value)) return r.rule;
  return undefined;
}

function explicitMatch(lists: readonly ToolList[], tool: string): string | undefined {
  for (const list of lists) {
    const rule = list.explicit.get(tool);
    if (rule) return rule;
  }
  return undefined;
}

function wildcardMatch(lists: readonly ToolList[], tool: string): string | undefined {
  for (const list of lists) {
    const rule = firstMatch(list.wildcard, tool);
    if (rule) return rule;
  }
  return undefined;
}

/** `.name` when it reads as an identifier, else `["name"]`. */
function pathKey(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${q(key)}]`;
}
