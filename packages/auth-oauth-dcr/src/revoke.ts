import type { ServerSpec, StoredAuth } from '@agent-mcp-gateway/core';
import type { FetchFn } from './discovery.js';
import type { EgressPolicy, LookupFn } from './egress.js';
import { oauthErrorCode } from './tokens.js';
import { authOf } from './config.js';

type TokenKind = 'refresh_token' | 'access_token';

export interface RevokeTokensOptions {
  /** The server's name, for messages. */
  readonly name: string;
  /** The MCP server's URL: discovery starts there (RFC 9728, then RFC 8414). */
  readonly url: string;
  /** What the store holds for the server: its tokens and client registration. */
  readonly stored: StoredAuth;
  /** The server entry's `auth`: a configured (pre-registered) client identifies itself with its own id and secret. */
  readonly auth?: ServerSpec['auth'];
  readonly fetch?: FetchFn;
  /** Hostname resolution for the egress policy (tests); else the system resolver. */
  readonly lookup?: LookupFn;
}

export interface RevokeTokensResult {
  /** The tokens the authorization server accepted to revoke, refresh token first. */
  readonly revoked: readonly TokenKind[];
  /** Tokens of a kind the server cannot revoke (`unsupported_token_type`), e.g. JWT access tokens: they live until they expire. */
  readonly unsupported?: readonly TokenKind[];
  /** The issuer asked, when one was. */
  readonly issuer?: string;
  /** Why nothing was revoked: no tokens, no revocation endpoint, no client identity. */
  readonly skipped?: string;
}

/**
 * Revokes a server's stored tokens at its authorization server (RFC 7009):
 * the refresh token first (most servers then drop the grant's access tokens
 * too), then the access token. Skipped, with the reason, when the server
 * offers no `revocation_endpoint` or no client identity is known. Throws a
 * coded AUTH_FAILED when the authorization server cannot be found or refuses.
 * Deleting the stored entry is the caller's part.
 */
export async function revokeTokens(options: RevokeTokensOptions): Promise<RevokeTokensResult> {
  if (!options.stored.tokens) return { revoked: [], skipped: 'no tokens stored' };
  // Loaded on demand, like the strategy: the plugin alone does not load openid-client.
  const { EgressPolicy } = await import('./egress.js');
  // Where requests may go is decided by the configured server's URL, never by what its metadata says (SSRF).
  const egress = await EgressPolicy.forServer(options.name, options.url, { ...(options.fetch && { fetch: options.fetch }), ...(options.lookup && { lookup: options.lookup }) });
  try {
    return await revokeThrough(egress, options);
  } finally {
    await egress.close();
  }
}

async function revokeThrough(egress: EgressPolicy, options: RevokeTokensOptions): Promise<RevokeTokensResult> {
  const { name, stored } = options;
  const tokens = stored.tokens as NonNullable<StoredAuth['tokens']>;
  const [client, discovery, { clientConfiguration }, { endpointLabeler }, { authFailure, describeFailure }] = await Promise.all([
    import('openid-client'),
    import('./discovery.js'),
    import('./client-auth.js'),
    import('./egress.js'),
    import('./failures.js'),
  ]);
  const info = await discovery.discoverResource(name, options.url, null, egress);
  const as = await discovery.discoverAuthorizationServer(name, info.authorizationServer, !info.fromMetadata, egress);
  await discovery.requireSecureEndpoints(name, as, egress);
  const issuer = as.issuer;
  if (typeof as.revocation_endpoint !== 'string') {
    return { revoked: [], issuer, skipped: `${issuer} offers no token revocation (RFC 7009)` };
  }
  const registered = stored.client?.issuer === issuer ? stored.client : undefined;
  const config = clientConfiguration(as, authOf(options), registered, {
    insecure: egress.allowLocal,
    fetch: egress.fetcher(endpointLabeler(as)),
  });
  if (!config) return { revoked: [], issuer, skipped: `no client registration with ${issuer} is stored` };

  const revoked: TokenKind[] = [];
  const unsupported: TokenKind[] = [];
  const pairs = [
    ['refresh_token', tokens.refresh_token],
    ['access_token', tokens.access_token],
  ] as const;
  for (const [hint, token] of pairs) {
    if (!token) continue;
    try {
      await client.tokenRevocation(config, token, { token_type_hint: hint });
      revoked.push(hint);
    } catch (error) {
      const code = oauthErrorCode(error);
      // RFC 7009 §2.2.1: the server cannot revoke this kind of token (e.g. self-contained JWT access tokens).
      if (code === 'unsupported_token_type') {
        unsupported.push(hint);
        continue;
      }
      // A refusal by the egress policy arrives wrapped by openid-client: its own message says why, its reason stays.
      throw authFailure(name, `${issuer} refused to revoke the ${hint.replace('_', ' ')}: ${describeFailure(error)}`, error);
    }
  }
  return { revoked, unsupported, issuer };
}
