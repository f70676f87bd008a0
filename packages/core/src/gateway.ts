import { randomUUID } from 'node:crypto';
import { isInputRequiredResult } from '@modelcontextprotocol/client';
import type { CallToolResult, ClientCapabilities, InputRequest, InputRequiredResult, Progress, Tool } from '@modelcontextprotocol/client';
import { urlCredentials } from './display.js';
import { DownstreamServer } from './downstream.js';
import {
  MAX_INTERACTION_ROUNDS,
  ParkedCall,
  interactionNotFound,
  tooManyRounds,
  declined,
  unanswered,
  withDefaults,
  type InteractFn,
  type ToolCallResume,
  type ToolCallStep,
} from './interaction.js';
import { EraVerdictCache } from './era-verdicts.js';
import { ErrorCodes, GatewayError, defineError, errors, isGatewayError } from './errors.js';
import { createHooks, settledAs, type CallOutcome, type GatewayHooks, type StatusContext } from './hooks.js';
import { SecretRedactor, createLogger, type Logger } from './logger.js';
import type { MetricsSeries } from './metrics.js';
import type { PolicyStatus } from './policy/plugin.js';
import { diffServers, type ReloadStatus, type ServerDiff } from './reload.js';
import type { ConfigRegistry } from './config/registry.js';
import type { GatewayConfig, ServerInfo, ServerSpec, ToolCall } from './types.js';
import { GATEWAY_VERSION } from './version.js';

/**
 * A plugin: taps the gateway's hooks in `apply`, under its own `name`. `register`, when present,
 * declares the configuration it owns (auth types with their schemas, token store names); it runs
 * before the servers file is validated — before any `apply` — so it only declares.
 */
export interface GatewayPlugin {
  readonly name: string;
  register?(registry: ConfigRegistry): void;
  apply(gateway: Gateway): void | Promise<void>;
}

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /**
   * Applied in order. The gateway constructs none itself: policy (`PolicyPlugin`), metrics
   * (`MetricsPlugin`), audit (`AuditPlugin`) and reload status (`ReloadStatusPlugin`) are plugins
   * like any other, composed by the embedder (the CLI's `defaultPlugins`). A config with rules
   * needs a plugin that enforces them (`rulesEnforcer`): without one, `start()` refuses.
   */
  readonly plugins?: readonly GatewayPlugin[];
  readonly logger?: Logger;
  /** Shared with the logger so every secret the gateway learns is blanked from logs. */
  readonly redactor?: SecretRedactor;
  /**
   * The protocol era each downstream spoke, reused on the next connect. Default: a process-local
   * cache; the CLI passes one kept in a file, so a restarted gateway does not probe again.
   */
  readonly eraVerdicts?: EraVerdictCache;
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
  /**
   * Takes this call's outcome instead of the `callSettled` hook: for a front that reports the
   * request itself, once, however many times it runs the call (the meta-tools server runs an
   * `execute_tool` again after a login through the client).
   */
  readonly settled?: (outcome: CallOutcome, error: GatewayError | undefined) => void;
  /**
   * `callTool`: answers the downstream's requests for input (elicitation, sampling) in-process,
   * round by round. Without it they are declined (an elicitation cancelled).
   */
  readonly interact?: InteractFn;
  /**
   * What the caller can answer, told to a 2026-07-28 downstream with each request (so that it asks
   * only that). Default: with `interact`, elicitation (form and URL) and sampling; without, nothing.
   */
  readonly capabilities?: ClientCapabilities;
}

/** What an in-process caller with `interact` can answer by default. */
const INTERACTIVE_CAPABILITIES: ClientCapabilities = { elicitation: { form: {}, url: {} }, sampling: {} };

/** The key under which a 2025-11-25 downstream's question is put to the caller. */
const PARKED_QUESTION_KEY = 'input';

/**
 * A config with rules, and no plugin that enforces them (`rulesEnforcer` has no answer): the
 * start or the reload is refused rather than serving every agent everything.
 */
export const rulesNotEnforced = defineError({
  code: ErrorCodes.PLUGIN_ERROR,
  reason: 'rules_not_enforced',
  message: (file: string | undefined) =>
    `${file ?? 'The config'} has rules, but no plugin enforces them (none answers the rulesEnforcer hook): add PolicyPlugin, or a plugin of your own, to the gateway's plugins`,
  details: (file: string | undefined) => (file !== undefined ? { file } : {}),
});

