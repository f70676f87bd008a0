/**
 * A DPoP-protected MCP server for tests (RFC 9449 §7, SEP-1932): the HTTP demo server of ./http-server.ts
 * taking only DPoP-bound JWT access tokens of an authorization server (./oauth-server.ts with `dpop`),
 * presented as `Authorization: DPoP <token>` with a proof checked as RFC 9449 §4.3 says — one `DPoP` header,
 * `typ` `dpop+jwt`, an asymmetric `alg`, a public `jwk`, a valid signature, `htm`/`htu` of this request, a
 * recent `iat`, a `jti` never seen before, `ath` of the token — and the token's `cnf.jkt` the proof key's
 * thumbprint. With `nonce`, it answers the first valid proof with a `use_dpop_nonce` challenge (§9) and
 * then wants that nonce in every proof.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { startHttpMcpServer, type AuthorizeRefusal, type AuthorizeRequest, type HttpMcpServer, type HttpMcpServerOptions } from './http-server.js';
import type { AuthorizationServer } from './oauth-server.js';

const ALGS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

export interface DpopMcpServerOptions extends Omit<HttpMcpServerOptions, 'bearer' | 'authorize' | 'resourceMetadataUrl' | 'protectedResource'> {
  /** The issuer named in the metadata, and the verifier of its access tokens. */
  authorizationServer: Pick<AuthorizationServer, 'issuer' | 'verifyAccessToken'>;
  /** Answer the first valid proof with `use_dpop_nonce` and a nonce, then want it in every proof. Default false. */
  nonce?: boolean;
  /** Say `dpop_bound_access_tokens_required: true` in the protected resource metadata. Default true. */
  requiredInMetadata?: boolean;
}

/** Why a request was refused (each refusal counted). */
export type DpopRefusal = 'no_token' | 'bearer' | 'proof_missing' | 'proof_invalid' | 'replay' | 'token_invalid' | 'binding';

export interface DpopMcpServer extends HttpMcpServer {
  resourceMetadataUrl: string;
  /** Requests let through. */
  readonly accepted: number;
  /** Refusals by reason. */
  readonly refused: Readonly<Partial<Record<DpopRefusal, number>>>;
  /** `use_dpop_nonce` challenges sent. */
  readonly nonceChallenges: number;
  /** The `Authorization` and `DPoP` headers of the last request let through (to replay them). */
  readonly lastAccepted: { authorization: string; dpop: string } | undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Origin and path, as `htu` is compared (RFC 9449 §4.3: without query and fragment). */
function htuOf(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

export async function startDpopMcpServer(options: DpopMcpServerOptions): Promise<DpopMcpServer> {
  const { authorizationServer, nonce: wantNonce = false, requiredInMetadata = true, ...httpOptions } = options;
  const refused: Partial<Record<DpopRefusal, number>> = {};
  const seen = new Set<string>();
  let accepted = 0;
  let nonceChallenges = 0;
  let lastAccepted: DpopMcpServer['lastAccepted'];
  let nonce: string | undefined;
  let metadataUrl = '';

  const refuse = (why: DpopRefusal, error?: string, extra: Record<string, string> = {}): AuthorizeRefusal => {
    if (why !== 'no_token') refused[why] = (refused[why] ?? 0) + 1;
    let challenge = `DPoP algs="${ALGS.join(' ')}"`;
    if (error) challenge += `, error="${error}"`;
    challenge += `, resource_metadata="${metadataUrl}"`;
    return { status: 401, headers: { 'WWW-Authenticate': challenge, ...extra }, body: { error: error ?? 'unauthorized' } };
  };

  const authorize = async (req: IncomingMessage, request: AuthorizeRequest): Promise<true | AuthorizeRefusal> => {
    const authorization = header(req, 'authorization') ?? '';
    const [scheme = '', token = ''] = authorization.split(/\s+/, 2);
    if (!authorization) return refuse('no_token');
    if (scheme.toLowerCase() !== 'dpop') return refuse('bearer', 'invalid_token');
    const proof = header(req, 'dpop');
    if (!proof || proof.includes(',')) return refuse('proof_missing', 'invalid_dpop_proof');
    let jwk: JWK;
    let claims: Record<string, unknown>;
    try {
      const protectedHeader = decodeProtectedHeader(proof);
      if (protectedHeader.typ !== 'dpop+jwt' || !ALGS.includes(protectedHeader.alg ?? '')) throw new Error('typ or alg');
      jwk = protectedHeader.jwk as JWK;
      if (!jwk || 'd' in jwk) throw new Error('jwk');
      ({ payload: claims } = await jwtVerify(proof, await importJWK(jwk, protectedHeader.alg), { algorithms: ALGS }));
      const ath = createHash('sha256').update(token, 'ascii').digest('base64url');
      const fresh = typeof claims.iat === 'number' && Math.abs(Date.now() / 1000 - claims.iat) <= 300;
      if (typeof claims.jti !== 'string' || claims.htm !== request.method || claims.htu !== htuOf(request.resource) || !fresh || claims.ath !== ath) {
        throw new Error('claims');
      }
    } catch {
      return refuse('proof_invalid', 'invalid_dpop_proof');
    }
    if (seen.has(claims.jti as string)) return refuse('replay', 'invalid_dpop_proof');
    seen.add(claims.jti as string);
    let jkt: unknown;
    try {
      jkt = ((await authorizationServer.verifyAccessToken(token, request.resource)) as { cnf?: { jkt?: unknown } }).cnf?.jkt;
    } catch {
      return refuse('token_invalid', 'invalid_token');
    }
    if (jkt !== (await calculateJwkThumbprint(jwk, 'sha256'))) return refuse('binding', 'invalid_token');
    if (wantNonce && (nonce === undefined || claims.nonce !== nonce)) {
      nonce ??= randomBytes(16).toString('base64url');
      nonceChallenges += 1;
      return refuse('no_token', 'use_dpop_nonce', { 'DPoP-Nonce': nonce });
    }
    accepted += 1;
    lastAccepted = { authorization, dpop: proof };
    return true;
  };

  const server = await startHttpMcpServer({
    ...httpOptions,
    authorize,
    protectedResource: {
      scopesSupported: ['mcp:read', 'mcp:write'],
      authorizationServers: [authorizationServer.issuer],
      ...(requiredInMetadata && { extra: { dpop_bound_access_tokens_required: true } }),
    },
  });
  if (server.resourceMetadataUrl === undefined) throw new Error('startHttpMcpServer did not serve protected resource metadata');
  metadataUrl = server.resourceMetadataUrl;
  return {
    ...server,
    resourceMetadataUrl: metadataUrl,
    get accepted() {
      return accepted;
    },
    refused,
    get nonceChallenges() {
      return nonceChallenges;
    },
    get lastAccepted() {
      return lastAccepted;
    },
  };
}
