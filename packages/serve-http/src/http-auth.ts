/**
 * Who is calling the gateway over HTTP: per-agent API keys (hashed in the rules file) and JWT
 * access tokens of an OAuth authorization server, with the gateway as an OAuth protected
 * resource (RFC 9728). A credential names exactly one agent; the meta-tools get that agent
 * through the request's `AuthInfo` (`extra.agent`) and refuse an `agent_id` that disagrees.
 *
 * The caller's credential ends here: `AuthInfo.token` holds a fingerprint, never the credential,
 * and nothing of it reaches a downstream server (their credentials are the gateway's own).
 */
import { createHash } from 'node:crypto';
import type { AuthInfo } from '@modelcontextprotocol/server';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { isSecureOrLoopbackUrl, type Logger, type RulesFile } from '@agent-mcp-gateway/core';
import type { HttpAuthSettings } from './settings.js';

/** The form API keys are written in the rules file: `sha256:` + hex SHA-256 of the key's UTF-8 bytes. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/** True when some agent of the rules has an API key. */
export function rulesHaveApiKeys(rules: RulesFile | undefined): boolean {
  return Object.values(rules?.agents ?? {}).some((agent) => (agent.api_keys?.length ?? 0) > 0);
}

/** A request's credential, judged. */
export type AuthVerdict =
  | { readonly ok: true; readonly agent: string; readonly auth: AuthInfo }
  /** No credential is configured at all, and the listener may serve without one. */
  | { readonly ok: true; readonly agent: undefined; readonly auth: undefined }
  | {
      readonly ok: false;
      readonly status: 401 | 403 | 503;
      /** OAuth error code for the challenge and body; absent when no credential was sent. */
      readonly error?: 'invalid_token' | 'insufficient_scope' | 'invalid_request' | 'temporarily_unavailable';
      readonly description: string;
    };

export interface CallerAuthOptions {
  /** The current rules (they may change on hot reload). */
  readonly rules: () => RulesFile | undefined;
  /** JWT access tokens, when configured. */
  readonly jwt?: HttpAuthSettings;
  /** The gateway's resource URL (`…/mcp`): the default audience and RFC 9728 `resource`. */
  readonly resourceUrl: string;
  /** Where the RFC 9728 metadata is served (named in challenges). */
  readonly resourceMetadataUrl: string;
  /** Serve without credentials when none is configured (loopback, or `--allow-unauthenticated`). */
  readonly openWhenUnconfigured: boolean;
  readonly logger: Logger;
  readonly fetch?: typeof fetch;
}

/** Asymmetric JWS algorithms only: a JWKS holds public keys, and `none` / HMAC have no place here. */
const JWS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const DISCOVERY_TIMEOUT_MS = 10_000;

/** The credential checks of one HTTP listener. */
export class CallerAuth {
  private keyIndex: { rules: RulesFile | undefined; byHash: Map<string, string> } | undefined;
  private jwks: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  /**
   * Set once a credential has been configured (at start, or by a reload): from then on the
   * listener never serves without one — a reload that removes the last key gets 503, not an
   * open door, even on loopback.
   */
  private everConfigured = false;

  constructor(private readonly options: CallerAuthOptions) {
    this.everConfigured = this.configured();
  }

  /** True when a request must carry a credential (API keys in the rules, or JWT settings). */
  configured(): boolean {
    return this.options.jwt !== undefined || this.apiKeys().size > 0;
  }

  /** RFC 9728 metadata for the gateway, when it accepts OAuth access tokens. */
  metadata(): Record<string, unknown> | undefined {
    const jwt = this.options.jwt;
    if (!jwt) return undefined;
    return {
      resource: this.options.resourceUrl,
      authorization_servers: [jwt.issuer],
      bearer_methods_supported: ['header'],
      ...(jwt.scopes?.length && { scopes_supported: jwt.scopes }),
      resource_name: 'agent-mcp-gateway',
    };
  }

  /**
   * The `WWW-Authenticate` value of a refusal: a Bearer challenge naming the RFC 9728 metadata
   * when OAuth tokens are accepted (so MCP clients can find the authorization server), else a realm.
   */
  challenge(verdict?: { error?: string; description?: string }): string {
    const params: string[] = [];
    if (this.options.jwt) params.push(`resource_metadata="${this.options.resourceMetadataUrl}"`);
    else params.push('realm="agent-mcp-gateway"');
    const scopes = this.options.jwt?.scopes;
    if (scopes?.length) params.push(`scope="${scopes.join(' ')}"`);
    if (verdict?.error) params.push(`error="${verdict.error}"`);
    if (verdict?.description) params.push(`error_description="${verdict.description.replace(/["\\\r\n]/g, ' ')}"`);
    return `Bearer ${params.join(', ')}`;
  }

  /** Judges a request's `Authorization` header. */
  async authenticate(authorization: string | undefined): Promise<AuthVerdict> {
    if (!this.configured()) {
      if (this.options.openWhenUnconfigured && !this.everConfigured) return { ok: true, agent: undefined, auth: undefined };
      // Keys removed by a reload (from a listener that had credentials, or one not on loopback): refuse rather than open up.
      return { ok: false, status: 503, error: 'temporarily_unavailable', description: 'no agent credential is configured on this listener' };
    }
    this.everConfigured = true;
    if (authorization === undefined || authorization.trim() === '') {
      return { ok: false, status: 401, description: 'this gateway needs a credential: Authorization: Bearer <API key or access token>' };
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!match?.[1]) return { ok: false, status: 401, error: 'invalid_request', description: 'expected Authorization: Bearer <credential>' };
    const token = match[1];

    const hash = hashApiKey(token);
    const keyAgent = this.apiKeys().get(hash);
    if (keyAgent !== undefined) {
      return {
        ok: true,
        agent: keyAgent,
        auth: { token: fingerprint(hash), clientId: keyAgent, scopes: [], extra: { agent: keyAgent, credential: 'api_key' } },
      };
    }
    if (!this.options.jwt || token.split('.').length !== 3) {
      return { ok: false, status: 401, error: 'invalid_token', description: 'unknown API key' };
    }
    return this.verifyJwt(token, this.options.jwt, hash);
  }

