import { randomBytes } from 'node:crypto';
import { mkdir, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { StoreEntrySummary, StoreKey, StoredAuth, TokenStore } from '@agent-mcp-gateway/core';
import { PARTS, defaultTokenDir, describeIssues, withFileLock } from '@agent-mcp-gateway/store-fs';
import {
  KeychainUnavailableError,
  bindingFailure,
  explainKeychainFailure,
  isKeychainUnavailable,
  timeoutFailure,
} from './errors.js';

type Keyring = typeof import('@napi-rs/keyring');

/** The keychain service every entry is filed under; the account is the store key. */
export const KEYCHAIN_SERVICE = 'agent-mcp-gateway';

export interface KeychainTokenStoreOptions {
  /** Keychain service name. Default `agent-mcp-gateway`. */
  service?: string;
  /**
   * Folder of the cross-process lock files (`<key>.lock`, present only while held): the
   * keychain has no lock of its own. Default: the file store's folder,
   * `${GATEWAY_TOKEN_DIR:-~/.config/agent-mcp-gateway/oauth}` — per user, so every gateway
   * process of the user shares it whatever config it runs, and the file store and the
   * keychain store lock the same key in the same place (`auth migrate` relies on it).
   */
  lockDir?: string;
  /** Told about entries it could not read (treated as absent) and a lock lost. Never a value. */
  onWarning?: (message: string) => void;
  onLockWait?: (where: string) => void;
  /** Default 30 000 ms. */
  lockTimeoutMs?: number;
  /** Default 10 000 ms (minimum 2 000). */
  lockStaleMs?: number;
  /** How long {@link KeychainTokenStore.probe} waits for the keychain (an unlock prompt, say). Default 20 000 ms. */
  probeTimeoutMs?: number;
  /**
   * Values longer than this are split over several keychain items (Windows Credential
   * Manager holds at most 2 560 bytes per item). Default: 1 200 characters on Windows,
   * unlimited elsewhere.
   */
  maxItemLength?: number;
}

/** Same rule as the file store: a key is also a lock file's name. */
const KEY_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

function assertKey(key: StoreKey): void {
  if (typeof key !== 'string' || !KEY_RE.test(key) || key.endsWith('.lock')) {
    throw new TypeError(`Invalid store key ${JSON.stringify(String(key).slice(0, 80))}: letters, digits, '.', '_', '-' only`);
  }
}

/** A value split over several items: the key's item holds `chunked:<id>:<count>`, the parts `<key>#<id>#<i>`. */
const CHUNK_HEAD = /^chunked:([0-9a-f]{16}):(\d{1,4})$/;
const chunkAccount = (key: StoreKey, id: string, i: number): string => `${key}#${id}#${i}`;

let bindingPromise: Promise<Keyring> | undefined;

/** `@napi-rs/keyring`, loaded on first use: a platform without its binary gets "keychain unavailable", not a crash. */
function loadKeyring(): Promise<Keyring> {
  bindingPromise ??= import('@napi-rs/keyring').catch((error: unknown) => {
    bindingPromise = undefined;
    throw new KeychainUnavailableError(bindingFailure(error), { cause: error });
  });
  return bindingPromise;
}

type ReadResult = { state: 'absent' } | { state: 'ok'; auth: StoredAuth; problem?: string } | { state: 'bad'; reason: string };

/**
 * A `TokenStore` in the OS keychain (`@napi-rs/keyring`: macOS Keychain, Windows
 * Credential Manager, Linux Secret Service): one item per key, service
 * `agent-mcp-gateway`, account = the key, value = the `StoredAuth` as JSON. The
 * cross-process lock is a lock file (the file store's, see `lockDir`).
 */
export class KeychainTokenStore implements TokenStore {
  readonly kind = 'keychain';
  readonly service: string;
  readonly lockDir: string;
  private readonly warnFn: ((message: string) => void) | undefined;
  private readonly onLockWait: ((where: string) => void) | undefined;
  private readonly lockTimeoutMs: number;
  private readonly lockStaleMs: number;
  private readonly probeTimeoutMs: number;
  private readonly maxItemLength: number;
  private readonly reported = new Map<StoreKey, string>();
  private readonly entries = new Map<string, InstanceType<Keyring['AsyncEntry']>>();

  constructor(options: KeychainTokenStoreOptions = {}) {
    this.service = options.service ?? KEYCHAIN_SERVICE;
    this.lockDir = resolve(options.lockDir ?? defaultTokenDir());
    this.warnFn = options.onWarning;
    this.onLockWait = options.onLockWait;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
    this.lockStaleMs = Math.max(options.lockStaleMs ?? 10_000, 2_000);
    this.probeTimeoutMs = options.probeTimeoutMs ?? 20_000;
    this.maxItemLength = Math.max(options.maxItemLength ?? (process.platform === 'win32' ? 1_200 : Infinity), 64);
  }

  /** Where `key` lives, for people: `keychain:agent-mcp-gateway/<key>` (without a key: `keychain:agent-mcp-gateway`). */
  locationOf(key?: StoreKey): string {
    return key === undefined ? `keychain:${this.service}` : `keychain:${this.service}/${key}`;
  }

  /**
   * Checks that the keychain can be written, read and deleted from (a probe item,
   * removed again). Throws {@link KeychainUnavailableError} — "keychain unavailable:
   * <cause>; <fix>" — when it cannot: no D-Bus session, no Secret Service, a locked
   * collection, no native binding, or no answer within `probeTimeoutMs`.
   */
  async probe(): Promise<void> {
    const account = `.probe-${process.pid}-${randomBytes(4).toString('hex')}`;
    const work = (async () => {
      const back = await this.native('probe', async () => {
        const entry = await this.entry(account);
        await entry.setPassword('probe');
        const read = await entry.getPassword();
        await entry.deleteCredential();
        return read;
      });
      if (back !== 'probe') throw new KeychainUnavailableError({ cause: 'a value written could not be read back', fix: 'check the keychain, or use GATEWAY_TOKEN_STORE=fs' });
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KeychainUnavailableError(timeoutFailure(this.probeTimeoutMs))), this.probeTimeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([work, timeout]);
    } catch (error) {
      work.catch(() => undefined);
      if (isKeychainUnavailable(error)) throw error;
      const text = error instanceof Error ? error.message : String(error);
      const failure = explainKeychainFailure(error) ?? { cause: text.split('\n')[0] ?? text, fix: 'check the keychain, or use GATEWAY_TOKEN_STORE=fs' };
      throw new KeychainUnavailableError(failure, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: StoreKey): Promise<StoredAuth | undefined> {
    assertKey(key);
    const head = await this.read(key);
    if (head === null) {
      this.reported.delete(key);
      return undefined;
    }
    const result = this.decode(key, await this.assemble(key, head));
    return result.state === 'ok' ? result.auth : undefined;
  }

  /**
   * Replaces `key`'s entry with `value` (parts absent from `value` are gone). Parts are
   * validated first, with the file store's schemas; nothing is written when one does not fit.
   */
  async set(key: StoreKey, value: StoredAuth): Promise<void> {
    assertKey(key);
    const data: Record<string, unknown> = {};
    for (const { part, schema } of PARTS) {
      const v = value[part];
      if (v === undefined) continue;
      const parsed = schema.safeParse(v);
      if (!parsed.success) throw new TypeError(`KeychainTokenStore.set(${key}): ${part} does not fit (${describeIssues(parsed.error)})`);
      data[part] = parsed.data;
    }
    const text = JSON.stringify(data);
    const previous = await this.read(key);
    if (text.length <= this.maxItemLength) {
      await this.write(key, text);
    } else {
      const id = randomBytes(8).toString('hex');
      const count = Math.ceil(text.length / this.maxItemLength);
      for (let i = 0; i < count; i++) {
        await this.write(chunkAccount(key, id, i), text.slice(i * this.maxItemLength, (i + 1) * this.maxItemLength));
      }
      await this.write(key, `chunked:${id}:${count}`); // the switch: readers see the old value or the new one
    }
    await this.removeChunks(key, previous);
    this.reported.delete(key);
  }

  async delete(key: StoreKey): Promise<void> {
    assertKey(key);
    const previous = await this.read(key);
    if (previous === null) return;
    await this.remove(key);
    await this.removeChunks(key, previous);
    this.reported.delete(key);
  }

  async list(): Promise<StoreEntrySummary[]> {
    const keyring = await loadKeyring();
    const found = await this.native('list', () => keyring.findCredentialsAsync(this.service));
    const items = new Map(found.map((c) => [c.account, c.password]));
    const out: StoreEntrySummary[] = [];
    for (const key of [...items.keys()].sort()) {
      if (!KEY_RE.test(key) || key.endsWith('.lock')) continue; // probe items (`.probe-…`) and chunks (`…#…`)
      const head = items.get(key) ?? '';
      const chunks = CHUNK_HEAD.exec(head);
      const text = chunks ? this.joinChunks(key, chunks, (account) => items.get(account) ?? null) : head;
      const result = this.decode(key, text);
      const auth: StoredAuth = result.state === 'ok' ? result.auth : {};
      out.push({
        key,
        ...(auth.server ? { server: auth.server } : {}),
        hasTokens: auth.tokens !== undefined,
        hasRefreshToken: Boolean(auth.tokens?.refresh_token),
        ...(auth.tokens?.expires_at !== undefined ? { expiresAt: auth.tokens.expires_at } : {}),
        ...(auth.tokens?.scope !== undefined ? { scope: auth.tokens.scope } : {}),
        location: this.locationOf(key),
        ...(result.state === 'bad' ? { problem: result.reason } : result.state === 'ok' && result.problem ? { problem: result.problem } : {}),
      });
    }
    return out;
  }

  /**
   * Runs `fn` with `key` locked across this process and others: the file store's lock
   * (`<lockDir>/<key>.lock`). Not reentrant; waits at most `lockTimeoutMs`.
   */
  async withLock<T>(key: StoreKey, fn: () => Promise<T>): Promise<T> {
    assertKey(key);
    await mkdir(this.lockDir, { recursive: true, mode: 0o700 });
    const target = join(await realpath(this.lockDir), key);
    return withFileLock(
      {
        folder: this.locationOf(key),
        target,
        timeoutMs: this.lockTimeoutMs,
        staleMs: this.lockStaleMs,
        warn: this.warn,
        ...(this.onLockWait ? { onWait: this.onLockWait } : {}),
      },
      fn,
    );
  }

  // -------------------------------------------------------------------------

  private readonly warn = (message: string): void => {
    this.warnFn?.(message);
  };

  /**
   * The native entry of `account`. An entry holds a D-Bus connection until it is garbage
   * collected, so the entries of keys are kept and reused (one connection per key, not
   * one per operation); chunk and probe entries are short-lived and not kept.
   */
  private async entry(account: string): Promise<InstanceType<Keyring['AsyncEntry']>> {
    const keep = KEY_RE.test(account);
    const cached = keep ? this.entries.get(account) : undefined;
    if (cached) return cached;
    const keyring = await loadKeyring();
    const made = new keyring.AsyncEntry(this.service, account, { linux: { store: 'secret-service' } });
    if (keep) this.entries.set(account, made);
    return made;
  }

  /** A native call; its failures become "keychain unavailable: …" when they are about reaching the keychain. */
  private async native<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (isKeychainUnavailable(error)) throw error;
      const failure = explainKeychainFailure(error);
      if (failure) throw new KeychainUnavailableError(failure, { cause: error });
      throw new Error(`keychain ${op} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  private read(account: string): Promise<string | null> {
    return this.native('read', async () => (await this.entry(account)).getPassword());
  }

  private async write(account: string, text: string): Promise<void> {
    await this.native('write', async () => (await this.entry(account)).setPassword(text));
  }

  private async remove(account: string): Promise<void> {
    await this.native('delete', async () => (await this.entry(account)).deleteCredential());
  }

  private async removeChunks(key: StoreKey, head: string | null): Promise<void> {
    const m = head === null ? null : CHUNK_HEAD.exec(head);
    if (!m) return;
    const current = await this.read(key);
    if (current === head) return; // still in use (an interleaved writer put it back)
    for (let i = 0; i < Number(m[2]); i++) await this.remove(chunkAccount(key, m[1] as string, i)).catch(() => undefined);
  }

  /** The full value text of `key` given its item's content (reads the chunks of a split value). */
  private async assemble(key: StoreKey, head: string): Promise<string | undefined> {
    const m = CHUNK_HEAD.exec(head);
    if (!m) return head;
    const parts = new Map<string, string | null>();
    for (let i = 0; i < Number(m[2]); i++) {
      const account = chunkAccount(key, m[1] as string, i);
      parts.set(account, await this.read(account));
    }
    return this.joinChunks(key, m, (account) => parts.get(account) ?? null);
  }

  private joinChunks(key: StoreKey, m: RegExpExecArray, lookup: (account: string) => string | null): string | undefined {
    let text = '';
    for (let i = 0; i < Number(m[2]); i++) {
      const part = lookup(chunkAccount(key, m[1] as string, i));
      if (part === null) return undefined;
      text += part;
    }
    return text;
  }

  /** Parses and validates an item's text; problems are reported once per content, never with the content. */
  private decode(key: StoreKey, text: string | undefined): ReadResult {
    const bad = (reason: string): ReadResult => {
      if (this.reported.get(key) !== reason) {
        this.reported.set(key, reason);
        this.warn(`${this.locationOf(key)}: ${reason}; treated as absent`);
      }
      return { state: 'bad', reason };
    };
    if (text === undefined) return bad('a part of the value is missing');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return bad(text.trim() === '' ? 'empty' : 'not valid JSON');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('not a JSON object');
    const auth: Record<string, unknown> = {};
    const problems: string[] = [];
    for (const { part, schema } of PARTS) {
      const v = (json as Record<string, unknown>)[part];
      if (v === undefined || v === null) continue;
      const parsed = schema.safeParse(v);
      if (parsed.success) auth[part] = parsed.data;
      else problems.push(`${part}: unexpected content (${describeIssues(parsed.error)})`);
    }
    if (problems.length > 0) {
      const reason = problems.join('; ');
      bad(reason);
      return Object.keys(auth).length > 0 ? { state: 'ok', auth: auth as StoredAuth, problem: reason } : { state: 'bad', reason };
    }
    this.reported.delete(key);
    return Object.keys(auth).length > 0 ? { state: 'ok', auth: auth as StoredAuth } : { state: 'absent' };
  }
}
