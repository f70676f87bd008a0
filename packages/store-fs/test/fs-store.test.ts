import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { StoredAuth } from '@agent-mcp-gateway/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsTokenStore, defaultTokenDir } from '../src/index.js';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const posix = process.platform !== 'win32';

const AUTH: StoredAuth = {
  server: { name: 'notion', url: 'https://mcp.notion.com/mcp' },
  tokens: { access_token: 'at-1', refresh_token: 'rt-1', expires_at: 1_900_000_000, token_type: 'Bearer', scope: 'read write' },
  client: { issuer: 'https://auth.notion.com', client_id: 'cid', client_secret: 'cs', redirect_uris: ['http://127.0.0.1:33418/callback'], source: 'dcr' },
  discovery: { resource: { resource: 'https://mcp.notion.com/mcp', authorization_servers: ['https://auth.notion.com'] } },
};
const KEY = 'mcp.notion.com-3f2a9c0d41b7e8aa';

let tmp: string;
let dir: string;
let warnings: string[];
let store: FsTokenStore;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'store-fs-'));
  dir = join(tmp, 'nested', 'oauth');
  warnings = [];
  store = new FsTokenStore({ dir, onWarning: (m) => warnings.push(m) });
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;
const age = async (path: string, ms: number): Promise<void> => {
  const t = new Date(Date.now() - ms);
  await utimes(path, t, t);
};

describe('defaultTokenDir', () => {
  it('uses GATEWAY_TOKEN_DIR, else ~/.config/agent-mcp-gateway/oauth', () => {
    expect(defaultTokenDir({}, '/home/u')).toBe(join('/home/u', '.config', 'agent-mcp-gateway', 'oauth'));
    expect(defaultTokenDir({ GATEWAY_TOKEN_DIR: '' }, '/home/u')).toBe(join('/home/u', '.config', 'agent-mcp-gateway', 'oauth'));
    expect(defaultTokenDir({ GATEWAY_TOKEN_DIR: '/srv/tokens' }, '/home/u')).toBe('/srv/tokens');
    expect(defaultTokenDir({ GATEWAY_TOKEN_DIR: '~/tok' }, '/home/u')).toBe(join('/home/u', 'tok'));
  });
});

