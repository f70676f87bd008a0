/**
 * The device authorization grant (RFC 8628) of the OAuth strategy, against the
 * oidc-provider authorization server of @agent-mcp-gateway/testing with
 * `deviceFlow`. The test plays the user: it opens the verification URI with
 * `completeDeviceLogin` while the strategy polls the token endpoint. (The
 * server's polling interval is the RFC's default, 5 s: each login takes that long.)
 */
import { describe, expect, it } from 'vitest';
import { Gateway, MemoryTokenStore, serverStoreKey, type ServerSpec, type StoredAuth } from '@agent-mcp-gateway/core';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import {
  completeDeviceLogin,
  completeLogin,
  startAuthorizationServer,
  startProtectedMcpServer,
  type AuthorizationServer,
  type AuthorizationServerOptions,
  type ProtectedMcpServer,
} from '@agent-mcp-gateway/testing';
import { OAuthPlugin } from '../src/index.js';
import { captureLogger, gatewayConfig, httpSpec, rejectionOf, tokenStorePlugin, within, type CapturedLogger, cleanupsAfterEach } from './helpers.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const AGENT = 'tester';
/** One poll interval (5 s) and the login around it. */
const DEVICE_WAIT_MS = 20_000;

const cleanups = cleanupsAfterEach();

interface Setup {
  as: AuthorizationServer;
  notion: ProtectedMcpServer;
  gateway: Gateway;
  plugin: OAuthPlugin;
  store: MemoryTokenStore;
  log: CapturedLogger;
  spec: ServerSpec;
}

async function setup(asOptions: AuthorizationServerOptions = { deviceFlow: true }): Promise<Setup> {
  const as = await within(startAuthorizationServer(asOptions), 'authorization server');
  cleanups.push(() => as.close());
  const notion = await within(startProtectedMcpServer({ authorizationServer: as, name: 'notion' }), 'protected MCP server');
  cleanups.push(() => notion.close());
  const store = new MemoryTokenStore();
  const log = captureLogger();
  // BROWSER=none: nothing opens a browser behind the test's back; every login here is the test's doing.
  const plugin = new OAuthPlugin({ env: { BROWSER: 'none' }, loginTimeoutMs: DEVICE_WAIT_MS });
  const spec = httpSpec('notion', notion.url);
  const gateway = new Gateway({ config: gatewayConfig([spec]), plugins: [new HttpTransportPlugin(), plugin, tokenStorePlugin(store)], logger: log.logger });
  await gateway.start();
  cleanups.unshift(() => gateway.close());
  return { as, notion, gateway, plugin, store, log, spec };
}

/** The strategy `auth login --device` uses: the plugin's own, for this server. */
function strategyOf(s: Setup) {
  return s.plugin.strategyFor(s.spec, { logger: s.log.logger, signal: new AbortController().signal });
}

async function stored(s: Setup): Promise<StoredAuth> {
  return (await s.store.get(serverStoreKey(s.notion.url))) ?? {};
}

const registrations = (as: AuthorizationServer) => as.requests.filter((r) => r.route === 'registration').length;
const authorizations = (as: AuthorizationServer) => as.requests.filter((r) => r.route === 'authorization').length;

