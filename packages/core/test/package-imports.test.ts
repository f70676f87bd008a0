/**
 * The import rules of docs/architecture.md ("Packages and what each may import"), machine-checked:
 * core imports no workspace package, a plugin imports core only (store-keychain also store-fs), only
 * the CLI imports plugins, serve-http imports no plugin, a third-party example imports core only.
 * Every `from '…'` and `import('…')` in a package's `src` naming one of ours is checked, and so is
 * the package.json: a workspace package used in `src` must be a runtime dependency (or a peer).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Folder → the workspace packages its `src` may import. */
const ALLOWED: Record<string, readonly string[]> = {
  'packages/core': [],
  'packages/transport-stdio': ['@agent-mcp-gateway/core'],
  'packages/transport-http': ['@agent-mcp-gateway/core'],
  'packages/auth-headers': ['@agent-mcp-gateway/core'],
  'packages/auth-oauth-dcr': ['@agent-mcp-gateway/core'],
  'packages/store-fs': ['@agent-mcp-gateway/core'],
  'packages/store-keychain': ['@agent-mcp-gateway/core', '@agent-mcp-gateway/store-fs'],
  'packages/serve-http': ['@agent-mcp-gateway/core'],
  'packages/testing': ['@agent-mcp-gateway/core'],
  'packages/cli': [
    '@agent-mcp-gateway/core',
    '@agent-mcp-gateway/serve-http',
    '@agent-mcp-gateway/transport-stdio',
    '@agent-mcp-gateway/transport-http',
    '@agent-mcp-gateway/auth-headers',
    '@agent-mcp-gateway/auth-oauth-dcr',
    '@agent-mcp-gateway/store-fs',
    '@agent-mcp-gateway/store-keychain',
  ],
  // The demo starts the CLI as a child process; it imports none of its modules.
  'packages/demo': ['@agent-mcp-gateway/testing'],
  'examples/gateway-auth-acme-hmac': ['@agent-mcp-gateway/core'],
};

/** `@agent-mcp-gateway/x` or `agent-mcp-gateway`, with any subpath dropped. */
const OURS = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]((?:@agent-mcp-gateway\/[\w-]+|agent-mcp-gateway)(?=['"/]))/g;

/** The code without block and whole-line comments (usage examples in TSDoc are not imports). */
function withoutComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(?:ts|mts|js|mjs)$/.test(name) ? [path] : [];
  });
}

/** Every workspace package imported by `src` of `folder`, with one file that imports it. */
function importsOf(folder: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sourceFiles(join(ROOT, folder, 'src'))) {
    for (const match of withoutComments(readFileSync(file, 'utf8')).matchAll(OURS)) {
      if (!found.has(match[1] as string)) found.set(match[1] as string, relative(ROOT, file));
    }
  }
  return found;
}

function workspaceFolders(): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return manifest.workspaces;
}

describe('package import rules (docs/architecture.md)', () => {
  it('every workspace has its rule here, and every rule a workspace', () => {
    expect(Object.keys(ALLOWED).sort()).toEqual([...workspaceFolders()].sort());
  });

  it.each(Object.entries(ALLOWED))('%s imports only what it may', (folder, allowed) => {
    const forbidden = [...importsOf(folder)].filter(([name]) => !allowed.includes(name)).map(([name, file]) => `${name} (in ${file})`);
    expect(forbidden).toEqual([]);
  });

  it.each(Object.keys(ALLOWED))('%s declares every workspace package its src imports as a runtime or peer dependency', (folder) => {
    const pkg = JSON.parse(readFileSync(join(ROOT, folder, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
    const undeclared = [...importsOf(folder).keys()].filter((name) => !declared.has(name));
    expect(undeclared).toEqual([]);
  });

  it('the pattern sees static, dynamic and subpath imports (the check can fail)', () => {
    const sample = [
      "import { Gateway } from '@agent-mcp-gateway/core';",
      "const t = await import('@agent-mcp-gateway/testing');",
      "import { x } from '@agent-mcp-gateway/testing/store-contract';",
      "import 'agent-mcp-gateway';",
      "import { y } from 'agent-mcp-gateway-other';",
    ].join('\n');
    const comments = "/**\n * import { z } from '@agent-mcp-gateway/serve-http';\n */\n  // import 'agent-mcp-gateway/x';\n";
    expect([...withoutComments(comments + sample).matchAll(OURS)].map((m) => m[1])).toEqual([
      '@agent-mcp-gateway/core',
      '@agent-mcp-gateway/testing',
      '@agent-mcp-gateway/testing',
      'agent-mcp-gateway',
    ]);
  });
});
