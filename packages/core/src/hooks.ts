import {
  AsyncParallelHook,
  AsyncSeriesBailHook,
  AsyncSeriesWaterfallHook,
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
import type { GatewayError } from './errors.js';

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
}

/**
 * The whole extension surface of the gateway, in one place. Tap names are
 * plugin names, so a trace says which plugin answered a bail hook.
 *
 * | hook | when | answer |
 * |---|---|---|
 * | configLoaded | config loaded or reloaded, before servers are built | the config, possibly rewritten |
 * | resolveTransport | a server is first started | the first `TransportFactory` wins |
 * | resolveAuth | before connecting (challenge `null`) and again on a 401/403 challenge | the first `AuthStrategy` wins; none → no auth |
 * | resolveTokenStore | a strategy needs persistence | the first `TokenStore` wins |
 * | resolveAgent | every agent-facing request | sets `agent` or throws a coded error |
 * | authorizeServer | `get_server_tools`, before touching the server | — (throws a coded denial) |
 * | filterServers | `list_servers` | the servers this agent may see |
 * | filterTools | `get_server_tools` | the tools this agent may see |
 * | beforeToolCall | `execute_tool`, before the downstream call | the call (args may be rewritten) or a thrown coded error |
 * | afterToolCall | the downstream answered | the result, possibly rewritten |
 * | toolCallSettled | every `execute_tool`, whatever its end | — (audit, metrics) |
 * | serverStateChanged | a downstream changed state | — |
 * | toolsChanged | a downstream's tool list was (re)loaded | — |
 * | shutdown | the gateway is closing | — |
 */
export interface GatewayHooks {
  readonly configLoaded: AsyncSeriesWaterfallHook<[GatewayConfig]>;
  readonly resolveTransport: AsyncSeriesBailHook<[ServerSpec, ResolveContext], TransportFactory | undefined>;
  readonly resolveAuth: AsyncSeriesBailHook<[ServerSpec, AuthChallenge | null, ResolveContext], AuthStrategy | undefined>;
  readonly resolveTokenStore: AsyncSeriesBailHook<[ServerSpec, ResolveContext], TokenStore | undefined>;
  readonly resolveAgent: SyncWaterfallHook<[AgentContext]>;
  readonly authorizeServer: SyncHook<[agent: string, server: ServerName]>;
  readonly filterServers: SyncWaterfallHook<[ServerInfo[], ServerFilterContext]>;
  readonly filterTools: SyncWaterfallHook<[Tool[], ToolFilterContext]>;
  readonly beforeToolCall: AsyncSeriesWaterfallHook<[ToolCall]>;
  readonly afterToolCall: AsyncSeriesWaterfallHook<[CallToolResult, ToolCall]>;
  readonly toolCallSettled: SyncHook<[ToolCallOutcome, GatewayError | undefined]>;
  readonly serverStateChanged: AsyncParallelHook<[ServerName, ServerState, ServerInfo]>;
  readonly toolsChanged: SyncHook<[ServerName, readonly Tool[]]>;
  readonly shutdown: AsyncParallelHook<[]>;
}

export function createHooks(): GatewayHooks {
  return Object.freeze({
    configLoaded: new AsyncSeriesWaterfallHook<[GatewayConfig]>(['config']),
    resolveTransport: new AsyncSeriesBailHook<[ServerSpec, ResolveContext], TransportFactory | undefined>(['spec', 'context']),
    resolveAuth: new AsyncSeriesBailHook<[ServerSpec, AuthChallenge | null, ResolveContext], AuthStrategy | undefined>([
      'spec',
      'challenge',
      'context',
    ]),
    resolveTokenStore: new AsyncSeriesBailHook<[ServerSpec, ResolveContext], TokenStore | undefined>(['spec', 'context']),
    resolveAgent: new SyncWaterfallHook<[AgentContext]>(['agent']),
    authorizeServer: new SyncHook<[string, ServerName]>(['agent', 'server']),
    filterServers: new SyncWaterfallHook<[ServerInfo[], ServerFilterContext]>(['servers', 'context']),
    filterTools: new SyncWaterfallHook<[Tool[], ToolFilterContext]>(['tools', 'context']),
    beforeToolCall: new AsyncSeriesWaterfallHook<[ToolCall]>(['call']),
    afterToolCall: new AsyncSeriesWaterfallHook<[CallToolResult, ToolCall]>(['result', 'call']),
    toolCallSettled: new SyncHook<[ToolCallOutcome, GatewayError | undefined]>(['outcome', 'error']),
    serverStateChanged: new AsyncParallelHook<[ServerName, ServerState, ServerInfo]>(['server', 'state', 'info']),
    toolsChanged: new SyncHook<[ServerName, readonly Tool[]]>(['server', 'tools']),
    shutdown: new AsyncParallelHook<[]>([]),
  });
}
