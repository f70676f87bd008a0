import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import {
  describeStoreEntry,
  errors,
  isGatewayError,
  serverStoreKey,
  type AuthChallenge,
  type AuthDescription,
  type AuthEvent,
  type AuthStatus,
  type AuthStrategy,
  type Logger,
  type LoginFlow,
  type LoginOptions,
  type LogoutResult,
  type ServerSpec,
  type StoredAuth,
  type StoredClient,
  type StoredTokens,
  type TokenStore,
} from '@agent-mcp-gateway/core';
import { logoutStored } from './account.js';
import { openBrowser } from './browser.js';
import { startCallbackServer } from './callback.js';
import { clientConfiguration, clientSecretBasic, processRegistrationResponse } from './client-auth.js';
import { authOf, type ClientCredentialsAuth, type EnterpriseManagedAuth, type OAuthAuth } from './config.js';
import {
  discoverAuthorizationServer,
  discoverResource,
  requireS256,
  requireSecureEndpoints,
  type FetchFn,
  type ResourceInfo,
} from './discovery.js';
import { EgressPolicy, endpointLabeler, gatewayReason, type LookupFn } from './egress.js';
import {
  configuredCredentials,
  credentialsOf,
  isFresh,
  oauthErrorCode,
  refreshSkewSeconds,
  registeringStore,
  toStoredTokens,
  type AddSecret,
} from './tokens.js';

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

/** The authorization server side of one server, found once per strategy. */
interface Session {
  readonly info: ResourceInfo;
  readonly as: oauth.AuthorizationServer;
  /** Plain http allowed: only when the egress policy allows local addresses. */
  readonly insecure: boolean;
  /** Where requests may go (decided by the configured server's address, never by metadata). */
  readonly egress: EgressPolicy;
  /** The fetch every request to the authorization server goes through. */
  readonly fetch: FetchFn;
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

type ForcedOAuth = OAuthAuth;
type ClientCredentials = ClientCredentialsAuth;
type EnterpriseManaged = EnterpriseManagedAuth;

/** Step-up re-authorizations (403 insufficient_scope) allowed before giving up. */
const MAX_STEP_UPS = 2;

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** Enterprise-Managed Authorization: RFC 8693 token exchange at the IdP, RFC 7523 JWT bearer grant at the MCP server's AS. */
const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ID_JAG_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/**
 * OAuth 2.1 for one MCP server, as the MCP authorization spec (2025-11-25)
 * asks of a client: RFC 9728 + RFC 8414 discovery, pre-registered / CIMD /
 * dynamically registered client, PKCE S256 browser login on a loopback
 * callback, `resource` on every request, refresh (one at a time, across
 * processes, through the store's lock), step-up on `insufficient_scope`.
 *
 * A call never waits on a person: without usable tokens `headers()` starts the
 * login in the background and throws AUTH_REQUIRED carrying the URL to open.
 */
export class OAuthStrategy implements AuthStrategy {
  readonly kind = 'oauth';
  readonly key: string;
  private tokens: StoredTokens | undefined;
  private lifetime: number | undefined;
  private loaded: Promise<void> | undefined;
  private challenge: AuthChallenge | null = null;
  private session: Promise<Session> | undefined;
  private egress: Promise<EgressPolicy> | undefined;
  private idpEgress: Promise<EgressPolicy> | undefined;
  private pendingLogin: PendingLogin | undefined;
  private loginStarting: Promise<PendingLogin> | undefined;
  private refreshing: Promise<StoredTokens | undefined> | undefined;
  /** The grant without a user in flight (client credentials or enterprise-managed): its own slot, never a refresh's. */
  private granting: Promise<StoredTokens> | undefined;
  private failure: string | undefined;
  private stepUps = 0;
  private extraScopes = new Set<string>();
  private readonly listeners = new Set<(status: AuthStatus) => void>();
  private readonly name: string;
  private readonly url: string;

  private readonly options: OAuthStrategyOptions;

  constructor(options: OAuthStrategyOptions) {
    // What the store loads or saves is registered with the redactor on the way (tokens.ts).
    this.options = { ...options, store: registeringStore(options.store, options.addSecret) };
    for (const secret of configuredCredentials(authOf(options.spec))) options.addSecret?.(secret);
    this.name = options.spec.name;
    this.url = options.spec.url as string;
    this.key = serverStoreKey(this.url);
  }

