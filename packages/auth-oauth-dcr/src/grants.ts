import * as client from 'openid-client';
import { errors, type StoredAuth, type StoredTokens } from '@agent-mcp-gateway/core';
import type { ClientIdentity } from './client-identity.js';
import type { ClientCredentialsAuth } from './config.js';
import { InFlight, type StrategyContext } from './context.js';
import type { DpopBinding } from './dpop.js';
import { enterpriseManagedGrant } from './enterprise.js';
import { jwtBearerGrant } from './jwt-bearer.js';
import { clientCredentialsRefused, refreshFailed } from './errors.js';
import { authFailure, describeFailure } from './failures.js';
import type { ScopeRequest } from './scopes.js';
import type { Discovery } from './session.js';
import type { TokenCache } from './token-cache.js';
import { isFresh, oauthErrorCode, toStoredTokens } from './tokens.js';

/** The parts the grants use, and what they call with new tokens (`lifetime`: the answer's `expires_in`). */
export interface GrantParts {
  readonly discovery: Discovery;
  readonly scopes: ScopeRequest;
  readonly identity: ClientIdentity;
  readonly cache: TokenCache;
  /** DPoP (dpop.ts): the proof option of every token request, and the key new tokens are bound to. */
  readonly dpop: DpopBinding;
  readonly accept: (tokens: StoredTokens, lifetime: number | undefined) => void;
}

/**
 * The grants that need no user at the moment they run: refresh (RFC 6749 §6), and the grants
 * without a user configured for a server — client credentials, enterprise-managed authorization
 * (ID-JAG). Each has its own in-flight slot, so a caller never receives another operation's promise.
 * The grants with a user (authorization code, device) are in user-grants.ts.
 */
export class Grants {
  private readonly refreshing = new InFlight<StoredTokens | undefined>();
  private readonly granting = new InFlight<StoredTokens>();
  /** The OAuth error that refused the last refresh (`invalid_grant` / `invalid_client`), until tokens arrive again. */
  private refused: string | undefined;

  constructor(
    private readonly ctx: StrategyContext,
    private readonly parts: GrantParts,
  ) {}

  /** Why the login now needed is needed, when a refresh was refused: the OAuth error code, until new tokens arrive. */
  get refusal(): string | undefined {
    return this.refused;
  }

  /** New tokens arrived (any grant): no refusal stands any more. */
  recovered(): void {
    this.refused = undefined;
  }

  /** True for the grants that involve no user: the token is fetched (again) whenever needed. */
  get withoutUser(): boolean {
    const type = this.ctx.auth?.type;
    return type === 'client_credentials' || type === 'enterprise_managed' || type === 'jwt_bearer';
  }

  /**
   * One refresh at a time: in this process through a shared promise, across processes through the
   * store's lock. The store is re-read inside the lock — another process may have refreshed (and
   * rotated the refresh token) already. Undefined when there is nothing to refresh with, or the
   * refresh token (or the client) is no longer valid: a new login is needed.
   */
  refresh(stale: StoredTokens): Promise<StoredTokens | undefined> {
    return this.refreshing.run(() => this.parts.cache.locked((stored, write) => this.refreshLocked(stale, stored, write)));
  }

  /**
   * New tokens without a person, when the tokens in memory are stale: client credentials are asked
   * for again (they have no refresh); otherwise the refresh token is used, and failing that an
   * enterprise-managed grant is made again. Undefined: a login is needed.
   */
  async renew(stale: StoredTokens | undefined): Promise<StoredTokens | undefined> {
    const type = this.ctx.auth?.type;
    if (type === 'client_credentials') return this.grantWithoutUser();
    if (stale?.refresh_token) {
      const fresh = await this.refresh(stale);
      if (fresh) return fresh;
    }
    return type === 'enterprise_managed' || type === 'jwt_bearer' ? this.grantWithoutUser() : undefined;
  }

  /** The configured grant without a user, one at a time. */
  grantWithoutUser(): Promise<StoredTokens> {
    return this.granting.run(async () => {
      const auth = this.ctx.auth;
      if (auth?.type === 'client_credentials') return this.clientCredentials(auth);
      if (auth?.type === 'enterprise_managed') {
        return enterpriseManagedGrant(this.ctx, auth, this.parts, (response) => this.granted(response, 'enterprise-managed authorization'));
      }
      if (auth?.type === 'jwt_bearer') return jwtBearerGrant(this.ctx, auth, this.parts, (response) => this.granted(response, 'workload identity JWT bearer grant'));
      throw errors.internal(`server ${this.ctx.name} has no grant without a user`);
    });
  }

