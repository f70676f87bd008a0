/**
 * A real OAuth 2.1 / OpenID Connect authorization server for tests: `oidc-provider`
 * on 127.0.0.1 with open dynamic client registration, PKCE (S256) for every client,
 * resource indicators (JWT access tokens whose `aud` is the requested resource),
 * refresh-token rotation, revocation, client credentials and the development
 * login/consent pages (drive them with ./headless-browser.ts).
 * With `deviceFlow`, the device authorization grant (RFC 8628) too.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createLocalJWKSet, jwtVerify, type JWK, type JWTPayload } from 'jose';
import Provider, { errors, type Adapter, type AdapterPayload, type ClientMetadata, type Configuration } from 'oidc-provider';
import { listenOnLoopback } from './listen.js';

/** Scopes offered by default. `openid` and `offline_access` are the OpenID ones; the rest belong to resources. */
export const DEFAULT_OAUTH_SCOPES: readonly string[] = ['openid', 'offline_access', 'mcp:read', 'mcp:write'];

const OAUTH_DISCOVERY_PATH = '/.well-known/oauth-authorization-server';
const OPENID_DISCOVERY_PATH = '/.well-known/openid-configuration';

/** Scopes about the OpenID layer, never put into an access token for a resource. */
const OPENID_SCOPES = new Set(['openid', 'offline_access']);

/** Client metadata (RFC 7591 names) of a client registered before the server starts. */
export interface OAuthClientMetadata {
  client_id: string;
  /** Required for the `client_secret_*` methods. */
  client_secret?: string;
  redirect_uris?: string[];
  /** Default `['authorization_code']`; add `refresh_token` to get refresh tokens, `client_credentials` for that grant. */
  grant_types?: string[];
  /** Default `['code']`; use `[]` for a client that only uses `client_credentials`. */
  response_types?: string[];
  /** Default `client_secret_basic`; `none` for a public client. */
  token_endpoint_auth_method?: 'none' | 'client_secret_basic' | 'client_secret_post' | (string & {});
  /** `native` accepts its loopback redirect URIs on any port (RFC 8252). Default `web`. */
  application_type?: 'web' | 'native';
  /** Space-separated scopes the client may request. */
  scope?: string;
  [name: string]: unknown;
}

export interface AuthorizationServerOptions {
  /** Port on 127.0.0.1. Default 0 (ephemeral). */
  port?: number;
  /**
   * Scopes the server offers (`scopes_supported`). Those other than `openid` and
   * `offline_access` are the scopes of every resource. Default {@link DEFAULT_OAUTH_SCOPES}.
   * (oidc-provider always adds `openid`.)
   */
  scopes?: readonly string[];
  /** Lifetime of access tokens (all grants), in seconds. Default 3600. See also `setAccessTokenTtl`. */
  accessTokenTtl?: number;
  /** Open dynamic client registration (RFC 7591) at `/reg`. Default true. */
  registration?: boolean;
  /** Clients known from the start (e.g. a confidential `client_secret_post` one, or a public `none` one). */
  preRegisteredClients?: OAuthClientMetadata[];
  /**
   * Which discovery documents answer: RFC 8414 `/.well-known/oauth-authorization-server`
   * (`oauth`), OpenID `/.well-known/openid-configuration` (`openid`), or `both` (default).
   * The other one gets 404, to exercise a client's fallback.
   */
  discovery?: 'both' | 'oauth' | 'openid';
  /**
   * The device authorization grant (RFC 8628): `device_authorization_endpoint` at `/device/auth`, the
   * user code pages at `/device` (drive them with `completeDeviceLogin`). Default false.
   */
  deviceFlow?: boolean;
  /**
   * DPoP (RFC 9449): `features.dPoP` on, `dpop_signing_alg_values_supported` in the metadata; a token request
   * with a proof gets a DPoP-bound token (`token_type: DPoP`, `cnf.jkt` in the JWT). With `requireNonce`, every
   * proof must carry the server's nonce (a first one is answered `use_dpop_nonce`). Default: off.
   */
  dpop?: { requireNonce?: boolean };
}

