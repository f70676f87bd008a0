import type { CallToolResult, Progress, Tool } from '@modelcontextprotocol/sdk/types.js';
import { DownstreamServer } from './downstream.js';
import { GatewayError, errors, isGatewayError } from './errors.js';
import { createHooks, type GatewayHooks, type ToolCallOutcome } from './hooks.js';
import { SecretRedactor, createLogger, type Logger } from './logger.js';
import { PolicyPlugin } from './policy/plugin.js';
import type { GatewayConfig, ServerInfo, ToolCall } from './types.js';
import { GATEWAY_VERSION } from './version.js';

/** A plugin: taps the gateway's hooks in `apply`, under its own `name`. */
export interface GatewayPlugin {
  readonly name: string;
  apply(gateway: Gateway): void | Promise<void>;
}

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** Applied in order, after the built-in plugins (policy). */
  readonly plugins?: readonly GatewayPlugin[];
  readonly logger?: Logger;
  /** Shared with the logger so every secret the gateway learns is blanked from logs. */
  readonly redactor?: SecretRedactor;
}

/** One `execute_tool` request, after the agent has been resolved. */
export interface ToolCallRequest {
  readonly agent: string;
  readonly server: string;
  readonly tool: string;
  readonly args: Record<string, unknown>;
  readonly timeoutMs?: number;
}

export interface ToolCallOptions {
  readonly signal?: AbortSignal;
  readonly onprogress?: (progress: Progress) => void;
}

export interface GatewayStatus {
  readonly version: string;
  readonly uptimeMs: number;
  readonly initStrategy: 'eager' | 'lazy';
  readonly sources: GatewayConfig['sources'];
  readonly warnings: readonly string[];
  readonly policy: { readonly rulesLoaded: boolean; readonly agents: readonly string[] };
  readonly servers: readonly ServerInfo[];
}

/**
 * The kernel. Owns the downstream servers and runs every agent-facing
 * operation through the hooks; all behaviour beyond that comes from plugins.
 */
export class Gateway {
  readonly hooks: GatewayHooks = createHooks();
  readonly logger: Logger;
  readonly redactor: SecretRedactor;
  private configValue: GatewayConfig;
  private readonly downstreams = new Map<string, DownstreamServer>();
  private readonly plugins: readonly GatewayPlugin[];
  private readonly startedAt = Date.now();
  private started = false;
  private closed: Promise<void> | undefined;

  constructor(options: GatewayOptions) {
    this.configValue = options.config;
    this.redactor = options.redactor ?? new SecretRedactor();
    this.logger = options.logger ?? createLogger({ level: options.config.settings.logLevel, redactor: this.redactor });
    this.plugins = [new PolicyPlugin(), ...(options.plugins ?? [])];
  }

  get config(): GatewayConfig {
    return this.configValue;
  }

  /**
   * Applies the plugins, runs `configLoaded`, and (eager init) starts every
   * server in the background: start-up never waits on a downstream.
   */
  async start(options: { connect?: boolean } = {}): Promise<void> {
    if (this.started) throw new Error('Gateway.start() was already called');
    this.started = true;
    for (const plugin of this.plugins) {
      try {
        await plugin.apply(this);
      } catch (error) {
        throw new GatewayError('PLUGIN_ERROR', `Plugin '${plugin.name}' failed to start: ${describe(error)}`, {}, { cause: error });
      }
    }
    this.configValue = await this.hooks.configLoaded.promise(this.configValue);
    for (const warning of this.configValue.warnings) this.logger.warn(warning);
    for (const spec of this.configValue.servers) {
      for (const secret of spec.secretValues) this.redactor.add(secret);
      const logger = this.logger.child({ server: spec.name });
      this.downstreams.set(
        spec.name,
        new DownstreamServer(spec, {
          hooks: this.hooks,
          logger,
          connectTimeoutMs: this.configValue.settings.connectTimeoutMs,
          onState: (info) => {
            this.hooks.serverStateChanged
              .promise(info.name, info.state, info)
              .catch((error: unknown) => logger.warn('serverStateChanged tap failed', { error }));
          },
        }),
      );
    }
    // Neither resolving (plugins) nor connecting (network) holds up the start: both run in the background.
    for (const server of this.downstreams.values()) if (server.state !== 'disabled') void server.prepare();
    if (options.connect !== false) this.connectAll();
  }

