import { existsSync } from 'node:fs';
import { chown, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Gateway, type ServerSpec, type StoredAuth, type TokenStore } from '@agent-mcp-gateway/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsTokenStore, FsTokenStorePlugin } from '../src/index.js';
import { moveAside, readJsonFile, UnsafeFolderError } from '../src/files.js';
import { tokensSchema } from '../src/schemas.js';

const posix = process.platform !== 'win32';
const root = posix && process.getuid?.() === 0;
const NOBODY = 65534;

const AUTH: StoredAuth = {
  server: { name: 'notion', url: 'https://mcp.notion.com/mcp' },
  tokens: { access_token: 'SECRET-AT-1', refresh_token: 'SECRET-RT-1', expires_at: 1_900_000_000 },
  client: { issuer: 'https://auth.notion.com', client_id: 'cid', client_secret: 'SECRET-CS-1', source: 'dcr' },
};
const KEY = 'mcp.notion.com-3f2a9c0d41b7e8aa';

let tmp: string;
let warnings: string[];

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'store-fs-safety-'));
  warnings = [];
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const open = (dir: string): FsTokenStore => new FsTokenStore({ dir, onWarning: (m) => warnings.push(m) });

/** The rejection of `p`, which must be an UnsafeFolderError (CONFIG_INVALID). */
async function refusal(p: Promise<unknown>): Promise<UnsafeFolderError> {
  const error = await p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnsafeFolderError);
  expect(error).toMatchObject({ code: 'CONFIG_INVALID', details: { path: 'tokenDir', reason: expect.stringMatching(/^(token|key)_dir_unsafe$/) } });
  expect((error as UnsafeFolderError).details.reason).toBe((error as UnsafeFolderError).role === 'token folder' ? 'token_dir_unsafe' : 'key_dir_unsafe');
  return error as UnsafeFolderError;
}

describe.runIf(posix)('FsTokenStore: a token folder that is a symbolic link', () => {
  it('is refused by every operation, naming the link, its target and the fix; nothing is written through it', async () => {
    const real = join(tmp, 'elsewhere');
    await mkdir(real, { mode: 0o700 });
    const link = join(tmp, 'oauth');
    await symlink(real, link);
    const store = open(link);
    for (const op of [() => store.get(KEY), () => store.set(KEY, AUTH), () => store.list(), () => store.withLock(KEY, async () => 1), () => store.delete(KEY), () => store.checkFolder()]) {
      const error = await refusal(op());
      expect(error.message).toBe(
        `Token folder ${link} is a symbolic link (to ${real}): the gateway does not follow a link for its token folder. ` +
          `Either set GATEWAY_TOKEN_DIR (or the "tokenDir" setting) to the real folder, ${real}, or replace the link by that folder (rm '${link}' && mv '${real}' '${link}')`,
      );
    }
    expect(await readdir(real)).toEqual([]);
    // the fix it names works
    const fixed = open(real);
    await fixed.set(KEY, AUTH);
    expect(await fixed.get(KEY)).toEqual(AUTH);
  });

  it('is refused when dangling too, and not created through', async () => {
    const link = join(tmp, 'oauth');
    await symlink(join(tmp, 'nowhere'), link);
    const error = await refusal(open(link).set(KEY, AUTH));
    expect(error.message).toContain(`Token folder ${link} is a symbolic link (to ${join(tmp, 'nowhere')})`);
    expect(existsSync(join(tmp, 'nowhere'))).toBe(false);
  });

  it('is refused when it is a file', async () => {
    const file = join(tmp, 'oauth');
    await writeFile(file, 'x');
    const error = await refusal(open(file).get(KEY));
    expect(error.message).toMatch(/^Token folder .* exists and is not a folder: move it away, or set GATEWAY_TOKEN_DIR/);
  });

  it('a link higher up the path is not the store\'s business (e.g. /var → /private/var)', async () => {
    const real = join(tmp, 'real-parent');
    await mkdir(real);
    await symlink(real, join(tmp, 'parent'));
    const store = open(join(tmp, 'parent', 'oauth'));
    await store.set(KEY, AUTH);
    expect(await store.get(KEY)).toEqual(AUTH);
    expect(existsSync(join(real, 'oauth', KEY, 'tokens.json'))).toBe(true);
  });
});

