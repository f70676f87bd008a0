import { createHash } from 'node:crypto';
import type { PriorDiscovery } from '@modelcontextprotocol/client';
import { canonicalServerUrl } from './store-key.js';
import type { ServerSpec } from './types.js';

/** How long a `legacy` verdict is trusted: past it the server is probed again (it may have been upgraded). */
export const LEGACY_VERDICT_HORIZON_MS = 24 * 60 * 60 * 1000;

export interface EraVerdictCacheOptions {
  /** Default {@link LEGACY_VERDICT_HORIZON_MS}. A `modern` verdict is kept until a connect with it fails. */
  readonly legacyHorizonMs?: number;
  readonly now?: () => number;
}

/**
 * The protocol era each downstream spoke at its last negotiated connect, supplied as the SDK
 * client's `connect({ prior })` on the next one: a `modern` verdict (the server's `server/discover`
 * result) connects with no round trip, a `legacy` one goes straight to `initialize`; either way the
 * probe (on stdio, a sibling process) is skipped. Process-local. Keys come from {@link eraVerdictKey}:
 * one server as one principal reaches it, never shared across credentials.
 */
export class EraVerdictCache {
  private readonly entries = new Map<string, { readonly verdict: PriorDiscovery; readonly storedAt: number }>();
  private readonly legacyHorizonMs: number;
  private readonly now: () => number;

  constructor(options: EraVerdictCacheOptions = {}) {
    this.legacyHorizonMs = options.legacyHorizonMs ?? LEGACY_VERDICT_HORIZON_MS;
    this.now = options.now ?? Date.now;
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
    this.entries.set(key, { verdict, storedAt: this.now() });
  }

  delete(key: string): void {
    this.entries.delete(key);
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