  /** The challenge that brought OAuth in (its `resource_metadata` and `scope` guide discovery). */
  noteChallenge(challenge: AuthChallenge): void {
    if (challenge.status === 401) this.challenge = challenge;
  }

  async headers(): Promise<Record<string, string>> {
    await this.load();
    // Forced OAuth with nothing stored: the first request goes without a token, so that the server's 401 challenge
    // (resource_metadata, scope) guides discovery and the login, exactly as when OAuth is brought in by a 401.
    // A grant without a user (client credentials, enterprise-managed) gets its token before the first request.
    if (!this.tokens && !this.challenge && !this.pendingLogin && !this.withoutUser()) return {};
    const tokens = await this.usableTokens();
    return { Authorization: `Bearer ${tokens.access_token}` };
  }

  async onChallenge(challenge: AuthChallenge): Promise<'retry' | 'fail'> {
    if (challenge.status === 403) return this.stepUp(challenge);
    this.noteChallenge(challenge);
    const rejected = this.tokens;
    if (!rejected && !this.withoutUser()) throw errors.authRequired(this.name, (await this.beginLogin()).url);
    // Our token was refused (expired early, revoked): refresh once, else log in again (a grant without a user: grant again).
    this.options.logger.info(`Access token for ${this.name} refused (${challenge.error ?? 'HTTP 401'}); refreshing`);
    const fresh = rejected?.refresh_token ? await this.refresh(rejected) : undefined;
    if (fresh) return 'retry';
    this.tokens = undefined;
    if (this.withoutUser()) {
      await this.grantWithoutUser();
      return 'retry';
    }
    throw errors.authRequired(this.name, (await this.beginLogin()).url);
  }

  status(): AuthStatus {
    // A new login pending after a failed one is pending: that is what the user can act on.
    if (this.pendingLogin) return { kind: this.kind, state: 'login_pending', authorizationUrl: this.pendingLogin.url };
    if (this.failure) return { kind: this.kind, state: 'failed', detail: this.failure };
    if (this.tokens) {
      return {
        kind: this.kind,
        state: 'ok',
        ...(this.tokens.expires_at !== undefined && { expiresAt: this.tokens.expires_at }),
        ...(this.tokens.scope !== undefined && { scopes: this.tokens.scope.split(' ') }),
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
    this.pendingLogin?.cancel();
  }

  /** Starts a browser login now (the CLI's `auth login`); resolves with the URL and the login's end. */
  async startLogin(): Promise<PendingLogin> {
    await this.load();
    return this.beginLogin();
  }

  /**
   * Starts a device authorization grant (RFC 8628; the CLI's `auth login --device`), for a machine
   * without a browser: resolves once the code and the verification URI are known (and logged); the
   * token endpoint is polled until the user has confirmed on any device, the code expires, or
   * `cancel()`. A pending browser login is cancelled first. AUTH_FAILED when the authorization
   * server offers no `device_authorization_endpoint`.
   */
  async startDeviceLogin(): Promise<DeviceLogin> {
    await this.load();
    const current = this.pendingLogin ?? (await this.loginStarting?.catch(() => undefined));
    if (current && 'userCode' in current) return current as DeviceLogin;
    if (current) {
      current.cancel();
      await current.done.catch(() => undefined);
    }
    return (await this.beginLogin(() => this.prepareDeviceLogin())) as DeviceLogin;
  }

  // ---- the capabilities `auth login|logout|status` use -------------------------

  /** `auth login`: a browser login, or with `device` a device login (a URL and a code). */
  async login(options: LoginOptions = {}): Promise<LoginFlow> {
    if (this.withoutUser()) {
      throw errors.invalidArguments(`Server '${this.name}' ${this.forced()?.type === 'client_credentials' ? 'uses the client credentials grant' : "uses enterprise-managed authorization (the IdP's ID token)"}: there is nothing to log in to`);
    }
    if (!options.device) {
      const pending = await this.startLogin();
      return { url: pending.url, done: pending.done, deadline: Date.now() + this.options.loginTimeoutMs };
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
    this.pendingLogin?.cancel();
    const result = await logoutStored({
      store: this.options.store,
      key: this.key,
      name: this.name,
      url: this.url,
      ...(this.options.spec.auth !== undefined && { auth: this.options.spec.auth }),
      ...(this.options.addSecret && { addSecret: this.options.addSecret }),
      ...(this.options.fetch && { fetch: this.options.fetch }),
    });
    this.tokens = undefined;
    return result;
  }

  /** `auth status`: what the store holds for this server, without a network request. */
  describe(): Promise<AuthDescription> {
    return describeStoreEntry(this.options.store, this.key);
  }

  // ---- tokens ---------------------------------------------------------------

  private async usableTokens(): Promise<StoredTokens> {
    await this.load();
    const skew = this.tokens ? refreshSkewSeconds(this.tokens, this.lifetime) : 0;
    if (this.tokens && isFresh(this.tokens, skew)) return this.tokens;
    if (this.forced()?.type === 'client_credentials') return this.clientCredentials();
    if (this.tokens?.refresh_token) {
      const fresh = await this.refresh(this.tokens);
      if (fresh) return fresh;
    }
    if (this.forced()?.type === 'enterprise_managed') return this.enterpriseGrant();
    throw errors.authRequired(this.name, (await this.beginLogin()).url);
  }

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      const stored = await this.options.store.get(this.key).catch(() => undefined);
      this.tokens = stored?.tokens;
    })();
    return this.loaded;
  }

