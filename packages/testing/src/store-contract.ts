/**
 * The `TokenStore` contract as a Vitest suite: run it against any store (ours and
 * third parties') to check that it behaves as the gateway expects.
 *
 * ```ts
 * import { describeTokenStoreContract } from '@agent-mcp-gateway/testing/store-contract';
 * describeTokenStoreContract('MyStore', async () => ({ store: new MyStore(), cleanup: () => … }));
 * ```
 *
 * Keys are random per test, so a store whose backing outlives the test (a keychain)
 * does not need to be emptied between tests; `list()` checks look at their own keys only.
 */
import { randomBytes } from 'node:crypto';
import { secretStoreKey, serverStoreKey, type StoreEntrySummary, type StoredAuth, type TokenStore } from '@agent-mcp-gateway/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

export interface StoreContractSubject {
  readonly store: TokenStore;
  /** A second, independent handle on the same storage (another process would open one): persistence and lock checks. */
  readonly reopen?: () => TokenStore | Promise<TokenStore>;
  /** Called after each test. */
  readonly cleanup?: () => void | Promise<void>;
}

export interface StoreContractOptions {
  /** The `kind` the store must report. */
  readonly kind?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Values that must never show up in `list()`. */
const SECRETS = ['at-contract-7f3a', 'rt-contract-91bc', 'cs-contract-4d2e', 'pat-contract-0a9f'];

function fullEntry(url: string): StoredAuth {
  return {
    server: { name: 'contract', url },
    tokens: { access_token: SECRETS[0] as string, refresh_token: SECRETS[1], expires_at: 1_900_000_000, token_type: 'Bearer', scope: 'read write' },
    client: {
      issuer: 'https://auth.example.com',
      client_id: 'client-1',
      client_secret: SECRETS[2],
      redirect_uris: ['http://127.0.0.1:33418/callback'],
      token_endpoint_auth_method: 'client_secret_basic',
      source: 'dcr',
    },
    discovery: {
      resource: { resource: url, authorization_servers: ['https://auth.example.com'] },
      authorizationServer: { issuer: 'https://auth.example.com', token_endpoint: 'https://auth.example.com/token', ünïcödé: '✓' },
    },
  };
}

/**
 * Registers a `describe` block with the contract's tests. `make` is called before each
 * test and gives the store to check (and optionally a second handle and a cleanup).
 */
export function describeTokenStoreContract(
  name: string,
  make: () => StoreContractSubject | Promise<StoreContractSubject>,
  options: StoreContractOptions = {},
): void {
  describe(`TokenStore contract: ${name}`, () => {
    let subject: StoreContractSubject;
    let store: TokenStore;
    let url: string;
    let key: string;

    beforeEach(async () => {
      subject = await make();
      store = subject.store;
      url = `https://contract-${randomBytes(4).toString('hex')}.example.com:8443/mcp`;
      key = serverStoreKey(url);
    });

    afterEach(async () => {
      await subject?.cleanup?.();
    });

    const mine = async (...keys: string[]): Promise<StoreEntrySummary[]> => (await store.list()).filter((e) => keys.includes(e.key));

    it('has a kind', () => {
      expect(typeof store.kind).toBe('string');
      expect(store.kind.length).toBeGreaterThan(0);
      if (options.kind !== undefined) expect(store.kind).toBe(options.kind);
    });

    it('get of a key never set is undefined', async () => {
      expect(await store.get(key)).toBeUndefined();
    });

    it('round-trips a whole entry (tokens, client, discovery, server)', async () => {
      const entry = fullEntry(url);
      await store.set(key, entry);
      expect(await store.get(key)).toEqual(entry);
    });

    it('set replaces the whole entry: parts left out are gone', async () => {
      await store.set(key, fullEntry(url));
      await store.set(key, { tokens: { access_token: 'at-2' } });
      expect(await store.get(key)).toEqual({ tokens: { access_token: 'at-2' } });
    });

    it('keeps fields it does not know inside each part', async () => {
      const entry: StoredAuth = {
        tokens: { access_token: 'a', id_token: 'x.y.z' } as StoredAuth['tokens'],
        client: { issuer: 'https://i', client_id: 'c', source: 'preregistered', registration_access_token: 'r' } as StoredAuth['client'],
      };
      await store.set(key, entry);
      expect(await store.get(key)).toEqual(entry);
    });

    it('hands out copies: changing a value read or written does not change the store', async () => {
      const entry = fullEntry(url);
      await store.set(key, entry);
      (entry.tokens as { access_token: string }).access_token = 'changed after set';
      const read = (await store.get(key)) as StoredAuth;
      expect(read.tokens?.access_token).toBe(SECRETS[0]);
      (read.tokens as { access_token: string }).access_token = 'changed after get';
      expect((await store.get(key))?.tokens?.access_token).toBe(SECRETS[0]);
    });

    it('holds a large value (a few kB of discovery metadata)', async () => {
      const big = { ...fullEntry(url), discovery: { blob: 'x'.repeat(6_000), list: Array.from({ length: 100 }, (_, i) => `scope-${i}`) } };
      await store.set(key, big);
      expect(await store.get(key)).toEqual(big);
      await store.set(key, { tokens: { access_token: 'small again' } });
      expect(await store.get(key)).toEqual({ tokens: { access_token: 'small again' } });
    });

    it('delete removes the entry and nothing else; deleting an absent key is fine', async () => {
      const other = serverStoreKey(`${url}/other`);
      await store.set(key, fullEntry(url));
      await store.set(other, { tokens: { access_token: 'other' } });
      await store.delete(key);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.get(other)).toEqual({ tokens: { access_token: 'other' } });
      await store.delete(key);
      expect((await mine(key, other)).map((e) => e.key)).toEqual([other]);
      await store.delete(other);
    });

    it('list summarizes each entry without its secrets', async () => {
      const bare = serverStoreKey(`${url}/bare`);
      await store.set(key, fullEntry(url));
      await store.set(bare, { server: { name: 'bare', url: `${url}/bare` }, client: { issuer: 'https://i', client_id: 'c', source: 'dcr' } });
      const entries = await mine(key, bare);
      expect(entries).toHaveLength(2);
      const full = entries.find((e) => e.key === key);
      expect(full).toMatchObject({
        key,
        server: { name: 'contract', url },
        hasTokens: true,
        hasRefreshToken: true,
        expiresAt: 1_900_000_000,
        scope: 'read write',
      });
      expect(typeof full?.location).toBe('string');
      expect(full?.location.length).toBeGreaterThan(0);
      expect(full?.problem).toBeUndefined();
      expect(entries.find((e) => e.key === bare)).toMatchObject({ key: bare, hasTokens: false, hasRefreshToken: false });
      const text = JSON.stringify(entries);
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      await store.delete(bare);
    });

    it('holds named secrets under their reserved keys', async () => {
      const secretKey = secretStoreKey(`CONTRACT_${randomBytes(3).toString('hex')}`);
      await store.set(secretKey, { secret: SECRETS[3] as string });
      expect(await store.get(secretKey)).toEqual({ secret: SECRETS[3] });
      const [summary] = await mine(secretKey);
      expect(summary).toMatchObject({ key: secretKey, hasTokens: false });
      expect(JSON.stringify(summary)).not.toContain(SECRETS[3]);
      await store.delete(secretKey);
      expect(await store.get(secretKey)).toBeUndefined();
    });

    it('withLock returns what fn returns, passes on what it throws, and is free again afterwards', async () => {
      expect(await store.withLock(key, async () => 42)).toBe(42);
      await expect(store.withLock(key, async () => Promise.reject(new Error('inside')))).rejects.toThrow('inside');
      expect(await store.withLock(key, async () => 'again')).toBe('again');
    });

    it('withLock runs overlapping sections on one key one at a time', async () => {
      let inside = 0;
      let most = 0;
      const order: number[] = [];
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          store.withLock(key, async () => {
            inside++;
            most = Math.max(most, inside);
            await sleep(10);
            order.push(i);
            inside--;
          }),
        ),
      );
      expect(most).toBe(1);
      expect(order.sort()).toEqual([0, 1, 2, 3, 4]);
    });

