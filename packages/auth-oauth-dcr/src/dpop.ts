/**
 * DPoP (RFC 9449, SEP-1932): sender-constrained tokens. One key pair signs the proofs at the token
 * endpoint (openid-client's DPoP handle, which also retries a `use_dpop_nonce` answer once) and at the
 * MCP server (the SDK's `DpopSession`: a fresh proof per request, bound to its method, URL, the access
 * token (`ath`) and the server's latest nonce).
 *
 * When: the MCP server asks for it — a `DPoP` challenge, or `dpop_bound_access_tokens_required` /
 * `dpop_signing_alg_values_supported` in its protected resource metadata — with an algorithm that both it
 * and the authorization server (`dpop_signing_alg_values_supported`) accept, ES256 first. An authorization
 * server that merely offers DPoP (oidc-provider does by default) is not enough: a DPoP-bound token must be
 * presented with the DPoP scheme, and a resource server that knows only Bearer refuses that. The token is
 * presented as `DPoP` only when the token endpoint answered `token_type: "DPoP"`; a Bearer answer stays Bearer.
 *
 * The key pair lives with the tokens it binds: its private JWK is stored in the token entry
 * (`tokens.dpop_key`), under the same protection as the refresh token (a 0600 file, or the OS keychain),
 * because `auth login` and `serve` are separate processes and a DPoP-bound refresh token is worthless
 * without its key. It is registered with the redactor the moment it is made or loaded, and dropped with
 * the tokens (logout, a refused refresh).
 */
import { createHash, type webcrypto } from 'node:crypto';
import * as client from 'openid-client';
import { DpopSession, type DpopAlg, type DpopKeyPair } from '@modelcontextprotocol/client';
import { errors, type AuthChallenge, type AuthRequest, type AuthResponse, type StoredTokens } from '@agent-mcp-gateway/core';
import type { StrategyContext } from './context.js';
import type { Session } from './session.js';

type JsonWebKey = webcrypto.JsonWebKey;
type CryptoKeyPair = client.CryptoKeyPair;

