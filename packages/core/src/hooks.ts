import {
  AsyncParallelHook,
  AsyncSeriesBailHook,
  AsyncSeriesWaterfallHook,
  HookMap,
  SyncBailHook,
  SyncHook,
  SyncWaterfallHook,
} from 'tapable';
import type {
  AgentContext,
  AuthChallenge,
  AuthStrategy,
  CallToolResult,
  GatewayConfig,
  ResolveContext,
  ServerFilterContext,
  ServerInfo,
  ServerName,
  ServerSpec,
  ServerState,
  TokenStore,
  Tool,
  ToolCall,
  ToolFilterContext,
  TransportFactory,
} from './types.js';
import { GatewayError } from './errors.js';
import type { RulesFile } from './policy/rules.js';
import { NO_AUTH_TYPE } from './config/registry.js';

/**
 * What happened to one gateway tool call — `list_servers`, `get_server_tools`, `execute_tool`,
 * `get_gateway_status`, or a name the gateway does not have — reported once it is over, through
 * `callSettled` (audit, metrics). An `execute_tool` that reached the kernel carries its arguments
 * after `beforeToolCall` and whether the downstream answered with `isError`.
 */
export interface CallOutcome {
  /** The gateway tool's name, as the client sent it. */
  readonly operation: string;
  /** Undefined when the agent could not be resolved. */
  readonly agent: string | undefined;
  readonly server?: ServerName;
  readonly tool?: string;
  readonly decision: 'ALLOW' | 'DENY' | 'ERROR';
  /** Set when decision is DENY or ERROR. */
  readonly errorCode?: string;
  /** `execute_tool`: the downstream answered with `isError: true`. */
  readonly toolError?: boolean;
  /** `execute_tool`: the rounds in which the downstream asked the agent something (elicitation, sampling); absent when none. */
  readonly rounds?: number;
  readonly durationMs: number;
  /** The call's arguments (for `execute_tool`, after `beforeToolCall`): for an audit that is told to record them. */
  readonly args?: Readonly<Record<string, unknown>>;
}

/** Whom a `status` call is for, so that each plugin shows only what that reader may see of its section. */
export interface StatusContext {
  /** The agent asking (`get_gateway_status`); undefined: the operator (`Gateway.status()`), who sees everything. */
  readonly agent?: string;
  /** Whether the reader may see server `name` (always true for the operator). */
  visible(server: ServerName): boolean;
  /** Whether `text` names a server hidden from the reader (never, for the operator). */
  namesHidden(text: string): boolean;
}

/** A credential event of a downstream server's auth strategy (audit). */
export interface AuthEvent {
  readonly server: ServerName;
  /** `login`: tokens obtained (a login, a grant without a user); `refresh`: tokens refreshed; `failure`: either failed. */
  readonly type: 'login' | 'refresh' | 'failure';
  /** The strategy's kind (e.g. `headers`, or a plugin's own). */
  readonly kind: string;
  /** What failed, for `failure`. Never a credential (the audit redacts known secrets all the same). */
  readonly detail?: string;
}

/** `DENIED_BY_POLICY` is a denial; every other code an error. */
export function decisionFor(errorCode: string): 'DENY' | 'ERROR' {
  return errorCode === 'DENIED_BY_POLICY' ? 'DENY' : 'ERROR';
}

/**
 * How audit and metrics record a failed call: what really happened, which for a server hidden
 * from the agent is a policy denial although the agent was told SERVER_NOT_FOUND.
 */
export function settledAs(error: GatewayError): { decision: 'DENY' | 'ERROR'; errorCode: string } {
  const errorCode = error.denial ? 'DENIED_BY_POLICY' : error.code;
  return { decision: decisionFor(errorCode), errorCode };
}

/**
 * The whole extension surface of the gateway, in one place: the one declaration of the hooks
 * (their type, {@link GatewayHooks}, is derived from it). Tap names are plugin names, so a trace
 * says which plugin answered a bail hook. Every built-in behaviour beyond the kernel — policy,
 * metrics, audit, reload status — is a plugin on these same hooks.
 *
 * | hook | when | answer |
 * |---|---|---|
 * | configLoaded | config loaded or reloaded, before servers are built | the config, possibly rewritten; a throw refuses a reload |
 * | rulesEnforcer | the config has a rules file (start, reload), after configLoaded | the name of the plugin that enforces it; none → the start or reload is refused (PLUGIN_ERROR `rules_not_enforced`) |
 * | configApplied | the config is in use: after start's configLoaded, and after each reload that went through | — (reload status, policy) |
 * | reloadFailed | a reload did not happen (a file did not load, a configLoaded tap refused it); the running config stays | — (reload status) |
 * | resolveTransport | a server is first started | the first `TransportFactory` wins |
 * | authFor.for(type) | like resolveAuth, for a server whose entry sets `auth` to `type` (no chain: the type's plugin) | its `AuthStrategy`; none → no auth |
 * | resolveAuth | like authFor, for a server whose entry sets no `auth`: the challenge decides | the first `AuthStrategy` wins; none → no auth |
 * | resolveTokenStore | a strategy needs persistence | the first `TokenStore` wins |
 * | resolveAgent | every agent-facing request | sets `agent` or throws a coded error |
 * | authorizeServer | `get_server_tools`, before touching the server | — (throws a coded denial) |
 * | filterServers | `list_servers` | the servers this agent may see |
 * | filterTools | `get_server_tools` | the tools this agent may see |
 * | beforeToolCall | `execute_tool`, before the downstream call | the call (args may be rewritten) or a thrown coded error |
 * | afterToolCall | the downstream answered | the result, possibly rewritten |
 * | callSettled | every gateway tool call, exactly once, whatever its end (`execute_tool` by the kernel, the others and a refused `execute_tool` by the meta-tools server) | — (audit, metrics) |
 * | authEvent | an auth strategy logged in, refreshed, or failed to | — (audit) |
 * | serverStateChanged | a downstream changed state | — |
 * | toolsChanged | a downstream's tool list was (re)loaded | — |
 * | status | `get_gateway_status` / `Gateway.status()`, with whom it is for | the status, with the plugin's section added (scoped to the reader) |
 * | metrics | `/metrics` of HTTP serving | the Prometheus text, with the plugin's families appended |
 * | shutdown | the gateway is closing | — (flush) |
 *
 * Order within a hook: by `stage` (default 0), then by tap order. The CLI applies its built-in
 * plugins first, at stage 0 (the policy at 1000), then third-party plugins: a third-party plugin
 * that must answer before the built-ins taps with a negative stage (`tap({name, stage: -10}, …)`),
 * one that should only answer what they leave taps with a positive one. See docs/plugins.md.
 */
