import * as oauth from 'oauth4webapi';
import { isGatewayError, type AuthChallenge } from '@agent-mcp-gateway/core';
import { endpointMissing, issuerMismatch, metadataInvalid, metadataNotFound, pkceUnsupported, resourceMismatch } from './errors.js';
import { EgressPolicy, ENDPOINT_KEYS, type FetchFn } from './egress.js';

export type { FetchFn };

/** What the protected resource (the MCP server) says about itself (RFC 9728). */
export interface ResourceInfo {
  /** The `resource` to send (RFC 8707): the metadata's, else the server's canonical URL. */
  readonly resource: string;
  readonly authorizationServer: string;
  readonly scopesSupported?: readonly string[];
  /** `dpop_bound_access_tokens_required` (RFC 9728 §2): the server takes DPoP-bound tokens only. */
  readonly dpopRequired?: boolean;
  /** `dpop_signing_alg_values_supported` (RFC 9728 §2): the proof algorithms the server accepts. */
  readonly dpopAlgs?: readonly string[];
  /** False when the server has no RFC 9728 metadata (2025-03-26 servers): the AS is the server's origin. */
  readonly fromMetadata: boolean;
}

const TIMEOUT_MS = 15_000;

/** A metadata GET through the egress policy: a refusal (coded) is thrown, any other failure is "no document here". */
async function get(fetchFn: FetchFn, url: URL): Promise<Response | undefined> {
  try {
    return await fetchFn(url, {
      headers: { accept: 'application/json', 'mcp-protocol-version': '2025-11-25' },
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'manual',
    });
  } catch (error) {
    if (isGatewayError(error)) throw error;
    return undefined;
  }
}

/**
 * RFC 9728 discovery in the MCP spec's order: the challenge's
 * `resource_metadata`, else the path-aware well-known URL, else the root one.
 * No metadata anywhere → the 2025-03-26 convention (the server's origin is the AS).
 */
export async function discoverResource(
  server: string,
  serverUrl: string,
  challenge: AuthChallenge | null,
  egress?: EgressPolicy,
): Promise<ResourceInfo> {
  const policy = egress ?? (await EgressPolicy.forServer(server, serverUrl));
  const base = policy.checkLiteral(serverUrl, 'server URL');
  const candidates: URL[] = [];
  // The challenge's URL is the remote server's word: checked like every other URL it names.
  if (challenge?.resourceMetadata) candidates.push(await policy.check(challenge.resourceMetadata, 'resource metadata URL'));
  const path = base.pathname.replace(/\/$/, '');
  if (path && path !== '/') candidates.push(new URL(`/.well-known/oauth-protected-resource${path}`, base));
  candidates.push(new URL('/.well-known/oauth-protected-resource', base));
  const fetchFn = policy.fetcher(() => 'resource metadata URL');

  for (const url of candidates) {
    await policy.check(url, 'resource metadata URL');
    const response = await get(fetchFn, url);
    if (!response?.ok) {
      await response?.body?.cancel().catch(() => undefined);
      continue;
    }
    const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    const servers = body?.authorization_servers;
    if (!body || !Array.isArray(servers) || typeof servers[0] !== 'string') continue;
    const resource = typeof body.resource === 'string' ? body.resource : canonical(base);
    if (!resourceCovers(resource, base)) {
      throw resourceMismatch(server, `the protected resource metadata names resource ${resource}, which does not cover ${canonical(base)}`);
    }
    const scopes = Array.isArray(body.scopes_supported) ? body.scopes_supported.filter((s): s is string => typeof s === 'string') : undefined;
    return {
      resource,
      authorizationServer: (await policy.check(servers[0], 'authorization server')).href,
      ...(scopes && { scopesSupported: scopes }),
      ...(body.dpop_bound_access_tokens_required === true && { dpopRequired: true }),
      ...(Array.isArray(body.dpop_signing_alg_values_supported) && { dpopAlgs: body.dpop_signing_alg_values_supported.filter((a): a is string => typeof a === 'string') }),
      fromMetadata: true,
    };
  }
  return { resource: canonical(base), authorizationServer: base.origin, fromMetadata: false };
}

/** `https://host/mcp/` and `https://host/mcp` are one resource; the fragment never counts. */
function canonical(url: URL): string {
  const u = new URL(url);
  u.hash = '';
  return u.href;
}