  /**
   * One refresh at a time: in this process through a shared promise, across
   * processes through the store's lock. The store is re-read inside the lock —
   * another process may have refreshed (and rotated the refresh token) already.
   */
  private refresh(stale: StoredTokens): Promise<StoredTokens | undefined> {
    this.refreshing ??= this.options.store
      .withLock(this.key, async () => {
        const stored = await this.options.store.get(this.key).catch(() => undefined);
        const current = stored?.tokens;
        // Another process (or an earlier section here) refreshed while we waited: use its tokens.
        if (current && current.access_token !== stale.access_token && isFresh(current, 0)) {
          this.tokens = current;
          return current;
        }
        const refreshToken = current?.refresh_token ?? stale.refresh_token;
        if (!refreshToken) return undefined;
        const session = await this.sessionInfo();
        const config = this.configuration(session, stored?.client);
        if (!config) return undefined;
        try {
          const response = this.obtained(await client.refreshTokenGrant(config, refreshToken, { resource: session.info.resource }));
          const tokens = toStoredTokens(response, refreshToken);
          // The rotated refresh token is saved before anything else can use or lose it.
          await this.options.store.set(this.key, { ...stored, ...this.serverEntry(), tokens });
          this.accept(tokens, response.expires_in);
          this.options.logger.info(`Tokens refreshed for ${this.name}`);
          this.event('refresh');
          return tokens;
        } catch (error) {
          const code = oauthErrorCode(error);
          if (code === 'invalid_grant' || code === 'invalid_client') {
            this.options.logger.warn(`Refresh token for ${this.name} no longer valid (${code}); a new login is needed`);
            this.event('failure', `refresh refused (${code}); a new login is needed`);
            const { tokens: _dropped, ...rest } = stored ?? {};
            const keep: StoredAuth = code === 'invalid_client' ? { ...rest, client: undefined } : rest;
            await this.options.store.set(this.key, keep);
            this.tokens = undefined;
            return undefined;
          }
          this.event('failure', `token refresh failed: ${describe(error)}`);
          throw errors.authFailed(this.name, `token refresh failed: ${describe(error)}`);
        }
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private async clientCredentials(): Promise<StoredTokens> {
    const forced = this.forced() as ClientCredentials;
    this.granting ??= (async () => {
      const session = await this.sessionInfo();
      const config = new client.Configuration(session.as, forced.clientId, undefined, await clientCredentialsAuth(this.name, forced));
      if (session.insecure) client.allowInsecureRequests(config);
      config[client.customFetch] = session.fetch;
      const scope = forced.scopes?.join(' ') ?? this.scopeFor(session);
      const params: Record<string, string> = { resource: session.info.resource, ...(scope && { scope }) };
      try {
        const response = this.obtained(await client.clientCredentialsGrant(config, params));
        const tokens = toStoredTokens(response);
        await this.saveTokens(tokens);
        this.accept(tokens, response.expires_in);
        this.options.logger.info(`Tokens cached for ${this.name} (client credentials)`);
        this.event('login');
        return tokens;
      } catch (error) {
        this.event('failure', `client credentials grant refused: ${describe(error)}`);
        throw errors.authFailed(this.name, `client credentials grant refused: ${describe(error)}`);
      }
    })().finally(() => {
      this.granting = undefined;
    });
    return this.granting;
  }

  /**
   * Enterprise-Managed Authorization (the MCP extension, ID-JAG): the ID token of the user's single sign-on is
   * exchanged at the enterprise IdP (RFC 8693) for an Identity Assertion JWT Authorization Grant whose audience is
   * this server's authorization server (its issuer) and whose resource is this server; that authorization server
   * takes it as a JWT bearer grant (RFC 7523), the client authenticating as registered there, for an access token.
   * No browser, no consent: the IdP's policy decides.
   */
  private async enterpriseGrant(): Promise<StoredTokens> {
    const forced = this.forced() as EnterpriseManaged;
    this.granting ??= (async () => {
      const session = await this.sessionInfo();
      const resource = session.info.resource;
      const scope = this.scopeFor(session); // configured (else the challenge's, else scopes_supported), plus step-up scopes
      let assertion: string;
      try {
        const exchanged = await client.genericGrantRequest(await this.idpConfiguration(forced.idp), TOKEN_EXCHANGE_GRANT, {
          requested_token_type: ID_JAG_TOKEN_TYPE,
          audience: session.as.issuer,
          resource,
          ...(scope && { scope }),
          subject_token: forced.idp.idToken,
          subject_token_type: ID_TOKEN_TYPE,
        });
        if (exchanged.issued_token_type !== ID_JAG_TOKEN_TYPE) throw new Error(`it issued ${String(exchanged.issued_token_type)}, not an ID-JAG`);
        assertion = this.obtained(exchanged).access_token; // the ID-JAG: a credential too
      } catch (error) {
        const why = isGatewayError(error) ? error.message : describe(error);
        this.event('failure', `token exchange at ${forced.idp.issuer} refused: ${why}`);
        throw errors.authFailed(this.name, `the identity provider ${forced.idp.issuer} refused to exchange the ID token for an ID-JAG: ${why}`);
      }
      try {
        const config = this.configuration(session, undefined) as client.Configuration;
        const response = this.obtained(await client.genericGrantRequest(config, JWT_BEARER_GRANT, { assertion, resource, ...(scope && { scope }) }));
        const tokens = toStoredTokens(response);
        await this.saveTokens(tokens);
        this.accept(tokens, response.expires_in);
        this.options.logger.info(`Tokens cached for ${this.name} (enterprise-managed authorization)`);
        this.event('login');
        return tokens;
      } catch (error) {
        this.event('failure', `JWT bearer grant refused: ${describe(error)}`);
        throw errors.authFailed(this.name, `the authorization server ${session.as.issuer} refused the ID-JAG: ${describe(error)}`);
      }
    })().finally(() => {
      this.granting = undefined;
    });
    return this.granting;
  }

  /** Every token write: under the store's lock, merged into what is stored (the client registration stays). */
  private saveTokens(tokens: StoredTokens): Promise<void> {
    return this.options.store.withLock(this.key, async () => {
      const stored = await this.options.store.get(this.key).catch(() => undefined);
      await this.options.store.set(this.key, { ...stored, ...this.serverEntry(), tokens });
    });
  }

  /**
   * The IdP's token endpoint as configured, else discovered from its issuer. The IdP is configured, not named by the
   * server: its own egress policy comes from its configured issuer (public https, or local when the IdP is local).
   */
  private async idpConfiguration(idp: EnterpriseManaged['idp']): Promise<client.Configuration> {
    this.idpEgress ??= EgressPolicy.forServer(this.name, idp.issuer, this.egressOptions());
    const egress = await this.idpEgress;
    const as: oauth.AuthorizationServer = idp.tokenEndpoint
      ? { issuer: idp.issuer, token_endpoint: (await egress.check(idp.tokenEndpoint, 'IdP token endpoint')).href }
      : await discoverAuthorizationServer(this.name, idp.issuer, false, egress);
    await requireSecureEndpoints(this.name, as, egress);
    // The client authenticates as registered at the IdP: the method its metadata offers, else in the body (the extension's example).
    const methods = as.token_endpoint_auth_methods_supported;
    const basic = methods !== undefined && !methods.includes('client_secret_post') && methods.includes('client_secret_basic');
    const auth = idp.clientSecret === undefined ? client.None() : basic ? clientSecretBasic(idp.clientSecret) : client.ClientSecretPost(idp.clientSecret);
    const config = new client.Configuration(as, idp.clientId, undefined, auth);
    if (egress.allowLocal) client.allowInsecureRequests(config);
    config[client.customFetch] = egress.fetcher(endpointLabeler(as));
    return config;
  }

  /** True for the grants that involve no user: the token is fetched (again) whenever needed. */
  private withoutUser(): boolean {
    const type = this.forced()?.type;
    return type === 'client_credentials' || type === 'enterprise_managed';
  }

  private grantWithoutUser(): Promise<StoredTokens> {
    return this.forced()?.type === 'client_credentials' ? this.clientCredentials() : this.enterpriseGrant();
  }

  private event(type: AuthEvent['type'], detail?: string): void {
    this.options.onAuthEvent?.({ server: this.name, type, kind: this.kind, ...(detail !== undefined && { detail }) });
  }

  /** A token endpoint answer: its tokens join the redactor before anything else sees them. */
  private obtained<T extends client.TokenEndpointResponse>(response: T): T {
    for (const secret of credentialsOf({ tokens: response })) this.options.addSecret?.(secret);
    return response;
  }

  private accept(tokens: StoredTokens, lifetime: number | undefined): void {
    this.tokens = tokens;
    this.lifetime = lifetime;
    this.failure = undefined;
  }

  // ---- login -----------------------------------------------------------------

  private async stepUp(challenge: AuthChallenge): Promise<'retry' | 'fail'> {
    if (challenge.error !== 'insufficient_scope' || this.stepUps >= MAX_STEP_UPS) {
      this.options.logger.warn(`Server ${this.name} still asks for more scope after ${this.stepUps} step-up(s); giving up`);
      return 'fail';
    }
    this.stepUps++;
    for (const scope of challenge.scope?.split(' ') ?? []) if (scope) this.extraScopes.add(scope);
    this.options.logger.info(`Server ${this.name} needs more scope (${challenge.scope ?? 'unspecified'}); asking for a new authorization`);
    if (this.withoutUser()) {
      this.tokens = undefined;
      await this.grantWithoutUser();
      return 'retry';
    }
    this.tokens = undefined;
    throw errors.authRequired(this.name, (await this.beginLogin()).url);
  }

  /** Starts a login (a browser one unless told) unless one is pending; resolves once the URL to open is known. */
  private beginLogin(prepare: () => Promise<PendingLogin> = () => this.prepareLogin()): Promise<PendingLogin> {
    if (this.pendingLogin) return Promise.resolve(this.pendingLogin);
    // Concurrent callers share the login being prepared: one callback server, one registration, one browser.
    this.loginStarting ??= (async () => {
      try {
        const login = await prepare();
        this.pendingLogin = login;
        this.notify();
        return login;
      } catch (error) {
        this.failure = isGatewayError(error) ? error.message : describe(error);
        this.event('failure', this.failure);
        throw isGatewayError(error) ? error : errors.authFailed(this.name, describe(error));
      }
    })().finally(() => {
      this.loginStarting = undefined;
    });
    return this.loginStarting;
  }

  private async prepareLogin(): Promise<PendingLogin> {
    const { logger } = this.options;
    const session = await this.sessionInfo();
    const stored = await this.options.store.get(this.key).catch(() => undefined);
    const state = client.randomState();
    const preferredPort = this.options.callbackPort ?? portOf(stored?.client?.redirect_uris?.[0]);
    const callback = await startCallbackServer({ port: preferredPort, expectedState: state, timeoutMs: this.options.loginTimeoutMs }).catch(
      (error: unknown) => {
        if (this.options.callbackPort !== undefined || preferredPort === undefined) throw error;
        return startCallbackServer({ expectedState: state, timeoutMs: this.options.loginTimeoutMs }); // the remembered port is taken
      },
    );
    try {
      const registered = await this.ensureClient(session, stored, callback.redirectUri);
      const config = this.configuration(session, registered) as client.Configuration;
      const verifier = client.randomPKCECodeVerifier();
      const scope = this.scopeFor(session);
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: callback.redirectUri,
        response_type: 'code',
        state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        resource: session.info.resource,
        ...(scope && { scope }),
      }).href;
      // The URL a browser will open (a GET by the user's browser): the same rule as any request.
      await session.egress.check(url, 'authorization endpoint');
      logger.info(`OAuth flow initiated for ${this.name}`);
      await openBrowser(url, this.options.env, logger);
      const grant = this.exchangeCode(callback.result, config, verifier, state, session);
      return this.pending({ url, cancel: () => callback.close() }, grant);
    } catch (error) {
      callback.close();
      throw error;
    }
  }

  private async exchangeCode(result: Promise<URL>, config: client.Configuration, verifier: string, state: string, session: Session) {
    const callbackUrl = await result;
    this.options.logger.info(`OAuth callback received for ${this.name}`);
    const error = callbackUrl.searchParams.get('error');
    if (error) throw errors.authFailed(this.name, `the authorization server refused the login: ${error}`);
    return client.authorizationCodeGrant(
      config,
      callbackUrl,
      { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: false },
      { resource: session.info.resource },
    );
  }

  /** RFC 8628: the code and URI are logged for the user; the token endpoint is polled at the server's pace. */
  private async prepareDeviceLogin(): Promise<DeviceLogin> {
    const { logger } = this.options;
    const session = await this.sessionInfo();
    if (typeof session.as.device_authorization_endpoint !== 'string') {
      throw errors.authFailed(
        this.name,
        `authorization server ${session.as.issuer} offers no device authorization (RFC 8628); sign in with the URL instead (BROWSER=none prints it)`,
      );
    }
    const stored = await this.options.store.get(this.key).catch(() => undefined);
    const redirectUri = stored?.client?.redirect_uris?.[0] ?? `http://127.0.0.1${this.options.callbackPort ? `:${this.options.callbackPort}` : ''}/callback`;
    const registered = await this.ensureClient(session, stored, redirectUri, DEVICE_CODE_GRANT);
    const config = this.configuration(session, registered) as client.Configuration;
    const scope = this.scopeFor(session);
    const resource = session.info.resource;
    let device: Awaited<ReturnType<typeof client.initiateDeviceAuthorization>>;
    try {
      device = await client.initiateDeviceAuthorization(config, { resource, ...(scope && { scope }) });
    } catch (error) {
      throw errors.authFailed(this.name, `device authorization refused by ${session.as.issuer}: ${describe(error)}`);
    }
    const complete = typeof device.verification_uri_complete === 'string' ? device.verification_uri_complete : undefined;
    // Shown to the user and opened by a browser: the remote server's word, checked like any URL before anyone sees it.
    await session.egress.check(device.verification_uri, 'verification URI');
    if (complete) await session.egress.check(complete, 'verification URI');
    logger.info(`OAuth device flow initiated for ${this.name}`);
    logger.info(
      `To sign in to ${this.name}, open ${device.verification_uri} on any device and enter the code ${device.user_code}` +
        (complete ? ` (or open ${complete})` : ''),
    );
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(device.expires_in * 1000)]);
    const poll = client.pollDeviceAuthorizationGrant(config, device, { resource }, { signal }).catch((error: unknown) => {
      const code = oauthErrorCode(error);
      if (stop.signal.aborted) throw new Error('the login was cancelled');
      if (signal.aborted || code === 'expired_token') throw errors.authFailed(this.name, 'the device code expired before the login was confirmed');
      if (code === 'access_denied') throw errors.authFailed(this.name, 'the authorization server refused the login: access_denied');
      throw error;
    });
    // openid-client notices the abort only between its waits (up to 5 s): a cancelled login ends now.
    const cancelled = new Promise<never>((_, reject) => {
      stop.signal.addEventListener('abort', () => reject(new Error('the login was cancelled')), { once: true });
    });
    const grant = Promise.race([poll, cancelled]);
    poll.catch(() => undefined);
    return this.pending(
      {
        url: complete ?? device.verification_uri,
        userCode: device.user_code,
        verificationUri: device.verification_uri,
        ...(complete && { verificationUriComplete: complete }),
        expiresAt: Math.floor(Date.now() / 1000) + device.expires_in,
        cancel: () => stop.abort(),
      },
      grant,
    );
  }