export function createHooks() {
  return Object.freeze({
    configLoaded: new AsyncSeriesWaterfallHook<[GatewayConfig]>(['config']),
    rulesEnforcer: new SyncBailHook<[RulesFile, GatewayConfig], string | undefined>(['rules', 'config']),
    configApplied: new SyncHook<[GatewayConfig]>(['config']),
    reloadFailed: new SyncHook<[unknown]>(['error']),
    resolveTransport: new AsyncSeriesBailHook<[ServerSpec, ResolveContext], TransportFactory | undefined>(['spec', 'context']),
    resolveAuth: authHook(),
    /** One `resolveAuth`-like hook per registered auth type (webpack's HookMap): an explicit `auth.type` selects it. */
    authFor: new HookMap(authHook),
    resolveTokenStore: new AsyncSeriesBailHook<[ServerSpec, ResolveContext], TokenStore | undefined>(['spec', 'context']),
    resolveAgent: new SyncWaterfallHook<[AgentContext]>(['agent']),
    authorizeServer: new SyncHook<[agent: string, server: ServerName]>(['agent', 'server']),
    filterServers: new SyncWaterfallHook<[ServerInfo[], ServerFilterContext]>(['servers', 'context']),
    filterTools: new SyncWaterfallHook<[Tool[], ToolFilterContext]>(['tools', 'context']),
    beforeToolCall: new AsyncSeriesWaterfallHook<[ToolCall]>(['call']),
    afterToolCall: new AsyncSeriesWaterfallHook<[CallToolResult, ToolCall]>(['result', 'call']),
    /** The second argument: the coded error a failed call ended in (undefined when it succeeded). */
    callSettled: new SyncHook<[CallOutcome, GatewayError | undefined]>(['outcome', 'error']),
    authEvent: new SyncHook<[AuthEvent]>(['event']),
    serverStateChanged: new AsyncParallelHook<[ServerName, ServerState, ServerInfo]>(['server', 'state', 'info']),
    toolsChanged: new SyncHook<[ServerName, readonly Tool[]]>(['server', 'tools']),
    status: new SyncWaterfallHook<[Record<string, unknown>, StatusContext]>(['status', 'context']),
    metrics: new SyncWaterfallHook<[string]>(['text']),
    shutdown: new AsyncParallelHook<[]>([]),
  });
}

/** The gateway's hooks: the type of what {@link createHooks} makes (declared there, once). */
export type GatewayHooks = ReturnType<typeof createHooks>;

/** Asked for a server's `AuthStrategy`: before connecting (challenge `null`) and on a 401/403 challenge. */
export type AuthHook = AsyncSeriesBailHook<[ServerSpec, AuthChallenge | null, ResolveContext], AuthStrategy | undefined>;

function authHook(): AuthHook {
  return new AsyncSeriesBailHook<[ServerSpec, AuthChallenge | null, ResolveContext], AuthStrategy | undefined>(['spec', 'challenge', 'context']);
}

/** The auth type a server's entry selects (`auth: "x"` or `auth: {type: "x", …}`), or undefined when it sets none. */
export function authTypeOf(spec: Pick<ServerSpec, 'auth'>): string | undefined {
  return typeof spec.auth === 'string' ? spec.auth : spec.auth?.type;
}

/**
 * A server's auth strategy: an explicit `auth` type asks that type's hook only (`authFor`), and
 * `"none"` is no auth; without one, the challenge-driven `resolveAuth` chain decides. Undefined:
 * no strategy (no auth).
 *
 * @throws GatewayError PLUGIN_ERROR when the type was registered but no plugin taps its hook
 */
export async function selectAuth(
  hooks: Pick<GatewayHooks, 'resolveAuth' | 'authFor'>,
  spec: ServerSpec,
  challenge: AuthChallenge | null,
  ctx: ResolveContext,
): Promise<AuthStrategy | undefined> {
  const type = authTypeOf(spec);
  if (type === undefined) return hooks.resolveAuth.promise(spec, challenge, ctx);
  if (type === NO_AUTH_TYPE) return undefined;
  const hook = hooks.authFor.get(type);
  if (!hook?.isUsed()) {
    throw new GatewayError('PLUGIN_ERROR', `Server '${spec.name}' has auth type "${type}", but no plugin answers it (authFor.for("${type}") has no tap)`, {
      server: spec.name,
    });
  }
  return hook.promise(spec, challenge, ctx);
}
