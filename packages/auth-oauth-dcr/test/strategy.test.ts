/**
 * The OAuth strategy through the real kernel: a Gateway with the HTTP transport,
 * the OAuth plugin and an in-memory token store, against the oidc-provider
 * authorization server and the OAuth-protected MCP server of @agent-mcp-gateway/testing.
 * The login runs in the background through the headless `BROWSER` of that package.
 */
import { describe, expect, it } from 'vitest';
import {
  Gateway,
  MemoryTokenStore,
  serverStoreKey,
  type CallToolResult,
  type ServerSpec,
  type ServerState,
  type StoredAuth,
} from '@agent-mcp-gateway/core';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import {
  startAuthorizationServer,
  startProtectedMcpServer,
  testBrowserCommand,
  type AuthorizationServer,
  type AuthorizationServerOptions,
  type ProtectedMcpServer,
  type ProtectedMcpServerOptions,
} from '@agent-mcp-gateway/testing';
import { OAuthPlugin } from '../src/index.js';
import { captureLogger, gatewayConfig, httpSpec, nextState, rejectionOf, startDocServer, tokenStorePlugin, within, type CapturedLogger, type DocServer, cleanupsAfterEach } from './helpers.js';

const AGENT = 'tester';
const cleanups = cleanupsAfterEach();

async function startAs(options?: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const as = await within(startAuthorizationServer(options), 'authorization server');
  cleanups.push(() => as.close());
  return as;
}

async function startRs(options: ProtectedMcpServerOptions): Promise<ProtectedMcpServer> {
  const rs = await within(startProtectedMcpServer(options), 'protected MCP server');
  cleanups.push(() => rs.close());
  return rs;
}

interface Running {
  gateway: Gateway;
  store: MemoryTokenStore;
  log: CapturedLogger;
  /** Every state the servers went through, as `name:state`. */
  states: string[];
}

async function startGateway(specs: ServerSpec[], env: NodeJS.ProcessEnv = { BROWSER: testBrowserCommand() }): Promise<Running> {
  const store = new MemoryTokenStore();
  const log = captureLogger();
  const gateway = new Gateway({
    config: gatewayConfig(specs),
    plugins: [new HttpTransportPlugin(), new OAuthPlugin({ env, loginTimeoutMs: 20_000 }), tokenStorePlugin(store)],
    logger: log.logger,
  });
  const states: string[] = [];
  gateway.hooks.serverStateChanged.tap('test-states', (name: string, state: ServerState) => {
    states.push(`${name}:${state}`);
  });
  await gateway.start();
  cleanups.unshift(() => gateway.close());
  return { gateway, store, log, states };
}

const echo = (gateway: Gateway, text: string, server = 'notion'): Promise<CallToolResult> =>
  gateway.callTool({ agent: AGENT, server, tool: 'echo', args: { text } });

const registrations = (as: AuthorizationServer) => as.requests.filter((r) => r.route === 'registration').length;
const authorizations = (as: AuthorizationServer) => as.requests.filter((r) => r.route === 'authorization').length;

async function stored(store: MemoryTokenStore, url: string): Promise<StoredAuth> {
  const value = await store.get(serverStoreKey(url));
  if (!value) throw new Error(`nothing stored for ${url}`);
  return value;
}