  /** A login made visible (status, AUTH_REQUIRED) until `grant` settles; its tokens are saved the same way whatever the grant. */
  private pending<T extends Omit<PendingLogin, 'done'>>(login: T, grant: Promise<client.TokenEndpointResponse>): T & PendingLogin {
    const done = this.saveLogin(grant).finally(() => {
      this.pendingLogin = undefined;
      this.notify();
    });
    done.catch(() => undefined);
    return { ...login, done };
  }

  private async saveLogin(grant: Promise<client.TokenEndpointResponse>): Promise<void> {
    const { logger } = this.options;
    try {
      const response = this.obtained(await grant);
      const tokens = toStoredTokens(response);
      await this.saveTokens(tokens);
      this.accept(tokens, response.expires_in);
      this.extraScopes.clear();
      logger.info(`Tokens cached for ${this.name}`);
      this.event('login');
    } catch (error) {
      this.failure = `login failed: ${isGatewayError(error) ? error.message : describe(error)}`;
      this.event('failure', this.failure);
      logger.warn(`OAuth login for ${this.name} failed: ${isGatewayError(error) ? error.message : describe(error)}`);
      throw error;
    }
  }

  /**
   * Client identity in the spec's order: pre-registered, Client ID Metadata Document, stored DCR, new DCR.
   * A stored registration is reused for the same redirect URI, or, when `grant` is asked for, when it has that grant.
   */
  private async ensureClient(session: Session, stored: StoredAuth | undefined, redirectUri: string, grant?: string): Promise<StoredClient> {
    const forced = this.forced() as ForcedOAuth | undefined;
    const issuer = session.as.issuer;
    if (forced?.clientId) {
      return {
        issuer,
        client_id: forced.clientId,
        ...(forced.clientSecret !== undefined && { client_secret: forced.clientSecret }),
        token_endpoint_auth_method: forced.tokenEndpointAuthMethod ?? (forced.clientSecret ? 'client_secret_basic' : 'none'),
        source: 'preregistered',
      };
    }
    if (forced?.clientMetadataUrl && session.as.client_id_metadata_document_supported === true) {
      return { issuer, client_id: forced.clientMetadataUrl, token_endpoint_auth_method: 'none', source: 'cimd' };
    }
    const known = stored?.client;
    const fits = grant ? known?.grant_types?.includes(grant) : known?.redirect_uris?.includes(redirectUri);
    if (known && fits && known.issuer === issuer && known.source === 'dcr' && !secretExpired(known)) return known;
    if (!session.as.registration_endpoint) {
      throw errors.authFailed(this.name, `authorization server ${issuer} offers no dynamic client registration; set auth.clientId for this server`);
    }
    const requestOptions = { ...(session.insecure && { [oauth.allowInsecureRequests]: true }), [oauth.customFetch]: session.fetch };
    // The device grant when the server offers it, so that one registration serves `auth login --device` too.
    const grantTypes = ['authorization_code', 'refresh_token'];
    if (grant === DEVICE_CODE_GRANT || session.as.grant_types_supported?.includes(DEVICE_CODE_GRANT)) grantTypes.push(DEVICE_CODE_GRANT);
    let registered: oauth.OmitSymbolProperties<oauth.Client>;
    try {
      const response = await oauth.dynamicClientRegistrationRequest(
        session.as,
        {
          client_name: this.options.clientName,
          redirect_uris: [redirectUri],
          grant_types: grantTypes,
          response_types: ['code'],
          token_endpoint_auth_method: 'none',
          application_type: 'native',
        },
        requestOptions,
      );
      registered = await processRegistrationResponse(response);
    } catch (error) {
      throw errors.authFailed(this.name, `client registration refused by ${issuer}: ${describe(error)}`);
    }
    if (typeof registered.client_secret === 'string') this.options.addSecret?.(registered.client_secret);
    const created: StoredClient = {
      issuer,
      client_id: registered.client_id,
      ...(typeof registered.client_secret === 'string' && { client_secret: registered.client_secret }),
      ...(typeof registered.client_secret_expires_at === 'number' && { client_secret_expires_at: registered.client_secret_expires_at }),
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: typeof registered.token_endpoint_auth_method === 'string' ? registered.token_endpoint_auth_method : 'none',
      grant_types: Array.isArray(registered.grant_types) ? (registered.grant_types as string[]) : grantTypes,
      source: 'dcr',
    };
    await this.options.store.withLock(this.key, async () => {
      const current = await this.options.store.get(this.key).catch(() => undefined);
      await this.options.store.set(this.key, { ...current, ...this.serverEntry(), client: created });
    });
    this.options.logger.info(`Registered client for ${this.name} at ${issuer}`);
    return created;
  }

