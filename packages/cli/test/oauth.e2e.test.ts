import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  startAuthorizationServer,
  startHttpMcpServer,
  startProtectedMcpServer,
  testBrowserCommand,
  type AuthorizationServer,
} from '@agent-mcp-gateway/testing';
import { closeAfterEach, errorOf, json, tempDir, type RunningGateway } from './harness.js';

const { later, gateway } = closeAfterEach();

type Stored = { access_token: string; refresh_token?: string; expires_at: number };
async function tokensIn(dir: string): Promise<{ folder: string; tokens: Stored }> {
  const { readdir } = await import('node:fs/promises');
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory());
  expect(entries).toHaveLength(1);
  const folder = join(dir, (entries[0] as { name: string }).name);
  return { folder, tokens: JSON.parse(await readFile(join(folder, 'tokens.json'), 'utf8')) as Stored };
}

/** Waits until the stored access token is past its expiry: the one wait here is for the clock itself. */
async function untilExpired(dir: string): Promise<void> {
  const { tokens } = await tokensIn(dir);
  const ms = tokens.expires_at * 1000 - Date.now() + 50;
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}

const refreshes = (as: AuthorizationServer) => as.tokenRequests('refresh_token');
const logins = (as: AuthorizationServer) => as.requests.filter((r) => r.route === 'authorization').length;

