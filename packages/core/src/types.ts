import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { RulesFile } from './policy/rules.js';
import type { GatewaySettings } from './config/schema.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from './logger.js';

export type { CallToolResult, Tool, Transport };

export type ServerName = string;

/**
 * Life cycle of one downstream server.
 * `idle` — configured, not started yet (lazy init); `disabled` — `enabled: false`.
 */
export type ServerState = 'idle' | 'connecting' | 'ready' | 'auth_required' | 'error' | 'disabled';

export type TransportKind = 'stdio' | 'http' | 'sse';

/** Forced auth choice from a server entry's `auth` field. */
export type AuthConfig =
  | 'none'
  | 'headers'
  | 'oauth'
  | {
      type: 'oauth';
      clientId?: string;
      clientSecret?: string;
      scopes?: string[];
      callbackPort?: number;
      clientMetadataUrl?: string;
      tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
    }
  | {
      type: 'client_credentials';
      clientId: string;
      clientSecret?: string;
      scopes?: string[];
      tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
      privateKey?: string;
      signingAlgorithm?: string;
    }
  | {
      /** Enterprise-Managed Authorization (MCP extension, ID-JAG): the enterprise IdP's ID token → ID-JAG → access token. */
      type: 'enterprise_managed';
      /** The client at the MCP server's authorization server. */
      clientId: string;
      clientSecret?: string;
      tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
      scopes?: string[];
      /** The enterprise identity provider the user signed in to (single sign-on), and the ID token it issued. */
      idp: { issuer: string; tokenEndpoint?: string; clientId: string; clientSecret?: string; idToken: string };
    };

/**
 * One downstream server as the kernel sees it: a `.mcp.json` entry after
 * validation, normalisation and `${VAR}` expansion.
 */
export interface ServerSpec {
  readonly name: ServerName;
  readonly transport: TransportKind;
  readonly description?: string;
  /** stdio */
  readonly command?: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** http / sse */
  readonly url?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly auth?: AuthConfig;
  readonly enabled: boolean;
  /** Default per-call timeout for this server's tools. */
  readonly timeoutMs?: number;
  /** Where this server's credentials are kept, overriding the `tokenStore` setting. */
  readonly tokenStore?: TokenStoreChoice;
  /** Secret values from this entry (env values, header values, client secret): redacted from every log. */
  readonly secretValues: readonly string[];
}

/** What every resolve hook receives besides the spec. */
export interface ResolveContext {
  readonly logger: Logger;
  /** Aborted when the gateway shuts down or the server is removed. */
  readonly signal: AbortSignal;
}

/** Parsed `WWW-Authenticate` challenge from a downstream 401/403. */
export interface AuthChallenge {
  readonly status: 401 | 403;
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
  readonly resourceMetadata?: string;
  readonly scope?: string;
  readonly error?: string;
}

export interface AuthStatus {
  readonly kind: string;
  readonly state: 'ok' | 'login_required' | 'login_pending' | 'failed' | 'none';
  readonly detail?: string;
  /** URL a user must open to finish a pending login. */
  readonly authorizationUrl?: string;
  readonly expiresAt?: number;
  readonly scopes?: readonly string[];
}

/** How a downstream server is authenticated: chosen by the `resolveAuth` chain. */
export interface AuthStrategy {
  readonly kind: string;
  /** Headers for one HTTP request. */
  headers(signal?: AbortSignal): Promise<Record<string, string>>;
  /** Extra environment for a stdio child. */
  env?(): Promise<Record<string, string>>;
  /** A 401 / 403 arrived: can this strategy fix it (then the request is retried once)? */
  onChallenge(challenge: AuthChallenge): Promise<'retry' | 'fail'>;
  status(): AuthStatus;
  /** Tells the kernel when credentials arrive (a login finished), so a waiting server reconnects. */
  watch?(listener: (status: AuthStatus) => void): () => void;
}

export type StoreKey = string;

/** Which token store holds credentials: files (`fs`), the OS keychain, or the keychain when reachable (`auto`). */
export type TokenStoreChoice = 'fs' | 'keychain' | 'auto';

/** OAuth tokens as stored (`tokens.json`); `expires_at` is epoch seconds. */
export interface StoredTokens {
  access_token: string;
  refresh_token?: string;
  expires_at?: number;
  token_type?: string;
  scope?: string;
}

