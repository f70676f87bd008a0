import type * as client from 'openid-client';
import {
  describeStoreEntry,
  errors,
  type AuthChallenge,
  type AuthDescription,
  type AuthRequest,
  type AuthResponse,
  type AuthStatus,
  type AuthStrategy,
  type LoginFlow,
  type LoginOptions,
  type LogoutResult,
  type StoredTokens,
} from '@agent-mcp-gateway/core';
import { logoutStored } from './account.js';
import { ClientIdentity } from './client-identity.js';
import { authOf } from './config.js';
import { refreshRefused } from './errors.js';
import { strategyContext, type DeviceLogin, type OAuthStrategyOptions, type PendingLogin, type StrategyContext } from './context.js';
import { DpopBinding } from './dpop.js';
import { Grants } from './grants.js';
import { LoginTracker } from './login-tracker.js';
import { ScopeRequest } from './scopes.js';
import { Discovery } from './session.js';
import { TokenCache } from './token-cache.js';
import { configuredCredentials, toStoredTokens } from './tokens.js';
import { UserGrants } from './user-grants.js';

export type { DeviceLogin, OAuthStrategyOptions, PendingLogin } from './context.js';

/**
 * OAuth 2.1 for one MCP server, as the MCP authorization spec (2025-11-25)
 * asks of a client: RFC 9728 + RFC 8414 discovery, pre-registered / CIMD /
 * dynamically registered client, PKCE S256 browser login on a loopback
 * callback, `resource` on every request, refresh (one at a time, across
 * processes, through the store's lock), step-up on `insufficient_scope`.
 *
 * A call never waits on a person: without usable tokens `headers()` starts the
 * login in the background and throws AUTH_REQUIRED carrying the URL to open.
 *
 * The coordinator of its parts (context.ts lists them): it decides what a request, a challenge or
 * a CLI command needs, and they do it.
 */
export class OAuthStrategy implements AuthStrategy {
  readonly kind = 'oauth';
  readonly key: string;
  private readonly ctx: StrategyContext;
  private readonly cache: TokenCache;
  private readonly discovery: Discovery;
  private readonly scopes: ScopeRequest;
  private readonly grants: Grants;
  private readonly userGrants: UserGrants;
  private readonly logins: LoginTracker;
  private readonly dpop: DpopBinding;
  private readonly listeners = new Set<(status: AuthStatus) => void>();

  constructor(options: OAuthStrategyOptions) {
    for (const secret of configuredCredentials(authOf(options.spec))) options.addSecret?.(secret);
    const ctx = (this.ctx = strategyContext(options));
    this.key = ctx.key;
    this.cache = new TokenCache(ctx.options.store, ctx.key, ctx.serverEntry);
    this.discovery = new Discovery(ctx);
    this.scopes = new ScopeRequest(ctx.auth, this.discovery);
    const identity = new ClientIdentity(ctx, this.cache);
    this.dpop = new DpopBinding(ctx);
    const parts = { discovery: this.discovery, scopes: this.scopes, identity, cache: this.cache, dpop: this.dpop };
    this.grants = new Grants(ctx, { ...parts, accept: (tokens, lifetime) => this.accept(tokens, lifetime) });
    this.userGrants = new UserGrants(ctx, parts);
    this.logins = new LoginTracker(
      ctx,
      (response) => this.saveLogin(response),
      () => this.notify(),
    );
  }

  /** The challenge that brought OAuth in (its `resource_metadata` and `scope` guide discovery). */
  noteChallenge(challenge: AuthChallenge): void {
    this.discovery.noteChallenge(challenge);
    this.dpop.noteChallenge(challenge);
  }

  /** `request`: the request they authorize (a DPoP proof signs it); a direct caller without one gets them for a POST to the server's URL. */
  async headers(request: AuthRequest = { method: 'POST', url: this.ctx.url }): Promise<Record<string, string>> {
    await this.cache.load();
    // Forced OAuth with nothing stored: the first request goes without a token, so that the server's 401 challenge
    // (resource_metadata, scope) guides discovery and the login, exactly as when OAuth is brought in by a 401.
    // A grant without a user (client credentials, enterprise-managed) gets its token before the first request.
    if (!this.cache.current && !this.discovery.challenge && !this.logins.pending && !this.grants.withoutUser) return {};
    const tokens = await this.usableTokens();
    // Bearer, or for a DPoP-bound token `DPoP` plus a fresh proof of this request (dpop.ts).
    return this.dpop.headers(tokens, request);
  }