  private configuration(session: Session, registered: StoredClient | undefined): client.Configuration | undefined {
    return clientConfiguration(session.as, authOf(this.options.spec), registered, { insecure: session.insecure, fetch: session.fetch });
  }

  private sessionInfo(): Promise<Session> {
    this.session ??= (async () => {
      // Decided once, from the configured URL: the challenge and the metadata can name any URL, they decide nothing (SSRF).
      this.egress ??= EgressPolicy.forServer(this.name, this.url, this.egressOptions());
      const egress = await this.egress;
      const info = await discoverResource(this.name, this.url, this.challenge, egress);
      const as = await discoverAuthorizationServer(this.name, info.authorizationServer, !info.fromMetadata, egress);
      requireS256(this.name, as);
      await requireSecureEndpoints(this.name, as, egress);
      return { info, as, insecure: egress.allowLocal, egress, fetch: egress.fetcher(endpointLabeler(as)) };
    })();
    this.session.catch(() => {
      this.session = undefined; // a failed discovery is retried on the next attempt
    });
    return this.session;
  }

  /** Scope: configured, else the challenge's, else the resource's `scopes_supported`, else omitted; plus step-up scopes. */
  private scopeFor(session: Session): string | undefined {
    const forced = this.forced();
    const base =
      (forced && 'scopes' in forced && forced.scopes?.join(' ')) ||
      this.challenge?.scope ||
      session.info.scopesSupported?.join(' ') ||
      '';
    const all = new Set([...base.split(' ').filter(Boolean), ...this.extraScopes]);
    return all.size ? [...all].join(' ') : undefined;
  }