/** The one acceptable wait: until the stored access token is past its expiry (bounded by its lifetime). */
async function untilExpired(store: MemoryTokenStore, url: string): Promise<void> {
  const expiresAt = (await stored(store, url)).tokens?.expires_at;
  if (expiresAt === undefined) throw new Error('the stored token has no expiry');
  const ms = expiresAt * 1000 - Date.now() + 50;
  expect(ms).toBeLessThan(10_000);
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Logs in through a first listTools (AUTH_REQUIRED, login in the background) and waits for the server to become ready. */
async function loginFirst(running: Running, server = 'notion'): Promise<string> {
  const ready = nextState(running.gateway, server, 'ready');
  const error = await rejectionOf(running.gateway.listTools(AGENT, server));
  expect(error.code, error.message).toBe('AUTH_REQUIRED');
  await ready;
  return String(error.details?.authorizationUrl);
}

describe('OAuth strategy through a Gateway', () => {
  it('first listTools → AUTH_REQUIRED with the URL; the login completes in the background and the server becomes ready by itself', async () => {
    const as = await startAs();
    const notion = await startRs({ authorizationServer: as, name: 'notion' });
    const running = await startGateway([httpSpec('notion', notion.url)]);
    const { gateway, log } = running;

    const ready = nextState(gateway, 'notion', 'ready');
    const error = await rejectionOf(gateway.listTools(AGENT, 'notion'));
    expect(error.code).toBe('AUTH_REQUIRED');
    const url = new URL(String(error.details?.authorizationUrl));
    expect(url.origin).toBe(as.issuer);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toBeTruthy();
    expect(url.searchParams.get('state')).toBeTruthy();
    expect(url.searchParams.get('resource')).toBe(notion.url);
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(error.message).not.toMatch(/Bearer /);

    // No other call: the strategy's watch() brings the server up once the tokens are there.
    await ready;
    expect(running.states).toContain('notion:auth_required');
    expect(running.states.at(-1)).toBe('notion:ready');
    for (const line of ['OAuth flow initiated for notion', 'OAuth callback received for notion', 'Tokens cached for notion', 'Credentials arrived; connecting']) {
      expect(log.text()).toContain(line);
    }
    expect(registrations(as)).toBe(1);
    expect(as.tokenRequests('authorization_code')).toBe(1);

    // The server is ready with its tools, and calls work with the gateway's own bearer token.
    expect(gateway.server('notion')?.info()).toMatchObject({ state: 'ready', auth: 'oauth' });
    expect((await gateway.listTools(AGENT, 'notion')).map((t) => t.name)).toContain('echo');
    expect((await echo(gateway, 'hello')).structuredContent).toEqual({ text: 'hello' });
    const authorized = notion.requests.filter((r) => r.path === '/mcp' && r.status === 200);
    expect(authorized.length).toBeGreaterThan(0);
    expect(authorized.every((r) => r.headers.authorization?.startsWith('Bearer '))).toBe(true);
    // the token goes to the server, never to the log
    const tokens = (await stored(running.store, notion.url)).tokens;
    expect(tokens?.access_token).toBeTruthy();
    expect(log.text()).not.toContain(tokens?.access_token as string);
    expect(authorizations(as)).toBe(1);
  });

  for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
    it(`a pre-registered confidential client (${method}) logs in and refreshes without any registration request`, async () => {
      const clientId = `gateway-${method.replaceAll('_', '-')}`;
      const clientSecret = `s3cret-${method}.x_y`;
      const as = await startAs({
        accessTokenTtl: 2,
        preRegisteredClients: [
          {
            client_id: clientId,
            client_secret: clientSecret,
            redirect_uris: ['http://127.0.0.1/callback'],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: method,
            application_type: 'native',
          },
        ],
      });
      const notion = await startRs({ authorizationServer: as, name: 'notion' });
      const auth = {
        type: 'oauth' as const,
        clientId,
        clientSecret,
        // client_secret_basic is the default with a secret; post must be asked for
        ...(method === 'client_secret_post' && { tokenEndpointAuthMethod: method }),
      };
      const running = await startGateway([httpSpec('notion', notion.url, { auth, secretValues: [clientSecret] })]);

      const url = new URL(await loginFirst(running));
      expect(url.searchParams.get('client_id')).toBe(clientId);
      expect((await echo(running.gateway, 'pre-registered')).structuredContent).toEqual({ text: 'pre-registered' });

      // the refresh authenticates the same way
      await untilExpired(running.store, notion.url);
      expect((await echo(running.gateway, 'after refresh')).structuredContent).toEqual({ text: 'after refresh' });

      // One code exchange, then refreshes only — all accepted. (On a loaded machine the 2 s token may
      // already expire before the first echo, so there can be more than one refresh.)
      const tokenCalls = as.requests.filter((r) => r.route === 'token').map((r) => [r.grantType, r.status]);
      expect(tokenCalls[0]).toEqual(['authorization_code', 200]);
      expect(tokenCalls.length).toBeGreaterThanOrEqual(2);
      expect(tokenCalls.slice(1).every(([grant, status]) => grant === 'refresh_token' && status === 200)).toBe(true);
      expect(registrations(as)).toBe(0);
      expect(as.requests.some((r) => r.path === '/reg')).toBe(false);
      expect(running.log.text()).not.toContain('Registered client');
      expect(running.log.text()).not.toContain(clientSecret);
    });
  }

  for (const fault of ['refused', 'expired'] as const) {
    it(`the AS forgets the client (restarted with a fresh memory), access token ${fault}: invalid_client → the client is dropped, one new registration, calls work again`, async () => {
      const first = await startAs(fault === 'expired' ? { accessTokenTtl: 2 } : {});
      let current: AuthorizationServer = first;
      // The MCP server trusts whichever AS runs on the port now (a restarted AS has new keys).
      const notion = await startRs({
        authorizationServer: { issuer: first.issuer, verifyAccessToken: (token, audience) => current.verifyAccessToken(token, audience) },
        name: 'notion',
      });
      const running = await startGateway([httpSpec('notion', notion.url)]);
      await loginFirst(running);
      expect((await echo(running.gateway, 'before')).structuredContent).toEqual({ text: 'before' });
      const oldClient = (await stored(running.store, notion.url)).client;
      expect(oldClient?.source).toBe('dcr');

      await first.close();
      const second = await startAs({ port: first.port });
      expect(second.issuer).toBe(first.issuer);
      current = second;
      // 'expired': the token is not refused by the server, it is past its expiry (refreshed ahead of use)
      if (fault === 'expired') await untilExpired(running.store, notion.url);

      const mark = running.log.lines().length;
      const error = await rejectionOf(echo(running.gateway, 'forgotten'));
      expect(error.code, error.message).toBe('AUTH_REQUIRED');
      expect(error.details).toMatchObject({ server: 'notion', reason: 'refresh_refused', oauthError: 'invalid_client' });
      expect(String(error.details?.authorizationUrl)).toMatch(new RegExp(`^${second.issuer}/`));
      await running.log.waitFor(/Tokens cached for notion/, mark);

      const refreshes = second.requests.filter((r) => r.route === 'token' && r.grantType === 'refresh_token');
      expect(refreshes).toHaveLength(1);
      expect(refreshes[0]?.status).toBe(401);
      expect(running.log.lines().slice(mark).join('\n')).toMatch(/no longer valid \(invalid_client\)/);
      expect(registrations(second)).toBe(1);
      const newClient = (await stored(running.store, notion.url)).client;
      expect(newClient?.client_id).toBeTruthy();
      expect(newClient?.client_id).not.toBe(oldClient?.client_id);

      expect((await echo(running.gateway, 'again')).structuredContent).toEqual({ text: 'again' });
      expect(registrations(second)).toBe(1);
    });
  }

  it('a refresh token the AS revoked: invalid_grant → AUTH_REQUIRED/refresh_refused with a new login, which completes; then the reason is gone', async () => {
    const as = await startAs({ accessTokenTtl: 2 });
    const notion = await startRs({ authorizationServer: as, name: 'notion' });
    const running = await startGateway([httpSpec('notion', notion.url)]);
    await loginFirst(running);
    expect(as.revokeAllRefreshTokens()).toBeGreaterThan(0);
    await untilExpired(running.store, notion.url);

    const mark = running.log.lines().length;
    const error = await rejectionOf(echo(running.gateway, 'revoked'));
    expect(error).toMatchObject({ code: 'AUTH_REQUIRED', details: { server: 'notion', reason: 'refresh_refused', oauthError: 'invalid_grant' } });
    expect(String(error.details?.authorizationUrl)).toMatch(new RegExp(`^${as.issuer}/`));
    expect(as.requests.filter((r) => r.route === 'token' && r.grantType === 'refresh_token').map((r) => r.status)).toEqual([400]);
    await running.log.waitFor(/Tokens cached for notion/, mark);
    expect((await echo(running.gateway, 'again')).structuredContent).toEqual({ text: 'again' });
  });

  it('50 concurrent calls with an expired access token make exactly one refresh_token request', async () => {
    const as = await startAs({ accessTokenTtl: 2 });
    const notion = await startRs({ authorizationServer: as, name: 'notion' });
    const running = await startGateway([httpSpec('notion', notion.url)]);
    await loginFirst(running);
    await untilExpired(running.store, notion.url);
    const before = as.tokenRequests('refresh_token');
    const results = await within(Promise.all(Array.from({ length: 50 }, (_, i) => echo(running.gateway, `burst ${i}`))), '50 calls');
    expect(results.map((r) => (r.structuredContent as { text: string }).text)).toEqual(Array.from({ length: 50 }, (_, i) => `burst ${i}`));
    expect(as.tokenRequests('refresh_token') - before).toBe(1);
    expect(as.requests.filter((r) => r.route === 'token' && r.status !== 200)).toEqual([]);
  });

  it('concurrent calls that all need a new login start one login only (one registration, one authorization URL)', async () => {
    const first = await startAs();
    let current: AuthorizationServer = first;
    const notion = await startRs({
      authorizationServer: { issuer: first.issuer, verifyAccessToken: (token, audience) => current.verifyAccessToken(token, audience) },
      name: 'notion',
    });
    const running = await startGateway([httpSpec('notion', notion.url)]);
    await loginFirst(running);
    await first.close();
    const second = await startAs({ port: first.port });
    current = second;

    const mark = running.log.lines().length;
    const errors = await within(
      Promise.all(Array.from({ length: 5 }, (_, i) => rejectionOf(echo(running.gateway, `concurrent ${i}`)))),
      '5 calls',
    );
    expect(errors.map((e) => e.code)).toEqual(Array(5).fill('AUTH_REQUIRED'));
    await running.log.waitFor(/Tokens cached for notion/, mark);
    const initiated = running.log.lines().slice(mark).filter((line) => line.includes('OAuth flow initiated for notion'));
    expect({
      distinctUrls: new Set(errors.map((e) => e.details?.authorizationUrl)).size,
      loginsInitiated: initiated.length,
      registrations: registrations(second),
    }).toEqual({ distinctUrls: 1, loginsInitiated: 1, registrations: 1 });
  });
});