describe('device authorization grant (RFC 8628)', () => {
  it('prints the code and URI, polls until the user confirms on another device, and stores tokens the gateway then uses', async () => {
    const s = await setup();
    const strategy = await strategyOf(s);
    const login = await within(strategy.startDeviceLogin(), 'device authorization');

    expect(login.userCode).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(login.verificationUri).toBe(`${s.as.issuer}/device`);
    expect(login.verificationUriComplete).toBe(`${s.as.issuer}/device?user_code=${login.userCode}`);
    expect(login.url).toBe(login.verificationUriComplete);
    expect(login.expiresAt).toBeGreaterThan(Date.now() / 1000);
    await s.log.waitFor(new RegExp(`open ${s.as.issuer}/device on any device and enter the code ${login.userCode}`));
    expect(s.log.text()).toContain('OAuth device flow initiated for notion');
    expect(strategy.status()).toMatchObject({ state: 'login_pending', authorizationUrl: login.url });

    // The client was registered for the device grant, the authorization request named the resource (RFC 8707).
    expect((await stored(s)).client?.grant_types).toContain(DEVICE_GRANT);
    const deviceRequest = s.as.requests.find((r) => r.route === 'device_authorization');
    expect(deviceRequest).toMatchObject({ status: 200, resource: s.notion.url });

    // The user, elsewhere: opens the complete URI, confirms the code, signs in and consents.
    const page = await completeDeviceLogin(login.verificationUriComplete as string);
    expect(page.text).toMatch(/Sign-in Success/);
    await within(login.done, 'device login', DEVICE_WAIT_MS);

    // Tokens stored as a browser login stores them (the same code path) and used by the gateway.
    const tokens = (await stored(s)).tokens;
    expect(tokens?.access_token).toBeTruthy();
    expect(tokens?.refresh_token).toBeTruthy();
    expect((await stored(s)).server).toEqual({ name: 'notion', url: s.notion.url });
    expect(s.log.text()).toContain('Tokens cached for notion');
    expect(s.log.text()).not.toContain(tokens?.access_token as string);
    const polls = s.as.requests.filter((r) => r.route === 'token' && r.grantType === DEVICE_GRANT);
    expect(polls.at(-1)).toMatchObject({ status: 200, resource: s.notion.url });
    expect((await s.as.verifyAccessToken(tokens?.access_token as string, s.notion.url)).sub).toBe('alice');
    expect(strategy.status().state).toBe('ok');

    const result = await s.gateway.callTool({ agent: AGENT, server: 'notion', tool: 'echo', args: { text: 'from the device' } });
    expect(result.structuredContent).toEqual({ text: 'from the device' });
    expect(authorizations(s.as)).toBe(0); // no browser login at any point
    expect(registrations(s.as)).toBe(1);
  });

  it('the user types the code at verification_uri; a pending device login is what a tool call is told to open', async () => {
    const s = await setup();
    const strategy = await strategyOf(s);
    const login = await strategy.startDeviceLogin();
    // Asking again while it is pending gives the same login, not a second code.
    expect((await strategy.startDeviceLogin()).userCode).toBe(login.userCode);

    const pending = await rejectionOf(s.gateway.listTools(AGENT, 'notion'));
    expect(pending.code).toBe('AUTH_REQUIRED');
    expect(pending.details?.authorizationUrl).toBe(login.url);
    expect(authorizations(s.as)).toBe(0); // no browser login started beside it

    await completeDeviceLogin(login.verificationUri, { userCode: login.userCode, login: 'bob' });
    await within(login.done, 'device login', DEVICE_WAIT_MS);
    const tokens = (await stored(s)).tokens;
    expect((await s.as.verifyAccessToken(tokens?.access_token as string, s.notion.url)).sub).toBe('bob');
  });

  it('a refusal at the authorization server ends the login with AUTH_FAILED/authorization_refused (access_denied) and a failed status', async () => {
    const s = await setup();
    const strategy = await strategyOf(s);
    const login = await strategy.startDeviceLogin();
    await completeDeviceLogin(login.verificationUriComplete as string, { deny: true });
    const error = await within(rejectionOf(login.done), 'device login refusal', DEVICE_WAIT_MS);
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'notion', reason: 'authorization_refused', oauthError: 'access_denied' } });
    expect(error.message).toMatch(/access_denied/);
    expect(strategy.status()).toMatchObject({ state: 'failed' });
    expect((await stored(s)).tokens).toBeUndefined();
    await s.log.waitFor(/OAuth login for notion failed: .*access_denied/);
  });

  it('cancel() stops polling at once', async () => {
    const s = await setup();
    const strategy = await strategyOf(s);
    const login = await strategy.startDeviceLogin();
    login.cancel();
    const error = await within(rejectionOf(login.done), 'cancelled device login', 2_000);
    expect(error.message).toMatch(/cancelled/);
    expect(s.as.tokenRequests(DEVICE_GRANT)).toBe(0);
    expect(strategy.status().state).not.toBe('login_pending');
  });

  it('replaces a pending browser login, and reuses the registration a browser login made for the device grant', async () => {
    const s = await setup();
    const strategy = await strategyOf(s);
    const browser = await strategy.startLogin();
    expect(new URL(browser.url).pathname).toBe('/auth');
    expect(registrations(s.as)).toBe(1);
    expect((await stored(s)).client?.grant_types).toEqual(['authorization_code', 'refresh_token', DEVICE_GRANT]);

    const device = await strategy.startDeviceLogin();
    await expect(browser.done).rejects.toThrow(/cancelled/);
    expect(registrations(s.as)).toBe(1);
    // the browser login's callback server is gone: its URL no longer leads anywhere
    await expect(completeLogin(browser.url)).rejects.toThrow();

    await completeDeviceLogin(device.verificationUriComplete as string);
    await within(device.done, 'device login', DEVICE_WAIT_MS);
    expect(strategy.status().state).toBe('ok');
  });

  it('an authorization server without device authorization: AUTH_FAILED/device_unsupported saying so, no registration', async () => {
    const s = await setup({});
    const strategy = await strategyOf(s);
    const error = await rejectionOf(strategy.startDeviceLogin());
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'notion', reason: 'device_unsupported' } });
    expect(error.message).toMatch(/offers no device authorization \(RFC 8628\)/);
    expect(registrations(s.as)).toBe(0);
    // and a browser registration there does not ask for a grant the server does not offer
    await strategy.startLogin();
    expect((await stored(s)).client?.grant_types).toEqual(['authorization_code', 'refresh_token']);
  });
});