  /**
   * Eager init: starts connecting every enabled server, all at once, without
   * waiting (failures are logged and kept in each server's state). Lazy: nothing.
   * `start({connect: false})` leaves the moment to the caller — the CLI lets its
   * client's handshake go first, so children do not compete with it.
   */
  connectAll(): void {
    if (this.configValue.settings.initStrategy !== 'eager') return;
    for (const server of this.downstreams.values()) {
      if (server.state !== 'disabled') server.connect().catch(() => undefined);
    }
  }

  /** The agent this request acts for, per the `resolveAgent` chain. Throws coded errors. */
  resolveAgent(requested?: string, authenticated?: string): string {
    const ctx = this.hooks.resolveAgent.call({
      ...(requested !== undefined && { requested }),
      ...(authenticated !== undefined && { authenticated }),
    });
    return ctx.agent ?? requested ?? this.configValue.settings.defaultAgent ?? 'default';
  }

  /** Servers the agent may see, in config order. */
  listServers(agent: string): ServerInfo[] {
    const all = [...this.downstreams.values()].map((s) => s.info());
    return this.hooks.filterServers.call(all, { agent });
  }

  /** The server's tools this agent may see, in downstream order. Connects if needed. */
  async listTools(agent: string, server: string): Promise<Tool[]> {
    const downstream = this.visibleServer(agent, server);
    const tools = await downstream.listTools();
    return this.hooks.filterTools.call([...tools], { agent, server });
  }

  /** Runs one tool call through `beforeToolCall` → downstream → `afterToolCall`. Throws coded errors. */
  async callTool(request: ToolCallRequest, options: ToolCallOptions = {}): Promise<CallToolResult> {
    const started = performance.now();
    const hooks = this.hooks;
    let call: ToolCall = { ...request };
    try {
      const downstream = this.downstreams.get(request.server);
      if (!downstream) throw errors.serverNotFound(request.server);
      if (hooks.beforeToolCall.isUsed()) call = await hooks.beforeToolCall.promise(call);
      const timeoutMs = call.timeoutMs ?? downstream.spec.timeoutMs ?? this.configValue.settings.callTimeoutMs;
      let result = await downstream.callTool(call.tool, call.args, { timeoutMs, ...options });
      if (hooks.afterToolCall.isUsed()) result = await hooks.afterToolCall.promise(result, call);
      if (hooks.toolCallSettled.isUsed()) {
        hooks.toolCallSettled.call(this.outcome(call, 'ALLOW', started, undefined, result.isError === true), undefined);
      }
      return result;
    } catch (error) {
      const coded = this.toGatewayError(error);
      if (hooks.toolCallSettled.isUsed()) {
        const decision = coded.code === 'DENIED_BY_POLICY' ? 'DENY' : 'ERROR';
        hooks.toolCallSettled.call(this.outcome(call, decision, started, coded.code), coded);
      }
      throw coded;
    }
  }

  server(name: string): DownstreamServer | undefined {
    return this.downstreams.get(name);
  }

  servers(): DownstreamServer[] {
    return [...this.downstreams.values()];
  }

  status(): GatewayStatus {
    const rules = this.configValue.rules;
    return {
      version: GATEWAY_VERSION,
      uptimeMs: Date.now() - this.startedAt,
      initStrategy: this.configValue.settings.initStrategy,
      sources: this.configValue.sources,
      warnings: this.configValue.warnings,
      policy: { rulesLoaded: rules !== undefined, agents: rules ? Object.keys(rules.agents) : [] },
      servers: this.servers().map((s) => s.info()),
    };
  }

  /** Any error as a coded one; unexpected ones are logged (they are our bugs). */
  toGatewayError(error: unknown): GatewayError {
    if (isGatewayError(error)) return error;
    this.logger.error('Unexpected error', { error });
    return errors.internal(describe(error));
  }

  /** Closes every downstream (children get close → SIGTERM → SIGKILL). Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.hooks.shutdown.promise().catch((error: unknown) => this.logger.warn('shutdown tap failed', { error }));
      await Promise.all(this.servers().map((s) => s.close()));
    })();
    return this.closed;
  }

  private visibleServer(agent: string, server: string): DownstreamServer {
    const downstream = this.downstreams.get(server);
    if (!downstream) throw errors.serverNotFound(server);
    this.hooks.authorizeServer.call(agent, server);
    return downstream;
  }

  private outcome(
    call: ToolCall,
    decision: ToolCallOutcome['decision'],
    started: number,
    errorCode?: string,
    toolError?: boolean,
  ): ToolCallOutcome {
    return {
      agent: call.agent,
      server: call.server,
      tool: call.tool,
      decision,
      ...(errorCode !== undefined && { errorCode }),
      ...(toolError !== undefined && { toolError }),
      durationMs: performance.now() - started,
    };
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
