/**
 * Core is a kernel: the vocabulary of its plugins lives in the plugins (issue 13). A lint-level
 * check that `packages/core/src` names no OAuth, client credentials, enterprise-managed or
 * keychain concept — their schemas and types belong to auth-oauth-dcr and store-keychain.
 *
 * Scope: the HTTP-serving settings (`HttpServeSettingsSchema`, `http.*` variables) still live in
 * core's settings today; moving them to a serving package is a separate step of issue 13, so
 * their vocabulary is not checked here yet.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');

/** Whole words, any case; `noAuth` is not `oauth` (a letter before it), `OAuthStrategy` is. */
const FORBIDDEN = /(?<![a-z])(oauth|client_credentials|client credentials|enterprise_managed|enterprise-managed|keychain)/gi;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('packages/core/src holds no plugin vocabulary', () => {
  it('names no OAuth, client credentials, enterprise-managed or keychain concept', () => {
    const found: string[] = [];
    for (const file of sources(SRC)) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const match of line.matchAll(FORBIDDEN)) found.push(`${relative(SRC, file)}:${i + 1}: ${match[0]}`);
        });
    }
    expect(found).toEqual([]);
  });
});
