import type { StoreKey, StoredAuth, StoredTokens, TokenStore } from '@agent-mcp-gateway/core';
import { isFresh, refreshSkewSeconds } from './tokens.js';

/**
 * One server's tokens: in memory, and in the store under the store's lock. Every write is a
 * section under the lock that re-reads the entry and merges into it, so that the client
 * registration and another process's newer tokens are never lost to a stale copy.
 */
export class TokenCache {
  private tokens: StoredTokens | undefined;
  /** The lifetime the token endpoint gave the current tokens (seconds), which sets how early they are refreshed. */
  private lifetime: number | undefined;
  private loaded: Promise<void> | undefined;

  constructor(
    private readonly store: TokenStore,
    private readonly key: StoreKey,
    private readonly serverEntry: Pick<StoredAuth, 'server'>,
  ) {}

  /** Reads the stored tokens once (an unreadable entry is none). */
  load(): Promise<void> {
    this.loaded ??= (async () => {
      this.tokens = (await this.read())?.tokens;
    })();
    return this.loaded;
  }

  /** The tokens in memory, fresh or not. */
  get current(): StoredTokens | undefined {
    return this.tokens;
  }

  /** The tokens in memory when they are fresh enough to send: refreshed a little before they expire. */
  usable(): StoredTokens | undefined {
    const tokens = this.tokens;
    return tokens && isFresh(tokens, refreshSkewSeconds(tokens, this.lifetime)) ? tokens : undefined;
  }

  /** New tokens from the token endpoint, `lifetime` its `expires_in`. */
  accept(tokens: StoredTokens, lifetime: number | undefined): void {
    this.tokens = tokens;
    this.lifetime = lifetime;
  }

  /** Tokens another process stored (its refresh won the lock). */
  adopt(tokens: StoredTokens): void {
    this.tokens = tokens;
  }

  /** Forgets the tokens in memory (refused, revoked, logged out); the store is the caller's. */
  drop(): void {
    this.tokens = undefined;
  }

  /** What the store holds now (an unreadable entry is none). */
  read(): Promise<StoredAuth | undefined> {
    return this.store.get(this.key).catch(() => undefined);
  }

  /**
   * A section under the store's lock (in this process and across processes), given what is stored
   * when it starts and a `write` that replaces the entry.
   */
  locked<T>(section: (stored: StoredAuth | undefined, write: (value: StoredAuth) => Promise<void>) => Promise<T>): Promise<T> {
    return this.store.withLock(this.key, async () => section(await this.read(), (value) => this.store.set(this.key, value)));
  }

  /** Every write outside a locked section: under the lock, merged into what is stored, with the server named. */
  merge(patch: Pick<StoredAuth, 'tokens' | 'client'>): Promise<void> {
    return this.locked((stored, write) => write({ ...stored, ...this.serverEntry, ...patch }));
  }

  /** Saves new tokens (merged: the client registration stays). */
  save(tokens: StoredTokens): Promise<void> {
    return this.merge({ tokens });
  }
}
