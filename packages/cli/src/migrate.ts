/**
 * `auth migrate --to keychain|fs`: moves every entry (OAuth logins and named
 * secrets) from the other store into this one. Each entry is copied, read back
 * and compared, and only then removed from the source; a conflict (the target
 * already holds a different entry under the key) is left alone unless --force.
 * Each move holds the key's lock, which both stores take in the same place
 * (`<tokenDir>/<key>.lock`), so a running gateway never refreshes mid-move.
 */
import { GatewayError, canonicalJson, secretNameOf, type StoreEntrySummary, type StoredAuth, type TokenStore } from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { cliRedactor, printable } from './output.js';
import { fileStore, keychainStore, settingsFor } from './token-stores.js';

type Outcome = { moved: true } | { moved: false; why: string };

export async function runMigrate(args: CliArgs): Promise<number> {
  const to = args.to;
  if (to !== 'keychain' && to !== 'fs') throw new GatewayError('INVALID_ARGUMENTS', "'auth migrate' needs --to keychain or --to fs");
  const from = to === 'keychain' ? 'fs' : 'keychain';
  const settings = await settingsFor(process.env, args);
  const keychain = await keychainStore(settings); // either way the keychain must be reachable
  const files = fileStore(settings);
  const [source, target] = to === 'keychain' ? [files, keychain] : [keychain, files];

  const entries = await source.list();
  if (entries.length === 0) {
    process.stdout.write(`Nothing to migrate: the ${from} store holds nothing.\n`);
    return 0;
  }
  let moved = 0;
  const failures: string[] = [];
  for (const entry of entries) {
    const label = labelOf(entry);
    if (entry.problem) {
      failures.push(`${label}: unreadable in the ${from} store (${entry.problem}); left where it is`);
      continue;
    }
    let outcome: Outcome;
    try {
      outcome = await source.withLock(entry.key, () => moveOne(entry.key, source, target, args.force));
    } catch (error) {
      outcome = { moved: false, why: `${error instanceof Error ? error.message : String(error)}; left in the ${from} store` };
    }
    if (outcome.moved) {
      moved++;
      process.stdout.write(`moved ${label}: ${entry.location} → ${to}\n`);
    } else {
      failures.push(`${label}: ${outcome.why}`);
    }
  }
  process.stdout.write(`Moved ${moved} of ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} from the ${from} store to the ${to} store.\n`);
  for (const failure of failures) process.stderr.write(`agent-mcp-gateway: not moved: ${printable(failure)}\n`);
  if (moved > 0) {
    process.stdout.write(`Set GATEWAY_TOKEN_STORE=${to} (or "tokenStore": "${to}" in the settings) so that the gateway uses them there.\n`);
  }
  return failures.length > 0 ? 1 : 0;
}

async function moveOne(key: string, source: TokenStore, target: TokenStore, force: boolean): Promise<Outcome> {
  const value = await source.get(key);
  if (value === undefined) return { moved: false, why: 'gone from the source meanwhile' };
  // Tokens, client secrets and named secrets in hand: blanked from anything this command prints.
  for (const secret of [value.tokens?.access_token, value.tokens?.refresh_token, value.client?.client_secret, value.secret]) cliRedactor.add(secret);
  const existing = await target.get(key);
  if (existing !== undefined && !same(existing, value) && !force) {
    return { moved: false, why: `the ${target.kind} store already holds a different entry under this key; left both as they are (--force overwrites it)` };
  }
  await target.set(key, value);
  const copy = await target.get(key);
  if (copy === undefined || !same(copy, value)) {
    // Put the target back as it was; the source is untouched.
    if (existing === undefined) await target.delete(key).catch(() => undefined);
    else await target.set(key, existing).catch(() => undefined);
    return { moved: false, why: `the copy in the ${target.kind} store did not read back the same; the source is kept` };
  }
  await source.delete(key);
  if ((await source.get(key)) !== undefined) return { moved: false, why: `copied, but could not be removed from the ${source.kind} store` };
  return { moved: true };
}

function labelOf(entry: StoreEntrySummary): string {
  const secret = secretNameOf(entry.key);
  if (secret !== undefined) return `secret ${secret}`;
  return entry.server ? `${entry.server.name} (${entry.key})` : entry.key;
}

/** Deep equality of two stored entries, whatever the order of their keys. */
function same(a: StoredAuth, b: StoredAuth): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

