import { CLIENT_CAPABILITIES_META_KEY, Client, ProtocolError, ProtocolErrorCode, SdkError, SdkErrorCode, SdkHttpError, isInputRequiredResult } from '@modelcontextprotocol/client';
import type {
  CallToolResult,
  ClientCapabilities,
  ClientOptions,
  InputRequest,
  InputRequiredResult,
  LoggingLevel,
  PriorDiscovery,
  Progress,
  Tool,
  Transport,
} from '@modelcontextprotocol/client';
import { z } from 'zod';
import { findAuthChallenge } from './auth-challenge.js';
import { displayUrl } from './display.js';
import { EraVerdictCache, eraVerdictKey } from './era-verdicts.js';
import { noCredentials } from './auth-none.js';
import { ErrorCodes, GatewayError, errors, isGatewayError } from './errors.js';
import { clientCapabilityMissing, declined } from './interaction.js';
import { selectAuth, type GatewayHooks } from './hooks.js';
import type { Logger } from './logger.js';
import { paramHeaderValues, paramHeadersOf, type ParamHeader } from './param-headers.js';
import { withSdkWarningsTo } from './sdk-warnings.js';
import type { AuthChallenge, AuthStatus, AuthStrategy, ServerInfo, ServerSpec, ServerState, TransportFactory } from './types.js';
import { GATEWAY_VERSION } from './version.js';

export interface DownstreamOptions {
  readonly hooks: GatewayHooks;
  readonly logger: Logger;
  readonly connectTimeoutMs: number;
  /** Called after each state change, with the server's info. */
  readonly onState?: (info: ServerInfo) => void;
  /** Era verdicts of earlier connects (shared by the gateway's servers, kept across reloads). Default: this server's own. */
  readonly verdicts?: EraVerdictCache;
}

export interface DownstreamCallOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly onprogress?: (progress: Progress) => void;
  /** The caller can answer the server's requests for input (elicitation, sampling): see {@link DownstreamInput}. */
  readonly input?: DownstreamInput;
}

/**
 * How one call takes part in the server's requests for input. A 2026-07-28 server answers the call
 * with an `input_required` result, which `callTool` hands back; its retry carries `retry`. A
 * 2025-11-25 server sends its requests while the call runs: they go to `onRequest`.
 */
export interface DownstreamInput {
  /** What the caller can answer, told to a 2026-07-28 server per request (its `clientCapabilities`). */
  readonly capabilities: ClientCapabilities;
  /** The answers to the previous round's `input_required`, and its `requestState` echoed unchanged. */
  readonly retry?: { readonly inputResponses: Record<string, unknown>; readonly requestState?: string };
  /** A 2025-11-25 server's request for input during this call; resolves with the result to send back. */
  readonly onRequest?: (request: InputRequest, signal: AbortSignal) => Promise<Record<string, unknown>>;
}

/** What the gateway's client can answer, as it tells every server (mirrored per request on 2026-07-28). */
export const GATEWAY_CLIENT_CAPABILITIES: ClientCapabilities = {
  elicitation: { form: { applyDefaults: true }, url: {} },
  sampling: {},
};

/** Any JSON object: tool results are forwarded as they are. */
const ForwardedResultSchema = z.looseObject({});

/** Consecutive failures within this window count towards the restart backoff. */
const FAILURE_WINDOW_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;
/**
 * The `server/discover` probe's bound on stdio, where silence means a 2025 server (one that ignores
 * requests before `initialize`): the connect goes on with `initialize` after it.
 */
const STDIO_PROBE_TIMEOUT_MS = 5_000;

/** The connect deadline passed: not a reason to retry. */
class ConnectDeadlineError extends Error {}

/**
 * One downstream MCP server: resolves its transport and auth through the
 * hooks, connects on demand (single flight), caches its tool list, and
 * restarts after a crash with exponential backoff when crashes repeat.
 */