/** The algorithms we sign proofs with, in order of preference (asymmetric only, RFC 9449 §11.6). */
const ALGS: readonly DpopAlg[] = ['ES256', 'EdDSA', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'];

/** A DPoP key as stored with the tokens it binds. `jwk` holds the private key: a credential. */
export interface StoredDpopKey {
  readonly alg: string;
  readonly jwk: JsonWebKey;
}

/** Tokens as this plugin stores them: with the DPoP key they are bound to, when the token type is DPoP. */
export type DpopTokens = StoredTokens & { readonly dpop_key?: StoredDpopKey };

interface Key {
  readonly stored: StoredDpopKey;
  readonly pair: CryptoKeyPair;
  readonly session: DpopSession;
  /** openid-client's handle for token requests (it keeps the authorization server's nonce). */
  handle?: client.DPoPHandle;
}

/** True when the token endpoint issued a DPoP-bound token (RFC 9449 §5: `token_type` is `DPoP`, case-insensitive). */
export function isDpopToken(tokens: StoredTokens): boolean {
  return tokens.token_type?.toLowerCase() === 'dpop';
}

/** One server's DPoP state: its key pair(s), the resource server's nonces, whether the server asked for DPoP. */
export class DpopBinding {
  private own: Promise<Key> | undefined;
  private ownKey: Key | undefined;
  /** Keys of stored tokens (another process's login), by thumbprint. */
  private readonly loaded = new Map<string, Promise<Key>>();
  /** The latest nonce each resource origin supplied (RFC 9449 §9). */
  private readonly nonces = new Map<string, string>();
  private required = false;
  private challengeAlgs: readonly string[] | undefined;

  constructor(private readonly ctx: Pick<StrategyContext, 'name' | 'logger' | 'options'>) {}

  /** A challenge from the MCP server: the `DPoP` scheme means it wants DPoP-bound tokens (its `algs`, RFC 9449 §7.1). */
  noteChallenge(challenge: AuthChallenge): void {
    if (challenge.scheme.toLowerCase() !== 'dpop') return;
    this.required = true;
    if (challenge.params.algs) this.challengeAlgs = challenge.params.algs.split(' ').filter(Boolean);
  }

  /** The algorithm for token requests; undefined: no DPoP (the MCP server did not ask for it). */
  algFor(session: Session): DpopAlg | undefined {
    const { dpopRequired, dpopAlgs } = session.info;
    if (!this.required && !dpopRequired && !dpopAlgs?.length) return undefined;
    const accepted = [session.as.dpop_signing_alg_values_supported, dpopAlgs, this.challengeAlgs].filter((list) => list !== undefined && list.length > 0);
    return ALGS.find((alg) => accepted.every((list) => list?.includes(alg)));
  }

  /**
   * The `DPoP` option of a token request (openid-client), or none when DPoP is not used with this
   * authorization server. `bound`: the tokens being refreshed — their refresh token is bound to their key.
   */
  async options(session: Session, config: client.Configuration, bound?: StoredTokens): Promise<client.DPoPOptions> {
    const stored = (bound as DpopTokens | undefined)?.dpop_key;
    const alg = this.algFor(session);
    if (!stored && !alg) return {};
    const key = stored ? await this.load(stored) : await this.ownFor(alg as DpopAlg);
    key.handle ??= client.getDPoPHandle(config, key.pair);
    return { DPoP: key.handle };
  }

  /**
   * New tokens, with the key they are bound to when the token endpoint issued `token_type: DPoP`:
   * `previous`'s key for a refresh (its refresh token was bound to it), else this process's key.
   */
  bind(tokens: StoredTokens, previous?: StoredTokens): DpopTokens {
    if (!isDpopToken(tokens)) return tokens;
    const key = (previous as DpopTokens | undefined)?.dpop_key ?? this.ownKey?.stored;
    return key ? { ...tokens, dpop_key: key } : tokens;
  }

  /** The headers that present `tokens` on `request`: `Authorization: DPoP` plus a fresh proof, or Bearer. */
  async headers(tokens: StoredTokens, request: AuthRequest): Promise<Record<string, string>> {
    if (!isDpopToken(tokens)) return { Authorization: `Bearer ${tokens.access_token}` };
    const stored = (tokens as DpopTokens).dpop_key;
    // A DPoP token without its key cannot be presented (a store edited by hand): fail closed.
    if (!stored) throw errors.authFailed(this.ctx.name, 'the stored DPoP-bound access token has no DPoP key; log in again');
    const key = await this.load(stored);
    const origin = new URL(request.url).origin;
    const proof = await key.session.buildProof({
      htm: request.method,
      htu: request.url,
      accessToken: tokens.access_token,
      ...(this.nonces.has(origin) && { nonce: this.nonces.get(origin) as string }),
    });
    return { Authorization: `DPoP ${tokens.access_token}`, DPoP: proof };
  }

  /** Every answer of the MCP server: a `DPoP-Nonce` header is remembered for its origin (RFC 9449 §9, on any response). */
  observe(response: AuthResponse, request: AuthRequest): void {
    const nonce = response.headers.get('dpop-nonce');
    if (!nonce) return;
    this.nonces.set(new URL(request.url).origin, nonce);
  }

  /**
   * A `use_dpop_nonce` challenge, once the server has supplied a nonce (`observe` saw it on this answer or
   * an earlier one): retry with it. The transport retries a request once at most, so a server that keeps
   * asking is not asked forever; concurrent requests that met the same challenge each retry.
   */
  retryWithNonce(challenge: AuthChallenge): boolean {
    return challenge.status === 401 && challenge.error === 'use_dpop_nonce' && this.nonces.size > 0;
  }

  /** This process's key for new grants, made on first need with the authorization server's algorithm. */
  private ownFor(alg: DpopAlg): Promise<Key> {
    this.own ??= (async () => {
      const pair = await client.randomDPoPKeyPair(alg, { extractable: true });
      const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
      const key = await this.keyOf({ alg, jwk }, pair);
      this.ctx.logger.debug(`DPoP key (${alg}) made for ${this.ctx.name}`);
      return key;
    })();
    this.own.then(
      (key) => (this.ownKey = key),
      () => (this.own = undefined),
    );
    return this.own;
  }

  /** A stored key, imported once. */
  private load(stored: StoredDpopKey): Promise<Key> {
    if (this.ownKey && sameKey(this.ownKey.stored, stored)) return Promise.resolve(this.ownKey);
    const id = thumbprint(stored.jwk);
    let key = this.loaded.get(id);
    if (!key) {
      key = (async () => {
        const algorithm = importAlgorithm(stored.alg, stored.jwk);
        const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, key_ops: _ops, ...pub } = stored.jwk;
        const pair = {
          privateKey: await crypto.subtle.importKey('jwk', { ...stored.jwk, key_ops: ['sign'] }, algorithm, false, ['sign']),
          publicKey: await crypto.subtle.importKey('jwk', { ...pub, key_ops: ['verify'] }, algorithm, true, ['verify']),
        };
        return this.keyOf(stored, pair);
      })();
      this.loaded.set(id, key);
      key.catch(() => this.loaded.delete(id));
    }
    return key;
  }

  private async keyOf(stored: StoredDpopKey, pair: CryptoKeyPair): Promise<Key> {
    // The private members are credentials: blanked from every log line, error and status.
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
      const value = stored.jwk[member];
      if (typeof value === 'string' && value !== '') this.ctx.options.addSecret?.(value);
    }
    const publicJwk = publicMembers(stored.jwk);
    const keyPair: DpopKeyPair = {
      privateKey: pair.privateKey,
      publicKey: pair.publicKey,
      publicJwk: publicJwk as DpopKeyPair['publicJwk'],
      thumbprint: thumbprint(stored.jwk),
      alg: stored.alg as DpopAlg,
    };
    return { stored: { alg: stored.alg, jwk: stored.jwk }, pair, session: await DpopSession.create({ keyPair }) };
  }
}

/** The public members of a JWK, as RFC 7638 orders the required ones (the thumbprint input). */
function publicMembers(jwk: JsonWebKey): Record<string, string> {
  const names = jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x'];
  return Object.fromEntries(names.map((name) => [name, String((jwk as Record<string, unknown>)[name])]));
}

/** RFC 7638 JWK SHA-256 thumbprint (base64url): the `cnf.jkt` a DPoP-bound token carries. */
function thumbprint(jwk: JsonWebKey): string {
  return createHash('sha256').update(JSON.stringify(publicMembers(jwk))).digest('base64url');
}

function sameKey(a: StoredDpopKey, b: StoredDpopKey): boolean {
  return a.alg === b.alg && thumbprint(a.jwk) === thumbprint(b.jwk);
}

/** The WebCrypto algorithm of a JWS `alg` (and its JWK), for importing a stored key. */
function importAlgorithm(alg: string, jwk: JsonWebKey): webcrypto.AlgorithmIdentifier | webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams {
  const hash = `SHA-${alg.slice(2)}`;
  if (alg.startsWith('ES')) return { name: 'ECDSA', namedCurve: jwk.crv ?? 'P-256' };
  if (alg.startsWith('PS')) return { name: 'RSA-PSS', hash };
  if (alg.startsWith('RS')) return { name: 'RSASSA-PKCS1-v1_5', hash };
  if (alg === 'EdDSA') return { name: jwk.crv ?? 'Ed25519' };
  throw new TypeError(`unsupported DPoP algorithm ${alg}`);
}