/** The metadata's resource must be the server's URL or a prefix of it on the same origin (RFC 9728 §3.3, MCP). */
function resourceCovers(resource: string, server: URL): boolean {
  let r: URL;
  try {
    r = new URL(resource);
  } catch {
    return false;
  }
  if (r.origin !== server.origin) return false;
  const rp = r.pathname.replace(/\/$/, '');
  const sp = server.pathname.replace(/\/$/, '');
  return sp === rp || sp.startsWith(`${rp}/`) || rp === '';
}

/**
 * RFC 8414 / OIDC discovery in the MCP spec's order (path-insertion variants
 * first for issuers with a path). The issuer in the document must equal the
 * one asked for (RFC 8414 §3.3) — a mismatch is refused, never tolerated.
 */
export async function discoverAuthorizationServer(
  server: string,
  issuer: string,
  legacy: boolean,
  egress?: EgressPolicy,
): Promise<oauth.AuthorizationServer> {
  const policy = egress ?? (await EgressPolicy.forServer(server, issuer));
  const issuerUrl = await policy.check(issuer, 'authorization server');
  const fetchFn = policy.fetcher(() => 'authorization server metadata URL');
  const path = issuerUrl.pathname.replace(/\/$/, '');
  const candidates =
    path && path !== '/'
      ? [
          `/.well-known/oauth-authorization-server${path}`,
          `/.well-known/openid-configuration${path}`,
          `${path}/.well-known/openid-configuration`,
        ]
      : ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'];
  const expected = new URL(issuer);
  let refusal: { why: string; issuer: boolean } | undefined;
  for (const candidate of candidates) {
    const response = await get(fetchFn, new URL(candidate, issuerUrl.origin));
    if (!response?.ok) {
      await response?.body?.cancel().catch(() => undefined);
      continue;
    }
    try {
      return await oauth.processDiscoveryResponse(expected, response);
    } catch (error) {
      refusal = { why: error instanceof Error ? error.message : String(error), issuer: namesAnotherIssuer(error) };
    }
  }
  if (refusal) throw (refusal.issuer ? issuerMismatch : metadataInvalid)(server, `authorization server metadata of ${issuer} refused: ${refusal.why}`);
  if (legacy) {
    // 2025-03-26 servers without metadata: the default endpoints on the server's origin.
    const origin = issuerUrl.origin;
    return {
      issuer: origin,
      authorization_endpoint: `${origin}/authorize`,
      token_endpoint: `${origin}/token`,
      registration_endpoint: `${origin}/register`,
      code_challenge_methods_supported: ['S256'],
    };
  }
  throw metadataNotFound(server, `no authorization server metadata found for ${issuer}`);
}

/** oauth4webapi's refusal of a metadata document whose `issuer` is not the one asked for. */
function namesAnotherIssuer(error: unknown): boolean {
  const e = error as { code?: unknown; cause?: { attribute?: unknown } } | undefined;
  return e?.code === oauth.JSON_ATTRIBUTE_COMPARISON && e.cause?.attribute === 'issuer';
}

/** PKCE with S256 is mandatory: an AS that does not advertise it is refused. */
export function requireS256(server: string, as: oauth.AuthorizationServer): void {
  if (!as.code_challenge_methods_supported?.includes('S256')) {
    throw pkceUnsupported(server, `authorization server ${as.issuer} does not support PKCE with S256`);
  }
}

/**
 * Every endpoint the client will call or open must pass the egress policy (public https, or local
 * addresses when the server itself is local), checked as soon as the metadata is read: a refused
 * endpoint fails the login before any request goes anywhere.
 */
export async function requireSecureEndpoints(server: string, as: oauth.AuthorizationServer, egress: EgressPolicy): Promise<void> {
  for (const key of ENDPOINT_KEYS) {
    const value: unknown = as[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw metadataInvalid(server, `${key.replace(/_/g, ' ')} of ${as.issuer} is not a URL`);
    await egress.check(value, key.replace(/_/g, ' '));
  }
}

/**
 * The endpoints a grant cannot do without (the token endpoint for every grant, the authorization
 * endpoint for a browser login) must be in the metadata: else AUTH_FAILED/`endpoint_missing`
 * before any request is made.
 */
export function requireEndpoints(server: string, as: oauth.AuthorizationServer, keys: readonly ('token_endpoint' | 'authorization_endpoint')[]): void {
  for (const key of keys) {
    if (typeof as[key] !== 'string') throw endpointMissing(server, `authorization server ${as.issuer} names no ${key.replace(/_/g, ' ')}`);
  }
}
