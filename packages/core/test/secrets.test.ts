import { describe, expect, it } from 'vitest';
import { parseServers } from '../src/config/load.js';
import { ConfigRegistry } from '../src/config/registry.js';
import {
  isSecretStoreKey,
  isValidSecretName,
  resolveSecretReferences,
  secretNameOf,
  secretReferences,
  secretStoreKey,
  serverStoreKey,
} from '../src/index.js';

describe('secret names and store keys', () => {
  it('maps a name to its reserved key and back', () => {
    expect(secretStoreKey('GITHUB_PAT')).toBe('secret--GITHUB_PAT');
    expect(secretNameOf('secret--GITHUB_PAT')).toBe('GITHUB_PAT');
    expect(isSecretStoreKey('secret--a.b-c')).toBe(true);
    expect(isSecretStoreKey(serverStoreKey('https://mcp.notion.com/mcp'))).toBe(false);
    expect(secretNameOf('secret--')).toBeUndefined();
  });

  it('refuses names that are not filename-safe, without echoing them', () => {
    for (const bad of ['', '.hidden', '-x', 'a b', 'a/b', 'x.lock', 'ghp_'.padEnd(120, 'x')]) {
      expect(isValidSecretName(bad)).toBe(false);
    }
    expect(() => secretStoreKey('ghp_notAName value')).toThrow(/^Invalid secret name: secret names hold/);
    expect(() => secretStoreKey('ghp_notAName value')).not.toThrow(/ghp_/);
  });
});

describe('${secret:NAME} references', () => {
  it('finds and replaces them, asking once per name', async () => {
    expect(secretReferences('Bearer ${secret:A} ${secret:B} ${secret:A} ${OTHER}')).toEqual(['A', 'B']);
    const asked: string[] = [];
    const out = await resolveSecretReferences('${secret:A}:${secret:B}:${secret:A}', async (n) => {
      asked.push(n);
      return `<${n}>`;
    });
    expect(out).toBe('<A>:<B>:<A>');
    expect(asked).toEqual(['A', 'B']);
    expect(await resolveSecretReferences('plain', async () => 'x')).toBe('plain');
  });

  it('config loading leaves them as written, and warns where they would not be resolved', () => {
    const { servers, warnings } = parseServers(
      JSON.stringify({
        mcpServers: {
          gh: { url: 'https://api.example.com/mcp', headers: { Authorization: 'Bearer ${secret:GH}' }, tokenStore: 'keychain' },
          local: { command: 'x', args: ['--key', '${secret:K}'], env: { KEY: '${secret:K}' } },
        },
      }),
      '/c/.mcp.json',
      {},
    );
    expect(servers[0]?.headers).toEqual({ Authorization: 'Bearer ${secret:GH}' });
    expect(servers[0]?.tokenStore).toBe('keychain');
    expect(servers[1]?.env).toEqual({ KEY: '${secret:K}' });
    expect(servers[1]?.tokenStore).toBeUndefined();
    expect(warnings).toEqual(['/c/.mcp.json: $.mcpServers.local.args: ${secret:…} is only resolved in "headers" and "env" values; here it stays as written']);
  });

  it('a server entry\'s tokenStore must be a name a store plugin registered', () => {
    const registry = new ConfigRegistry();
    for (const name of ['fs', 'keychain', 'auto']) registry.registerTokenStore({ name, plugin: 'test' });
    expect(() =>
      parseServers(JSON.stringify({ mcpServers: { a: { command: 'x', tokenStore: 'vault' } } }), '/c/.mcp.json', {}, registry),
    ).toThrow('/c/.mcp.json: $.mcpServers.a.tokenStore: expected one of "fs", "keychain", "auto"');
  });
});