/** A client registration (`client.json`), kept per issuer: another issuer means registering again. */
export interface StoredClient {
  issuer: string;
  client_id: string;
  client_secret?: string;
  /** Epoch seconds; 0 or absent: never expires. */
  client_secret_expires_at?: number;
  redirect_uris?: string[];
  token_endpoint_auth_method?: string;
  /** The grant types it was registered with (RFC 7591), when known: the device grant needs its own. */
  grant_types?: string[];
  /** How it was obtained. */
  source: 'dcr' | 'cimd' | 'preregistered';
}

/** Everything stored for one server under one key. */
export interface StoredAuth {
  /** Which server this is, for people and `auth status`. */
  server?: { name: string; url: string };
  tokens?: StoredTokens;
  client?: StoredClient;
  /** Cached discovery results (protected resource and authorization server metadata). */
  discovery?: Record<string, unknown>;
  /**
   * A named secret for `${secret:NAME}` references (API keys, PATs); only in entries
   * under the reserved keys of `secretStoreKey(name)` (`secret--<name>`).
   */
  secret?: string;
}

export interface StoreEntrySummary {
  readonly key: StoreKey;
  readonly server?: { name: string; url: string };
  readonly hasTokens: boolean;
  readonly hasRefreshToken: boolean;
  /** Epoch seconds. */
  readonly expiresAt?: number;
  readonly scope?: string;
  /** Where it lives: a folder path, or e.g. `keychain:agent-mcp-gateway/<key>`. */
  readonly location: string;
  /** Set when the entry exists but could not be read (corrupt file): reported, treated as absent. */
  readonly problem?: string;
}

/** Persistence for credentials. Implementations: store-fs, store-keychain. */
export interface TokenStore {
  readonly kind: string;
  get(key: StoreKey): Promise<StoredAuth | undefined>;
  set(key: StoreKey, value: StoredAuth): Promise<void>;
  delete(key: StoreKey): Promise<void>;
  list(): Promise<StoreEntrySummary[]>;
  /** Cross-process exclusive section for `key`. */
  withLock<T>(key: StoreKey, fn: () => Promise<T>): Promise<T>;
}

export interface ConnectContext {
  readonly spec: ServerSpec;
  readonly auth: AuthStrategy;
  readonly logger: Logger;
  /** Aborted when the gateway shuts down. */
  readonly signal: AbortSignal;
  /**
   * Aborted when the kernel gives up on this connection before it was established (the connect
   * timeout, a failed handshake): end it at once — a child process is killed, not asked to exit —
   * so the bound the user configured is the bound they get.
   */
  readonly abandon?: AbortSignal;
}

/** Makes SDK client transports for one server; answered by `resolveTransport`. */
export interface TransportFactory {
  readonly kind: TransportKind | string;
  /** A fresh, not yet started transport (the kernel's SDK Client starts it). */
  create(ctx: ConnectContext): Promise<Transport>;
  /**
   * True when `error` means the server forgot the session (Streamable HTTP:
   * 404 on a session id): the kernel then re-initialises and retries once.
   */
  isSessionExpired?(error: unknown): boolean;
}

/** Who is asking: the outcome of the `resolveAgent` chain. */
export interface AgentContext {
  /** `agent_id` as the caller passed it (absent when omitted). */
  readonly requested?: string;
  /** The agent the gateway acts for; set by the chain. */
  agent?: string;
  /** Identity proven by a credential (HTTP serving), when there is one. */
  readonly authenticated?: string;
}

/** One tool call travelling through `beforeToolCall` / `afterToolCall`. */
export interface ToolCall {
  readonly agent: string;
  readonly server: ServerName;
  readonly tool: string;
  args: Record<string, unknown>;
  timeoutMs?: number;
}

export interface ToolFilterContext {
  readonly agent: string;
  readonly server: ServerName;
}

/** A server as `list_servers` and status see it. Never holds a secret. */
export interface ServerInfo {
  readonly name: ServerName;
  readonly description?: string;
  readonly transport: TransportKind;
  readonly command?: string;
  readonly url?: string;
  readonly auth: string;
  readonly state: ServerState;
  readonly lastError?: string;
  readonly toolCount?: number;
}

export interface ServerFilterContext {
  readonly agent: string;
}

/** Everything the gateway runs on, after loading and validation. */
export interface GatewayConfig {
  /** In the order of the config file. */
  readonly servers: readonly ServerSpec[];
  /** Absent: no rules file, every agent may use everything. */
  readonly rules?: RulesFile;
  readonly settings: GatewaySettings;
  /** Absolute paths of the files that produced this config. */
  readonly sources: { readonly config?: string; readonly rules?: string; readonly settings?: string };
  /** Non-fatal findings (e.g. rules naming unconfigured servers), with file and JSON path. */
  readonly warnings: readonly string[];
}