describe.runIf(posix)('FsTokenStore: a key folder that is a symbolic link', () => {
  it('is refused by get and set, nothing is written through it, list shows the problem, delete removes the link only', async () => {
    const dir = join(tmp, 'oauth');
    const store = open(dir);
    await store.set('other-key', { tokens: { access_token: 'fine' } });
    const outside = join(tmp, 'outside');
    await mkdir(outside, { mode: 0o700 });
    await writeFile(join(outside, 'tokens.json'), JSON.stringify({ access_token: 'PLANTED' }), { mode: 0o600 });
    const link = join(dir, KEY);
    await symlink(outside, link);

    const read = await refusal(store.get(KEY));
    expect(read.message).toBe(
      `Key folder ${link} is a symbolic link (to ${outside}): the store does not follow links inside its folder and writes nothing through them. ` +
        `Remove the link (rm '${link}'); the entry is then stored afresh by the next login or \`secret set\``,
    );
    await refusal(store.set(KEY, AUTH));
    await refusal(store.withLock(KEY, () => store.set(KEY, AUTH)));
    expect(await readdir(outside)).toEqual(['tokens.json']);
    expect(await readFile(join(outside, 'tokens.json'), 'utf8')).toBe(JSON.stringify({ access_token: 'PLANTED' }));

    expect(await store.list()).toEqual([
      { key: KEY, hasTokens: false, hasRefreshToken: false, location: link, problem: `the key folder is a symbolic link (to ${outside})` },
      { key: 'other-key', hasTokens: true, hasRefreshToken: false, location: join(dir, 'other-key') },
    ]);

    await store.delete(KEY);
    expect(existsSync(link)).toBe(false);
    expect(await readdir(outside)).toEqual(['tokens.json']);
    await store.set(KEY, AUTH); // afresh, as the message says
    expect(await store.get(KEY)).toEqual(AUTH);
    expect((await lstat(link)).isDirectory()).toBe(true);
  });

  it('a file in a key folder that is a link is not followed for reading, and a write replaces the link, not its target', async () => {
    const dir = join(tmp, 'oauth');
    const store = open(dir);
    await store.set(KEY, AUTH);
    const outside = join(tmp, 'victim.json');
    await writeFile(outside, JSON.stringify({ access_token: 'PLANTED' }), { mode: 0o600 });
    await rm(join(dir, KEY, 'tokens.json'));
    await symlink(outside, join(dir, KEY, 'tokens.json'));
    const got = await store.get(KEY);
    expect(got?.tokens).toBeUndefined();
    expect(got?.client).toEqual(AUTH.client);
    expect(warnings).toEqual([`${join(dir, KEY, 'tokens.json')}: a symbolic link, not followed; treated as absent`]);
    expect((await store.list())[0]?.problem).toBe('tokens.json: a symbolic link, not followed');
    await store.set(KEY, AUTH);
    expect(await readFile(outside, 'utf8')).toBe(JSON.stringify({ access_token: 'PLANTED' }));
    expect((await lstat(join(dir, KEY, 'tokens.json'))).isFile()).toBe(true);
    expect(await store.get(KEY)).toEqual(AUTH);
  });
});

describe.runIf(root)('FsTokenStore: folders owned by another account (uid 65534)', () => {
  it('refuses such a token folder, naming the owner and the fix', async () => {
    const dir = join(tmp, 'oauth');
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, NOBODY, NOBODY);
    const store = open(dir);
    for (const op of [() => store.get(KEY), () => store.set(KEY, AUTH), () => store.list(), () => store.withLock(KEY, async () => 1), () => store.checkFolder()]) {
      const error = await refusal(op());
      expect(error.message).toBe(
        `Token folder ${dir} is owned by uid ${NOBODY}, not by you (uid 0): another account could read or replace the tokens in it. ` +
          `Use a folder of your own (set GATEWAY_TOKEN_DIR (or the "tokenDir" setting)), or if it is yours, take it back: chown -R 0 '${dir}'`,
      );
    }
    expect(await readdir(dir)).toEqual([]);
    await chown(dir, 0, 0); // the fix it names
    await store.set(KEY, AUTH);
    expect(await store.get(KEY)).toEqual(AUTH);
  });

  it('refuses such a key folder (get, set) and lists it as a problem', async () => {
    const dir = join(tmp, 'oauth');
    const store = open(dir);
    await store.set(KEY, AUTH);
    await chown(join(dir, KEY), NOBODY, NOBODY);
    const error = await refusal(store.get(KEY));
    expect(error.message).toContain(`Key folder ${join(dir, KEY)} is owned by uid ${NOBODY}, not by you (uid 0)`);
    expect(error.message).toContain(`Remove it (rm -r '${join(dir, KEY)}') and log in again`);
    await refusal(store.set(KEY, { tokens: { access_token: 'new' } }));
    expect(JSON.parse(await readFile(join(dir, KEY, 'tokens.json'), 'utf8'))).toEqual(AUTH.tokens); // not written
    expect((await store.list())[0]).toMatchObject({ key: KEY, hasTokens: false, problem: `the key folder is owned by uid ${NOBODY}, not by you (uid 0)` });
  });

  it('reads no file of another account in its folders', async () => {
    const dir = join(tmp, 'oauth');
    const store = open(dir);
    await store.set(KEY, AUTH);
    await chown(join(dir, KEY, 'tokens.json'), NOBODY, NOBODY);
    expect((await store.get(KEY))?.tokens).toBeUndefined();
    expect(warnings).toEqual([`${join(dir, KEY, 'tokens.json')}: owned by uid ${NOBODY}, not by you; treated as absent`]);
  });
});

