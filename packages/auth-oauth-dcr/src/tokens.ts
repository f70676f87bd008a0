import type { StoredTokens } from '@agent-mcp-gateway/core';

/** A token endpoint answer as stored (`expires_at` in epoch seconds). */
export function toStoredTokens(
  response: { access_token: string; refresh_token?: string; expires_in?: number; token_type?: string; scope?: string },
  previousRefreshToken?: string,
): StoredTokens {
  const refresh = response.refresh_token ?? previousRefreshToken;
  return {
    access_token: response.access_token,
    ...(refresh !== undefined && { refresh_token: refresh }),
    ...(response.expires_in !== undefined && { expires_at: Math.floor(Date.now() / 1000) + response.expires_in }),
    token_type: response.token_type ?? 'Bearer',
    ...(response.scope !== undefined && { scope: response.scope }),
  };
}

/** Refresh this long before expiry; short-lived tokens get a quarter of their life. */
export function refreshSkewSeconds(tokens: StoredTokens, lifetime?: number): number {
  if (lifetime !== undefined) return Math.min(30, Math.floor(lifetime / 4));
  return tokens.expires_at === undefined ? 0 : 30;
}

export function isFresh(tokens: StoredTokens | undefined, skewSeconds: number): boolean {
  if (!tokens) return false;
  return tokens.expires_at === undefined || tokens.expires_at - skewSeconds > Date.now() / 1000;
}

/** The OAuth error code of an openid-client / oauth4webapi failure, if it carries one. */
export function oauthErrorCode(error: unknown): string | undefined {
  const e = error as { error?: unknown; code?: unknown; cause?: { error?: unknown } } | undefined;
  if (typeof e?.error === 'string') return e.error;
  if (typeof e?.cause?.error === 'string') return e.cause.error;
  return undefined;
}
