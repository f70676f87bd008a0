import {
  AsyncParallelHook,
  AsyncSeriesBailHook,
  AsyncSeriesWaterfallHook,
  HookMap,
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
import { NO_AUTH_TYPE } from './config/registry.js';

/** What happened to one tool call, reported once it is over (audit, metrics). */
export interface ToolCallOutcome {
  readonly agent: string | undefined;
  readonly server: ServerName;
  readonly tool: string;
  readonly decision: 'ALLOW' | 'DENY' | 'ERROR';
  /** Set when decision is DENY or ERROR. */
  readonly errorCode?: string;
  /** The downstream answered with `isError: true`. */
  readonly toolError?: boolean;
  readonly durationMs: number;
  /** The call's arguments (after `beforeToolCall`): for an audit that is told to record them. */
  readonly args?: Readonly<Record<string, unknown>>;
}

/**
 * One call of a gateway tool that `toolCallSettled` does not report: `list_servers`,
 * `get_server_tools`, `get_gateway_status`, and an `execute_tool` refused before it
 * reached the kernel (invalid arguments, unknown agent). With `toolCallSettled`,
 * every gateway tool call is reported exactly once.
 */
export interface GatewayToolCallOutcome {
  /** The gateway tool's name, as the client sent it. */
  readonly operation: string;
  /** Undefined when the agent could not be resolved. */
  readonly agent: string | undefined;
  readonly server?: ServerName;
  readonly tool?: string;
  readonly decision: 'ALLOW' | 'DENY' | 'ERROR';
  readonly errorCode?: string;
  readonly durationMs: number;
  readonly args?: Readonly<Record<string, unknown>>;
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
 * The whole extension surface of the gateway, in one place. Tap names are
 * plugin names, so a trace says which plugin answered a bail hook.
 *
 * | hook | when | answer |
 * |---|---|---|
 * | configLoaded | config loaded or reloaded, before servers are built | the config, possibly rewritten |
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
 * | toolCallSettled | every `execute_tool`, whatever its end | — (audit, metrics) |
 * | gatewayToolCalled | every other gateway tool call (and an `execute_tool` refused before the kernel) | — (audit, metrics) |
 * | authEvent | an auth strategy logged in, refreshed, or failed to | — (audit) |
 * | serverStateChanged | a downstream changed state | — |
 * | toolsChanged | a downstream's tool list was (re)loaded | — |
 * | status | `get_gateway_status` / `Gateway.status()` | the status, with the plugin's section added |
 * | shutdown | the gateway is closing | — (flush) |
 *
 * Order within a bail hook: by `stage` (default 0), then by tap order. The CLI applies its
 * built-in plugins first, at stage 0, then third-party plugins: a third-party plugin that must
 * answer before the built-ins taps with a negative stage (`tap({name, stage: -10}, …)`), one that
 * should only answer what they leave taps with a positive one. See docs/plugins.md.
 */
export interface GatewayHooks {
  readonly configLoaded: AsyncSeriesWaterfallHook<[GatewayConfig]>;
  readonly resolveTransport: AsyncSeriesBailHook<[ServerSpec, ResolveContext], TransportFactory | undefined>;
  readonly resolveAuth: AuthHook;
  /** One `resolveAuth`-like hook per registered auth type (webpack's HookMap): an explicit `auth.type` selects it. */
  readonly authFor: HookMap<AuthHook>;
  readonly resolveTokenStore: AsyncSeriesBailHook<[ServerSpec, ResolveContext], TokenStore | undefined>;
  readonly resolveAgent: SyncWaterfallHook<[AgentContext]>;
  readonly authorizeServer: SyncHook<[agent: string, server: ServerName]>;
  readonly filterServers: SyncWaterfallHook<[ServerInfo[], ServerFilterContext]>;
  readonly filterTools: SyncWaterfallHook<[Tool[], ToolFilterContext]>;
  readonly beforeToolCall: AsyncSeriesWaterfallHook<[ToolCall]>;
  readonly afterToolCall: AsyncSeriesWaterfallHook<[CallToolResult, ToolCall]>;
  readonly toolCallSettled: SyncHook<[ToolCallOutcome, GatewayError | undefined]>;
  readonly gatewayToolCalled: SyncHook<[GatewayToolCallOutcome]>;
  readonly authEvent: SyncHook<[AuthEvent]>;
  readonly serverStateChanged: AsyncParallelHook<[ServerName, ServerState, ServerInfo]>;
  readonly toolsChanged: SyncHook<[ServerName, readonly Tool[]]>;
  readonly status: SyncWaterfallHook<[Record<string, unknown>]>;
  readonly shutdown: AsyncParallelHook<[]>;
}

export function createHooks(): GatewayHooks {
  return Object.freeze({
    configLoaded: new AsyncSeriesWaterfallHook<[GatewayConfig]>(['config']),
    resolveTransport: new AsyncSeriesBailHook<[ServerSpec, ResolveContext], TransportFactory | undefined>(['spec', 'context']),
    resolveAuth: authHook(),
    authFor: new HookMap(authHook),
    resolveTokenStore: new AsyncSeriesBailHook<[ServerSpec, ResolveContext], TokenStore | undefined>(['spec', 'context']),
    resolveAgent: new SyncWaterfallHook<[AgentContext]>(['agent']),
    authorizeServer: new SyncHook<[string, ServerName]>(['agent', 'server']),
    filterServers: new SyncWaterfallHook<[ServerInfo[], ServerFilterContext]>(['servers', 'context']),
    filterTools: new SyncWaterfallHook<[Tool[], ToolFilterContext]>(['tools', 'context']),
    beforeToolCall: new AsyncSeriesWaterfallHook<[ToolCall]>(['call']),
    afterToolCall: new AsyncSeriesWaterfallHook<[CallToolResult, ToolCall]>(['result', 'call']),
    toolCallSettled: new SyncHook<[ToolCallOutcome, GatewayError | undefined]>(['outcome', 'error']),
    gatewayToolCalled: new SyncHook<[GatewayToolCallOutcome]>(['outcome']),
    authEvent: new SyncHook<[AuthEvent]>(['event']),
    serverStateChanged: new AsyncParallelHook<[ServerName, ServerState, ServerInfo]>(['server', 'state', 'info']),
    toolsChanged: new SyncHook<[ServerName, readonly Tool[]]>(['server', 'tools']),
    status: new SyncWaterfallHook<[Record<string, unknown>]>(['status']),
    shutdown: new AsyncParallelHook<[]>([]),
  });
}

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
