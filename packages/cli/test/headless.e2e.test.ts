/**
 * Headless logins through the built CLI: a gateway with `BROWSER=none` whose
 * printed login URL another process opens, and URL-mode elicitation (MCP
 * 2025-11-25), where the MCP client is sent the login URL and gets its user
 * through it. The test plays that user with the headless browser of
 * @agent-mcp-gateway/testing.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import type { ElicitRequestURLParams } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import {
  completeDeviceLogin,
  completeLogin,
  startAuthorizationServer,
  startProtectedMcpServer,
  type AuthorizationServer,
  type ProtectedMcpServer,
} from '@agent-mcp-gateway/testing';
import { closeAfterEach, binPath, errorOf, json, tempDir, writeConfig, type RunningGateway } from './harness.js';

const { later, gateway, add } = closeAfterEach();

async function oauthServer(deviceFlow = false): Promise<{ as: AuthorizationServer; notion: ProtectedMcpServer }> {
  const as = later(await startAuthorizationServer({ deviceFlow }));
  const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
  return { as, notion };
}

const logins = (as: AuthorizationServer) => as.requests.filter((r) => r.route === 'authorization').length;
const echo = (g: RunningGateway, text: string, extra: Record<string, unknown> = {}) =>
  g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text }, ...extra });

/** The URL of the gateway's "Open this URL to sign in: …" log line. */
function printedUrl(g: RunningGateway): string {
  const match = /Open this URL to sign in: (\S+)/.exec(g.stderr());
  if (!match?.[1]) throw new Error(`no login URL in the log:\n${g.stderr()}`);
  return match[1];
}

/** An MCP client that declares URL-mode elicitation and answers each request with `answer`. */
function elicitingClient(answer: (params: ElicitRequestURLParams) => 'accept' | 'decline' | 'cancel') {
  const client = new Client({ name: 'e2e-elicitation', version: '1.0.0' }, { capabilities: { elicitation: { url: {} } } });
  const asked: ElicitRequestURLParams[] = [];
  const completed: string[] = [];
  client.setRequestHandler('elicitation/create', (request) => {
    if (request.params.mode !== 'url') throw new Error(`unexpected elicitation mode ${String(request.params.mode)}`);
    asked.push(request.params);
    return { action: answer(request.params) };
  });
  client.setNotificationHandler('notifications/elicitation/complete', (notification) => {
    completed.push(notification.params.elicitationId);
  });
  return { client, asked, completed };
}

