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

/**
 * Policy taps run after every other tap on the same hook, so they judge the
 * final value: an earlier `beforeToolCall` tap cannot rewrite a call past the
 * check, an earlier filter cannot re-add a denied item, and the warnings see
 * servers added by other `configLoaded` taps.
 */
const STAGE = 1000;

/**
 * Enforces `.mcp-gateway-rules.json` through the kernel hooks: resolves the
 * agent, hides denied servers and tools, and refuses denied calls. A denied
 * server is answered exactly as a missing one (SERVER_NOT_FOUND), so an agent
 * cannot probe for names it was never shown; a denied tool on a server it may
 * see is `DENIED_BY_POLICY` with the rule. Without a rules file every agent may
 * use everything.
 */
export class PolicyPlugin {
  readonly name = 'PolicyPlugin';
  private engine: PolicyEngine | undefined;
  private defaultAgent: string | undefined;
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
      this.load(config, logger);
      return config;
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

  /** (Re)builds the engine: called on start and on every hot reload. */
  private load(config: GatewayConfig, logger: Logger): void {
    this.defaultAgent = config.settings.defaultAgent;
    if (!config.rules) {
      this.engine = undefined;
      if (!this.warnedNoRules) {
        this.warnedNoRules = true;
        logger.warn(
          'No rules file is loaded: every agent may use every server and tool. To restrict agents, write .mcp-gateway-rules.json ' +
            "('agent-mcp-gateway init' makes a template) and pass --rules <file> or set GATEWAY_RULES.",
        );
      }
      return;
    }
    this.engine = new PolicyEngine(config.rules, { defaultAgent: config.settings.defaultAgent });
    const file = config.sources.rules;
    for (const warning of this.engine.warnings(config.servers.map((s) => s.name))) {
      logger.warn(warning, file ? { file } : undefined);
    }
  }
}