export interface GatewayStatus {
  readonly version: string;
  readonly uptimeMs: number;
  readonly initStrategy: 'eager' | 'lazy';
  readonly sources: GatewayConfig['sources'];
  readonly warnings: readonly string[];
  readonly servers: readonly ServerInfo[];
  /** The sections of core's plugins, present when the plugin is composed (the CLI composes them all). */
  readonly policy?: PolicyStatus;
  readonly reload?: ReloadStatus;
  readonly metrics?: readonly MetricsSeries[];
  /** Sections added by plugins through the `status` hook (metrics, audit, …). */
  readonly [section: string]: unknown;
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
  /** The protocol era each downstream spoke, for the next connect (kept across reconnects and reloads). */
  private readonly verdicts: EraVerdictCache;
  /** Replaced or removed by a reload, closing once their calls in flight are over. */
  private readonly retiring = new Set<DownstreamServer>();
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly plugins: readonly GatewayPlugin[];
  private readonly startedAt = Date.now();
  private started = false;
  private closed: Promise<void> | undefined;

  constructor(options: GatewayOptions) {
    this.configValue = options.config;
    this.verdicts = options.eraVerdicts ?? new EraVerdictCache();
    this.redactor = options.redactor ?? new SecretRedactor();
    this.logger = options.logger ?? createLogger({ level: options.config.settings.logLevel, redactor: this.redactor });
    this.plugins = [...(options.plugins ?? [])];
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
    this.checkRulesEnforced(this.configValue);
    this.hooks.configApplied.call(this.configValue);
    for (const warning of this.configValue.warnings) this.logger.warn(warning);
    for (const spec of this.configValue.servers) this.downstreams.set(spec.name, this.createDownstream(spec));
    // Neither resolving (plugins) nor connecting (network) holds up the start: both run in the background.
    for (const server of this.downstreams.values()) if (server.state !== 'disabled') void server.prepare();
    if (options.connect !== false) this.connectAll();
  }