describe('headless logins', () => {
  it('BROWSER=none: the URL is printed, the login waits for its callback, and another process completes it', async () => {
    const { as, notion } = await oauthServer();
    const g = await gateway({
      servers: { notion: { url: notion.url } },
      env: { BROWSER: 'none', GATEWAY_TOKEN_DIR: await tempDir(), GATEWAY_INIT_STRATEGY: 'lazy' },
    });

    const pending = errorOf(await echo(g, 'first'));
    expect(pending).toMatchObject({ code: 'AUTH_REQUIRED', server: 'notion' });
    await g.waitForStderr('Open this URL to sign in: ');
    const url = printedUrl(g);
    expect(url).toBe(pending.authorizationUrl);
    expect(g.stderr()).not.toContain('Opening browser for authentication...');

    // Nobody has opened it yet: the login waits, a second call is told the same URL (no second login).
    expect(errorOf(await echo(g, 'still waiting')).authorizationUrl).toBe(url);
    expect(logins(as)).toBe(0);

    // The person, from another process (a browser here, an SSH client with a forwarded port elsewhere).
    const { callbackStatus } = await completeLogin(url);
    expect(callbackStatus).toBe(200);
    await g.waitForStderr(/Tokens cached for notion/);
    expect(json(await echo(g, 'after login'))).toEqual({ text: 'after login' });
    expect(logins(as)).toBe(1);
  });

  it('URL elicitation: the client is sent the login URL, accepts, its user signs in, and the same calls succeed', async () => {
    const { as, notion } = await oauthServer();
    const opened: Promise<unknown>[] = [];
    // The client accepts, then opens the URL (as a client opens a browser after the user agreed).
    const { client, asked, completed } = elicitingClient((params) => {
      opened.push(new Promise((resolve) => setImmediate(resolve)).then(() => completeLogin(params.url)));
      return 'accept';
    });
    const g = await gateway({
      servers: { notion: { url: notion.url } },
      env: { BROWSER: 'none', GATEWAY_TOKEN_DIR: await tempDir(), GATEWAY_INIT_STRATEGY: 'lazy' },
      client,
    });

    // Three calls meet the same pending login: one elicitation, one login, three results.
    const results = await Promise.all(['a', 'b', 'c'].map((text) => echo(g, text)));
    expect(results.map((r) => json(r))).toEqual([{ text: 'a' }, { text: 'b' }, { text: 'c' }]);
    await Promise.all(opened);

    expect(asked).toHaveLength(1);
    const [elicitation] = asked as [ElicitRequestURLParams];
    expect(elicitation.url).toBe(printedUrl(g));
    expect(new URL(elicitation.url).origin).toBe(as.issuer);
    expect(elicitation.message).toContain("'notion'");
    expect(elicitation.elicitationId).toBeTruthy();
    expect(completed).toEqual([elicitation.elicitationId]);
    expect(logins(as)).toBe(1);
    expect(g.stderr()).toContain('Login for notion sent to the client to open (URL elicitation)');
  });

  it('URL elicitation declined: AUTH_REQUIRED with the URL at once; accepted but not done in time: AUTH_REQUIRED after the call timeout', async () => {
    const { as, notion } = await oauthServer();
    let answer: 'accept' | 'decline' = 'decline';
    const { client, asked } = elicitingClient(() => answer);
    const g = await gateway({
      servers: { notion: { url: notion.url } },
      env: { BROWSER: 'none', GATEWAY_TOKEN_DIR: await tempDir(), GATEWAY_INIT_STRATEGY: 'lazy' },
      client,
    });

    const declined = errorOf(await echo(g, 'declined'));
    expect(declined).toMatchObject({ code: 'AUTH_REQUIRED', server: 'notion' });
    expect(declined.authorizationUrl).toBe(asked[0]?.url);
    await g.waitForStderr("The client answered 'decline' to the login for notion");

    answer = 'accept'; // …and then nobody signs in: the wait is bounded by the call's timeout
    const started = Date.now();
    const unfinished = errorOf(await echo(g, 'too slow', { timeout_ms: 1_000 }));
    expect(unfinished.code).toBe('AUTH_REQUIRED');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(asked).toHaveLength(2);

    // The login stayed pending all along: opened now, the next call succeeds.
    await completeLogin(String(declined.authorizationUrl));
    await g.waitForStderr(/Tokens cached for notion/);
    expect(json(await echo(g, 'later'))).toEqual({ text: 'later' });
    expect(asked).toHaveLength(2);
    expect(logins(as)).toBe(1);
  });

  it('auth login --device: prints the URL and code, waits while the user confirms on another device, stores the tokens', async () => {
    const { as, notion } = await oauthServer(true);
    const { dir, config } = await writeConfig({ notion: { url: notion.url } });
    const tokenDir = await tempDir();
    const child = spawn(process.execPath, [binPath, 'auth', 'login', 'notion', '--device', '--config', config], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, GATEWAY_TOKEN_DIR: tokenDir },
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    add(async () => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const shown = new Promise<string>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const complete = /^or open: (\S+)$/m.exec(stdout)?.[1];
        if (complete) resolve(complete);
      });
    });
    const complete = await Promise.race([shown, exited.then(() => Promise.reject(new Error(`auth login exited early: ${stdout}${stderr}`)))]);
    const code = /enter the code: (\S+)$/m.exec(stdout)?.[1];
    expect(stdout).toContain(`To sign in to notion, open ${as.issuer}/device on any device and enter the code: ${code}`);
    expect(complete).toBe(`${as.issuer}/device?user_code=${code}`);

    await completeDeviceLogin(complete);
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/Logged in to notion/);
    expect(logins(as)).toBe(0); // no browser login: the device grant only
    expect(as.tokenRequests('urn:ietf:params:oauth:grant-type:device_code')).toBeGreaterThan(0);
    const [folder] = await readdir(tokenDir);
    const tokens = JSON.parse(await readFile(join(tokenDir, String(folder), 'tokens.json'), 'utf8')) as { access_token: string };
    expect((await as.verifyAccessToken(tokens.access_token, notion.url)).sub).toBe('alice');

    // The gateway uses them at once: no login.
    const g = await gateway({ servers: { notion: { url: notion.url } }, env: { BROWSER: 'none', GATEWAY_TOKEN_DIR: tokenDir } });
    expect(json(await echo(g, 'device tokens'))).toEqual({ text: 'device tokens' });
    expect(g.stderr()).not.toContain('OAuth flow initiated');
  });
});