  /** Every answer of the server: DPoP remembers a `DPoP-Nonce` it carries. */
  observe(response: AuthResponse, request: AuthRequest): void {
    this.dpop.observe(response, request);
  }

  async onChallenge(challenge: AuthChallenge): Promise<'retry' | 'fail'> {
    // RFC 9449 §9: the server wants its nonce in the proof; the answer carried it (observe): once more with it.
    if (this.dpop.retryWithNonce(challenge)) return 'retry';
    if (challenge.status === 403) return this.stepUp(challenge);
    this.noteChallenge(challenge);
    const rejected = this.cache.current;
    if (!rejected && !this.grants.withoutUser) throw await this.loginRequired();
    // Our token was refused: the server may have moved to another authorization server (SEP-2352). Discover again;
    // if it has, nothing of the old one is used there (no refresh; the login registers again: client-identity.ts).
    if (rejected && (await this.movedAway(rejected))) {
      this.cache.drop();
      if (this.grants.withoutUser) {
        await this.grants.grantWithoutUser();
        return 'retry';
      }
      throw await this.loginRequired();
    }
    // Our token was refused (expired early, revoked): refresh once, else log in again (a grant without a user: grant again).
    this.ctx.logger.info(`Access token for ${this.ctx.name} refused (${challenge.error ?? 'HTTP 401'}); refreshing`);
    const fresh = rejected?.refresh_token ? await this.grants.refresh(rejected) : undefined;
    if (fresh) return 'retry';
    this.cache.drop();
    if (this.grants.withoutUser) {
      await this.grants.grantWithoutUser();
      return 'retry';
    }
    throw await this.loginRequired();
  }

  status(): AuthStatus {
    // A new login pending after a failed one is pending: that is what the user can act on.
    const pending = this.logins.pending;
    if (pending) return { kind: this.kind, state: 'login_pending', authorizationUrl: pending.url };
    const failure = this.logins.failure;
    if (failure) return { kind: this.kind, state: 'failed', detail: failure };
    const tokens = this.cache.current;
    if (tokens) {
      return {
        kind: this.kind,
        state: 'ok',
        ...(tokens.expires_at !== undefined && { expiresAt: tokens.expires_at }),
        ...(tokens.scope !== undefined && { scopes: tokens.scope.split(' ') }),
      };
    }
    return { kind: this.kind, state: 'login_required' };
  }