  /**
   * Hot reload: runs `configLoaded` on `next` (the policy rebuilds there) and
   * swaps the servers. Added ones are created (and connected under eager init),
   * removed ones closed, changed ones (any difference in their spec) replaced by
   * a new connection; unchanged ones keep theirs, tokens included. A replaced or
   * removed server closes once the calls in flight on it are over. Reloads run
   * one at a time. When a `configLoaded` tap throws, the running config stays
   * (and the failure is recorded for status).
   */
  applyConfig(next: GatewayConfig): Promise<ServerDiff> {
    const run = this.reloading.then(async () => {
      if (!this.started || this.closed) throw new Error('Gateway.applyConfig() needs a started, open gateway');
      let config: GatewayConfig;
      try {
        config = await this.hooks.configLoaded.promise(next);
        this.checkRulesEnforced(config);
      } catch (error) {
        this.reloadFailed(error);
        throw error;
      }
      const diff = diffServers(this.configValue.servers, config.servers);
      const previous = new Map(this.downstreams);
      this.configValue = config;
      this.downstreams.clear();
      for (const spec of config.servers) {
        const kept = previous.get(spec.name);
        this.downstreams.set(spec.name, kept && diff.unchanged.includes(spec.name) ? kept : this.createDownstream(spec));
      }
      for (const server of previous.values()) {
        if (this.downstreams.get(server.name) === server) continue;
        this.retiring.add(server);
        void server.closeWhenIdle().finally(() => this.retiring.delete(server));
      }
      this.hooks.configApplied.call(config);
      for (const warning of config.warnings) this.logger.warn(warning);
      for (const name of [...diff.added, ...diff.changed]) {
        const server = this.downstreams.get(name) as DownstreamServer;
        if (server.state === 'disabled') continue;
        void server.prepare();
        if (config.settings.initStrategy === 'eager') server.connect().catch(() => undefined);
      }
      return diff;
    });
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /**
   * Reports a reload that did not happen (a file did not load, or `applyConfig` refused it)
   * through the `reloadFailed` hook: the running config stays, and the reload status plugin
   * shows the error on the file it names (`details.file`), else on the servers file.
   * `applyConfig` reports its own refusals; a caller reports the loads that failed before it.
   */
  reloadFailed(error: unknown): void {
    this.hooks.reloadFailed.call(error);
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
    // Whatever the plugins did (or none at all: an embedder without the policy plugin), a request
    // whose credential proves an identity acts for that identity or the agent a plugin mapped it
    // to, never for another agent it merely names.
    const agent = ctx.agent ?? authenticated ?? requested ?? this.configValue.settings.defaultAgent ?? 'default';
    if (authenticated !== undefined && requested !== undefined && requested !== agent) {
      throw errors.invalidAgent(requested, `this request's credential belongs to agent '${agent}'; omit agent_id or pass that one`);
    }
    return agent;
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

  /**
   * Runs one tool call through `beforeToolCall` → downstream → `afterToolCall`. Throws coded errors.
   * When the downstream asks for input (elicitation, sampling), `options.interact` answers, round by
   * round, all inside the call's timeout; the policy runs once and the call settles once.
   */
  async callTool(request: ToolCallRequest, options: ToolCallOptions = {}): Promise<CallToolResult> {
    const capabilities = options.capabilities ?? (options.interact ? INTERACTIVE_CAPABILITIES : {});
    const stepOptions = { ...options, capabilities };
    let step = await this.startToolCall(request, stepOptions);
    while ('input' in step) {
      const { inputRequests, resume } = step.input;
      let responses: Record<string, unknown>;
      // The caller's answers are waited for inside the call's time budget too.
      const deadline = AbortSignal.timeout(Math.max(0, resume.deadline - Date.now()));
      try {
        responses = options.interact
          ? await options.interact(inputRequests, options.signal ? AbortSignal.any([options.signal, deadline]) : deadline)
          : {};
      } catch (error) {
        const coded = deadline.aborted
          ? errors.timeout(resume.server, resume.tool, resume.deadline - resume.startedAt)
          : isGatewayError(error)
            ? error
            : errors.downstream(resume.server, resume.tool, `the question could not be put to the caller: ${describe(error)}`);
        this.abandonToolCall(resume, coded, options);
        throw coded;
      }
      step = await this.continueToolCall(resume, responses, stepOptions);
    }
    return step.result;
  }

  /**
   * The first round of a tool call whose caller answers the downstream's questions itself, across
   * requests (a 2026-07-28 agent): the result, or what the downstream asks and how to go on
   * ({@link continueToolCall}). `beforeToolCall` runs here, once for the whole call.
   */
  async startToolCall(request: ToolCallRequest, options: ToolCallOptions = {}): Promise<ToolCallStep> {
    const startedAt = Date.now();
    let call: ToolCall = { ...request };
    try {
      if (!this.downstreams.has(request.server)) throw errors.serverNotFound(request.server);
      if (this.hooks.beforeToolCall.isUsed()) call = await this.hooks.beforeToolCall.promise(call);
      // Looked up after the hooks: a reload meanwhile may have replaced or removed the server.
      const downstream = this.downstreams.get(request.server);
      if (!downstream) throw errors.serverNotFound(request.server);
      const timeoutMs = call.timeoutMs ?? downstream.spec.timeoutMs ?? this.configValue.settings.callTimeoutMs;
      const resume: ToolCallResume = {
        agent: call.agent,
        server: call.server,
        tool: call.tool,
        args: call.args,
        startedAt,
        deadline: startedAt + timeoutMs,
        rounds: 0,
      };
      return await this.finishRound(await this.round(resume, downstream, undefined, options), call, startedAt, options);
    } catch (error) {
      throw this.failCall(error, call, startedAt, options, 0);
    }
  }

  /**
   * The next round: `responses` answer what the last round asked (keyed as asked; a key left out is
   * declined). A 2026-07-28 downstream gets the call again with them, on any instance; a 2025-11-25
   * one is waiting in this process (else `interaction_not_found`).
   */
  async continueToolCall(resume: ToolCallResume, responses: Record<string, unknown>, options: ToolCallOptions = {}): Promise<ToolCallStep> {
    const call: ToolCall = { agent: resume.agent, server: resume.server, tool: resume.tool, args: resume.args };
    try {
      const downstream = this.downstreams.get(resume.server);
      if (!downstream) throw errors.serverNotFound(resume.server);
      return await this.finishRound(await this.round(resume, downstream, responses, options), call, resume.startedAt, options);
    } catch (error) {
      throw this.failCall(error, call, resume.startedAt, options, resume.rounds);
    }
  }

  /** Ends a call that waits for answers which will not come (the caller failed): its downstream call is cancelled; it settles with `error`. */
  abandonToolCall(resume: ToolCallResume, error: GatewayError, options: ToolCallOptions = {}): void {
    if (resume.parked !== undefined) {
      const parked = this.parkedCalls.get(resume.parked);
      this.parkedCalls.delete(resume.parked);
      parked?.abort.abort(error);
    }
    this.failCall(error, { agent: resume.agent, server: resume.server, tool: resume.tool, args: resume.args }, resume.startedAt, options, resume.rounds);
  }

  /** Calls of 2025-11-25 downstreams waiting for an agent's answer, by id (this process only). */
  private readonly parkedCalls = new Map<string, ParkedCall>();

  /** One round on the downstream: its result, an `input_required` (2026-07-28), or its question (2025-11-25, the call parked). */
  private async round(
    resume: ToolCallResume,
    downstream: DownstreamServer,
    responses: Record<string, unknown> | undefined,
    options: ToolCallOptions,
  ): Promise<RoundStep> {
    const { server, tool } = resume;
    for (let current = resume, answers = responses; ; ) {
      // A parked call that is gone (answered, expired, or in another process) first: that says more than the clock.
      const found = current.parked === undefined ? undefined : this.parkedCalls.get(current.parked);
      if (current.parked !== undefined && !found) throw interactionNotFound(server, tool);
      const remaining = current.deadline - Date.now();
      if (remaining <= 0) throw errors.timeout(server, tool, current.deadline - current.startedAt);
      if (current.rounds > MAX_INTERACTION_ROUNDS) throw tooManyRounds(server, tool);
      const retry =
        current.parked === undefined && answers !== undefined
          ? {
              inputResponses: withDefaults(current.asked, declinedLeftOut(current.asked, answers)),
              ...(current.requestState !== undefined && { requestState: current.requestState }),
            }
          : undefined;
      let result: CallToolResult | InputRequiredResult;
      if (current.parked === undefined && !canBeAsked(options.capabilities)) {
        // The caller answers neither elicitation nor sampling: a downstream's question is declined where it
        // arrives, so the call is never parked — the plain call, without the parking machinery (the hot path).
        result = await downstream.callTool(tool, current.args, {
          timeoutMs: remaining,
          ...(options.signal && { signal: options.signal }),
          ...(options.onprogress && { onprogress: options.onprogress }),
          // Still counted among the calls in flight that a 2025 server's question could belong to, declining it.
          input: { capabilities: {}, ...(retry && { retry }), onRequest: async (request) => declined(request, 'its caller cannot answer it') },
        });
      } else {
        let parked: ParkedCall;
        if (current.parked !== undefined && found) {
          this.parkedCalls.delete(current.parked);
          parked = found;
          parked.answer(answers?.[PARKED_QUESTION_KEY] as Record<string, unknown> | undefined);
        } else {
          parked = new ParkedCall((p) =>
            downstream.callTool(tool, current.args, {
              timeoutMs: remaining,
              signal: p.abort.signal,
              onprogress: (progress) => p.onprogress?.(progress),
              input: {
                capabilities: options.capabilities ?? {},
                ...(retry && { retry }),
                onRequest: (request, signal) => p.ask(request, signal),
              },
            }),
          );
        }
        const next = await this.await(parked, options);
        if ('request' in next) {
          const id = randomUUID();
          const waiting: ToolCallResume = { ...current, rounds: current.rounds + 1, parked: id };
          this.parkedCalls.set(id, parked);
          this.expireParked(id, parked, waiting);
          return { input: { inputRequests: { [PARKED_QUESTION_KEY]: next.request }, resume: waiting } };
        }
        result = next.result;
      }
      if (!isInputRequiredResult(result)) return { result: result as CallToolResult, rounds: current.rounds };
      const { inputRequests, requestState } = result;
      const { parked: _, asked: __, requestState: ___, ...base } = current;
      const following: ToolCallResume = {
        ...base,
        rounds: current.rounds + 1,
        ...(requestState !== undefined && { requestState }),
        ...(inputRequests !== undefined && { asked: inputRequests }),
      };
      // Only state to echo (the server works in steps): straight back, no one to ask.
      if (inputRequests === undefined || Object.keys(inputRequests).length === 0) {
        current = following;
        answers = {};
        continue;
      }
      return { input: { inputRequests, resume: following } };
    }
  }

  /** The parked call's next event, this round's cancellation and progress attached while it is awaited. */
  private async await(parked: ParkedCall, options: ToolCallOptions): ReturnType<ParkedCall['next']> {
    const signal = options.signal;
    const onAbort = (): void => parked.abort.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    parked.onprogress = options.onprogress;
    try {
      return await parked.next();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      parked.onprogress = undefined;
    }
  }

  /** A parked call nobody came back to by its deadline is cancelled, and settles as timed out (once). */
  private expireParked(id: string, parked: ParkedCall, resume: ToolCallResume): void {
    const timer = setTimeout(() => {
      if (this.parkedCalls.get(id) !== parked) return;
      this.parkedCalls.delete(id);
      const error = errors.timeout(resume.server, resume.tool, resume.deadline - resume.startedAt);
      parked.abort.abort(error);
      this.failCall(error, { agent: resume.agent, server: resume.server, tool: resume.tool, args: resume.args }, resume.startedAt, {}, resume.rounds);
    }, Math.max(0, resume.deadline - Date.now()) + 50);
    timer.unref();
    void parked.done.catch(() => undefined).finally(() => {
      if (this.parkedCalls.get(id) !== parked) clearTimeout(timer);
    });
  }

  /** A round's final result through `afterToolCall`, then settled; a question passes through. */
  private async finishRound(step: RoundStep, call: ToolCall, startedAt: number, options: ToolCallOptions): Promise<ToolCallStep> {
    if (!('result' in step)) return step;
    const rounds = step.rounds;
    let result = step.result;
    // A tool's error may quote what it was sent — a credential of ours included: blanked like any error.
    // Successful results go through unchanged (they are the agent's data, and the hot path).
    if (result.isError === true) result = this.redactedError(result);
    if (this.hooks.afterToolCall.isUsed()) result = await this.hooks.afterToolCall.promise(result, call);
    if (options.settled || this.hooks.callSettled.isUsed()) {
      this.settle(options, this.outcome(call, 'ALLOW', Date.now() - startedAt, undefined, result.isError === true, rounds), undefined);
    }
    return { result };
  }

  /** The coded error of a failed call, settled. */
  private failCall(error: unknown, call: ToolCall, startedAt: number, options: ToolCallOptions, rounds: number): GatewayError {
    const coded = this.toGatewayError(error);
    if (options.settled || this.hooks.callSettled.isUsed()) {
      const { decision, errorCode } = settledAs(coded);
      this.settle(options, this.outcome(call, decision, Date.now() - startedAt, errorCode, undefined, rounds), coded);
    }
    return coded;
  }

  server(name: string): DownstreamServer | undefined {
    return this.downstreams.get(name);
  }

  servers(): DownstreamServer[] {
    return [...this.downstreams.values()];
  }

  /**
   * Diagnostics for `get_gateway_status`, with the plugins' sections (`status` hook); secrets
   * redacted. With `agent`: only what that agent may see — its servers, no warning that names a
   * server hidden from it, and each plugin's section scoped by the plugin (the policy shows the
   * agent's own entry, metrics its own series).
   */
  status(agent?: string): GatewayStatus {
    const all = this.servers().map((s) => s.info());
    let context: StatusContext = { visible: () => true, namesHidden: () => false };
    if (agent !== undefined) {
      const visible = new Set(this.listServers(agent).map((s) => s.name));
      const hidden = all.map((s) => s.name).filter((name) => !visible.has(name));
      context = {
        agent,
        visible: (name) => visible.has(name),
        namesHidden: (text) => hidden.some((name) => text.includes(name)),
      };
    }
    const { settings } = this.configValue;
    const base = {
      version: GATEWAY_VERSION,
      uptimeMs: Date.now() - this.startedAt,
      initStrategy: settings.initStrategy,
      sources: this.configValue.sources,
      warnings: this.configValue.warnings.filter((w) => !context.namesHidden(w)),
      servers: all.filter((s) => context.visible(s.name)),
    };
    return this.redactor.redact(this.hooks.status.call({ ...base }, context)) as GatewayStatus;
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
      await Promise.all([...this.servers(), ...this.retiring].map((s) => s.close()));
      await this.verdicts.flushed();
    })();
    return this.closed;
  }

