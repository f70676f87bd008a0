/**
 * Core is a kernel: the vocabulary of its plugins lives in the plugins (issue 13). A lint-level
 * check that `packages/core/src` names no OAuth, client credentials, enterprise-managed or
 * keychain concept — their schemas and types belong to auth-oauth-dcr and store-keychain — and no
 * HTTP-serving concept: the `http` settings section (listener address, allowed hosts and origins,
 * public URL, JWT callers, its GATEWAY_HOST / GATEWAY_PORT variables) is serve-http's, registered
 * through the ConfigRegistry.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');

/** Whole words, any case (a letter before it is another word; `OAuthStrategy` counts). */
const FORBIDDEN = /(?<![a-z])(oauth|client_credentials|client credentials|enterprise_managed|enterprise-managed|keychain)/gi;

/**
 * HTTP serving: its settings' names and types, its variables, and the `http` section of the
 * settings (`settings.http`, `http.port`, `transport: 'http'` as a serving choice). Downstream
 * servers' `http` transport (a client's) is core's and stays allowed.
 */
const SERVING = new RegExp(
  [
    'HttpServe\\w*',
    'HttpAuthSettings\\w*',
    'DEFAULT_HTTP_\\w+',
    'GATEWAY_HOST',
    'GATEWAY_PORT',
    'publicUrl',
    'allowedOrigins',
    'allowedHosts',
    'publicMetrics',
    'maxBodyBytes',
    'allowUnauthenticated',
    'agentClaim',
    'jwksUri',
    'settings\\.http\\b',
    "\\bhttp\\.(?:host|port)\\b",
    "transport: z\\.enum\\(\\['stdio', 'http'\\]\\)",
  ].join('|'),
  'g',
);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every `file:line: word` of core's sources that `pattern` matches. */
function occurrences(pattern: RegExp): string[] {
  const found: string[] = [];
  for (const file of sources(SRC)) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const match of line.matchAll(pattern)) found.push(`${relative(SRC, file)}:${i + 1}: ${match[0]}`);
      });
  }
  return found;
}

describe('packages/core/src holds no plugin vocabulary', () => {
  it('names no OAuth, client credentials, enterprise-managed or keychain concept', () => {
    expect(occurrences(FORBIDDEN)).toEqual([]);
  });

  it('names no HTTP-serving concept (settings, schemas, variables)', () => {
    expect(occurrences(SERVING)).toEqual([]);
  });

  it('the HTTP-serving check finds what it looks for', () => {
    const sample = ["const s = HttpServeSettingsSchema.parse({ publicUrl, allowedOrigins: [] });", 'env.GATEWAY_PORT', "settings.http?.port", "transport: z.enum(['stdio', 'http'])"].join('\n');
    expect([...sample.matchAll(SERVING)].map((m) => m[0])).toEqual([
      'HttpServeSettingsSchema',
      'publicUrl',
      'allowedOrigins',
      'GATEWAY_PORT',
      'settings.http',
      "transport: z.enum(['stdio', 'http'])",
    ]);
  });
});