/** One HTTP request the authorization server received. */
export interface AuthorizationServerRequest {
  method: string;
  /** URL path without the query string, e.g. `/token`. */
  path: string;
  /** Response status. */
  status: number;
  /** oidc-provider's route name (`authorization`, `token`, `registration`, `revocation`, `interaction`, …), if a route matched. */
  route?: string;
  /** `grant_type` of a token request. */
  grantType?: string;
  /** `resource` (RFC 8707) of an authorization or token request; repeated values joined with `, `. */
  resource?: string;
  /** Whether the request carried a `DPoP` proof header. */
  dpop: boolean;
}

/** Claims of a JWT access token issued by {@link startAuthorizationServer}. */
export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  aud: string;
  exp: number;
  iat: number;
  client_id: string;
  /** Space-separated granted scopes (resource scopes only); absent when none. */
  scope?: string;
}

export interface AuthorizationServer {
  /** `http://127.0.0.1:PORT`, exactly as it appears in the metadata and in tokens. */
  issuer: string;
  port: number;
  /** Every request received so far, oldest first. */
  requests: AuthorizationServerRequest[];
  /** How many token requests arrived (any outcome), optionally only those of one `grant_type`. */
  tokenRequests(grantType?: string): number;
  /** Access tokens issued from now on live `seconds` (existing ones keep their expiry). */
  setAccessTokenTtl(seconds: number): void;
  /** Makes every refresh token issued so far unusable (`invalid_grant`), as a revocation by the user would. Returns how many. */
  revokeAllRefreshTokens(): number;
  /**
   * Verifies a JWT access token as a resource server would (signature, `iss`, `aud`,
   * `exp`, `typ: at+jwt`) and returns its claims; throws (a `jose` error) otherwise.
   */
  verifyAccessToken(token: string, audience: string): Promise<AccessTokenClaims>;
  /** Stops listening and drops all connections. Idempotent. */
  close(): Promise<void>;
}

interface StoredEntry {
  payload: AdapterPayload;
  /** Epoch milliseconds; Infinity when the model has no expiry. */
  expiresAt: number;
}

/**
 * oidc-provider's storage, one Map for all models (keys `<model>:<id>`), so the fixture
 * can reach into it (`revokeAllRefreshTokens`). Expired entries are dropped when read.
 */
class MapAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly entries: Map<string, StoredEntry>,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  private live(key: string): AdapterPayload | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > Date.now()) return entry.payload;
    this.entries.delete(key);
    return undefined;
  }

  private *own(): Generator<[string, AdapterPayload]> {
    for (const key of [...this.entries.keys()]) {
      if (!key.startsWith(`${this.model}:`)) continue;
      const payload = this.live(key);
      if (payload) yield [key, payload];
    }
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const expiresAt = expiresIn === undefined ? Infinity : Date.now() + expiresIn * 1000;
    this.entries.set(this.key(id), { payload, expiresAt });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.live(this.key(id));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    for (const [, payload] of this.own()) if (payload.uid === uid) return payload;
    return undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    for (const [, payload] of this.own()) if (payload.userCode === userCode) return payload;
    return undefined;
  }

  async consume(id: string): Promise<void> {
    const payload = this.live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [key, payload] of this.own()) if (payload.grantId === grantId) this.entries.delete(key);
  }
}

