import { createHash } from 'node:crypto';
import type { AuthDescription, StoreKey, TokenStore } from './types.js';

/**
 * The canonical form of a server URL: lower-case scheme and host, no default
 * port, no fragment, no user info, an empty path as `/`. Two spellings of one
 * server map to one token folder.
 */
export function canonicalServerUrl(url: string): string {
  const u = new URL(url);
  u.hash = '';
  u.username = '';
  u.password = '';
  return u.href;
}

/**
 * A stable, filename-safe key for a server's stored credentials: the host (for
 * people reading a folder listing) and a hash of the canonical URL, e.g.
 * `mcp.notion.com-3f2a9c0d41b7e8aa`. Shown by `auth status` so nobody has to compute it.
 */
export function serverStoreKey(url: string): string {
  const canonical = canonicalServerUrl(url);
  const host = new URL(canonical).host.replace(/[^A-Za-z0-9.-]/g, '_');
  return `${host}-${createHash('sha256').update(canonical).digest('hex').slice(0, 16)}`;
}

/**
 * What `store` holds under `key`, as `auth status` shows it (read without a network request):
 * logged in when tokens are stored and either unexpired or renewable with a refresh token.
 */
export async function describeStoreEntry(store: TokenStore, key: StoreKey): Promise<AuthDescription> {
  const entry = (await store.list()).find((e) => e.key === key);
  const unexpired = entry?.expiresAt === undefined || entry.expiresAt > Date.now() / 1000;
  const location = entry?.location ?? store.locationOf?.(key);
  return {
    loggedIn: entry !== undefined && entry.hasTokens && (unexpired || entry.hasRefreshToken),
    ...(entry?.hasTokens && entry.expiresAt !== undefined && { expiresAt: entry.expiresAt }),
    renewable: entry?.hasRefreshToken ?? false,
    scopes: entry?.scope?.split(' ').filter(Boolean) ?? [],
    store: store.kind,
    key,
    ...(location !== undefined && { location }),
    ...(entry?.problem !== undefined && { problem: entry.problem }),
  };
}