describe('FsTokenStore: get / set / delete / list', () => {
  it('round-trips a whole entry, one file per part', async () => {
    expect(store.kind).toBe('fs');
    expect(await store.get(KEY)).toBeUndefined();
    await store.set(KEY, AUTH);
    expect(await store.get(KEY)).toEqual(AUTH);
    expect((await readdir(join(dir, KEY))).sort()).toEqual(['client.json', 'discovery.json', 'server.json', 'tokens.json']);
    expect(JSON.parse(await readFile(join(dir, KEY, 'tokens.json'), 'utf8'))).toEqual(AUTH.tokens);
    // another instance sees the same entry
    expect(await new FsTokenStore({ dir }).get(KEY)).toEqual(AUTH);
    expect(warnings).toEqual([]);
  });

  it('set replaces the whole entry: absent parts are removed', async () => {
    await store.set(KEY, AUTH);
    await store.set(KEY, { tokens: { access_token: 'at-2' } });
    expect(await store.get(KEY)).toEqual({ tokens: { access_token: 'at-2' } });
    expect(await readdir(join(dir, KEY))).toEqual(['tokens.json']);
  });

  it('loads an entry written before tokens recorded their issuer (the old layout), and round-trips the issuer now', async () => {
    // The files exactly as an earlier version wrote them: tokens.json without `issuer`.
    await mkdir(join(dir, KEY), { recursive: true, mode: 0o700 });
    for (const [file, value] of [
      ['tokens.json', AUTH.tokens],
      ['client.json', AUTH.client],
      ['server.json', AUTH.server],
    ] as const) {
      await writeFile(join(dir, KEY, file), JSON.stringify(value, null, 2), { mode: 0o600 });
    }
    const old = await store.get(KEY);
    expect(old).toEqual({ tokens: AUTH.tokens, client: AUTH.client, server: AUTH.server });
    expect(old?.tokens?.issuer).toBeUndefined();
    expect(warnings).toEqual([]);

    const stamped = { ...AUTH.tokens, access_token: 'at-2', issuer: 'https://auth.notion.com' };
    await store.set(KEY, { ...old, tokens: stamped });
    expect(JSON.parse(await readFile(join(dir, KEY, 'tokens.json'), 'utf8'))).toEqual(stamped);
    expect((await new FsTokenStore({ dir }).get(KEY))?.tokens).toEqual(stamped);
  });

  it('keeps fields it does not know and reads nulls as absent', async () => {
    await mkdir(join(dir, KEY), { recursive: true, mode: 0o700 });
    await writeFile(join(dir, KEY, 'tokens.json'), JSON.stringify({ access_token: 'a', refresh_token: null, id_token: 'x' }), { mode: 0o600 });
    expect(await store.get(KEY)).toEqual({ tokens: { access_token: 'a', id_token: 'x' } });
  });

  it('refuses a value that does not fit, naming the field but not the value', async () => {
    await expect(store.set(KEY, { tokens: { access_token: 7 as unknown as string, refresh_token: 'SECRET-RT' } })).rejects.toThrow(
      /tokens does not fit \(access_token: invalid_type\)/,
    );
    await expect(store.set(KEY, { tokens: { access_token: 7 as unknown as string, refresh_token: 'SECRET-RT' } })).rejects.not.toThrow(/SECRET/);
    expect(existsSync(join(dir, KEY))).toBe(false);
  });

  it('rejects keys that are not filename-safe', async () => {
    for (const bad of ['../x', 'a/b', '.hidden', '', 'x.lock', 'a\\b']) {
      await expect(store.set(bad, AUTH)).rejects.toThrow(TypeError);
    }
    await expect(store.get('..')).rejects.toThrow(TypeError);
  });

  it('delete removes the folder', async () => {
    await store.set(KEY, AUTH);
    await store.delete(KEY);
    expect(existsSync(join(dir, KEY))).toBe(false);
    expect(await store.get(KEY)).toBeUndefined();
    await store.delete(KEY); // deleting nothing is fine
  });

  it('list summarizes each entry, with problems and without secrets', async () => {
    expect(await store.list()).toEqual([]);
    await store.set(KEY, AUTH);
    await store.set('b-key', { tokens: { access_token: 'x' } });
    await store.set('c-key', { client: { issuer: 'https://i', client_id: 'c', source: 'preregistered' } });
    await mkdir(join(dir, 'd-key'), { mode: 0o700 });
    await writeFile(join(dir, 'd-key', 'tokens.json'), '{"access_token": "SECRET', { mode: 0o600 });
    await writeFile(join(dir, 'd-key', 'server.json'), '{"name": "d", "url": "https://d.example/mcp"}', { mode: 0o600 });
    await mkdir(join(dir, 'e-key'), { mode: 0o700 });
    await writeFile(join(dir, 'e-key', 'tokens.json'), '{"access_token": "SECRET', { mode: 0o600 });
    await mkdir(join(dir, 'empty-key'), { mode: 0o700 });
    const list = await store.list();
    expect(list).toEqual([
      { key: 'b-key', hasTokens: true, hasRefreshToken: false, location: join(dir, 'b-key') },
      { key: 'c-key', hasTokens: false, hasRefreshToken: false, location: join(dir, 'c-key') },
      // the corrupt tokens.json is moved aside: the rest of the entry carries on
      { key: 'd-key', server: { name: 'd', url: 'https://d.example/mcp' }, hasTokens: false, hasRefreshToken: false, location: join(dir, 'd-key') },
      // e-key had nothing else: listed with what was moved aside, so that people see it (and a logout removes it)
      {
        key: 'e-key',
        hasTokens: false,
        hasRefreshToken: false,
        location: join(dir, 'e-key'),
        problem: expect.stringMatching(/^tokens\.json: moved aside as corrupt \(tokens\.json\.corrupt-[-\dT.Z]+\)$/),
      },
      {
        key: KEY,
        server: AUTH.server,
        hasTokens: true,
        hasRefreshToken: true,
        expiresAt: 1_900_000_000,
        scope: 'read write',
        location: join(dir, KEY),
      },
    ]);
    expect(JSON.stringify(list)).not.toMatch(/SECRET|at-1|rt-1/);
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toMatch(/d-key.tokens\.json: not valid JSON; moved aside to .*tokens\.json\.corrupt-/);
    expect(warnings.join('\n')).not.toMatch(/SECRET/);
    // lock folders are not entries
    await store.withLock(KEY, async () => {
      expect((await store.list()).map((e) => e.key)).toEqual(['b-key', 'c-key', 'd-key', 'e-key', KEY]);
    });
  });
});

