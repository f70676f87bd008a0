import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { PriorDiscovery } from '@modelcontextprotocol/client';
import { canonicalServerUrl } from './store-key.js';
import type { ServerSpec } from './types.js';

/** How long a `legacy` verdict is trusted: past it the server is probed again (it may have been upgraded). */
export const LEGACY_VERDICT_HORIZON_MS = 24 * 60 * 60 * 1000;

export interface EraVerdictCacheOptions {
  /** Default {@link LEGACY_VERDICT_HORIZON_MS}. A `modern` verdict is kept until a connect with it fails. */
  readonly legacyHorizonMs?: number;
  readonly now?: () => number;
  /**
   * A JSON file that keeps the verdicts across processes (the CLI's: `era-verdicts.json` in its cache
   * folder), so that a restarted gateway does not probe again — on stdio, the probe is one more start
   * of the server. Read once here; written (atomically, mode 0600) after each change, merged with what
   * other processes wrote meanwhile. A file that cannot be read or parsed counts as empty: a lost
   * verdict only costs a probe. Without it, the cache is process-local.
   */
  readonly file?: string;
  /** Told when the file cannot be written (the verdicts stay in memory). */
  readonly onWarning?: (message: string) => void;
}

interface Entry {
  readonly verdict: PriorDiscovery;
  readonly storedAt: number;
}

const FILE_VERSION = 1;

/**
 * The protocol era each downstream spoke at its last negotiated connect, supplied as the SDK
 * client's `connect({ prior })` on the next one: a `modern` verdict (the server's `server/discover`
 * result) connects with no round trip, a `legacy` one goes straight to `initialize`; either way the
 * probe (on stdio, a sibling process) is skipped. Process-local, or kept in a file (`file`). Keys come from {@link eraVerdictKey}:
 * one server as one principal reaches it, never shared across credentials.
 */
export class EraVerdictCache {
  private readonly entries = new Map<string, Entry>();
  private readonly legacyHorizonMs: number;
  private readonly now: () => number;
  private readonly file: string | undefined;
  private readonly onWarning: (message: string) => void;
  /** Keys changed since the last write: `undefined` for a deletion. */
  private readonly changed = new Map<string, Entry | undefined>();
  private writing: Promise<void> = Promise.resolve();

  constructor(options: EraVerdictCacheOptions = {}) {
    this.legacyHorizonMs = options.legacyHorizonMs ?? LEGACY_VERDICT_HORIZON_MS;
    this.now = options.now ?? Date.now;
    this.file = options.file;
    this.onWarning = options.onWarning ?? (() => undefined);
    if (this.file !== undefined) for (const [key, entry] of parseFile(readQuietly(this.file))) this.entries.set(key, entry);
  }

  /** The verdict for `key`, unless there is none or it is a legacy one past its horizon. */
  get(key: string): PriorDiscovery | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.verdict.kind === 'legacy' && this.now() - entry.storedAt >= this.legacyHorizonMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.verdict;
  }

  set(key: string, verdict: PriorDiscovery): void {
    const entry = { verdict, storedAt: this.now() };
    this.entries.set(key, entry);
    this.persist(key, entry);
  }

  delete(key: string): void {
    this.entries.delete(key);
    this.persist(key, undefined);
  }

  /** Resolves once every change so far is in the file (or failed to get there). */
  flushed(): Promise<void> {
    return this.writing;
  }

  private persist(key: string, entry: Entry | undefined): void {
    if (this.file === undefined) return;
    this.changed.set(key, entry);
    const file = this.file;
    this.writing = this.writing.then(async () => {
      if (this.changed.size === 0) return; // an earlier write took these changes along
      const changes = [...this.changed];
      this.changed.clear();
      try {
        // Merged with what other processes wrote since: this process's changes win for their keys.
        const merged = new Map(parseFile(await readFile(file, 'utf8').catch(() => '')));
        for (const [k, e] of changes) {
          if (e === undefined) merged.delete(k);
          else merged.set(k, e);
        }
        await writeAtomically(file, JSON.stringify({ version: FILE_VERSION, verdicts: Object.fromEntries(merged) }));
      } catch (error) {
        this.onWarning(`Could not keep the protocol verdicts in ${file}: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  }
}

function readQuietly(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The entries of a verdict file; whatever is not a well-formed entry is left out. */
function parseFile(text: string): [string, Entry][] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof doc !== 'object' || doc === null || (doc as { version?: unknown }).version !== FILE_VERSION) return [];
  const verdicts = (doc as { verdicts?: unknown }).verdicts;
  if (typeof verdicts !== 'object' || verdicts === null) return [];
  return Object.entries(verdicts).filter((pair): pair is [string, Entry] => /^[0-9a-f]{64}$/.test(pair[0]) && isEntry(pair[1]));
}

function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null) return false;
  const { verdict, storedAt } = value as { verdict?: unknown; storedAt?: unknown };
  if (typeof storedAt !== 'number' || !Number.isFinite(storedAt) || typeof verdict !== 'object' || verdict === null) return false;
  const v = verdict as { kind?: unknown; discover?: unknown };
  if (v.kind === 'legacy') return true;
  return v.kind === 'modern' && typeof v.discover === 'object' && v.discover !== null;
}

/** Written beside the target and renamed over it: a reader sees the old file or the new one, never half of one. */
async function writeAtomically(file: string, content: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, content, { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/**
 * The cache key of a server as reached with one auth context: its canonical URL (HTTP) or its
 * command line, working directory and environment (stdio), its headers, its auth configuration and
 * the kind of the auth strategy in use (the gateway holds one set of credentials per server). Hashed: the parts may hold secrets.
 */
export function eraVerdictKey(spec: ServerSpec, authKind: string): string {
  // The canonical URL drops user info; credentials in it are part of the auth context all the same.
  const where = spec.url !== undefined ? [canonicalServerUrl(spec.url), userInfo(spec.url)] : [spec.command ?? '', ...spec.args];
  const parts = [spec.transport, where, spec.cwd ?? null, sorted(spec.env), sorted(spec.headers), spec.auth ?? null, authKind];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

function userInfo(url: string): string {
  const u = new URL(url);
  return `${u.username}:${u.password}`;
}

function sorted(record: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
