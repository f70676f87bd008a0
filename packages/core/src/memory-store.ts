import type { StoreEntrySummary, StoreKey, StoredAuth, TokenStore } from './types.js';

/**
 * A `TokenStore` in memory: nothing survives the process. For tests, for
 * embedding, and as the last resort when no store plugin answers.
 */
export class MemoryTokenStore implements TokenStore {
  readonly kind = 'memory';
  private readonly entries = new Map<StoreKey, StoredAuth>();
  private readonly locks = new Map<StoreKey, Promise<unknown>>();

  async get(key: StoreKey): Promise<StoredAuth | undefined> {
    const value = this.entries.get(key);
    return value === undefined ? undefined : structuredClone(value);
  }

  async set(key: StoreKey, value: StoredAuth): Promise<void> {
    this.entries.set(key, structuredClone(value));
  }

  async delete(key: StoreKey): Promise<void> {
    this.entries.delete(key);
  }

  async list(): Promise<StoreEntrySummary[]> {
    return [...this.entries].map(([key, value]) => ({
      key,
      ...(value.server && { server: value.server }),
      hasTokens: value.tokens !== undefined,
      hasRefreshToken: value.tokens?.refresh_token !== undefined,
      ...(value.tokens?.expires_at !== undefined && { expiresAt: value.tokens.expires_at }),
      ...(value.tokens?.scope !== undefined && { scope: value.tokens.scope }),
      location: `memory:${key}`,
    }));
  }

  /** Exclusive within this process (there is no other process to exclude). */
  async withLock<T>(key: StoreKey, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }
}