  private redactedError(result: CallToolResult): CallToolResult {
    const content = result.content.map((item) => (item.type === 'text' ? { ...item, text: this.redactor.redactString(item.text) } : item));
    return {
      ...result,
      content,
      ...(result.structuredContent !== undefined && { structuredContent: this.redactor.redact(result.structuredContent) as Record<string, unknown> }),
    };
  }

  private createDownstream(spec: ServerSpec): DownstreamServer {
    for (const secret of spec.secretValues) this.redactor.add(secret);
    if (spec.url !== undefined) for (const part of urlCredentials(spec.url)) this.redactor.add(part);
    const logger = this.logger.child({ server: spec.name });
    const server: DownstreamServer = new DownstreamServer(spec, {
      hooks: this.hooks,
      logger,
      connectTimeoutMs: this.configValue.settings.connectTimeoutMs,
      verdicts: this.verdicts,
      onState: (info) => {
        if (this.downstreams.get(spec.name) !== server) return; // replaced by a reload: its successor speaks for the name
        this.hooks.serverStateChanged
          .promise(info.name, info.state, info)
          .catch((error: unknown) => logger.warn('serverStateChanged tap failed', { error }));
      },
    });
    return server;
  }

  /** Fail closed: rules nobody enforces refuse the start or the reload. */
  private checkRulesEnforced(config: GatewayConfig): void {
    if (config.rules === undefined) return;
    if (this.hooks.rulesEnforcer.call(config.rules, config) === undefined) throw rulesNotEnforced(config.sources.rules);
  }

