/**
 * The file token store refusing what it must not trust, through the built CLI: a token
 * folder (GATEWAY_TOKEN_DIR) that is a symbolic link or another account's, a key folder
 * linked elsewhere — each refused with CONFIG_INVALID naming the path and the fix, and
 * nothing written through it — and a corrupt client.json moved aside once while the
 * store carries on.
 */
import { existsSync } from 'node:fs';
import { chown, lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serverStoreKey } from '@agent-mcp-gateway/core';
import { startAuthorizationServer, startProtectedMcpServer, testBrowserCommand } from '@agent-mcp-gateway/testing';
import { describe, expect, it } from 'vitest';
import { closeAfterEach, demoServer, errorOf, json, runCli, tempDir, writeConfig, type RunResult } from './harness.js';

const { later, gateway } = closeAfterEach();
const posix = process.platform !== 'win32';
const root = posix && process.getuid?.() === 0;

/** An OAuth-protected server and its authorization server, closed after the test. */
async function protectedServer(accessTokenTtl?: number) {
  const as = later(await startAuthorizationServer(accessTokenTtl ? { accessTokenTtl } : {}));
  const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
  return { as, notion };
}

/** `agent-mcp-gateway <args>` with this config, in its folder. */
async function cli(args: string[], servers: Record<string, unknown>, env: Record<string, string>, input?: string): Promise<RunResult> {
  const { dir, config } = await writeConfig(servers);
  return runCli([...args, '--config', config], { cwd: dir, env: { HOME: dir, ...env }, ...(input !== undefined && { input }) });
}

/** A GATEWAY_TOKEN_DIR that is a link to a real (empty) folder. */
async function linkedTokenDir(): Promise<{ link: string; real: string }> {
  const base = await tempDir();
  const real = join(base, 'real-tokens');
  await mkdir(real, { mode: 0o700 });
  const link = join(base, 'oauth');
  await symlink(real, link);
  return { link, real };
}

describe.runIf(posix)('GATEWAY_TOKEN_DIR that is a symbolic link', () => {
  it('auth status, servers, secret set and serving are refused with CONFIG_INVALID naming the link and the fix; nothing lands in its target', async () => {
    const { notion } = await protectedServer();
    const { link, real } = await linkedTokenDir();
    const env = { GATEWAY_TOKEN_DIR: link, BROWSER: testBrowserCommand() };
    const servers = { notion: { url: notion.url }, local: demoServer('local') };
    const refusal = `Token folder ${link} is a symbolic link (to ${real}): the gateway does not follow a link for its token folder. Either set GATEWAY_TOKEN_DIR (or the "tokenDir" setting) to the real folder, ${real}, or replace the link by that folder (rm '${link}' && mv '${real}' '${link}')`;

    const status = await cli(['auth', 'status'], servers, env);
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(`agent-mcp-gateway: CONFIG_INVALID: ${refusal}\n`);

    const health = await cli(['servers', '--json'], servers, env);
    const rows = (JSON.parse(health.stdout) as { servers: { name: string; state: string; lastError: string | null }[] }).servers;
    expect(rows.find((r) => r.name === 'notion')).toMatchObject({ state: 'error', lastError: refusal });
    expect(rows.find((r) => r.name === 'local')).toMatchObject({ state: 'ready' });

    const secret = await cli(['secret', 'set', 'GH_TOKEN'], servers, env, 'ghp-value-never-written\n');
    expect(secret.code).toBe(1);
    expect(secret.stderr.split('\n')).toContain(`agent-mcp-gateway: CONFIG_INVALID: ${refusal}`);
    expect(secret.stderr).not.toContain('ghp-value');

    const g = await gateway({ servers, env });
    const error = errorOf(await g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'x' } }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe(refusal);
    expect(json(await g.call('execute_tool', { server: 'local', tool: 'echo', args: { text: 'unaffected' } }))).toEqual({ text: 'unaffected' });
    expect(g.stderr()).toContain(refusal);
    expect(notion.requests.filter((r) => r.headers.authorization !== undefined)).toEqual([]); // no token was ever sent

    expect(await readdir(real)).toEqual([]);
  });
});

describe.runIf(posix)('a key folder linked elsewhere', () => {
  it('a login for that server and secret set are refused and write nothing through the link; auth status names the problem', async () => {
    const { as, notion } = await protectedServer();
    const tokenDir = await tempDir();
    const outside = await tempDir();
    const key = serverStoreKey(notion.url);
    await symlink(outside, join(tokenDir, key));
    await symlink(outside, join(tokenDir, 'secret--GH_TOKEN'));
    const env = { GATEWAY_TOKEN_DIR: tokenDir, BROWSER: testBrowserCommand() };
    const servers = { notion: { url: notion.url } };
    const fix = `Key folder ${join(tokenDir, key)} is a symbolic link (to ${outside}): the store does not follow links inside its folder and writes nothing through them. Remove the link (rm '${join(tokenDir, key)}'); the entry is then stored afresh by the next login or \`secret set\``;

    const g = await gateway({ servers, env });
    const error = errorOf(await g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'x' } }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe(fix);
    expect(as.requests.filter((r) => r.route === 'authorization')).toEqual([]); // refused before any browser opened
    await g.close();

    const status = await cli(['auth', 'status', '--json'], servers, env);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as { servers: { name: string; loggedIn: boolean; problem: string | null }[] };
    expect(report.servers).toEqual([expect.objectContaining({ name: 'notion', loggedIn: false, problem: `the key folder is a symbolic link (to ${outside})` })]);

    const secret = await cli(['secret', 'set', 'GH_TOKEN'], servers, env, 'ghp-value-never-written\n');
    expect(secret.code).toBe(1);
    expect(secret.stderr).toContain(`agent-mcp-gateway: CONFIG_INVALID: Key folder ${join(tokenDir, 'secret--GH_TOKEN')} is a symbolic link (to ${outside})`);
    expect(secret.stderr).not.toContain('ghp-value');

    expect(await readdir(outside)).toEqual([]);

    // the fix it names: remove the link, and the login is stored afresh
    await rm(join(tokenDir, key));
    const g2 = await gateway({ servers, env });
    expect(errorOf(await g2.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'x' } })).code).toBe('AUTH_REQUIRED');
    await g2.waitForStderr(/Tokens cached for notion/);
    expect(json(await g2.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'fixed' } }))).toEqual({ text: 'fixed' });
    expect((await lstat(join(tokenDir, key))).isDirectory()).toBe(true);
  });
});