  private egressOptions(): { fetch?: FetchFn; lookup?: LookupFn } {
    return { ...(this.options.fetch && { fetch: this.options.fetch }), ...(this.options.lookup && { lookup: this.options.lookup }) };
  }

  private forced(): ForcedOAuth | ClientCredentials | EnterpriseManaged | undefined {
    const auth = authOf(this.options.spec);
    return typeof auth === 'object' ? auth : undefined;
  }

  private serverEntry(): Pick<StoredAuth, 'server'> {
    return { server: { name: this.name, url: this.url } };
  }

  private notify(): void {
    const status = this.status();
    for (const listener of this.listeners) listener(status);
  }
}

async function clientCredentialsAuth(server: string, forced: ClientCredentials): Promise<client.ClientAuth> {
  switch (forced.tokenEndpointAuthMethod) {
    case 'client_secret_post':
      return client.ClientSecretPost(forced.clientSecret);
    case 'private_key_jwt': {
      if (!forced.privateKey) throw errors.authFailed(server, 'private_key_jwt needs auth.privateKey');
      const { importPKCS8 } = await import('./keys.js');
      return client.PrivateKeyJwt(await importPKCS8(forced.privateKey, forced.signingAlgorithm));
    }
    default:
      return clientSecretBasic(forced.clientSecret);
  }
}

function secretExpired(c: StoredClient): boolean {
  return c.client_secret_expires_at !== undefined && c.client_secret_expires_at !== 0 && c.client_secret_expires_at < Date.now() / 1000;
}

function portOf(uri: string | undefined): number | undefined {
  if (!uri) return undefined;
  try {
    const port = Number(new URL(uri).port);
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  const code = oauthErrorCode(error);
  // openid-client wraps what a fetch throws ("something went wrong"): an egress refusal says why itself.
  const message = gatewayReason(error) ?? (error instanceof Error ? error.message : String(error));
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