function positiveSeconds(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer number of seconds: ${value}`);
  return value;
}

/** An RS256 signing key for the provider (private JWK) and its public half for verifiers. */
function signingKey(): { privateJwk: JWK; publicJwk: JWK } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const meta = { kid: randomUUID(), alg: 'RS256', use: 'sig' };
  return {
    privateJwk: { ...(privateKey.export({ format: 'jwk' }) as JWK), ...meta },
    publicJwk: { ...(createPublicKey(privateKey).export({ format: 'jwk' }) as JWK), ...meta },
  };
}

function joined(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.join(', ');
  return undefined;
}

/** A resource indicator must be an absolute http(s) URL without a fragment (RFC 8707 §2). */
function validResource(indicator: string): boolean {
  const url = URL.parse(indicator);
  return url !== null && (url.protocol === 'http:' || url.protocol === 'https:') && url.hash === '';
}

/**
 * Starts an `oidc-provider` authorization server on 127.0.0.1 (issuer
 * `http://127.0.0.1:PORT`). See the package README for what it enables.
 */
export async function startAuthorizationServer(options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  let accessTokenTtl = positiveSeconds(options.accessTokenTtl ?? 3600, 'accessTokenTtl');
  const scopes = [...(options.scopes ?? DEFAULT_OAUTH_SCOPES)];
  const resourceScope = scopes.filter((scope) => !OPENID_SCOPES.has(scope)).join(' ');
  const { privateJwk, publicJwk } = signingKey();
  const verificationKeys = createLocalJWKSet({ keys: [publicJwk] });
  const entries = new Map<string, StoredEntry>();
  const requests: AuthorizationServerRequest[] = [];

  // Listen first, as the issuer must carry the real port; the provider takes requests once built.
  const httpServer: Server = createServer();
  const port = await listenOnLoopback(httpServer, options.port);
  const issuer = `http://127.0.0.1:${port}`;

  const configuration: Configuration = {
    adapter: (model: string) => new MapAdapter(model, entries),
    clients: (options.preRegisteredClients ?? []) as ClientMetadata[],
    jwks: { keys: [privateJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes,
    // OAuth 2.1: the code flow only (no implicit or hybrid response types).
    responseTypes: ['code'],
    // Any login is accepted; the account id is the login name.
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: options.registration ?? true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: options.deviceFlow ?? false },
      ...(options.dpop && {
        dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => options.dpop?.requireNonce ?? false },
      }),
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (!validResource(resourceIndicator)) throw new errors.InvalidTarget();
          return { audience: resourceIndicator, scope: resourceScope, accessTokenFormat: 'jwt' };
        },
        useGrantedResource: () => true,
      },
    },
    // A refresh token whenever the client may use the grant, with or without offline_access.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    // Tokens outlive the login session at this server (the headless browser never comes back).
    expiresWithSession: () => false,
    ttl: {
      AccessToken: () => accessTokenTtl,
      ClientCredentials: () => accessTokenTtl,
      AuthorizationCode: 60,
      DeviceCode: 600,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      Interaction: 3600,
    },
  };

  const provider = new Provider(issuer, configuration);
  const discovery = options.discovery ?? 'both';
  const hiddenDiscoveryPath =
    discovery === 'oauth' ? OPENID_DISCOVERY_PATH : discovery === 'openid' ? OAUTH_DISCOVERY_PATH : undefined;
  provider.use(async (ctx, next) => {
    const path = ctx.path;
    try {
      if (path === hiddenDiscoveryPath) {
        ctx.status = 404;
        ctx.body = { error: 'not_found', error_description: `${path} is switched off (discovery: '${discovery}')` };
      } else {
        await next();
      }
    } finally {
      // ctx.oidc exists only once a provider route matched; the body only for POSTs it parsed.
      const oidc = (ctx as { oidc?: { route?: string; body?: Record<string, unknown> } }).oidc;
      const params = ctx.method === 'POST' ? oidc?.body : ctx.query;
      const route = oidc?.route;
      const grantType = route === 'token' ? joined(params?.grant_type) : undefined;
      const resource = joined(params?.resource);
      requests.push({
        method: ctx.method,
        path,
        status: ctx.status,
        dpop: ctx.get('dpop') !== '',
        ...(route !== undefined ? { route } : {}),
        ...(grantType !== undefined ? { grantType } : {}),
        ...(resource !== undefined ? { resource } : {}),
      });
    }
  });
  httpServer.on('request', provider.callback());

  let closed: Promise<void> | undefined;
  return {
    issuer,
    port,
    requests,
    tokenRequests: (grantType) =>
      requests.filter((r) => r.route === 'token' && (grantType === undefined || r.grantType === grantType)).length,
    setAccessTokenTtl: (seconds) => {
      accessTokenTtl = positiveSeconds(seconds, 'seconds');
    },
    revokeAllRefreshTokens: () => {
      let count = 0;
      for (const key of [...entries.keys()]) {
        if (key.startsWith('RefreshToken:') && entries.delete(key)) count += 1;
      }
      return count;
    },
    verifyAccessToken: async (token, audience) => {
      const { payload } = await jwtVerify(token, verificationKeys, { issuer, audience, typ: 'at+jwt', algorithms: ['RS256'] });
      return payload as AccessTokenClaims;
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
      return closed;
    },
  };
}
