import { describe, expect, it } from 'vitest';
import { EraVerdictCache, LEGACY_VERDICT_HORIZON_MS, eraVerdictKey, type ServerSpec } from '../src/index.js';

function spec(extra: Partial<ServerSpec> = {}): ServerSpec {
  return { name: 'a', transport: 'http', url: 'https://mcp.example.com/mcp', args: [], env: {}, headers: {}, secretValues: [], enabled: true, ...extra };
}

const discover = { supportedVersions: ['2026-07-28'], capabilities: {} } as never;

describe('EraVerdictCache', () => {
  it('keeps a modern verdict, and a legacy one only within its horizon', () => {
    let now = 1_000;
    const cache = new EraVerdictCache({ now: () => now });
    cache.set('m', { kind: 'modern', discover });
    cache.set('l', { kind: 'legacy' });
    now += LEGACY_VERDICT_HORIZON_MS - 1;
    expect(cache.get('l')).toEqual({ kind: 'legacy' });
    now += 1;
    expect(cache.get('l')).toBeUndefined();
    expect(cache.get('m')).toEqual({ kind: 'modern', discover });
    cache.delete('m');
    expect(cache.get('m')).toBeUndefined();
  });
});

describe('eraVerdictKey', () => {
  it('is one key for two spellings of one URL', () => {
    expect(eraVerdictKey(spec({ url: 'HTTPS://MCP.example.com:443/mcp#x' }), 'none')).toBe(eraVerdictKey(spec(), 'none'));
  });

  it('differs per auth context: strategy, auth config, headers, URL credentials', () => {
    const base = eraVerdictKey(spec(), 'none');
    const others = [
      eraVerdictKey(spec(), 'oauth'),
      eraVerdictKey(spec({ auth: { type: 'oauth', scopes: ['a'] } as never }), 'none'),
      eraVerdictKey(spec({ headers: { Authorization: 'Bearer one' } }), 'headers'),
      eraVerdictKey(spec({ headers: { Authorization: 'Bearer two' } }), 'headers'),
      eraVerdictKey(spec({ url: 'https://user:pw@mcp.example.com/mcp' }), 'none'),
      eraVerdictKey(spec({ url: 'https://mcp.example.com/other' }), 'none'),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  it('keys a stdio server by its command line, directory and environment; never holds a value in clear', () => {
    const stdio = (extra: Partial<ServerSpec>) => spec({ transport: 'stdio', url: undefined, command: 'node', args: ['s.js'], ...extra });
    const keys = [stdio({}), stdio({ args: ['s.js', '--era', '2026'] }), stdio({ cwd: '/srv' }), stdio({ env: { TOKEN: 'secret-value' } })].map((s) =>
      eraVerdictKey(s, 'none'),
    );
    expect(new Set(keys).size).toBe(4);
    for (const key of keys) expect(key).toMatch(/^[0-9a-f]{64}$/);
  });
});
