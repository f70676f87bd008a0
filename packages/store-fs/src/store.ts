import { mkdir, readdir, realpath, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { StoreEntrySummary, StoreKey, StoredAuth, TokenStore } from '@agent-mcp-gateway/core';
import {
  DIR_MODE,
  UnsafeFolderError,
  checkDir,
  errorCode,
  moveAside,
  readJsonFile,
  removeFile,
  sweepLeftovers,
  writeFileAtomic,
  type ReadResult,
} from './files.js';
import { withFileLock } from './lock.js';
import { PARTS, type PartName, describeIssues } from './schemas.js';

export interface FsTokenStoreOptions {
  /** The store folder; default `defaultTokenDir()`: `${GATEWAY_TOKEN_DIR:-~/.config/agent-mcp-gateway/oauth}`. */
  dir?: string;
  /**
   * Told about what the store fixed or skipped: corrupt files moved aside,
   * unreadable files (treated as absent), permissions tightened, leftover temp
   * files removed, a lock lost. Messages name paths, never file content.
   */
  onWarning?: (message: string) => void;
  /** Called once per `withLock` that finds the key locked by another process and starts waiting. */
  onLockWait?: (folder: string) => void;
  /** Longest wait for a lock, in this process's queue and for other processes together. Default 30 000 ms. */
  lockTimeoutMs?: number;
  /** A lock whose holder stopped refreshing it this long ago is taken over (minimum 2 000). Default 10 000 ms. */
  lockStaleMs?: number;
}

/** `${GATEWAY_TOKEN_DIR:-~/.config/agent-mcp-gateway/oauth}`, a leading `~` expanded, made absolute. */
export function defaultTokenDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const fromEnv = env.GATEWAY_TOKEN_DIR?.trim();
  if (!fromEnv) return join(home, '.config', 'agent-mcp-gateway', 'oauth');
  if (fromEnv === '~') return home;
  if (fromEnv.startsWith('~/') || fromEnv.startsWith('~\\')) return join(home, fromEnv.slice(2));
  return resolve(fromEnv);
}

