import { errors } from '../errors.js';
import type { GatewayHooks } from '../hooks.js';
import type { Logger } from '../logger.js';
import type { GatewayConfig } from '../types.js';
import { PolicyEngine } from './engine.js';

/**
 * The part of the gateway the policy plugin uses. Structural, so the plugin
 * does not depend on `gateway.ts` (and a `Gateway` satisfies it).
 */
export interface PolicyHost {
  readonly hooks: GatewayHooks;
  readonly logger: Logger;
}

/** The policy's section of `get_gateway_status`. */
export interface PolicyStatus {
  readonly rulesLoaded: boolean;
  /** The agents of the rules file; for an agent reading the status, only its own entry. */
  readonly agents: readonly string[];
  readonly defaultAgent?: string;
  readonly denyOnMissingAgent: boolean;
}

/**
 * Policy taps run after every other tap on the same hook, so they judge the
 * final value: an earlier `beforeToolCall` tap cannot rewrite a call past the
 * check, an earlier filter cannot re-add a denied item, and the warnings see
 * servers added by other `configLoaded` taps.
 */
const STAGE = 1000;

/**
 * Enforces `.mcp-gateway-rules.json` through the public hooks: resolves the
 * agent, hides denied servers and tools, and refuses denied calls. A denied
 * server is answered exactly as a missing one (SERVER_NOT_FOUND), so an agent
 * cannot probe for names it was never shown; a denied tool on a server it may
 * see is `DENIED_BY_POLICY` with the rule. Without a rules file every agent may
 * use everything.
 *
 * Not built into the `Gateway`: the CLI composes it (`defaultPlugins`), an
 * embedder adds it. It answers `rulesEnforcer`, so a gateway whose config has
 * rules refuses to start without it (or another plugin that enforces them).
 * Adds the `policy` section to the status.
 */
export class PolicyPlugin {
  readonly name = 'PolicyPlugin';
  private engine: PolicyEngine | undefined;
  private defaultAgent: string | undefined;
  private config: GatewayConfig | undefined;
  /** Built by `configLoaded`, in use from `configApplied`: a reload another plugin refuses keeps the running policy. */
  private pending: { config: GatewayConfig; engine: PolicyEngine | undefined } | undefined;
  private warnedNoRules = false;

  /** The engine for the current config; `undefined` when no rules file is loaded. */
  get policy(): PolicyEngine | undefined {
    return this.engine;
  }

  apply(gateway: PolicyHost): void {
    const { hooks } = gateway;
    const logger = gateway.logger.child({ plugin: this.name });
    const tap = { name: this.name, stage: STAGE };

    hooks.configLoaded.tap(tap, (config) => {
      this.pending = { config, engine: this.build(config, logger) };
      return config;
    });
    hooks.rulesEnforcer.tap(tap, () => this.name);
    hooks.configApplied.tap(tap, (config) => {
      const engine = this.pending?.config === config ? this.pending.engine : this.build(config, logger);
      this.pending = undefined;
      this.config = config;
      this.engine = engine;
      this.defaultAgent = config.settings.defaultAgent;
    });
    hooks.status.tap(tap, (status, { agent }) => {
      const rules = this.config?.rules;
      const agents = rules ? Object.keys(rules.agents) : [];
      const policy: PolicyStatus = {
        rulesLoaded: rules !== undefined,
        agents: agent === undefined ? agents : agents.filter((a) => a === agent),
        ...(this.defaultAgent !== undefined && { defaultAgent: this.defaultAgent }),
        denyOnMissingAgent: rules?.defaults?.deny_on_missing_agent === true,
      };
      return { ...status, policy };
    });

    hooks.resolveAgent.tap(tap, (ctx) => {
      // An earlier tap may have chosen the agent (e.g. mapped a credential's identity to one); else a
      // credential's own identity (HTTP serving) binds the request. Either is checked like an explicit id.
      const bound = ctx.agent ?? ctx.authenticated;
      // An authenticated caller cannot act for someone else: an agent_id that names another agent is refused.
      if (ctx.authenticated !== undefined && ctx.requested !== undefined && ctx.requested !== bound) {
        throw errors.invalidAgent(ctx.requested, `this request's credential belongs to agent '${bound}'; omit agent_id or pass that one`);
      }
      const requested = bound ?? ctx.requested;
      ctx.agent = this.engine ? this.engine.resolveAgent(requested) : (requested ?? (this.defaultAgent || 'default'));
      return ctx;
    });

    hooks.authorizeServer.tap(tap, (agent, server) => {
      const decision = this.engine?.serverDecision(agent, server);
      if (decision && !decision.allowed) throw errors.hiddenServer(agent, server, decision.rule);
    });

    hooks.filterServers.tap(tap, (servers, { agent }) => {
      const engine = this.engine;
      return engine ? servers.filter((s) => engine.serverDecision(agent, s.name).allowed) : servers;
    });

    hooks.filterTools.tap(tap, (tools, { agent, server }) => {
      const engine = this.engine;
      return engine ? tools.filter((t) => engine.toolDecision(agent, server, t.name).allowed) : tools;
    });

    hooks.beforeToolCall.tap(tap, (call) => {
      const engine = this.engine;
      if (!engine) return call;
      const server = engine.serverDecision(call.agent, call.server);
      if (!server.allowed) throw errors.hiddenServer(call.agent, call.server, server.rule);
      const tool = engine.toolDecision(call.agent, call.server, call.tool);
      if (!tool.allowed) throw errors.deniedTool(call.agent, call.server, call.tool, tool.rule);
      return call;
    });
  }

  /** The engine for `config` (undefined without rules), with its warnings logged: on start and on every hot reload. */
  private build(config: GatewayConfig, logger: Logger): PolicyEngine | undefined {
    if (!config.rules) {
      if (!this.warnedNoRules) {
        this.warnedNoRules = true;
        logger.warn(
          'No rules file is loaded: every agent may use every server and tool. To restrict agents, write .mcp-gateway-rules.json ' +
            "('agent-mcp-gateway init' makes a template) and pass --rules <file> or set GATEWAY_RULES.",
        );
      }
      return undefined;
    }
    const engine = new PolicyEngine(config.rules, { defaultAgent: config.settings.defaultAgent });
    const file = config.sources.rules;
    for (const warning of engine.warnings(config.servers.map((s) => s.name))) {
      logger.warn(warning, file ? { file } : undefined);
    }
    return engine;
  }
}