  watch(listener: (status: AuthStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Cancels a pending login (its callback server stops listening). For shutdown. */
  close(): void {
    this.logins.cancel();
  }

  /** Starts a browser login now (the CLI's `auth login`); resolves with the URL and the login's end. */
  async startLogin(): Promise<PendingLogin> {
    await this.cache.load();
    return this.logins.begin((track) => this.userGrants.browser(track));
  }

  /**
   * Starts a device authorization grant (RFC 8628; the CLI's `auth login --device`), for a machine
   * without a browser: resolves once the code and the verification URI are known (and logged); the
   * token endpoint is polled until the user has confirmed on any device, the code expires, or
   * `cancel()`. A pending browser login is cancelled first. AUTH_FAILED when the authorization
   * server offers no `device_authorization_endpoint`.
   */
  async startDeviceLogin(): Promise<DeviceLogin> {
    await this.cache.load();
    const current = await this.logins.inProgress();
    if (current && 'userCode' in current) return current as DeviceLogin;
    if (current) {
      current.cancel();
      await current.done.catch(() => undefined);
    }
    return (await this.logins.begin((track) => this.userGrants.device(track))) as DeviceLogin;
  }

  // ---- the capabilities `auth login|logout|status` use -------------------------

  /** `auth login`: a browser login, or with `device` a device login (a URL and a code). */
  async login(options: LoginOptions = {}): Promise<LoginFlow> {
    if (this.grants.withoutUser) {
      const type = this.ctx.auth?.type;
      const how =
        type === 'client_credentials'
          ? 'uses the client credentials grant'
          : type === 'jwt_bearer'
            ? "uses the workload identity grant (the platform's JWT)"
            : "uses enterprise-managed authorization (the IdP's ID token)";
      throw errors.invalidArguments(`Server '${this.ctx.name}' ${how}: there is nothing to log in to`);
    }
    if (!options.device) {
      const pending = await this.startLogin();
      return { url: pending.url, done: pending.done, deadline: Date.now() + this.ctx.options.loginTimeoutMs };
    }
    const device = await this.startDeviceLogin();
    return {
      url: device.verificationUri,
      userCode: device.userCode,
      ...(device.verificationUriComplete !== undefined && { urlWithCode: device.verificationUriComplete }),
      deadline: device.expiresAt * 1000,
      done: device.done,
    };
  }

  /** `auth logout`: revokes the stored tokens where they were issued, when possible, and deletes them. */
  async logout(): Promise<LogoutResult> {
    this.logins.cancel();
    const { options, name, url, key } = this.ctx;
    const result = await logoutStored({
      store: options.store,
      key,
      name,
      url,
      ...(options.spec.auth !== undefined && { auth: options.spec.auth }),
      ...(options.addSecret && { addSecret: options.addSecret }),
      ...(options.fetch && { fetch: options.fetch }),
      ...(options.lookup && { lookup: options.lookup }),
    });
    this.cache.drop();
    return result;
  }

  /** `auth status`: what the store holds for this server, without a network request. */
  describe(): Promise<AuthDescription> {
    return describeStoreEntry(this.ctx.options.store, this.key);
  }

  // ---- coordination ----------------------------------------------------------

  /** Fresh tokens; else renewed without a person (refresh, a grant without a user); else AUTH_REQUIRED with a login started. */
  private async usableTokens(): Promise<StoredTokens> {
    await this.cache.load();
    const tokens = this.cache.usable() ?? (await this.grants.renew(this.cache.current));
    if (tokens) return tokens;
    throw await this.loginRequired();
  }

  /** Discovers again after a refused token: true when the server now names another authorization server than the one of `tokens`. */
  private async movedAway(tokens: StoredTokens): Promise<boolean> {
    const { before, session } = await this.discovery.rediscover();
    const issuedBy = tokens.issuer ?? before;
    const now = session.as.issuer;
    if (issuedBy === undefined || issuedBy === now) return false;
    this.ctx.logger.info(`Server ${this.ctx.name} now names the authorization server ${now} (was ${issuedBy}); its tokens are not used there`);
    return true;
  }

  private async stepUp(challenge: AuthChallenge): Promise<'retry' | 'fail'> {
    const { logger, name } = this.ctx;
    if (!this.scopes.stepUp(challenge, this.cache.current?.scope)) {
      logger.warn(`Server ${name} still asks for more scope after ${this.scopes.made} step-up(s); giving up`);
      return 'fail';
    }
    logger.info(`Server ${name} needs more scope (${challenge.scope ?? 'unspecified'}); asking for a new authorization`);
    this.cache.drop();
    if (this.grants.withoutUser) {
      await this.grants.grantWithoutUser();
      return 'retry';
    }
    throw await this.loginRequired();
  }

  /**
   * AUTH_REQUIRED with the URL of the login it started (or the one pending); catalogued
   * `refresh_refused` when that login is needed because the refresh token or the client was refused.
   */
  private async loginRequired(): Promise<Error> {
    const { url } = await this.logins.begin((track) => this.userGrants.browser(track));
    const refusal = this.grants.refusal;
    return refusal ? refreshRefused(this.ctx.name, url, refusal) : errors.authRequired(this.ctx.name, url);
  }

  /** A login's answer: its tokens saved (merged, under the lock) and used; the step-up scopes it asked for are granted. */
  private async saveLogin(answer: client.TokenEndpointResponse): Promise<void> {
    const response = this.ctx.obtained(answer);
    const tokens = this.dpop.bind(toStoredTokens(response, undefined, this.discovery.issuer));
    await this.cache.save(tokens);
    this.accept(tokens, response.expires_in);
    this.scopes.granted();
    this.ctx.logger.info(`Tokens cached for ${this.ctx.name}`);
    this.ctx.event('login');
  }

  private accept(tokens: StoredTokens, lifetime: number | undefined): void {
    this.cache.accept(tokens, lifetime);
    this.logins.recovered();
    this.grants.recovered();
  }

  private notify(): void {
    const status = this.status();
    for (const listener of this.listeners) listener(status);
  }
}
