/**
 * The gateway with its tokens and secrets in the OS keychain — a real Secret Service
 * (gnome-keyring on a private D-Bus session bus that this file starts; the gateway
 * processes get its address in their environment). Skipped, with the reason printed,
 * only when no Secret Service can be started here.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serverStoreKey, type StoredAuth } from '@agent-mcp-gateway/core';
import { KeychainTokenStore } from '@agent-mcp-gateway/store-keychain';
import {
  startAuthorizationServer,
  startHttpMcpServer,
  startProtectedMcpServer,
  startSecretService,
  testBrowserCommand,
  type AuthorizationServer,
  type SecretService,
} from '@agent-mcp-gateway/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAfterEach, demoServer, errorOf, json, runCli, tempDir, type RunningGateway } from './harness.js';

let service: SecretService | undefined;
let skipReason = '';
try {
  service = await startSecretService();
  // For the KeychainTokenStore this test reads the keychain with.
  process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
} catch (error) {
  skipReason = error instanceof Error ? error.message : String(error);
  // .ci/run sets this: there, no Secret Service is a failure, not a skip.
  if (process.env.GATEWAY_TEST_REQUIRE_KEYCHAIN === '1') throw error;
  console.warn(`[cli keychain e2e] skipped: no Secret Service could be started here: ${skipReason}`);
}
afterAll(async () => {
  await service?.close();
});

const { later, gateway } = closeAfterEach();

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

const keychain = () => new KeychainTokenStore();
async function storedFor(url: string): Promise<StoredAuth | undefined> {
  return keychain().get(serverStoreKey(url));
}
async function untilExpired(url: string): Promise<void> {
  const expiresAt = (await storedFor(url))?.tokens?.expires_at ?? 0;
  const ms = expiresAt * 1000 - Date.now() + 50;
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}
const refreshes = (as: AuthorizationServer) => as.tokenRequests('refresh_token');
const logins = (as: AuthorizationServer) => as.requests.filter((r) => r.route === 'authorization').length;

// Each test drives several CLI processes, a browser and D-Bus round trips (12 s alone for the
// longest): a 90 s bound leaves room for two busy cores without waiting longer on a hang.
describe.skipIf(!service)(`GATEWAY_TOKEN_STORE=keychain on a real Secret Service${service ? '' : ` (skipped: ${skipReason})`}`, { timeout: 90_000 }, () => {
  const keychainEnv = () => ({ ...service?.env, GATEWAY_TOKEN_STORE: 'keychain' });

  it('OAuth end to end: login via BROWSER, tokens in the keychain only, restart, silent refresh, one refresh for a burst, login again after revocation', async () => {
    const as = later(await startAuthorizationServer({ accessTokenTtl: 3 }));
    const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
    const open = later(await startHttpMcpServer({ name: 'open' }));
    const tokenDir = await tempDir();
    const env = { ...keychainEnv(), BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: tokenDir, GATEWAY_INIT_STRATEGY: 'lazy' };
    const servers = { notion: { url: notion.url, headers: { 'X-Team': 'gateway' } }, open: { url: open.url } };
    const echo = (g: RunningGateway, text: string) => g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text } });

    // 1. first call: a login is needed; the call does not wait for it
    const g1 = await gateway({ servers, env });
    const pending = errorOf(await echo(g1, 'first'));
    expect(pending).toMatchObject({ code: 'AUTH_REQUIRED', server: 'notion' });
    expect(String(pending.authorizationUrl)).toMatch(new RegExp(`^${as.issuer}/`));
    expect(json(await g1.call('execute_tool', { server: 'open', tool: 'echo', args: { text: 'meanwhile' } }))).toEqual({ text: 'meanwhile' });
    await g1.waitForStderr(/Tokens cached for notion/);
    expect(json(await echo(g1, 'after login'))).toEqual({ text: 'after login' });

    // 2. the tokens are in the keychain — and nowhere on disk
    const stored = await storedFor(notion.url);
    expect(stored?.server).toEqual({ name: 'notion', url: notion.url });
    expect(stored?.tokens?.refresh_token).toBeTruthy();
    expect(stored?.client?.client_id).toBeTruthy();
    expect(await filesUnder(tokenDir)).toEqual([]);
    // nor anywhere under the gateway's HOME (its config folder; other files there, like an audit log, hold no token)
    const home = g1.stderr().match(/servers from (\S+)\.mcp\.json/)?.[1] as string;
    expect(home).toBeTruthy();
    const homeFiles = await filesUnder(home);
    expect(homeFiles.filter((f) => /tokens\.json|client\.json/.test(f))).toEqual([]);
    const homeText = (await Promise.all(homeFiles.map((f) => readFile(f, 'utf8')))).join('\n');
    for (const secret of [stored?.tokens?.access_token, stored?.tokens?.refresh_token]) expect(homeText).not.toContain(secret);
    expect(g1.stderr()).not.toContain(stored?.tokens?.access_token);
    expect(g1.stderr()).not.toContain(stored?.tokens?.refresh_token);
    const seen = notion.requests.filter((r) => r.path === '/mcp' && r.status === 200).map((r) => r.headers.authorization);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((h) => h === `Bearer ${stored?.tokens?.access_token}` || h?.startsWith('Bearer '))).toBe(true);
    await g1.close();

    // 3. restart: the keychain's tokens are used, no new login
    const loginsBefore = logins(as);
    const g2 = await gateway({ servers, env });
    expect(json(await echo(g2, 'restarted'))).toEqual({ text: 'restarted' });
    expect(logins(as)).toBe(loginsBefore);
    expect(g2.stderr()).not.toContain('OAuth flow initiated');

    // 4. expiry: one silent refresh, the rotated refresh token saved in the keychain
    await untilExpired(notion.url);
    const before = refreshes(as);
    const refreshTokenBefore = (await storedFor(notion.url))?.tokens?.refresh_token;
    expect(json(await echo(g2, 'refreshed'))).toEqual({ text: 'refreshed' });
    expect(refreshes(as)).toBe(before + 1);
    await g2.waitForStderr(/Tokens refreshed for notion/);
    expect((await storedFor(notion.url))?.tokens?.refresh_token).not.toBe(refreshTokenBefore);

    // 5. 50 concurrent calls at expiry: one refresh request
    await untilExpired(notion.url);
    const beforeBurst = refreshes(as);
    const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => echo(g2, `burst ${i}`)));
    expect(burst.filter((r) => r.isError)).toEqual([]);
    expect(refreshes(as)).toBe(beforeBurst + 1);

    // 6. the refresh token is revoked: a new login, nothing crashes
    as.revokeAllRefreshTokens();
    await untilExpired(notion.url);
    const relogin = errorOf(await echo(g2, 'revoked'));
    expect(relogin.code).toBe('AUTH_REQUIRED');
    await g2.waitForStderr(/Tokens cached for notion/);
    expect(json(await echo(g2, 'logged in again'))).toEqual({ text: 'logged in again' });
    expect(await filesUnder(tokenDir)).toEqual([]);
  });

  it('two gateway processes sharing the keychain never lose the rotating refresh token', async () => {
    const as = later(await startAuthorizationServer({ accessTokenTtl: 2 }));
    const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
    const tokenDir = await tempDir(); // the lock files' folder, shared by both
    const env = { ...keychainEnv(), BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: tokenDir };
    const servers = { notion: { url: notion.url } };
    const a = await gateway({ servers, env });
    await a.waitForStderr(/Tokens cached for notion/);
    const b = await gateway({ servers, env });
    const echo = (g: RunningGateway, text: string) => g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text } });
    for (let round = 0; round < 3; round++) {
      await untilExpired(notion.url);
      const results = await Promise.all([echo(a, `a${round}`), echo(b, `b${round}`), echo(a, `a${round}'`), echo(b, `b${round}'`)]);
      expect(results.filter((r) => r.isError)).toEqual([]);
    }
    const failedRefreshes = as.requests.filter((r) => r.route === 'token' && r.grantType === 'refresh_token' && r.status !== 200);
    expect(failedRefreshes).toEqual([]);
    expect(b.stderr()).not.toContain('OAuth flow initiated');
    expect(await filesUnder(tokenDir)).toEqual([]);
  });

  it('a ${secret:NAME} PAT reaches the downstream server and appears in no log line, file or status output', async () => {
    const pat = `ghp_${Math.random().toString(36).slice(2)}SecretPat${Date.now()}`;
    const apiKey = `sk-${Math.random().toString(36).slice(2)}StdioKey`;
    let accepted = pat;
    const github = later(await startHttpMcpServer({ name: 'github', bearer: (token) => token === accepted }));
    const tokenDir = await tempDir();
    const cliHome = await tempDir();
    const env = { ...keychainEnv(), GATEWAY_TOKEN_DIR: tokenDir, GATEWAY_LOG_LEVEL: 'debug' };

    // `secret set` reads the value from stdin; a value on the command line is refused
    const refused = await runCli(['secret', 'set', 'GITHUB_PAT', pat], { env: { ...env, HOME: cliHome }, cwd: cliHome });
    expect(refused.code).toBe(2);
    for (const [name, value] of [
      ['GITHUB_PAT', pat],
      ['STDIO_KEY', apiKey],
    ] as const) {
      const set = await runCli(['secret', 'set', name], { env: { ...env, HOME: cliHome }, cwd: cliHome, input: `${value}\n` });
      expect(set).toMatchObject({ code: 0 });
      expect(set.stdout).toContain(`Secret ${name} saved in the keychain store`);
      expect(set.stdout + set.stderr).not.toContain(value);
    }
    const listed = await runCli(['secret', 'list'], { env: { ...env, HOME: cliHome }, cwd: cliHome });
    expect(listed.stdout.split('\n')).toEqual(expect.arrayContaining(['GITHUB_PAT', 'STDIO_KEY']));
    expect(listed.stdout).not.toContain(pat);
    expect((await keychain().get('secret--GITHUB_PAT'))?.secret).toBe(pat);

    const servers = {
      github: { url: github.url, headers: { Authorization: 'Bearer ${secret:GITHUB_PAT}' } },
      local: demoServer('local', { env: { API_KEY: '${secret:STDIO_KEY}' } }),
      missing: { url: github.url, headers: { Authorization: 'Bearer ${secret:NOT_SET}' } },
    };
    const auditLog = join(cliHome, 'audit.jsonl');
    const g = await gateway({ servers, env: { ...env, GATEWAY_AUDIT_LOG: auditLog }, args: ['--debug'] });

    // the PAT reaches the server, as the header the entry writes
    expect(json(await g.call('execute_tool', { server: 'github', tool: 'echo', args: { text: 'with pat' } }))).toEqual({ text: 'with pat' });
    const mcp = github.requests.filter((r) => r.path === '/mcp');
    expect(mcp.length).toBeGreaterThan(0);
    expect(mcp.every((r) => r.headers.authorization === `Bearer ${pat}`)).toBe(true);
    // the stdio server gets its key in its environment
    const envResult = await g.call('execute_tool', { server: 'local', tool: 'env', args: { name: 'API_KEY' } });
    expect(JSON.stringify(envResult.content)).toContain(apiKey);
    // a missing secret: a clear error naming it and the fix
    const missing = errorOf(await g.call('execute_tool', { server: 'missing', tool: 'echo', args: { text: 'x' } }));
    expect(missing.code).toBe('AUTH_FAILED');
    expect(missing.message).toContain("secret NOT_SET is not set in the keychain store; set it with 'agent-mcp-gateway secret set NOT_SET'");

    // a secret replaced in the store is picked up when the server refuses the old one
    const rotated = `${pat}-rotated`;
    expect(await runCli(['secret', 'set', 'GITHUB_PAT'], { env: { ...env, HOME: cliHome }, cwd: cliHome, input: rotated })).toMatchObject({ code: 0 });
    accepted = rotated;
    expect(json(await g.call('execute_tool', { server: 'github', tool: 'echo', args: { text: 'rotated' } }))).toEqual({ text: 'rotated' });
    expect(github.requests.at(-1)?.headers.authorization).toBe(`Bearer ${rotated}`);

    // status outputs
    const statusOut = JSON.stringify(await g.call('get_gateway_status', {}));
    const listOut = JSON.stringify(await g.call('list_servers', { include_metadata: true }));
    const cliEnv = { ...env, HOME: cliHome, GATEWAY_LOG_LEVEL: 'info' };
    const configPath = g.stderr().match(/servers from (\S+\.mcp\.json)/)?.[1] as string;
    expect(configPath).toBeTruthy();
    const serversOut = await runCli(['servers', '--json', '--config', configPath], { env: cliEnv, cwd: cliHome });
    const authStatus = await runCli(['auth', 'status', '--json', '--config', configPath], { env: cliEnv, cwd: cliHome });
    expect(serversOut.stdout).toContain('github');
    expect(authStatus.code).toBe(0);
    expect(JSON.parse(authStatus.stdout)).toBeTypeOf('object');
    await g.close();

    const gatewayHome = configPath.replace(/\/\.mcp\.json$/, '');
    const files = [...(await filesUnder(gatewayHome)), ...(await filesUnder(tokenDir)), ...(await filesUnder(cliHome))];
    expect(files.filter((f) => f.endsWith('.mcp.json'))).toHaveLength(1);
    const fileText = (await Promise.all(files.map((f) => readFile(f, 'utf8').catch(() => '')))).join('\n');
    // the config still holds the reference, never the value
    expect(await readFile(configPath, 'utf8')).toContain('${secret:GITHUB_PAT}');
    const outputs = {
      'gateway log': g.stderr(),
      files: fileText,
      get_gateway_status: statusOut,
      list_servers: listOut,
      'servers --json': serversOut.stdout + serversOut.stderr,
      'auth status --json': authStatus.stdout + authStatus.stderr,
    };
    for (const [where, text] of Object.entries(outputs)) {
      for (const secret of [pat, rotated, apiKey]) expect(text.includes(secret), `${where} shows a secret`).toBe(false);
    }
    expect(g.stderr()).toMatch(/Connected \(\d+ tools, auth: headers\)/);
  });

  it('auth migrate moves logins and secrets between files and the keychain, verified before the source is removed', async () => {
    const as = later(await startAuthorizationServer());
    const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
    const pat = `pat-${Date.now()}-migrated`;
    const github = later(await startHttpMcpServer({ name: 'github', bearer: pat }));
    const tokenDir = await tempDir();
    const cliHome = await tempDir();
    const base = { ...service?.env, GATEWAY_TOKEN_DIR: tokenDir, BROWSER: testBrowserCommand() };
    const cli = (args: string[], extra: Record<string, string> = {}, input?: string) =>
      runCli(args, { env: { ...base, HOME: cliHome, ...extra }, cwd: cliHome, ...(input !== undefined && { input }) });
    const secretName = `MIGRATE_${Date.now()}`;
    const servers = { notion: { url: notion.url }, github: { url: github.url, headers: { Authorization: `Bearer \${secret:${secretName}}` } } };
    const echo = (g: RunningGateway, server: string) => g.call('execute_tool', { server, tool: 'echo', args: { text: server } });

    // in files first: a login and a secret
    expect(await cli(['secret', 'set', secretName, '--store', 'fs'], {}, pat)).toMatchObject({ code: 0 });
    const g1 = await gateway({ servers, env: { ...base, GATEWAY_TOKEN_STORE: 'fs' } });
    await g1.waitForStderr(/Tokens cached for notion/);
    expect(json(await echo(g1, 'notion'))).toEqual({ text: 'notion' });
    expect(json(await echo(g1, 'github'))).toEqual({ text: 'github' });
    await g1.close();
    const key = serverStoreKey(notion.url);
    expect((await filesUnder(tokenDir)).some((f) => f.endsWith(`${key}/tokens.json`))).toBe(true);

    // a key already in the keychain with other content: a conflict, nothing moved for it, the source kept
    await keychain().set(key, { tokens: { access_token: 'someone else' } });
    const conflict = await cli(['auth', 'migrate', '--to', 'keychain']);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/not moved: notion .*already holds a different entry.*--force/);
    expect(conflict.stdout).toContain(`moved secret ${secretName}`);
    expect((await filesUnder(tokenDir)).some((f) => f.endsWith(`${key}/tokens.json`))).toBe(true);
    await keychain().delete(key);

    // files → keychain: nothing left on disk; the gateway on the keychain needs no new login
    const toKeychain = await cli(['auth', 'migrate', '--to', 'keychain']);
    expect(toKeychain).toMatchObject({ code: 0 });
    expect(toKeychain.stdout).toMatch(/moved notion \(/);
    expect(toKeychain.stdout).toContain('GATEWAY_TOKEN_STORE=keychain');
    expect(await filesUnder(tokenDir)).toEqual([]);
    expect((await storedFor(notion.url))?.tokens?.refresh_token).toBeTruthy();
    const loginsBefore = logins(as);
    const g2 = await gateway({ servers, env: { ...base, GATEWAY_TOKEN_STORE: 'keychain' } });
    expect(json(await echo(g2, 'notion'))).toEqual({ text: 'notion' });
    expect(json(await echo(g2, 'github'))).toEqual({ text: 'github' });
    expect(logins(as)).toBe(loginsBefore);
    await g2.close();

    // and back: keychain → files
    const toFiles = await cli(['auth', 'migrate', '--to', 'fs']);
    expect(toFiles).toMatchObject({ code: 0 });
    expect(await storedFor(notion.url)).toBeUndefined();
    expect(await keychain().get(`secret--${secretName}`)).toBeUndefined();
    expect((await filesUnder(tokenDir)).some((f) => f.endsWith(`${key}/tokens.json`))).toBe(true);
    const g3 = await gateway({ servers, env: { ...base, GATEWAY_TOKEN_STORE: 'fs' } });
    expect(json(await echo(g3, 'notion'))).toEqual({ text: 'notion' });
    expect(json(await echo(g3, 'github'))).toEqual({ text: 'github' });
    expect(logins(as)).toBe(loginsBefore);
    for (const out of [conflict, toKeychain, toFiles]) expect(out.stdout + out.stderr).not.toContain(pat);
  });
});
