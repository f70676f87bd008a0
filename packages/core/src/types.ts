import type { CallToolResult, Tool, Transport } from '@modelcontextprotocol/client';
import type { RulesFile } from './policy/rules.js';
import type { GatewaySettings } from './config/schema.js';
import type { Logger } from './logger.js';

export type { CallToolResult, Tool, Transport };

export type ServerName = string;

/**
 * Life cycle of one downstream server.
 * `idle` — configured, not started yet (lazy init); `disabled` — `enabled: false`.
 */
export type ServerState = 'idle' | 'connecting' | 'ready' | 'auth_required' | 'error' | 'disabled';

export type TransportKind = 'stdio' | 'http' | 'sse';

/**
 * A server entry's `auth` object: `type` names a registered auth type (see `ConfigRegistry`),
 * the rest is that type's options, already validated by the schema its plugin registered.
 */
export interface AuthBlock {
  readonly type: string;
  readonly [option: string]: unknown;
}

/**
 * A server entry's `auth`: a registered type's name (the shorthand, e.g. `"none"`) or its object.
 * Set, it selects that type's plugin directly (`hooks.authFor`); absent, the `resolveAuth` chain decides.
 */
export type AuthConfig = string | AuthBlock;

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
  /** The protocol era toward this server: absent or `auto` negotiates it; a version pins it. */
  readonly protocol?: ProtocolChoice;
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

/** The HTTP request a strategy authorizes: a signing strategy signs its method and URL. */
export interface AuthRequest {
  readonly method: string;
  /** The absolute URL, query included. */
  readonly url: string;
  readonly signal?: AbortSignal;
}

/**
 * The answer to a request a strategy authorized, as its `observe` sees it: the status and the headers
 * (a sender-constraining strategy reads a server-supplied nonce there, RFC 9449 §8.2), never the body.
 */
export interface AuthResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
}

/** `auth login` options. */
export interface LoginOptions {
  /** A login on another device (a URL and a code) instead of a browser on this machine. */
  readonly device?: boolean;
}

/** An interactive login, started: what to tell the person, and when it is over. */
export interface LoginFlow {
  /**
   * The URL to open (a browser login), or where to enter `userCode` (a device login). None: a
   * login the person has nothing to do for (e.g. a key checked against the server).
   */
  readonly url?: string;
  /** Device login: the code to enter at `url`, and a URL that already carries it. */
  readonly userCode?: string;
  readonly urlWithCode?: string;
  /** When the flow gives up (epoch milliseconds), when the strategy knows. */
  readonly deadline?: number;
  /** Settles once credentials are stored, or rejects with a coded error. */
  readonly done: Promise<void>;
}

/** What a strategy keeps for `auth status`, read without a network request. */
export interface AuthDescription {
  /** Credentials stored and usable (or renewable). */
  readonly loggedIn: boolean;
  /** Expiry of the stored credential (epoch seconds). */
  readonly expiresAt?: number;
  readonly renewable: boolean;
  readonly scopes: readonly string[];
  /** The token store's kind and key, and where the entry is (or would be). */
  readonly store?: string;
  readonly key?: string;
  readonly location?: string;
  /** The entry exists but cannot be read. */
  readonly problem?: string;
}

/** What `logout` did. */
export interface LogoutResult {
  /** What happened to the credentials where they were issued, as a phrase ("refresh token revoked at https://as"). */
  readonly revoked: string;
  /** Whether a stored entry was deleted, and where it was. */
  readonly deleted: boolean;
  readonly location?: string;
  /** Set when revocation failed (the stored entry is deleted all the same). */
  readonly failure?: string;
}

/**
 * How a downstream server is authenticated: chosen by its auth type's plugin (`authFor`), else by
 * the `resolveAuth` chain. `login`, `logout` and `describe` are the capabilities `auth login|logout|status`
 * use; a strategy without them has nothing to log in to, out of, or show.
 */
export interface AuthStrategy {
  readonly kind: string;
  /** Headers for one HTTP request. */
  headers(request: AuthRequest): Promise<Record<string, string>>;
  /**
   * Every answer to a request `headers` authorized, before any challenge is handled: for a scheme that
   * learns from responses (a nonce the next request must carry, on any answer; a challenge asking for it,
   * which `onChallenge` then answers `'retry'`). Must not throw.
   */
  observe?(response: AuthResponse, request: AuthRequest): void;
  /** Extra environment for a stdio child. */
  env?(): Promise<Record<string, string>>;
  /** A 401 / 403 arrived: can this strategy fix it (then the request is retried once)? */
  onChallenge(challenge: AuthChallenge): Promise<'retry' | 'fail'>;
  status(): AuthStatus;
  /** Tells the kernel when credentials arrive (a login finished), so a waiting server reconnects. */
  watch?(listener: (status: AuthStatus) => void): () => void;
  /** Starts an interactive login (`auth login`). */
  login?(options?: LoginOptions): Promise<LoginFlow>;
  /** Forgets the credentials: revoked where they were issued when possible, deleted from the store (`auth logout`). */
  logout?(): Promise<LogoutResult>;
  /** What is stored, without a network request (`auth status`). */
  describe?(): Promise<AuthDescription>;
}

export type StoreKey = string;

/** Which token store holds credentials: a name a store plugin registered (e.g. `fs`). */
export type TokenStoreChoice = string;

/** Tokens as stored (`tokens.json`); `expires_at` is epoch seconds. */
export interface StoredTokens {
  access_token: string;
  refresh_token?: string;
  expires_at?: number;
  token_type?: string;
  scope?: string;
  /**
   * The authorization server that issued them (its `issuer`). Tokens are bound to it: a refresh token is only
   * ever sent back to it, and when the server's protected resource metadata names another authorization server
   * they are not used. Absent in entries written before it was recorded: such tokens are used as before and
   * stamped at their next refresh.
   */
  issuer?: string;
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
  /** Where it lives: a folder path, or a store's own locator (`<store>:<service>/<key>`). */
  readonly location: string;
  /** Set when the entry exists but could not be read (corrupt file): reported, treated as absent. */
  readonly problem?: string;
}

/** Persistence for credentials; implemented by store plugins. */
export interface TokenStore {
  readonly kind: string;
  get(key: StoreKey): Promise<StoredAuth | undefined>;
  set(key: StoreKey, value: StoredAuth): Promise<void>;
  delete(key: StoreKey): Promise<void>;
  list(): Promise<StoreEntrySummary[]>;
  /** Cross-process exclusive section for `key`. */
  withLock<T>(key: StoreKey, fn: () => Promise<T>): Promise<T>;
  /** Where `key` is (or would be) kept — a folder, an OS credential item — or, without a key, the store itself; for people. */
  locationOf?(key?: StoreKey): string | undefined;
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
/** A server entry's `protocol`. */
export type ProtocolChoice = 'auto' | '2025-11-25' | '2026-07-28';

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
  /** The protocol version spoken with the server (e.g. `2026-07-28`, `2025-11-25`) once connected. */
  readonly protocol?: string;
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