/** `tokens.json: moved aside as corrupt (tokens.json.corrupt-<timestamp>)` for each such file in `folder`. */
async function movedAside(folder: string): Promise<string[]> {
  const names = await readdir(folder).catch(() => [] as string[]);
  return names
    .sort()
    .map((name) => /^(.+\.json)\.corrupt-/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]}: moved aside as corrupt (${m.input})`);
}

/** Filename-safe, not hidden, and not a lock folder's name (`<key>.lock`). */
const KEY_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

function assertKey(key: StoreKey): void {
  if (typeof key !== 'string' || !KEY_RE.test(key) || key.endsWith('.lock')) {
    throw new TypeError(`Invalid store key ${JSON.stringify(String(key).slice(0, 80))}: letters, digits, '.', '_', '-' only`);
  }
}

interface ReadEntry {
  auth: StoredAuth;
  any: boolean;
  problems: string[];
}

/**
 * The default `TokenStore`: one folder per key under `dir`, one JSON file per
 * part (`tokens.json`, `client.json`, `server.json`, `secret.json`, and
 * `discovery.json` when a caller stores one), folders 0700, files 0600, atomic
 * writes, and a lock across processes. Links are never followed and folders of
 * another account never used: such a token folder or key folder is refused with
 * an {@link UnsafeFolderError} (CONFIG_INVALID) that says how to fix it. A
 * corrupt file is moved aside (`<file>.corrupt-<timestamp>`), reported once.
 */
export class FsTokenStore implements TokenStore {
  readonly kind = 'fs';
  readonly dir: string;
  private readonly warnFn: ((message: string) => void) | undefined;
  private readonly onLockWait: ((folder: string) => void) | undefined;
  private readonly lockTimeoutMs: number;
  private readonly lockStaleMs: number;
  /** Last reported problem per file, so a corrupt file is reported once, not on every read. */
  private readonly reported = new Map<string, string>();

  constructor(options: FsTokenStoreOptions = {}) {
    this.dir = resolve(options.dir ?? defaultTokenDir());
    this.warnFn = options.onWarning;
    this.onLockWait = options.onLockWait;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
    this.lockStaleMs = Math.max(options.lockStaleMs ?? 10_000, 2_000);
  }

  /** The folder holding `key`'s files. */
  folderFor(key: StoreKey): string {
    assertKey(key);
    return join(this.dir, key);
  }

  /** `key`'s folder, or without a key the token folder (`TokenStore.locationOf`). */
  locationOf(key?: StoreKey): string {
    return key === undefined ? this.dir : this.folderFor(key);
  }

  /**
   * Checks the token folder as every operation does, without creating it: a
   * symbolic link, not a folder, or owned by another account → UnsafeFolderError.
   * The plugin calls it before handing the store out, so that the servers that
   * need it fail with that error at once.
   */
  async checkFolder(): Promise<void> {
    await this.checkStoreDir();
  }

  async get(key: StoreKey): Promise<StoredAuth | undefined> {
    const folder = this.folderFor(key);
    if (!(await this.checkStoreDir()) || !(await checkDir(folder, this.warn))) return undefined;
    await sweepLeftovers(folder, this.warn);
    const entry = await this.readEntry(folder);
    return entry.any ? entry.auth : undefined;
  }

  /**
   * Replace `key`'s entry with `value`: each part present is written atomically,
   * each part absent is removed. Parts are validated first; nothing is written
   * when one does not fit.
   */
  async set(key: StoreKey, value: StoredAuth): Promise<void> {
    const folder = this.folderFor(key);
    const texts = new Map<PartName, string>();
    for (const { part, schema } of PARTS) {
      const v = value[part];
      if (v === undefined) continue;
      const parsed = schema.safeParse(v);
      if (!parsed.success) throw new TypeError(`FsTokenStore.set(${key}): ${part} does not fit (${describeIssues(parsed.error)})`);
      texts.set(part, `${JSON.stringify(parsed.data, null, 2)}\n`);
    }
    await this.ensureStoreDir();
    await mkdir(folder, { mode: DIR_MODE }).catch((err: unknown) => {
      if (errorCode(err) !== 'EEXIST') throw err;
    });
    await checkDir(folder, this.warn);
    await sweepLeftovers(folder, this.warn);
    await this.readEntry(folder); // a corrupt file is moved aside, not replaced unseen
    for (const { part, file } of PARTS) {
      const path = join(folder, file);
      const text = texts.get(part);
      if (text === undefined) await removeFile(path);
      else await writeFileAtomic(path, text);
      this.reported.delete(path);
    }
  }

  /** Removes the key's folder (a key folder that is a symbolic link: the link only, never its target). */
  async delete(key: StoreKey): Promise<void> {
    const folder = this.folderFor(key);
    if (!(await this.checkStoreDir())) return;
    await rm(folder, { recursive: true, force: true });
    for (const { file } of PARTS) this.reported.delete(join(folder, file));
  }

  async list(): Promise<StoreEntrySummary[]> {
    if (!(await this.checkStoreDir())) return [];
    const entries = await readdir(this.dir, { withFileTypes: true });
    const out: StoreEntrySummary[] = [];
    for (const dirent of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const key = dirent.name;
      if (!KEY_RE.test(key) || key.endsWith('.lock')) continue;
      if (!dirent.isDirectory() && !dirent.isSymbolicLink()) continue;
      const folder = join(this.dir, key);
      try {
        if (!(await checkDir(folder, this.warn))) continue;
      } catch (err) {
        // A link, not a folder, another account's: listed with the problem, never read.
        if (err instanceof UnsafeFolderError) out.push({ key, hasTokens: false, hasRefreshToken: false, location: folder, problem: `the key folder ${err.problem}` });
        continue;
      }
      await sweepLeftovers(folder, this.warn);
      const { auth, any, problems } = await this.readEntry(folder);
      // Nothing readable but what was moved aside: a dead entry, listed so that people see it (and `auth logout` removes it).
      if (!any && problems.length === 0) problems.push(...(await movedAside(folder)));
      if (!any && problems.length === 0) continue;
      out.push({
        key,
        ...(auth.server ? { server: auth.server } : {}),
        hasTokens: auth.tokens !== undefined,
        hasRefreshToken: Boolean(auth.tokens?.refresh_token),
        ...(auth.tokens?.expires_at !== undefined ? { expiresAt: auth.tokens.expires_at } : {}),
        ...(auth.tokens?.scope !== undefined ? { scope: auth.tokens.scope } : {}),
        location: folder,
        ...(problems.length ? { problem: problems.join('; ') } : {}),
      });
    }
    return out;
  }

  /**
   * Run `fn` with `key` locked across this process and others (see README).
   * Not reentrant: a nested `withLock` on the same key throws. Waits at most
   * `lockTimeoutMs`, then throws an Error naming the key folder.
   */
  async withLock<T>(key: StoreKey, fn: () => Promise<T>): Promise<T> {
    const folder = this.folderFor(key);
    await this.ensureStoreDir();
    const target = join(await realpath(this.dir), key);
    return withFileLock(
      {
        folder,
        target,
        timeoutMs: this.lockTimeoutMs,
        staleMs: this.lockStaleMs,
        warn: this.warn,
        ...(this.onLockWait ? { onWait: this.onLockWait } : {}),
      },
      fn,
    );
  }

  private readonly warn = (message: string): void => {
    this.warnFn?.(message);
  };

  private async checkStoreDir(): Promise<boolean> {
    return checkDir(this.dir, this.warn, 'token folder');
  }

  private async ensureStoreDir(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
    } catch (err) {
      await checkDir(this.dir, this.warn, 'token folder'); // a dangling link, a file: the clearer error
      throw err;
    }
    await checkDir(this.dir, this.warn, 'token folder');
  }

  /** Reads one part; a corrupt file is moved aside (reported once) and read as absent. */
  private async readPart(path: string, schema: (typeof PARTS)[number]['schema']): Promise<ReadResult<unknown>> {
    const r = await readJsonFile(path, schema, this.warn);
    if (r.state !== 'bad' || !r.corrupt) return r;
    let aside: string | undefined;
    try {
      aside = await moveAside(path, r.corrupt);
    } catch (err) {
      return { ...r, reason: `${r.reason}; could not be moved aside (${errorCode(err) ?? 'error'})` };
    }
    if (aside !== undefined) {
      this.reported.delete(path);
      this.warn(`${path}: ${r.reason}; moved aside to ${aside} (the store carries on without it)`);
      return { state: 'absent' };
    }
    // Another process moved it, or wrote a new file in its place: read what is there now.
    const again = await readJsonFile(path, schema, this.warn);
    return again.state === 'bad' && again.corrupt ? { state: 'absent' } : again;
  }

  private async readEntry(folder: string): Promise<ReadEntry> {
    const auth: Record<string, unknown> = {};
    const problems: string[] = [];
    const results = await Promise.all(PARTS.map((p) => this.readPart(join(folder, p.file), p.schema)));
    PARTS.forEach(({ part, file }, i) => {
      const r = results[i];
      const path = join(folder, file);
      if (!r || r.state === 'absent') {
        this.reported.delete(path);
      } else if (r.state === 'ok') {
        this.reported.delete(path);
        auth[part] = r.value;
      } else {
        problems.push(`${file}: ${r.reason}`);
        const sig = `${r.reason}|${r.signature}`;
        if (this.reported.get(path) !== sig) {
          this.reported.set(path, sig);
          this.warn(`${path}: ${r.reason}; treated as absent`);
        }
      }
    });
    return { auth: auth as StoredAuth, any: Object.keys(auth).length > 0, problems };
  }
}
