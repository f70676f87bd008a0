/**
 * Named secrets and `${secret:NAME}` references.
 *
 * A `.mcp.json` header or env value may hold `${secret:NAME}`: config loading leaves it
 * as it is (it is not an environment variable), and the auth strategy that sends the
 * value replaces it at connect time with the secret read from the server's token store.
 * The secret itself lives in that store under a reserved key, `secret--<NAME>`, as a
 * `StoredAuth` whose only field is `secret` — so every `TokenStore` (files, the OS store, a
 * third party's) holds secrets without a second interface, and `auth migrate` moves them
 * with the tokens.
 */
import type { StoreKey } from './types.js';

/** Secret names: letters, digits, `_`, `.` and `-`, not starting with `.` or `-` (they become store keys). */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

/** Store keys of secrets start with this; server keys (`<host>-<hash>`) never do. */
export const SECRET_KEY_PREFIX = 'secret--';

/** `${secret:NAME}`: anything up to the first `}` is the name (checked when resolved). */
const SECRET_REFERENCE = /\$\{secret:([^}]*)\}/g;

export function isValidSecretName(name: string): boolean {
  return SECRET_NAME_PATTERN.test(name) && !name.endsWith('.lock');
}

/** Why `name` is not a valid secret name (it is not echoed: a pasted value must not end up in a message). */
export const SECRET_NAME_RULE = 'secret names hold letters, digits, "_", "." and "-" (at most 100, not starting with "." or "-")';

/** The reserved store key of secret `name`. Throws a TypeError for an invalid name. */
export function secretStoreKey(name: string): StoreKey {
  if (!isValidSecretName(name)) throw new TypeError(`Invalid secret name: ${SECRET_NAME_RULE}`);
  return `${SECRET_KEY_PREFIX}${name}`;
}

/** The secret name of a store key, or undefined when the key is not a secret's. */
export function secretNameOf(key: StoreKey): string | undefined {
  if (!key.startsWith(SECRET_KEY_PREFIX)) return undefined;
  const name = key.slice(SECRET_KEY_PREFIX.length);
  return isValidSecretName(name) ? name : undefined;
}

export function isSecretStoreKey(key: StoreKey): boolean {
  return secretNameOf(key) !== undefined;
}

export function hasSecretReference(text: string): boolean {
  return text.includes('${secret:');
}

/** The names referenced in `text`, in order, without duplicates (invalid names included, as written). */
export function secretReferences(text: string): string[] {
  return [...new Set([...text.matchAll(SECRET_REFERENCE)].map((m) => m[1] ?? ''))];
}

/**
 * Replaces every `${secret:NAME}` in `text` with `lookup(NAME)` (asked once per name).
 * `lookup` throws when a secret is missing; that error propagates.
 */
export async function resolveSecretReferences(text: string, lookup: (name: string) => Promise<string>): Promise<string> {
  if (!hasSecretReference(text)) return text;
  const values = new Map<string, string>();
  for (const name of secretReferences(text)) values.set(name, await lookup(name));
  return text.replace(SECRET_REFERENCE, (_whole, name: string) => values.get(name) ?? '');
}