export class DownstreamServer {
  private stateValue: ServerState;
  private lastErrorValue: string | undefined;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private factory: TransportFactory | undefined;
  private auth: AuthStrategy = noCredentials;
  /** The strategy chosen by `selectAuth` (first with no challenge, then per challenge); kept across reconnects. */
  private resolvedAuth: AuthStrategy | undefined;
  private prepared: Promise<void> | undefined;
  private readonly watched = new WeakSet<AuthStrategy>();
  private toolList: Tool[] | undefined;
  private toolNames = new Set<string>();
  private failures = 0;
  private lastFailureAt = 0;
  private readonly abort = new AbortController();
  private inFlight = 0;
  private onIdle: (() => void) | undefined;
  private protocolVersion: string | undefined;
  private paramHeaders = new Map<string, readonly ParamHeader[]>();
  /** Until when the cached tool list is fresh: a 2026-07-28 listing's `ttlMs`; a 2025 one until `list_changed`. */
  private toolsFreshUntil = Number.POSITIVE_INFINITY;
  private refreshing: Promise<void> | undefined;
  private readonly verdicts: EraVerdictCache;
  /** Calls in flight whose caller can answer a 2025-11-25 server's requests for input. */
  private readonly answering = new Set<NonNullable<DownstreamInput['onRequest']>>();

  constructor(
    readonly spec: ServerSpec,
    private readonly options: DownstreamOptions,
  ) {
    this.stateValue = spec.enabled ? 'idle' : 'disabled';
    this.verdicts = options.verdicts ?? new EraVerdictCache();
  }

  get name(): string {
    return this.spec.name;
  }
  get state(): ServerState {
    return this.stateValue;
  }
  get lastError(): string | undefined {
    return this.lastErrorValue;
  }
  /** Cached tools, in downstream order; undefined until first listed. */
  get tools(): readonly Tool[] | undefined {
    return this.toolList;
  }

  info(): ServerInfo {
    const s = this.spec;
    return {
      name: s.name,
      ...(s.description !== undefined && { description: s.description }),
      transport: s.transport,
      ...(s.command !== undefined && { command: s.command }),
      // Shown to agents and printed: never the credentials a URL may carry.
      ...(s.url !== undefined && { url: displayUrl(s.url) }),
      auth: this.auth.kind,
      state: this.stateValue,
      ...(this.lastErrorValue !== undefined && { lastError: this.lastErrorValue }),
      ...(this.toolList !== undefined && { toolCount: this.toolList.length }),
      ...(this.client !== undefined && this.protocolVersion !== undefined && { protocol: this.protocolVersion }),
    };
  }

  /**
   * Resolves the transport and the initial auth strategy (no network), so
   * that status shows them before the first connection. Failures are kept in
   * the state and reported again by `connect()`.
   */
  prepare(): Promise<void> {
    this.prepared ??= this.resolveParts().catch((error: unknown) => {
      const coded = isGatewayError(error) ? error : errors.serverUnavailable(this.name, describe(error));
      this.recordFailure(coded.message);
      this.options.logger.warn(coded.message);
    });
    return this.prepared;
  }

  private async resolveParts(): Promise<void> {
    if (this.stateValue === 'disabled') return;
    const ctx = { logger: this.options.logger, signal: this.abort.signal };
    this.factory = await this.options.hooks.resolveTransport.promise(this.spec, ctx);
    if (!this.factory) throw errors.noTransport(this.name);
    this.auth = this.resolvedAuth = (await selectAuth(this.options.hooks, this.spec, null, ctx)) ?? noCredentials;
    this.watchAuth(this.auth);
  }