  private async verifyJwt(token: string, jwt: HttpAuthSettings, hash: string): Promise<AuthVerdict> {
    let keys: ReturnType<typeof createRemoteJWKSet>;
    try {
      keys = await this.keySet(jwt);
    } catch (error) {
      this.options.logger.warn(`Cannot verify access tokens: ${error instanceof Error ? error.message : String(error)}`);
      return { ok: false, status: 503, error: 'temporarily_unavailable', description: 'the authorization server cannot be reached to verify the token' };
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: jwt.issuer,
        audience: jwt.audience ?? this.options.resourceUrl,
        typ: 'at+jwt', // RFC 9068: an ID token or another JWT is not an access token
        algorithms: JWS_ALGORITHMS,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JOSENotSupported) {
        this.options.logger.warn(`Cannot verify an access token: ${error.message}`);
      }
      return { ok: false, status: 401, error: 'invalid_token', description: tokenProblem(error) };
    }
    const agent = payload[jwt.agentClaim];
    if (typeof agent !== 'string' || agent === '') {
      return { ok: false, status: 401, error: 'invalid_token', description: `the token has no "${jwt.agentClaim}" claim naming the agent` };
    }
    const scopes = scopesOf(payload);
    const missing = (jwt.scopes ?? []).filter((scope) => !scopes.includes(scope));
    if (missing.length > 0) {
      return { ok: false, status: 403, error: 'insufficient_scope', description: `the token lacks the scope ${missing.join(' ')}` };
    }
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : typeof payload.azp === 'string' ? payload.azp : agent;
    return {
      ok: true,
      agent,
      auth: {
        token: fingerprint(hash),
        clientId,
        scopes,
        ...(payload.exp !== undefined && { expiresAt: payload.exp }),
        resource: new URL(this.options.resourceUrl),
        extra: { agent, credential: 'jwt' },
      },
    };
  }

  /** Hash → agent, rebuilt when the rules change (hot reload). */
  private apiKeys(): Map<string, string> {
    const rules = this.options.rules();
    if (this.keyIndex && this.keyIndex.rules === rules) return this.keyIndex.byHash;
    const byHash = new Map<string, string>();
    for (const [agent, agentRules] of Object.entries(rules?.agents ?? {})) {
      for (const hash of agentRules.api_keys ?? []) byHash.set(hash, agent);
    }
    this.keyIndex = { rules, byHash };
    return byHash;
  }

  /** The issuer's JWKS (discovered once; a failed discovery is tried again by the next request). */
  private keySet(jwt: HttpAuthSettings): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (!this.jwks) {
      const pending = (async () => {
        const uri = jwt.jwksUri ?? (await discoverJwksUri(jwt.issuer, this.options.fetch ?? fetch));
        return createRemoteJWKSet(new URL(uri));
      })();
      pending.catch(() => {
        if (this.jwks === pending) this.jwks = undefined;
      });
      this.jwks = pending;
    }
    return this.jwks;
  }
}

/** A stand-in for the credential in `AuthInfo.token`: enough to tell two apart in a debugger, useless to replay. */
function fingerprint(hash: string): string {
  return `${hash.slice(0, 'sha256:'.length + 12)}…`;
}

function scopesOf(payload: JWTPayload): string[] {
  if (typeof payload.scope === 'string') return payload.scope.split(' ').filter(Boolean);
  if (Array.isArray(payload.scp)) return payload.scp.filter((s): s is string => typeof s === 'string');
  return [];
}

/** What was wrong with a token, for `error_description` (no token content). */
function tokenProblem(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'the token is not meant for this gateway (audience)';
    if (error.claim === 'iss') return 'the token was issued by another authorization server';
    if (error.claim === 'typ') return 'not an access token (typ must be at+jwt)';
    return `the token's "${error.claim}" claim is not acceptable`;
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) return 'the token signature does not verify';
  return 'the token is not valid';
}

function secureUrl(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what} is missing`);
  const url = new URL(value);
  if (!isSecureOrLoopbackUrl(url)) throw new Error(`${what} ${url.origin} must use https`);
  return value;
}

/**
 * The issuer's `jwks_uri`: RFC 8414 metadata (path-insertion form), then OpenID Connect
 * discovery (both forms). The document's `issuer` must be the configured one (RFC 8414 §3.3).
 */
export async function discoverJwksUri(issuer: string, fetchImpl: typeof fetch = fetch): Promise<string> {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const candidates = [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    ...(path ? [`${url.origin}${path}/.well-known/openid-configuration`] : []),
  ];
  const problems: string[] = [];
  for (const candidate of candidates) {
    let response: Response;
    try {
      response = await fetchImpl(candidate, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
    } catch (error) {
      problems.push(`${candidate}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      problems.push(`${candidate}: HTTP ${response.status}`);
      continue;
    }
    const document = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (document?.issuer !== issuer) {
      problems.push(`${candidate}: issuer ${JSON.stringify(document?.issuer)} is not ${issuer}`);
      continue;
    }
    return secureUrl(document.jwks_uri, `jwks_uri of ${issuer}`);
  }
  throw new Error(`no authorization server metadata with a jwks_uri for ${issuer} (${problems.join('; ')})`);
}