describe('OAuth downstreams through the CLI', () => {
  it('logs in via BROWSER, persists tokens, survives a restart, refreshes silently and logs in again after revocation', async () => {
    const as = later(await startAuthorizationServer({ accessTokenTtl: 3 }));
    const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
    const open = later(await startHttpMcpServer({ name: 'open' }));
    const tokenDir = await tempDir();
    const env = { BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: tokenDir, GATEWAY_INIT_STRATEGY: 'lazy' };
    // a custom header that is not a credential: kept alongside OAuth
    const servers = { notion: { url: notion.url, headers: { 'X-Team': 'gateway' } }, open: { url: open.url } };
    const echo = (g: RunningGateway, text: string) => g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text } });

    // 1. first call: a login is needed; the call does not wait for it
    const g1 = await gateway({ servers, env });
    const pending = errorOf(await echo(g1, 'first'));
    expect(pending).toMatchObject({ code: 'AUTH_REQUIRED', server: 'notion' });
    expect(String(pending.authorizationUrl)).toMatch(new RegExp(`^${as.issuer}/`));
    expect(String(pending.authorizationUrl)).toContain('code_challenge_method=S256');
    expect(String(pending.authorizationUrl)).toContain(`resource=${encodeURIComponent(notion.url)}`);
    // meanwhile other servers work
    expect(json(await g1.call('execute_tool', { server: 'open', tool: 'echo', args: { text: 'meanwhile' } }))).toEqual({ text: 'meanwhile' });
    await g1.waitForStderr(/Tokens cached for notion/);
    for (const line of ['OAuth flow initiated for notion', 'Opening browser for authentication...', 'OAuth callback received for notion']) {
      expect(g1.stderr()).toContain(line);
    }
    expect(json(await echo(g1, 'after login'))).toEqual({ text: 'after login' });

    // 2. tokens on disk: folder 0700, file 0600, the layout of DESIGN.md
    const { folder, tokens } = await tokensIn(tokenDir);
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    expect((await stat(join(folder, 'tokens.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(folder, 'client.json'))).mode & 0o777).toBe(0o600);
    expect(tokens.refresh_token).toBeTruthy();
    expect(typeof tokens.expires_at).toBe('number');
    // no token anywhere in the log
    expect(g1.stderr()).not.toContain(tokens.access_token);
    expect(g1.stderr()).not.toContain(tokens.refresh_token);
    // the server saw only the gateway's own bearer token
    const seen = notion.requests.filter((r) => r.path === '/mcp' && r.status === 200).map((r) => r.headers.authorization);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((h) => h?.startsWith('Bearer '))).toBe(true);
    expect(notion.requests.filter((r) => r.path === '/mcp').every((r) => r.headers['x-team'] === 'gateway')).toBe(true);
    await g1.close();

    // 3. restart: no new login
    const loginsBefore = logins(as);
    const g2 = await gateway({ servers, env });
    expect(json(await echo(g2, 'restarted'))).toEqual({ text: 'restarted' });
    expect(logins(as)).toBe(loginsBefore);
    expect(g2.stderr()).not.toContain('OAuth flow initiated');

    // 4. the access token expires: a silent refresh, exactly one
    await untilExpired(tokenDir);
    const before = refreshes(as);
    expect(json(await echo(g2, 'refreshed'))).toEqual({ text: 'refreshed' });
    expect(refreshes(as)).toBe(before + 1);
    await g2.waitForStderr(/Tokens refreshed for notion/);

    // 5. 50 concurrent calls at the moment of expiry: one refresh request
    await untilExpired(tokenDir);
    const beforeBurst = refreshes(as);
    const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => echo(g2, `burst ${i}`)));
    expect(burst.filter((r) => r.isError)).toEqual([]);
    expect(refreshes(as)).toBe(beforeBurst + 1);

    // 6. the refresh token is revoked: a new login is asked for, nothing crashes
    as.revokeAllRefreshTokens();
    await untilExpired(tokenDir);
    const relogin = errorOf(await echo(g2, 'revoked'));
    expect(relogin.code).toBe('AUTH_REQUIRED');
    expect(relogin.authorizationUrl).toBeTruthy();
    await g2.waitForStderr(/Tokens cached for notion/);
    expect(json(await echo(g2, 'logged in again'))).toEqual({ text: 'logged in again' });
    expect(json(await g2.call('execute_tool', { server: 'open', tool: 'echo', args: { text: 'still fine' } }))).toEqual({ text: 'still fine' });
  });

  it('two gateway processes sharing one token store never lose the rotating refresh token', async () => {
    const as = later(await startAuthorizationServer({ accessTokenTtl: 2 }));
    const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
    const tokenDir = await tempDir();
    const env = { BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: tokenDir };
    const servers = { notion: { url: notion.url } };
    const a = await gateway({ servers, env });
    await a.waitForStderr(/Tokens cached for notion/); // eager start: the login ran at start-up
    const b = await gateway({ servers, env });
    const echo = (g: RunningGateway, text: string) => g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text } });
    for (let round = 0; round < 3; round++) {
      await untilExpired(tokenDir);
      const results = await Promise.all([echo(a, `a${round}`), echo(b, `b${round}`), echo(a, `a${round}'`), echo(b, `b${round}'`)]);
      expect(results.filter((r) => r.isError)).toEqual([]);
    }
    const failedRefreshes = as.requests.filter((r) => r.route === 'token' && r.grantType === 'refresh_token' && r.status !== 200);
    expect(failedRefreshes).toEqual([]);
    expect(a.stderr() + b.stderr()).not.toMatch(/invalid_grant/);
    expect(a.stderr()).not.toMatch(/OAuth flow initiated[\s\S]*OAuth flow initiated/); // one login only
    expect(b.stderr()).not.toContain('OAuth flow initiated');
  });

  it('a failing OAuth server leaves every other server working', async () => {
    const as = later(await startAuthorizationServer({ registration: false }));
    const noRegistration = later(await startProtectedMcpServer({ authorizationServer: as, name: 'noreg' }));
    const deadAs = later(await startAuthorizationServer());
    const asDown = later(await startProtectedMcpServer({ authorizationServer: deadAs, name: 'asdown' }));
    await deadAs.close();
    const refusingAs = later(await startAuthorizationServer());
    const refused = later(await startProtectedMcpServer({ authorizationServer: refusingAs, name: 'refused' }));
    const open = later(await startHttpMcpServer({ name: 'open' }));
    const g = await gateway({
      servers: { noreg: { url: noRegistration.url }, asdown: { url: asDown.url }, refused: { url: refused.url }, open: { url: open.url } },
      env: { BROWSER: testBrowserCommand(), MCP_TEST_BROWSER_DENY: '1', GATEWAY_TOKEN_DIR: await tempDir() },
    });
    const noreg = errorOf(await g.call('get_server_tools', { server: 'noreg' }));
    expect(noreg.code).toBe('AUTH_FAILED');
    expect(noreg.message).toMatch(/no dynamic client registration/);
    const down = errorOf(await g.call('get_server_tools', { server: 'asdown' }));
    expect(down.code).toBe('AUTH_FAILED');
    await g.waitForStderr(/OAuth login for refused failed: .*access_denied/);
    expect(errorOf(await g.call('get_server_tools', { server: 'refused' })).code).toMatch(/AUTH_(FAILED|REQUIRED)/);
    expect(json(await g.call('execute_tool', { server: 'open', tool: 'echo', args: { text: 'unaffected' } }))).toEqual({ text: 'unaffected' });
  });
});