  private visibleServer(agent: string, server: string): DownstreamServer {
    const downstream = this.downstreams.get(server);
    if (!downstream) throw errors.serverNotFound(server);
    this.hooks.authorizeServer.call(agent, server);
    return downstream;
  }

  /** A call's outcome to the caller that asked for it (`options.settled`), else to `callSettled`. */
  private settle(options: ToolCallOptions, outcome: CallOutcome, error: GatewayError | undefined): void {
    if (options.settled) options.settled(outcome, error);
    else this.hooks.callSettled.call(outcome, error);
  }

  private outcome(
    call: ToolCall,
    decision: CallOutcome['decision'],
    durationMs: number,
    errorCode?: string,
    toolError?: boolean,
    rounds = 0,
  ): CallOutcome {
    return {
      operation: 'execute_tool',
      agent: call.agent,
      server: call.server,
      tool: call.tool,
      decision,
      ...(errorCode !== undefined && { errorCode }),
      ...(toolError !== undefined && { toolError }),
      ...(rounds > 0 && { rounds }),
      durationMs,
      args: call.args,
    };
  }
}

/** A round's step as the kernel sees it: a result knows how many rounds asked something. */
type RoundStep = { readonly result: CallToolResult; readonly rounds: number } | Exclude<ToolCallStep, { readonly result: CallToolResult }>;

/** The answers, with a cancel for every elicitation left unanswered. */
function declinedLeftOut(asked: ToolCallResume['asked'], answers: Record<string, unknown>): Record<string, unknown> {
  const out = { ...answers };
  for (const [key, request] of Object.entries(asked ?? {})) {
    if (out[key] === undefined) {
      const fallback = unanswered(request as InputRequest);
      if (fallback) out[key] = fallback;
    }
  }
  return out;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whether a caller with these capabilities can be put a downstream's question (elicitation or sampling). */
function canBeAsked(capabilities: ClientCapabilities | undefined): boolean {
  return capabilities?.elicitation !== undefined || capabilities?.sampling !== undefined;
}