describe.runIf(root)('a token folder owned by another account (uid 65534)', () => {
  it('auth status and serving are refused, naming the owner and the chown that fixes it', async () => {
    const { notion } = await protectedServer();
    const tokenDir = join(await tempDir(), 'oauth');
    await mkdir(tokenDir, { mode: 0o700 });
    await chown(tokenDir, 65534, 65534);
    const env = { GATEWAY_TOKEN_DIR: tokenDir, BROWSER: testBrowserCommand() };
    const servers = { notion: { url: notion.url } };
    const refusal = `Token folder ${tokenDir} is owned by uid 65534, not by you (uid 0): another account could read or replace the tokens in it. Use a folder of your own (set GATEWAY_TOKEN_DIR (or the "tokenDir" setting)), or if it is yours, take it back: chown -R 0 '${tokenDir}'`;

    const status = await cli(['auth', 'status'], servers, env);
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(`agent-mcp-gateway: CONFIG_INVALID: ${refusal}\n`);

    const g = await gateway({ servers, env });
    const error = errorOf(await g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'x' } }));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', message: refusal });
    expect(await readdir(tokenDir)).toEqual([]);
  });

  it('a key folder of another account is refused too', async () => {
    const { notion } = await protectedServer();
    const tokenDir = await tempDir();
    const folder = join(tokenDir, serverStoreKey(notion.url));
    await mkdir(folder, { mode: 0o700 });
    await writeFile(join(folder, 'tokens.json'), JSON.stringify({ access_token: 'planted-by-someone-else' }), { mode: 0o600 });
    await chown(folder, 65534, 65534);
    const env = { GATEWAY_TOKEN_DIR: tokenDir, BROWSER: testBrowserCommand() };
    const g = await gateway({ servers: { notion: { url: notion.url } }, env });
    const error = errorOf(await g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'x' } }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(`Key folder ${folder} is owned by uid 65534, not by you (uid 0)`);
    expect(notion.requests.filter((r) => r.headers.authorization?.includes('planted'))).toEqual([]); // never used
    expect(await readdir(folder)).toEqual(['tokens.json']);
  });
});

describe('a corrupt client.json', () => {
  it('is moved aside as client.json.corrupt-<timestamp> with one log line, and the store carries on (tokens used, a new registration written beside it)', async () => {
    const { as, notion } = await protectedServer();
    const tokenDir = await tempDir();
    const env = { GATEWAY_TOKEN_DIR: tokenDir, BROWSER: testBrowserCommand() };
    const servers = { notion: { url: notion.url } };
    const echo = (g: Awaited<ReturnType<typeof gateway>>, text: string) => g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text } });
    const movedLines = (text: string) => text.split('\n').filter((l) => l.includes('moved aside'));

    const g1 = await gateway({ servers, env });
    await g1.waitForStderr(/Tokens cached for notion/);
    expect(json(await echo(g1, 'one'))).toEqual({ text: 'one' });
    await g1.close();

    const folder = join(tokenDir, serverStoreKey(notion.url));
    const broken = '{"issuer": "http://127.0.0.1", "client_id": "half-writ';
    await writeFile(join(folder, 'client.json'), broken, { mode: 0o600 });
    const registrations = () => as.requests.filter((r) => r.route === 'registration').length;
    const before = registrations();

    // 1. the gateway moves it aside, says so once, and serves with the stored tokens
    const g2 = await gateway({ servers, env });
    expect(json(await echo(g2, 'two'))).toEqual({ text: 'two' });
    await g2.waitForStderr(/client\.json: not valid JSON; moved aside/);
    const aside = (await readdir(folder)).filter((n) => n.startsWith('client.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(aside[0]).toMatch(/^client\.json\.corrupt-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/);
    const asidePath = join(folder, aside[0] as string);
    expect(await readFile(asidePath, 'utf8')).toBe(broken);
    expect(movedLines(g2.stderr())).toEqual([
      expect.stringContaining(`${join(folder, 'client.json')}: not valid JSON; moved aside to ${asidePath} (the store carries on without it)`),
    ]);
    expect(existsSync(join(folder, 'client.json'))).toBe(false);

    // 2. the next write (a new login: a new registration) goes beside it and replaces nothing
    const login = await cli(['auth', 'login', 'notion'], servers, env);
    expect(login.stdout).toContain('Logged in to notion');
    expect(login.code).toBe(0);
    expect(registrations()).toBe(before + 1);
    expect(JSON.parse(await readFile(join(folder, 'client.json'), 'utf8'))).toMatchObject({ source: 'dcr' });
    expect(await readFile(asidePath, 'utf8')).toBe(broken);

    // 3. the running gateway carries on; nothing more is reported
    expect(json(await echo(g2, 'three'))).toEqual({ text: 'three' });
    expect(movedLines(g2.stderr())).toHaveLength(1);
    expect(g2.stderr() + login.stderr).not.toContain('half-writ');
  });
});