    it('withLock on one key does not wait for another key', async () => {
      const other = serverStoreKey(`${url}/other`);
      let release!: () => void;
      const held = store.withLock(key, () => new Promise<void>((resolve) => (release = resolve)));
      await sleep(20);
      expect(await store.withLock(other, async () => 'not blocked')).toBe('not blocked');
      release();
      await held;
    });

    it('read-modify-write under withLock loses no update', async () => {
      await store.set(key, { tokens: { access_token: '0' } });
      await Promise.all(
        Array.from({ length: 8 }, () =>
          store.withLock(key, async () => {
            const n = Number((await store.get(key))?.tokens?.access_token);
            await sleep(2);
            await store.set(key, { tokens: { access_token: String(n + 1) } });
          }),
        ),
      );
      expect((await store.get(key))?.tokens?.access_token).toBe('8');
    });

    it('another handle on the same storage sees the entries and respects the lock', async (ctx) => {
      if (!subject.reopen) return ctx.skip();
      const second = await subject.reopen();
      await store.set(key, fullEntry(url));
      expect(await second.get(key)).toEqual(fullEntry(url));
      let inside = 0;
      let most = 0;
      const section = async () => {
        inside++;
        most = Math.max(most, inside);
        await sleep(15);
        inside--;
      };
      await Promise.all([store.withLock(key, section), second.withLock(key, section), store.withLock(key, section), second.withLock(key, section)]);
      expect(most).toBe(1);
      await second.delete(key);
      expect(await store.get(key)).toBeUndefined();
    });
  });
}