  /** Connects if needed and returns the live client. Throws coded errors only. */
  async connect(): Promise<Client> {
    if (this.client) return this.client;
    if (this.stateValue === 'disabled') throw errors.serverUnavailable(this.name, 'it is disabled in the config');
    if (this.abort.signal.aborted) throw errors.serverUnavailable(this.name, 'the gateway is shutting down');
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /**
   * The tool list, from cache while fresh: a 2026-07-28 listing for its `ttlMs` (absent or 0: immediately
   * stale, so listed again), a 2025 one until the server says `list_changed`.
   */
  async listTools(): Promise<readonly Tool[]> {
    if (this.toolList && this.client && Date.now() < this.toolsFreshUntil) return this.toolList;
    const connected = this.client;
    const client = await this.connect();
    // A fresh connection just listed; a live one whose listing went stale lists again.
    if (client === connected) await this.refreshStale(client);
    return this.toolList ?? [];
  }

  hasTool(name: string): boolean {
    return this.toolNames.has(name);
  }

  /** The status of this server's credentials (a pending login's URL among it). */
  authStatus(): AuthStatus {
    return this.auth.status();
  }

  /**
   * Resolves with the auth status once the pending login of this server ends (at once when none is
   * pending); rejects when `signal` aborts first. A server waiting on the login reconnects by itself.
   */
  loginSettled(signal: AbortSignal): Promise<AuthStatus> {
    const now = this.auth.status();
    const watch = this.auth.watch?.bind(this.auth);
    if (now.state !== 'login_pending' || !watch) return Promise.resolve(now);
    return new Promise<AuthStatus>((resolve, reject) => {
      const onAbort = () => {
        stop();
        reject(signal.reason);
      };
      const stop = watch((status) => {
        if (status.state === 'login_pending') return;
        stop();
        signal.removeEventListener('abort', onAbort);
        resolve(status);
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Calls a tool. With `options.input`, a 2026-07-28 server's `input_required` answer comes back as
   * it is (the caller answers it and calls again with `input.retry`).
   */
  async callTool(tool: string, args: Record<string, unknown>, options: DownstreamCallOptions): Promise<CallToolResult | InputRequiredResult> {
    this.inFlight += 1;
    try {
      return await this.callOnce(tool, args, options);
    } catch (error) {
      // Refused before the tool ran (session forgotten, credential refused): reconnect and retry once.
      if (isGatewayError(error) || !(await this.recoverFrom(error))) throw this.mapCallError(error, tool, options.timeoutMs);
      try {
        return await this.callOnce(tool, args, options);
      } catch (again) {
        throw this.mapCallError(again, tool, options.timeoutMs);
      }
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) this.onIdle?.();
    }
  }

  /** Closes once the calls in flight are over (a reload replaced or removed this server); `close()` still ends it at once. */
  async closeWhenIdle(): Promise<void> {
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.onIdle = resolve;
        this.abort.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    await this.close();
  }

  private async callOnce(tool: string, args: Record<string, unknown>, options: DownstreamCallOptions): Promise<CallToolResult | InputRequiredResult> {
    const client = await this.connect();
    // An unknown tool in a stale listing may be a new one: list again once before refusing it.
    if (!this.toolNames.has(tool) && Date.now() >= this.toolsFreshUntil) await this.refreshStale(client);
    if (!this.toolNames.has(tool)) throw errors.toolNotFound(this.name, tool);
    const input = options.input;
    const modern = client.getProtocolEra() === 'modern';
    const params: Record<string, unknown> = { name: tool, arguments: args };
    if (modern) {
      // What this caller can answer, not what the gateway could: a server asks only what will be answered.
      params._meta = { [CLIENT_CAPABILITIES_META_KEY]: input?.capabilities ?? {} };
      if (input?.retry) {
        params.inputResponses = input.retry.inputResponses;
        if (input.retry.requestState !== undefined) params.requestState = input.retry.requestState;
      }
    }
    const onRequest = input?.onRequest;
    if (onRequest && !modern) this.answering.add(onRequest);
    try {
      // A plain request: the result goes back to the agent unchanged and its own client validates it,
      // so validating it here too (Client.callTool checks it against the tool's outputSchema) is waste.
      // `allowInputRequired`: an `input_required` answer is handed back, never fulfilled by the SDK.
      // SEP-2243: the parameters the tool declares with `x-mcp-header`, mirrored into `Mcp-Param-*` headers.
      const declared = this.paramHeaders.get(tool);
      const headers = declared && paramHeaderValues(declared, args);
      const result = await client.request({ method: 'tools/call', params }, ForwardedResultSchema, {
        timeout: options.timeoutMs,
        allowInputRequired: true,
        ...(headers && { headers }),
        ...(options.signal && { signal: options.signal }),
        ...(options.onprogress && { onprogress: options.onprogress }),
      });
      this.failures = 0; // a server that answers is healthy: a later crash restarts at once
      return isInputRequiredResult(result) ? result : (result as CallToolResult);
    } finally {
      if (onRequest) this.answering.delete(onRequest);
    }
  }

  /**
   * A 2025-11-25 server's request for input (elicitation, sampling) arrives without saying which
   * call it belongs to: it goes to the one call in flight whose caller can answer. With none, or
   * with several (it cannot be told whose it is), nobody is asked: an elicitation is cancelled,
   * sampling refused.
   */
  private async serverAsks(request: InputRequest, signal: AbortSignal): Promise<Record<string, unknown>> {
    const [only, ...others] = this.answering;
    if (only && others.length === 0) return only(request, signal);
    const why = only ? 'several calls are in flight, so it cannot be told whose it is' : 'no call in flight can answer it';
    this.options.logger.info(`The server's ${request.method} was not passed on: ${why}`);
    return declined(request, why);
  }

  /** True when the connection was dropped so that the next attempt starts afresh. */
  private async recoverFrom(error: unknown): Promise<boolean> {
    const expired = this.factory?.isSessionExpired?.(error) === true;
    if (expired) this.options.logger.info('Session expired; re-initialising');
    else if (!(await this.adoptStrategyFor(error))) return false;
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => undefined);
    return true;
  }

  /** Closes the connection (the child process, for stdio). Idempotent. */
  async close(): Promise<void> {
    this.abort.abort();
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    if (client) await client.close().catch(() => undefined);
  }

  private async open(): Promise<Client> {
    const wait = this.backoffRemaining();
    if (wait > 0) {
      throw errors.serverUnavailable(this.name, `${this.lastErrorValue ?? 'it failed'}; next restart attempt in ${Math.ceil(wait / 1000)} s`);
    }
    await this.prepare();
    this.setState('connecting');
    const logger = this.options.logger;
    try {
      if (!this.factory) throw errors.noTransport(this.name);
      this.auth = this.resolvedAuth ?? noCredentials;
      try {
        return await this.openWith(this.factory);
      } catch (error) {
        // A 401/403 the current strategy cannot fix: maybe another one can (resolveAuth with the challenge).
        if (!(await this.adoptStrategyFor(error))) throw error;
        return await this.openWith(this.factory);
      }
    } catch (error) {
      const coded = this.codedConnectError(error);
      if (coded.code === ErrorCodes.AUTH_REQUIRED) {
        this.lastErrorValue = coded.message;
        this.setState('auth_required');
        // A login that finished before this state was set would otherwise wait for the next call.
        if (this.auth.status().state === 'ok') setImmediate(() => this.connect().catch(() => undefined));
      } else {
        this.recordFailure(coded.message);
      }
      logger.warn(`Connection failed: ${coded.message}`);
      throw coded;
    }
  }

  /**
   * Connects with the era verdict of an earlier connect when there is one (no probe); when that
   * fails for another reason than credentials or the deadline, the verdict may be stale (the server
   * changed era): it is dropped and the connect runs once more, negotiating afresh.
   */
  private async openWith(factory: TransportFactory): Promise<Client> {
    const choice = this.eraChoice();
    const key = choice === 'legacy' ? undefined : eraVerdictKey(this.spec, this.auth.kind);
    const prior = key === undefined ? undefined : this.verdicts.get(key);
    // A pinned 2026-07-28 takes a modern verdict only (a legacy one would bypass the pin).
    const usable = prior !== undefined && (choice === 'auto' || prior.kind === 'modern') ? prior : undefined;
    if (usable === undefined || key === undefined) return this.openOnce(factory, choice, undefined, key);
    try {
      return await this.openOnce(factory, choice, usable, key);
    } catch (error) {
      if (findAuthChallenge(error) || gatewayErrorIn(error) || error instanceof ConnectDeadlineError || this.abort.signal.aborted) throw error;
      this.verdicts.delete(key);
      this.options.logger.info(`Connecting as a ${usable.kind} server failed (${describe(error)}); negotiating the protocol again`);
      return this.openOnce(factory, choice, undefined, key);
    }
  }

  /** `legacy`: 2025-11-25 without a probe (pinned, or the legacy SSE transport); `auto`; `modern`: pinned 2026-07-28. */
  private eraChoice(): 'legacy' | 'auto' | 'modern' {
    if (this.spec.transport === 'sse' || this.spec.protocol === '2025-11-25') return 'legacy';
    return this.spec.protocol === '2026-07-28' ? 'modern' : 'auto';
  }

  private async openOnce(
    factory: TransportFactory,
    choice: 'legacy' | 'auto' | 'modern',
    prior: PriorDiscovery | undefined,
    key: string | undefined,
  ): Promise<Client> {
    const logger = this.options.logger;
    const attempt = new AbortController();
    const transport = await factory.create({ spec: this.spec, auth: this.auth, logger, signal: this.abort.signal, abandon: attempt.signal });
    const client = new Client({ name: 'agent-mcp-gateway', version: GATEWAY_VERSION }, this.clientOptions(choice));
    client.setNotificationHandler('notifications/tools/list_changed', () => {
      if (this.client !== client) return; // still opening (its first listing is coming) or stale
      this.refreshTools(client).then(
        () => logger.info(`Tools changed: ${this.toolList?.length ?? 0} tools`),
        (error: unknown) => logger.warn('Could not refresh tools after list_changed', { error }),
      );
    });
    client.setNotificationHandler('notifications/message', ({ params }) => {
      const text = typeof params.data === 'string' ? params.data : JSON.stringify(params.data);
      logger[LOG_LEVEL_OF[params.level]](`log${params.logger ? ` ${params.logger}` : ''}: ${text}`);
    });
    client.setRequestHandler('elicitation/create', (request, ctx) =>
      this.serverAsks({ method: 'elicitation/create', params: request.params }, ctx.mcpReq.signal) as never,
    );
    client.setRequestHandler('sampling/createMessage', (request, ctx) =>
      this.serverAsks({ method: 'sampling/createMessage', params: request.params }, ctx.mcpReq.signal) as never,
    );
    client.onclose = () => this.onClientClosed(client);
    try {
      // One bound for the whole of it: the transport's start, the era negotiation, `initialize` and the first tool listing.
      await this.untilConnectDeadline(
        (async () => {
          await client.connect(resultTypeDefaulted(transport, () => client.getProtocolEra() === 'modern'), {
            timeout: this.options.connectTimeoutMs,
            ...(prior !== undefined && { prior }),
          });
          await this.refreshTools(client);
        })(),
      );
    } catch (error) {
      // Abandoned, not closed politely: a graceful close waits seconds for a child that may never answer.
      attempt.abort();
      void client.close().catch(() => undefined);
      // Closed directly too: while the SDK probes the era (stdio: in a sibling process) the client does
      // not hold the transport yet, and only this close stops it from starting the server afterwards.
      void transport.close().catch(() => undefined);
      throw error;
    }
    const modern = client.getProtocolEra() === 'modern';
    const discover = client.getDiscoverResult();
    // A fresh verdict is remembered; one that was supplied keeps its date (a legacy verdict expires).
    if (key !== undefined && prior === undefined) {
      if (modern && discover !== undefined) this.verdicts.set(key, { kind: 'modern', discover });
      else if (!modern && choice === 'auto') this.verdicts.set(key, { kind: 'legacy' });
    }
    // Published only now: a concurrent connect() must not see a client whose tools are not listed yet.
    this.client = client;
    this.protocolVersion = client.getNegotiatedProtocolVersion();
    this.lastErrorValue = undefined;
    this.setState('ready');
    logger.info(
      `Connected (${this.toolList?.length ?? 0} tools, auth: ${this.auth.kind}); protocol ${this.protocolVersion ?? 'unknown'}${prior ? ` (${prior.kind} verdict reused)` : ''}`,
    );
    return client;
  }

  private clientOptions(choice: 'legacy' | 'auto' | 'modern'): ClientOptions {
    // Form elicitations get their schema's defaults filled in (SEP-1034) by the SDK's handler wrapper.
    const capabilities = GATEWAY_CLIENT_CAPABILITIES;
    if (choice === 'legacy') return { capabilities };
    // On stdio a silent probe means a 2025 server: bound it well below the connect timeout.
    const probe = this.spec.transport === 'stdio' ? { timeoutMs: Math.min(STDIO_PROBE_TIMEOUT_MS, this.options.connectTimeoutMs) } : undefined;
    return {
      capabilities,
      versionNegotiation: { mode: choice === 'modern' ? { pin: '2026-07-28' } : 'auto', ...(probe && { probe }) },
    };
  }

  /**
   * On an auth challenge, asks `selectAuth(spec, challenge)` (the entry's auth type, else the chain) for a strategy
   * that can answer it. True when a different one was adopted (retry once).
   */
  private async adoptStrategyFor(error: unknown): Promise<boolean> {
    const challenge = findAuthChallenge(error);
    if (!challenge) return false;
    const ctx = { logger: this.options.logger, signal: this.abort.signal };
    const next = await selectAuth(this.options.hooks, this.spec, challenge, ctx);
    if (!next) {
      // Nobody can answer: with no credentials yet, authorization is required; with a strategy that
      // already tried (say, a step-up past its cap), the server refuses what we can offer.
      if (this.auth === noCredentials) throw errors.authRequired(this.name, undefined, describeChallenge(challenge));
      throw errors.authFailed(this.name, `the server still refuses: ${describeChallenge(challenge)}`);
    }
    if (next === this.auth) return false;
    this.options.logger.info(`Server answered ${describeChallenge(challenge)}; switching auth from ${this.auth.kind} to ${next.kind}`);
    this.auth = this.resolvedAuth = next;
    this.watchAuth(next);
    return true;
  }

  /** When a strategy gets credentials (a login finished), a server waiting on it reconnects by itself. */
  private watchAuth(strategy: AuthStrategy): void {
    if (!strategy.watch || this.watched.has(strategy)) return;
    this.watched.add(strategy);
    strategy.watch((status) => {
      if (status.state !== 'ok' || this.stateValue !== 'auth_required' || this.abort.signal.aborted) return;
      this.options.logger.info('Credentials arrived; connecting');
      this.connect().catch(() => undefined); // the outcome is kept in the state
    });
  }

  private codedConnectError(error: unknown): GatewayError {
    // The SDK wraps what a transport threw during the era probe (`cause`): a coded error from our
    // own fetch (a login needed, say) is the answer.
    const coded = gatewayErrorIn(error);
    if (coded) return coded;
    const challenge = findAuthChallenge(error);
    if (challenge) return errors.authFailed(this.name, `the server still refuses: ${describeChallenge(challenge)}`);
    return errors.serverUnavailable(this.name, describe(error));
  }

  /** `work`, or a rejection once `connectTimeoutMs` has passed or the server is being closed. */
  private untilConnectDeadline<T>(work: Promise<T>): Promise<T> {
    const ms = this.options.connectTimeoutMs;
    const signal = this.abort.signal;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ConnectDeadlineError(`it did not connect within ${ms} ms`)), ms);
      onAbort = () => reject(new Error('the gateway is shutting down'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    return Promise.race([work, deadline]).finally(() => {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    });
  }

  /** Lists the tools again (single flight); a failure is SERVER_UNAVAILABLE. */
  private async refreshStale(client: Client): Promise<void> {
    this.refreshing ??= this.refreshTools(client).finally(() => {
      this.refreshing = undefined;
    });
    try {
      await this.refreshing;
    } catch (error) {
      throw this.codedConnectError(error);
    }
  }

  private async refreshTools(client: Client): Promise<void> {
    const tools: Tool[] = [];
    const modern = client.getProtocolEra() === 'modern';
    let ttlMs = Number.POSITIVE_INFINITY;
    let cursor: string | undefined;
    do {
      // `bypass`: the SDK's own response cache must not answer for the server; the freshness is kept here.
      // The SDK leaves out a tool whose `x-mcp-header` mapping is invalid and says so only on the console:
      // routed (when the application routes SDK warnings) to this server's log.
      const params = cursor ? { cursor } : undefined;
      const page = await withSdkWarningsTo(this.options.logger, () => client.listTools(params, { timeout: this.options.connectTimeoutMs, cacheMode: 'bypass' }));
      tools.push(...page.tools);
      // `ttlMs` is on 2026-07-28 results at runtime, not in the SDK's result type.
      const pageTtl = (page as { ttlMs?: unknown }).ttlMs;
      if (modern) ttlMs = Math.min(ttlMs, typeof pageTtl === 'number' && pageTtl > 0 ? pageTtl : 0);
      cursor = page.nextCursor;
    } while (cursor);
    this.toolsFreshUntil = modern ? Date.now() + ttlMs : Number.POSITIVE_INFINITY;
    this.toolList = tools;
    this.toolNames = new Set(tools.map((t) => t.name));
    // SEP-2243: the parameters a 2026-07-28 server wants mirrored into `Mcp-Param-*` headers, per tool.
    this.paramHeaders = new Map();
    if (modern) {
      for (const t of tools) {
        const declared = paramHeadersOf(t);
        if (declared.length > 0) this.paramHeaders.set(t.name, declared);
      }
    }
    this.options.hooks.toolsChanged.call(this.name, tools);
  }

  private onClientClosed(client: Client): void {
    if (this.client !== client) return; // a close we asked for, or a stale client
    this.client = undefined;
    if (this.abort.signal.aborted) return;
    this.recordFailure('the connection closed unexpectedly (process exited?)');
    this.options.logger.warn('Downstream connection closed unexpectedly; it restarts on next use');
  }

  private recordFailure(message: string): void {
    const now = Date.now();
    this.failures = now - this.lastFailureAt > FAILURE_WINDOW_MS ? 1 : this.failures + 1;
    this.lastFailureAt = now;
    this.lastErrorValue = message;
    this.setState('error');
  }

  /** First failure: restart at once; then 0.5 s, 1 s, 2 s … up to 30 s. */
  private backoffRemaining(): number {
    if (this.failures < 2) return 0;
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** (this.failures - 1));
    return this.lastFailureAt + delay - Date.now();
  }

  private setState(state: ServerState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    const info = this.info();
    this.options.onState?.(info);
  }

  private mapCallError(error: unknown, tool: string, timeoutMs: number): GatewayError {
    if (isGatewayError(error)) return error;
    // The SDK's own failures (local, string codes) and the server's JSON-RPC errors (wire, numeric codes).
    if (error instanceof SdkError) {
      if (error.code === SdkErrorCode.RequestTimeout) return errors.timeout(this.name, tool, timeoutMs);
      if (error.code === SdkErrorCode.ConnectionClosed) {
        return errors.serverUnavailable(this.name, 'the connection closed during the call');
      }
      return errors.downstream(this.name, tool, error.message);
    }
    if (error instanceof ProtocolError && error.code === ProtocolErrorCode.MissingRequiredClientCapability) {
      const required = (error.data as { requiredCapabilities?: Record<string, unknown> } | undefined)?.requiredCapabilities;
      return clientCapabilityMissing(this.name, tool, Object.keys(required ?? {}).join(', ') || 'input');
    }
    // The message as v1 of the SDK worded it (v2 drops the code from it): what users saw before.
    if (error instanceof ProtocolError) return errors.downstream(this.name, tool, `MCP error ${error.code}: ${error.message}`);
    return errors.downstream(this.name, tool, describe(error));
  }
}

/** MCP (syslog) logging levels → the gateway log's. */
const LOG_LEVEL_OF: Record<LoggingLevel, 'debug' | 'info' | 'warn' | 'error'> = {
  debug: 'debug',
  info: 'info',
  notice: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'error',
  alert: 'error',
  emergency: 'error',
};

function describeChallenge(c: AuthChallenge): string {
  const parts = [`HTTP ${c.status}`];
  if (c.scheme) parts.push(`${c.scheme} challenge`);
  if (c.error) parts.push(`error=${c.error}`);
  if (c.scope) parts.push(`scope="${c.scope}"`);
  return parts.join(', ');
}

/**
 * `transport`, with a 2026-07-28 result that has no `resultType` read as `complete`, as the spec tells
 * clients to (SEP-2322, checked by the conformance suite); the SDK's client would refuse it.
 * Everything else passes through to the transport itself.
 */
function resultTypeDefaulted(transport: Transport, modern: () => boolean): Transport {
  return new Proxy(transport, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' && property !== 'constructor' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
    set(target, property, value: unknown) {
      if (property === 'onmessage' && typeof value === 'function') {
        const deliver = value as NonNullable<Transport['onmessage']>;
        target.onmessage = (message, extra) => {
          const result = (message as { result?: unknown }).result;
          if (modern() && typeof result === 'object' && result !== null && !Array.isArray(result) && !('resultType' in result)) {
            deliver({ ...message, result: { ...result, resultType: 'complete' } } as typeof message, extra);
          } else {
            deliver(message, extra);
          }
        };
        return true;
      }
      return Reflect.set(target, property, value, target);
    },
  });
}

/** A coded error in `error` or its `cause` chain. */
function gatewayErrorIn(error: unknown): GatewayError | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (isGatewayError(e)) return e;
  }
  return undefined;
}

function describe(error: unknown): string {
  // The probe's HTTP failure keeps the server's answer in `data.text`, not in the message.
  if (error instanceof SdkHttpError && typeof error.data?.text === 'string' && error.data.text !== '' && !error.message.includes(error.data.text)) {
    return `${error.message}: ${error.data.text}`;
  }
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