describe('FsTokenStore: errors and warnings carry no secrets', () => {
  it.runIf(posix)('none of the refusals or warnings quote stored values', async () => {
    const dir = join(tmp, 'oauth');
    const store = open(dir);
    await store.set(KEY, AUTH);
    await writeFile(join(dir, KEY, 'client.json'), '{"client_secret": "SECRET-CS-1", ');
    await store.get(KEY);
    const outside = join(tmp, 'outside');
    await rename(join(dir, KEY), outside);
    await symlink(outside, join(dir, KEY));
    const error = await refusal(store.get(KEY));
    expect(`${error.message}\n${warnings.join('\n')}`).not.toMatch(/SECRET/);
  });
});

describe('moveAside', () => {
  it('moves only the file that was read: one replaced meanwhile stays', async () => {
    const path = join(tmp, 'client.json');
    await writeFile(path, '{"broken', { mode: 0o600 });
    const read = await readJsonFile(path, tokensSchema, () => undefined);
    expect(read.state === 'bad' && read.corrupt).toBeTruthy();
    const identity = (read as { corrupt: Parameters<typeof moveAside>[1] }).corrupt;
    // another process writes a whole new file in its place (atomic rename)
    await writeFile(join(tmp, 'new'), '{"access_token":"fresh"}', { mode: 0o600 });
    await rename(join(tmp, 'new'), path);
    expect(await moveAside(path, identity)).toBeUndefined();
    expect(await readFile(path, 'utf8')).toBe('{"access_token":"fresh"}');
    expect(await readdir(tmp)).toEqual(['client.json']);
  });

  it('never overwrites an earlier corrupt copy', async () => {
    const path = join(tmp, 'tokens.json');
    const now = new Date('2025-01-31T12:00:00.000Z');
    const names: string[] = [];
    for (const text of ['one', 'two']) {
      await writeFile(path, text, { mode: 0o600 });
      const read = await readJsonFile(path, tokensSchema, () => undefined);
      names.push((await moveAside(path, (read as { corrupt: Parameters<typeof moveAside>[1] }).corrupt, now)) as string);
    }
    expect(names).toEqual([join(tmp, 'tokens.json.corrupt-2025-01-31T12-00-00.000Z'), join(tmp, 'tokens.json.corrupt-2025-01-31T12-00-00.000Z-1')]);
    expect(await readFile(names[0] as string, 'utf8')).toBe('one');
    expect(await readFile(names[1] as string, 'utf8')).toBe('two');
    if (posix) expect((await stat(names[1] as string)).mode & 0o777).toBe(0o600);
  });

  it('two stores finding the same corrupt file move it once and report it once', async () => {
    const dir = join(tmp, 'oauth');
    const a = open(dir);
    const b = open(dir);
    await a.set(KEY, AUTH);
    await writeFile(join(dir, KEY, 'client.json'), 'not json');
    const [x, y] = await Promise.all([a.get(KEY), b.get(KEY), a.get(KEY)]);
    expect(x?.tokens).toEqual(AUTH.tokens);
    expect(y?.tokens).toEqual(AUTH.tokens);
    expect((await readdir(join(dir, KEY))).filter((n) => n.includes('.corrupt-'))).toHaveLength(1);
    expect(warnings.filter((w) => w.includes('moved aside'))).toHaveLength(1);
  });
});

describe.runIf(posix)('FsTokenStorePlugin', () => {
  function fakeGateway(tokenDir: string): { gateway: Gateway; resolve(spec: ServerSpec): Promise<TokenStore | undefined> } {
    let tapped: ((spec: ServerSpec) => Promise<TokenStore | undefined>) | undefined;
    const logger = { warn: () => undefined, info: () => undefined, child: () => logger };
    const gateway = {
      logger,
      config: { settings: { tokenStore: 'fs', tokenDir } },
      hooks: { resolveTokenStore: { tapPromise: (_: string, fn: typeof tapped) => (tapped = fn) } },
    } as unknown as Gateway;
    return { gateway, resolve: (spec) => (tapped as NonNullable<typeof tapped>)(spec) };
  }
  const spec = { name: 'notion', transport: 'http', url: 'https://mcp.notion.com/mcp', args: [], env: {}, headers: {}, enabled: true, secretValues: [] } as ServerSpec;

  it('fails the server that needs the store when the token folder is a link; answers again once it is fixed', async () => {
    const real = join(tmp, 'real');
    await mkdir(real, { mode: 0o700 });
    const link = join(tmp, 'oauth');
    await symlink(real, link);
    const { gateway, resolve } = fakeGateway(link);
    new FsTokenStorePlugin().apply(gateway);
    const error = await refusal(resolve(spec));
    expect(error.message).toMatch(/^Token folder .*oauth is a symbolic link/);
    await rm(link);
    await rename(real, link);
    expect((await resolve(spec))?.kind).toBe('fs');
  });
});