  private async refreshLocked(stale: StoredTokens, stored: StoredAuth | undefined, write: (value: StoredAuth) => Promise<void>): Promise<StoredTokens | undefined> {
    const { ctx } = this;
    const { cache } = this.parts;
    const current = stored?.tokens;
    // Another process (or an earlier section here) refreshed while we waited: use its tokens.
    if (current && current.access_token !== stale.access_token && isFresh(current, 0)) {
      cache.adopt(current);
      this.refused = undefined;
      return current;
    }
    const refreshToken = current?.refresh_token ?? stale.refresh_token;
    if (!refreshToken) return undefined;
    const session = await this.parts.discovery.session();
    const issuer = session.as.issuer;
    // SEP-2352: tokens and a registration are bound to the authorization server that issued them. A refresh
    // token of another one is never sent here, nor that server's client id: a new login (and registration) is needed.
    const boundTo = current?.issuer ?? stale.issuer;
    if (boundTo !== undefined && boundTo !== issuer) {
      ctx.logger.info(`The tokens for ${ctx.name} were issued by ${boundTo}; the server now names ${issuer}: a new login is needed`);
      return undefined;
    }
    const registered = stored?.client && stored.client.issuer === issuer ? stored.client : undefined;
    const config = this.parts.identity.configuration(session, registered);
    if (!config) return undefined;
    try {
      // A DPoP-bound refresh token is presented with a proof of the key it is bound to (RFC 9449 §5).
      const bound = current?.refresh_token ? current : stale;
      const options = await this.parts.dpop.options(session, config, bound);
      const response = ctx.obtained(await client.refreshTokenGrant(config, refreshToken, { resource: session.info.resource }, options));
      // Unstamped tokens (stored before the issuer was recorded) are stamped here, with the server that refreshed them.
      const tokens = this.parts.dpop.bind(toStoredTokens(response, refreshToken, issuer), bound);
      // The rotated refresh token is saved before anything else can use or lose it.
      await write({ ...stored, ...ctx.serverEntry, tokens });
      this.parts.accept(tokens, response.expires_in);
      ctx.logger.info(`Tokens refreshed for ${ctx.name}`);
      ctx.event('refresh');
      return tokens;
    } catch (error) {
      const code = oauthErrorCode(error);
      if (code === 'invalid_grant' || code === 'invalid_client') {
        ctx.logger.warn(`Refresh token for ${ctx.name} no longer valid (${code}); a new login is needed`);
        ctx.event('failure', `refresh refused (${code}); a new login is needed`);
        const { tokens: _dropped, ...rest } = stored ?? {};
        await write(code === 'invalid_client' ? { ...rest, client: undefined } : rest);
        cache.drop();
        this.refused = code;
        return undefined;
      }
      ctx.event('failure', `token refresh failed: ${describeFailure(error)}`);
      throw authFailure(ctx.name, `token refresh failed: ${describeFailure(error)}`, error, refreshFailed);
    }
  }

  private async clientCredentials(auth: ClientCredentialsAuth): Promise<StoredTokens> {
    const session = await this.parts.discovery.session();
    const config = await this.parts.identity.clientCredentials(session, auth);
    const scope = auth.scopes?.join(' ') ?? this.parts.scopes.for(session);
    const params: Record<string, string> = { resource: session.info.resource, ...(scope && { scope }) };
    try {
      return await this.granted(await client.clientCredentialsGrant(config, params, await this.parts.dpop.options(session, config)), 'client credentials');
    } catch (error) {
      this.ctx.event('failure', `client credentials grant refused: ${describeFailure(error)}`);
      throw authFailure(this.ctx.name, `client credentials grant refused: ${describeFailure(error)}`, error, clientCredentialsRefused);
    }
  }

  /** A grant's answer: tokens to the redactor, saved (merged, under the lock), in use. */
  private async granted(answer: client.TokenEndpointResponse, label: string): Promise<StoredTokens> {
    const response = this.ctx.obtained(answer);
    const tokens = this.parts.dpop.bind(toStoredTokens(response, undefined, this.parts.discovery.issuer));
    await this.parts.cache.save(tokens);
    this.parts.accept(tokens, response.expires_in);
    this.ctx.logger.info(`Tokens cached for ${this.ctx.name} (${label})`);
    this.ctx.event('login');
    return tokens;
  }
}