describe('OAuth refused before any login', () => {
  /** An MCP server (401 Bearer on /mcp) that is its own authorization server, with metadata the test shapes. */
  async function fakeProtected(asExtra: Record<string, unknown>): Promise<DocServer> {
    const s = await startDocServer((req, res, origin) => {
      if (!req.url?.startsWith('/mcp')) return false;
      res
        .writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`, 'content-type': 'application/json' })
        .end('{"error":"invalid_token"}');
      return true;
    });
    cleanups.push(() => s.close());
    s.routes.set('/.well-known/oauth-protected-resource/mcp', { body: { resource: `${s.origin}/mcp`, authorization_servers: [s.origin] } });
    s.routes.set('/.well-known/oauth-authorization-server', {
      body: {
        issuer: s.origin,
        authorization_endpoint: `${s.origin}/authorize`,
        token_endpoint: `${s.origin}/token`,
        registration_endpoint: `${s.origin}/register`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        ...asExtra,
      },
    });
    return s;
  }

  it('an authorization server without S256 is refused with AUTH_FAILED/pkce_unsupported: no registration, no login', async () => {
    for (const methods of [undefined, ['plain']]) {
      const s = await fakeProtected({ code_challenge_methods_supported: methods });
      const running = await startGateway([httpSpec('plain', `${s.origin}/mcp`)], { BROWSER: 'none' });
      const error = await rejectionOf(running.gateway.listTools(AGENT, 'plain'));
      expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'plain', reason: 'pkce_unsupported' } });
      expect(error.message).toMatch(/S256/);
      expect(s.paths()).not.toContain('/register');
      expect(s.paths()).not.toContain('/token');
      expect(running.log.text()).not.toContain('OAuth flow initiated');
    }
  });

  it('an authorization server naming a plain-http endpoint at a non-loopback host is refused with AUTH_FAILED before using it', async () => {
    const s = await fakeProtected({ registration_endpoint: 'http://auth.example.com/register' });
    const running = await startGateway([httpSpec('insecure', `${s.origin}/mcp`)], { BROWSER: 'none' });
    const error = await rejectionOf(within(running.gateway.listTools(AGENT, 'insecure'), 'listTools', 5_000));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'insecure', reason: 'egress_refused' } });
    expect(error.message).toMatch(/registration endpoint http:\/\/auth\.example\.com is refused: it must use https/);
    expect(running.log.text()).not.toContain('OAuth flow initiated');
  });
});
