/**
 * Forgetting one server's stored login (`auth logout`): revoked at the authorization server when
 * it offers RFC 7009 revocation, then deleted under the store's lock.
 */
import type { LogoutResult, ServerSpec, StoreKey, TokenStore } from '@agent-mcp-gateway/core';
import type { FetchFn } from './discovery.js';
import type { LookupFn } from './egress.js';
import { credentialsOf } from './tokens.js';

export interface LogoutOptions {
  readonly store: TokenStore;
  readonly key: StoreKey;
  /** The server's name and URL (revocation discovers its authorization server from the URL). */
  readonly name: string;
  readonly url: string;
  /** The server entry's `auth` (a pre-registered client revokes as itself). */
  readonly auth?: ServerSpec['auth'];
  /** Registers what the store held with the redactor before anything can echo it. */
  readonly addSecret?: (value: string) => void;
  readonly fetch?: FetchFn;
  readonly lookup?: LookupFn;
}

/**
 * Revokes the stored tokens at the authorization server when it offers revocation, then deletes
 * the stored entry — under the store's lock, so no gateway refreshes meanwhile. A failed
 * revocation is reported in `failure`; the entry is deleted all the same.
 */
export async function logoutStored(options: LogoutOptions): Promise<LogoutResult> {
  const { store, key, name } = options;
  return store.withLock(key, async () => {
    const stored = await store.get(key);
    // An authorization server's refusal may quote a token: it joins the redactor first.
    for (const secret of credentialsOf(stored)) options.addSecret?.(secret);
    const entry = (await store.list()).find((e) => e.key === key); // also an entry that cannot be read: deleted all the same
    if (!stored && !entry) return { revoked: 'nothing stored', deleted: false };
    let revoked = 'not revoked (the server URL is unknown)';
    let failure: string | undefined;
    if (stored?.tokens) {
      try {
        const { revokeTokens } = await import('./revoke.js');
        const result = await revokeTokens({ name, url: options.url, stored, ...(options.auth !== undefined && { auth: options.auth }), ...(options.fetch && { fetch: options.fetch }), ...(options.lookup && { lookup: options.lookup }) });
        const words = (kinds: readonly string[]) => kinds.map((t) => t.replace('_', ' ')).join(' and ');
        const unsupported = result.unsupported ?? [];
        revoked = result.skipped
          ? `not revoked: ${result.skipped}`
          : `${words(result.revoked) || 'nothing'} revoked at ${result.issuer ?? 'the authorization server'}` +
            (unsupported.length ? ` (it cannot revoke the ${words(unsupported)}, which stays valid until it expires)` : '');
      } catch (error) {
        revoked = 'revocation failed';
        failure = `${name}: ${error instanceof Error ? error.message : String(error)}; the stored tokens were deleted all the same`;
      }
    } else {
      revoked = entry?.problem ? `nothing readable to revoke (${entry.problem})` : 'no tokens to revoke';
    }
    await store.delete(key);
    return { revoked, deleted: true, ...(entry?.location !== undefined && { location: entry.location }), ...(failure && { failure }) };
  });
}
