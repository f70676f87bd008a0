/**
 * What the parts of one server's OAuth strategy share: its options, its name and store key, its
 * `auth` entry, and the two things every part does with what it obtains (tell the redactor, tell
 * the audit). The parts: discovery (session.ts), scopes (scopes.ts), client identity
 * (client-identity.ts), the token cache (token-cache.ts), grants (grants.ts, user-grants.ts) and
 * login tracking (login-tracker.ts); strategy.ts coordinates them.
 */
import type * as client from 'openid-client';
import { serverStoreKey, type AuthEvent, type Logger, type ServerSpec, type StoreKey, type StoredAuth, type TokenStore } from '@agent-mcp-gateway/core';
import { authOf, type ClientCredentialsAuth, type EnterpriseManagedAuth, type JwtBearerAuth, type OAuthAuth } from './config.js';
import type { FetchFn } from './discovery.js';
import type { LookupFn } from './egress.js';
import { credentialsOf, registeringStore, type AddSecret } from './tokens.js';

export interface OAuthStrategyOptions {
  readonly spec: ServerSpec;
  readonly store: TokenStore;
  readonly logger: Logger;
  /** For `BROWSER`. */
  readonly env: NodeJS.ProcessEnv;
  /** Fixed loopback callback port (config `callbackPort` or GATEWAY_OAUTH_CALLBACK_PORT); else ephemeral. */
  readonly callbackPort?: number;
  /** How long a browser login may take. */
  readonly loginTimeoutMs: number;
  readonly clientName: string;
  /** Requests go through it after the egress policy's checks (tests); else the policy's own pinned connections. */
  readonly fetch?: FetchFn;
  /** Hostname resolution for the egress policy (tests); else the system resolver. */
  readonly lookup?: LookupFn;
  /** Told of every login, refresh and failure (the plugin passes them to the gateway's `authEvent` hook: audit). */
  readonly onAuthEvent?: (event: AuthEvent) => void;
  /**
   * Registers a credential with the log redactor (the plugin passes `gateway.redactor.add`): every
   * token and client secret is registered the moment it is issued or loaded from the store.
   */
  readonly addSecret?: AddSecret;
}

/** A login waiting for its user. */
export interface PendingLogin {
  /** What the user opens: the authorization URL, or for a device login `verification_uri_complete` (else `verification_uri`). */
  readonly url: string;
  /** Settles when the login ends: tokens saved, or refused / timed out / cancelled. */
  readonly done: Promise<void>;
  /** Stops waiting: closes the loopback callback server, or stops polling. */
  readonly cancel: () => void;
}

/** A device authorization grant (RFC 8628) waiting for its user: open `verificationUri` on any device and enter `userCode`. */
export interface DeviceLogin extends PendingLogin {
  readonly userCode: string;
  readonly verificationUri: string;
  /** The URL with the code in it, when the authorization server offers one. */
  readonly verificationUriComplete?: string;
  /** Epoch seconds after which the code is no longer accepted. */
  readonly expiresAt: number;
}

/** A server entry's `auth` when it is one of this plugin's objects (not the `"oauth"` shorthand). */
export type ConfiguredAuth = OAuthAuth | ClientCredentialsAuth | EnterpriseManagedAuth | JwtBearerAuth;

/** One server, as every part of its strategy sees it. */
export interface StrategyContext {
  readonly kind: 'oauth';
  readonly name: string;
  readonly url: string;
  readonly key: StoreKey;
  /** The options, with `store` registering whatever it loads or saves with the redactor (tokens.ts). */
  readonly options: OAuthStrategyOptions;
  readonly logger: Logger;
  readonly auth: ConfiguredAuth | undefined;
  /** The `server` part of a stored entry (for people and `auth status`). */
  readonly serverEntry: Pick<StoredAuth, 'server'>;
  /** Tells the audit (`authEvent`). */
  event(type: AuthEvent['type'], detail?: string): void;
  /** A token endpoint answer: its tokens join the redactor before anything else sees them. */
  obtained<T extends client.TokenEndpointResponse>(response: T): T;
}

export function strategyContext(options: OAuthStrategyOptions): StrategyContext {
  const name = options.spec.name;
  const url = options.spec.url as string;
  const auth = authOf(options.spec);
  return {
    kind: 'oauth',
    name,
    url,
    key: serverStoreKey(url),
    // What the store loads or saves is registered with the redactor on the way.
    options: { ...options, store: registeringStore(options.store, options.addSecret) },
    logger: options.logger,
    auth: typeof auth === 'object' ? auth : undefined,
    serverEntry: { server: { name, url } },
    event: (type, detail) => options.onAuthEvent?.({ server: name, type, kind: 'oauth', ...(detail !== undefined && { detail }) }),
    obtained: (response) => {
      for (const secret of credentialsOf({ tokens: response })) options.addSecret?.(secret);
      return response;
    },
  };
}

/** One operation in flight at a time: callers while it runs share its promise; the next call after it settles starts another. */
export class InFlight<T> {
  private running: Promise<T> | undefined;

  run(start: () => Promise<T>): Promise<T> {
    this.running ??= start().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The operation in flight, if any. */
  get current(): Promise<T> | undefined {
    return this.running;
  }
}
