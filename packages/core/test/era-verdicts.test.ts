import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('EraVerdictCache with a file (verdicts kept across processes)', () => {
  const K1 = 'a'.repeat(64);
  const K2 = 'b'.repeat(64);
  const K3 = 'c'.repeat(64);
  const fileIn = async () => join(await mkdtemp(join(tmpdir(), 'amg-verdicts-')), 'cache', 'era-verdicts.json');

  it("a second cache on the file has the first one's verdicts, legacy ones with their original date", async () => {
    let now = 5_000;
    const file = await fileIn();
    const first = new EraVerdictCache({ file, now: () => now });
    first.set(K1, { kind: 'modern', discover });
    first.set(K2, { kind: 'legacy' });
    await first.flushed();
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    now += LEGACY_VERDICT_HORIZON_MS - 1;
    const second = new EraVerdictCache({ file, now: () => now });
    expect(second.get(K1)).toEqual({ kind: 'modern', discover });
    expect(second.get(K2)).toEqual({ kind: 'legacy' });
    now += 1;
    expect(second.get(K2)).toBeUndefined(); // the horizon counts from the first process's verdict
  });

  it('merges with what another process wrote meanwhile; a deletion reaches the file', async () => {
    const file = await fileIn();
    const a = new EraVerdictCache({ file });
    const b = new EraVerdictCache({ file });
    a.set(K1, { kind: 'legacy' });
    await a.flushed();
    b.set(K2, { kind: 'modern', discover });
    await b.flushed();
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')).verdicts).sort()).toEqual([K1, K2]);
    b.delete(K1);
    await b.flushed();
    expect(new EraVerdictCache({ file }).get(K1)).toBeUndefined();
    expect(new EraVerdictCache({ file }).get(K2)).toEqual({ kind: 'modern', discover });
  });

  it('ignores a corrupt file and malformed entries (a lost verdict costs a probe), and writes a good file over it', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'amg-verdicts-')), 'era-verdicts.json');
    await writeFile(file, '{ not json');
    expect(new EraVerdictCache({ file }).get(K1)).toBeUndefined();
    await writeFile(
      file,
      JSON.stringify({ version: 1, verdicts: { [K1]: { verdict: { kind: 'modern' }, storedAt: 1 }, short: { verdict: { kind: 'legacy' }, storedAt: 1 }, [K2]: { verdict: { kind: 'legacy' }, storedAt: Date.now() } } }),
    );
    const cache = new EraVerdictCache({ file });
    expect(cache.get(K1)).toBeUndefined(); // modern without its discover result
    expect(cache.get(K2)).toEqual({ kind: 'legacy' });
    cache.set(K3, { kind: 'legacy' });
    await cache.flushed();
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')).verdicts).sort()).toEqual([K2, K3]);
  });

  it('a file that cannot be written is reported, and the verdicts stay in memory', async () => {
    const blocker = join(await mkdtemp(join(tmpdir(), 'amg-verdicts-')), 'not-a-folder');
    await writeFile(blocker, 'a file where the folder should be');
    const warnings: string[] = [];
    const cache = new EraVerdictCache({ file: join(blocker, 'era-verdicts.json'), onWarning: (m) => warnings.push(m) });
    cache.set(K1, { kind: 'legacy' });
    await cache.flushed();
    expect(cache.get(K1)).toEqual({ kind: 'legacy' });
    expect(warnings).toEqual([expect.stringContaining('Could not keep the protocol verdicts in')]);
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