describe.runIf(posix)('FsTokenStore: permissions', () => {
  it('creates folders 0700 and files 0600', async () => {
    await store.set(KEY, AUTH);
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(join(dir, KEY))).toBe(0o700);
    for (const f of ['tokens.json', 'client.json', 'discovery.json', 'server.json']) {
      expect(await mode(join(dir, KEY, f))).toBe(0o600);
    }
  });

  it('tightens looser folders and files it finds, and says so', async () => {
    await store.set(KEY, AUTH);
    await chmod(dir, 0o755);
    await chmod(join(dir, KEY), 0o777);
    await chmod(join(dir, KEY, 'tokens.json'), 0o644);
    expect(await store.get(KEY)).toEqual(AUTH);
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(join(dir, KEY))).toBe(0o700);
    expect(await mode(join(dir, KEY, 'tokens.json'))).toBe(0o600);
    expect(warnings).toEqual([
      `${dir}: permissions were 0755, set to 0700`,
      `${join(dir, KEY)}: permissions were 0777, set to 0700`,
      `${join(dir, KEY, 'tokens.json')}: permissions were 0644, set to 0600`,
    ]);
  });
});

describe('FsTokenStore: corrupt files and interrupted writes', () => {
  it('moves a corrupt tokens.json aside once, reads the entry without it, and a full set() writes a new one', async () => {
    await store.set(KEY, AUTH);
    const tokens = join(dir, KEY, 'tokens.json');
    await writeFile(tokens, '{"access_token": "SECRET-HALF');
    const got = await store.get(KEY);
    expect(got?.tokens).toBeUndefined();
    expect(got?.client).toEqual(AUTH.client);
    const aside = (await readdir(join(dir, KEY))).filter((n) => n.startsWith('tokens.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(aside[0]).toMatch(/^tokens\.json\.corrupt-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/);
    expect(await readFile(join(dir, KEY, aside[0] as string), 'utf8')).toBe('{"access_token": "SECRET-HALF'); // kept for the user
    expect(warnings).toEqual([`${tokens}: not valid JSON; moved aside to ${join(dir, KEY, aside[0] as string)} (the store carries on without it)`]);
    await store.get(KEY);
    expect(warnings).toHaveLength(1); // reported once: the file is out of the way
    await store.set(KEY, AUTH);
    expect(await store.get(KEY)).toEqual(AUTH);
    expect(JSON.parse(await readFile(tokens, 'utf8'))).toEqual(AUTH.tokens);
    expect(warnings).toHaveLength(1);
    expect((await store.list()).map((e) => e.key)).toEqual([KEY]); // the moved file is not an entry or a problem
  });

  it('reports a file of the wrong shape by field, not by content, and moves it aside', async () => {
    await store.set(KEY, { tokens: { access_token: 'a' } });
    await writeFile(join(dir, KEY, 'tokens.json'), JSON.stringify({ access_token: 42, refresh_token: 'SECRET-RT' }));
    expect(await store.get(KEY)).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      new RegExp(`^${escape(join(dir, KEY, 'tokens.json'))}: unexpected content \\(access_token: invalid_type\\); moved aside to .*tokens\\.json\\.corrupt-`),
    );
    await writeFile(join(dir, KEY, 'client.json'), JSON.stringify({ issuer: 'i', client_id: 'c', source: 'SECRET-SRC' }), { mode: 0o600 });
    await store.get(KEY);
    expect(warnings[1]).toMatch(/client\.json: unexpected content \(source: invalid_value\); moved aside to /);
    expect(warnings.join('\n')).not.toMatch(/SECRET/);
  });

  it.runIf(posix && process.getuid?.() !== 0)('reports an unreadable file and treats it as absent', async () => {
    await store.set(KEY, AUTH);
    await chmod(join(dir, KEY, 'client.json'), 0o000);
    const got = await store.get(KEY);
    expect(got?.client).toBeUndefined();
    expect(got?.tokens).toEqual(AUTH.tokens);
    expect(warnings).toEqual([`${join(dir, KEY, 'client.json')}: unreadable (EACCES); treated as absent`]);
  });

  it('removes and reports a leftover temp file from an interrupted write; never reads it', async () => {
    await mkdir(join(dir, KEY), { recursive: true, mode: 0o700 });
    const leftover = join(dir, KEY, '.tokens.json.0123456789abcdef.tmp');
    await writeFile(leftover, '{"access_token": "SECRET-HA', { mode: 0o600 });
    await age(leftover, 5 * 60_000);
    const young = join(dir, KEY, '.client.json.fedcba9876543210.tmp');
    await writeFile(young, '{', { mode: 0o600 }); // maybe another process's write in progress: left alone

    expect(await store.get(KEY)).toBeUndefined();
    expect(warnings).toEqual([`${leftover}: leftover temporary file from an interrupted write, removed`]);
    expect(existsSync(leftover)).toBe(false);
    expect(existsSync(young)).toBe(true);

    await store.set(KEY, { tokens: { access_token: 'whole' } });
    expect((await store.get(KEY))?.tokens).toEqual({ access_token: 'whole' });
    expect((await readdir(join(dir, KEY))).filter((n) => n !== '.client.json.fedcba9876543210.tmp')).toEqual(['tokens.json']);
  });

  it('leaves no temp files behind after writes', async () => {
    for (let i = 0; i < 5; i++) await store.set(KEY, { ...AUTH, tokens: { access_token: `a${i}` } });
    expect((await readdir(join(dir, KEY))).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

describe('FsTokenStore.withLock in one process', () => {
  it('serializes overlapping sections on one key (also across instances)', async () => {
    const other = new FsTokenStore({ dir });
    const events: string[] = [];
    const section = (name: string) => async (): Promise<string> => {
      events.push(`${name}:enter`);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      events.push(`${name}:exit`);
      return name;
    };
    const results = await Promise.all([store.withLock(KEY, section('a')), other.withLock(KEY, section('b')), store.withLock(KEY, section('c'))]);
    expect(results).toEqual(['a', 'b', 'c']);
    // never interleaved: each enter is followed by its own exit (the order of entry is not promised)
    expect(events).toHaveLength(6);
    for (let i = 0; i < 6; i += 2) expect(events[i + 1]).toBe(events[i]!.replace(':enter', ':exit'));
    expect(events.filter((e) => e.endsWith(':enter')).sort()).toEqual(['a:enter', 'b:enter', 'c:enter']);
    expect(existsSync(join(dir, `${KEY}.lock`))).toBe(false);
  });

  it('does not make one key wait for another', async () => {
    const out = await store.withLock('k1', () => store.withLock('k2', async () => 'inner'));
    expect(out).toBe('inner');
  });

  it('releases when fn throws', async () => {
    await expect(
      store.withLock(KEY, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(existsSync(join(dir, `${KEY}.lock`))).toBe(false);
    expect(await store.withLock(KEY, async () => 'again')).toBe('again');
  });

  it('refuses a nested withLock on the same key instead of deadlocking', async () => {
    await expect(store.withLock(KEY, () => store.withLock(KEY, async () => 1))).rejects.toThrow(/not reentrant/);
  });

  it('gives up after lockTimeoutMs behind a section of this process, naming the key folder', async () => {
    const impatient = new FsTokenStore({ dir, lockTimeoutMs: 100 });
    let entered!: () => void;
    let release!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const holding = store.withLock(KEY, () => {
      entered();
      return new Promise<void>((r) => (release = r));
    });
    await inside;
    await expect(impatient.withLock(KEY, async () => 'never')).rejects.toThrow(
      `Could not lock ${join(dir, KEY)} within 0.1 s: the lock is held by another section of this process`,
    );
    release();
    await holding;
    // the timed-out waiter left the queue: the next section enters
    expect(await impatient.withLock(KEY, async () => 'ok')).toBe('ok');
  });

  it('waits for a fresh lock folder held elsewhere, then times out naming the key folder', async () => {
    await mkdir(dir, { recursive: true });
    await mkdir(join(dir, `${KEY}.lock`));
    const waits: string[] = [];
    const impatient = new FsTokenStore({ dir, lockTimeoutMs: 150, onLockWait: (f) => waits.push(f) });
    await expect(impatient.withLock(KEY, async () => 'never')).rejects.toThrow(
      `Could not lock ${join(dir, KEY)} within 0.2 s: the lock is held by another process`,
    );
    expect(waits).toEqual([join(dir, KEY)]);
  });

  it('takes over a stale lock left by a dead holder', async () => {
    await mkdir(dir, { recursive: true });
    const lockDir = join(dir, `${KEY}.lock`);
    await mkdir(lockDir);
    await age(lockDir, 60_000);
    expect(await store.withLock(KEY, async () => 'entered')).toBe('entered');
    expect(existsSync(lockDir)).toBe(false);
  });
});

// ---- across processes: children run the built package ----

const CHILD = `
import { createInterface } from 'node:readline';
const { FsTokenStore } = await import(process.env.STORE_FS_URL);
const [mode, dir, key, n] = process.argv.slice(2);
const store = new FsTokenStore({ dir });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
if (mode === 'hold') {
  await store.withLock(key, async () => {
    await store.set(key, { tokens: { access_token: 'child-holding' } });
    process.stdout.write('locked\\n');
    await lines.next();
    await store.set(key, { tokens: { access_token: 'child-done' } });
  });
  process.stdout.write('released\\n');
} else {
  process.stdout.write('ready\\n');
  await lines.next();
  for (let i = 0; i < Number(n); i++) {
    await store.withLock(key, async () => {
      const count = Number((await store.get(key))?.tokens?.access_token ?? '0');
      await new Promise((r) => setImmediate(r));
      await store.set(key, { tokens: { access_token: String(count + 1) } });
    });
  }
  process.stdout.write('done\\n');
}
process.exit(0);
`;

interface Child {
  proc: ChildProcessWithoutNullStreams;
  lines: string[];
  waitFor(line: string): Promise<void>;
  exited: Promise<number | null>;
}

async function startChild(args: string[]): Promise<Child> {
  const script = join(tmp, 'child.mjs');
  if (!existsSync(script)) await writeFile(script, CHILD);
  const proc = spawn(process.execPath, [script, ...args], {
    cwd: tmp,
    env: { ...process.env, STORE_FS_URL: pathToFileURL(DIST).href },
  });
  const lines: string[] = [];
  const waiters: Array<{ line: string; resolve: () => void }> = [];
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters.filter((x) => x.line === line)) w.resolve();
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    lines,
    exited,
    waitFor: (line) =>
      lines.includes(line)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ line, resolve })),
            exited.then((code) => {
              throw new Error(`child exited (${code}) before "${line}": ${stderr}`);
            }),
          ]),
  };
}

describe('FsTokenStore.withLock across processes', () => {
  beforeEach(() => {
    if (!existsSync(DIST)) throw new Error(`${DIST} missing: run "npx tsc -b" first`);
  });

  it('does not enter while another process holds the lock', async () => {
    const events: string[] = [];
    let waiting!: () => void;
    const parentWaiting = new Promise<void>((r) => (waiting = r));
    const parent = new FsTokenStore({ dir, onLockWait: () => waiting() });

    const child = await startChild(['hold', dir, KEY]);
    await child.waitFor('locked');
    events.push('child-locked');

    // While the child holds it, a short wait times out.
    await expect(new FsTokenStore({ dir, lockTimeoutMs: 100 }).withLock(KEY, async () => 'never')).rejects.toThrow(
      `Could not lock ${join(dir, KEY)}`,
    );

    const section = parent.withLock(KEY, async () => {
      events.push('parent-enter');
      // The child's last write inside its section is visible: it had finished.
      return (await parent.get(KEY))?.tokens?.access_token;
    });
    await parentWaiting; // the parent found the lock taken and is waiting
    events.push('parent-waiting');
    child.proc.stdin.write('go\n');
    events.push('release-sent');
    expect(await section).toBe('child-done');
    await child.waitFor('released');
    expect(await child.exited).toBe(0);
    expect(events).toEqual(['child-locked', 'parent-waiting', 'release-sent', 'parent-enter']);
  });

  it('loses no update: 2 processes x 20 read-modify-write increments', async () => {
    const children = await Promise.all([startChild(['count', dir, KEY, '20']), startChild(['count', dir, KEY, '20'])]);
    await Promise.all(children.map((c) => c.waitFor('ready')));
    for (const c of children) c.proc.stdin.write('go\n');
    await Promise.all(children.map((c) => c.waitFor('done')));
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);
    expect((await store.get(KEY))?.tokens?.access_token).toBe('40');
  });
});
