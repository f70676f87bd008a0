/**
 * Authorization as MCP 2026-07-28 tightens it, against the real oidc-provider authorization server of
 * @agent-mcp-gateway/testing: the authorization response's `iss` (RFC 9207, SEP-2468), credentials bound
 * to the authorization server that issued them with re-registration when the server names another one
 * (SEP-2352), step-up with the union of scopes (SEP-2350), and `application_type` in the registration.
 * Where oidc-provider cannot produce the fault (a tampered redirect), the test browser alters the
 * response on its way to the loopback callback.
 */
import { describe, expect, it } from 'vitest';
import { Gateway, MemoryTokenStore, serverStoreKey, type CallToolResult, type ServerSpec, type StoredAuth } from '@agent-mcp-gateway/core';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import {
  completeLogin,
  startAuthorizationServer,
  startHttpMcpServer,
  startProtectedMcpServer,
  testBrowserCommand,
  type AuthorizationServer,
  type AuthorizationServerOptions,
} from '@agent-mcp-gateway/testing';
import { OAuthPlugin, authorizationResponseIssuerMismatch } from '../src/index.js';
import type { OAuthStrategyOptions } from '../src/context.js';
import { Discovery } from '../src/session.js';
import { OAuthStrategy } from '../src/strategy.js';
import { checkResponseIssuer } from '../src/user-grants.js';
import { captureLogger, gatewayConfig, httpSpec, nextState, rejectionOf, startDocServer, tokenStorePlugin, within, type CapturedLogger, cleanupsAfterEach } from './helpers.js';

const AGENT = 'tester';
const cleanups = cleanupsAfterEach();

async function startAs(options?: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const as = await within(startAuthorizationServer(options), 'authorization server');
  cleanups.push(() => as.close());
  return as;
}

const registrations = (as: AuthorizationServer) => as.requests.filter((r) => r.route === 'registration').length;

interface Running {
  gateway: Gateway;
  log: CapturedLogger;
}

async function startGateway(specs: ServerSpec[], store: MemoryTokenStore, options: { fetch?: typeof fetch } = {}): Promise<Running> {
  const log = captureLogger();
  const gateway = new Gateway({
    config: gatewayConfig(specs),
    plugins: [
      new HttpTransportPlugin(),
      new OAuthPlugin({ env: { BROWSER: testBrowserCommand() }, loginTimeoutMs: 20_000, ...(options.fetch && { fetch: options.fetch }) }),
      tokenStorePlugin(store),
    ],
    logger: log.logger,
  });
  await gateway.start();
  cleanups.unshift(() => gateway.close());
  return { gateway, log };
}

const echo = (gateway: Gateway, text: string): Promise<CallToolResult> => gateway.callTool({ agent: AGENT, server: 'notion', tool: 'echo', args: { text } });

/** The first listTools answers AUTH_REQUIRED and logs in in the background; resolves with the authorization URL once ready. */
async function loginFirst(running: Running): Promise<URL> {
  const ready = nextState(running.gateway, 'notion', 'ready');
  const error = await rejectionOf(running.gateway.listTools(AGENT, 'notion'));
  expect(error.code, error.message).toBe('AUTH_REQUIRED');
  await ready;
  return new URL(String(error.details?.authorizationUrl));
}

/** A call that needs a new login: AUTH_REQUIRED with its URL; resolves once its tokens are cached. */
async function loginAgain(running: Running, text: string): Promise<URL> {
  const mark = running.log.lines().length;
  const error = await rejectionOf(echo(running.gateway, text));
  expect(error.code, error.message).toBe('AUTH_REQUIRED');
  await running.log.waitFor(/Tokens cached for notion/, mark);
  return new URL(String(error.details?.authorizationUrl));
}

async function stored(store: MemoryTokenStore, url: string): Promise<StoredAuth> {
  const value = await store.get(serverStoreKey(url));
  if (!value) throw new Error(`nothing stored for ${url}`);
  return value;
}

describe('the authorization response issuer (RFC 9207, SEP-2468)', () => {
  /** A strategy on its own (no gateway), a login started by hand; the test is the browser. */
  async function started(): Promise<{ as: AuthorizationServer; login: Awaited<ReturnType<OAuthStrategy['startLogin']>>; log: CapturedLogger }> {
    const as = await startAs();
    const rs = await startProtectedMcpServer({ authorizationServer: as, name: 'notion' });
    cleanups.push(() => rs.close());
    const log = captureLogger();
    const strategy = new OAuthStrategy({
      spec: httpSpec('notion', rs.url),
      store: new MemoryTokenStore(),
      logger: log.logger,
      env: { BROWSER: 'none' },
      loginTimeoutMs: 15_000,
      clientName: 'test',
    });
    cleanups.push(async () => strategy.close());
    const login = await within(strategy.startLogin(), 'login started');
    return { as, login, log };
  }

  it('oidc-provider advertises authorization_response_iss_parameter_supported and sends iss: the untouched response is exchanged', async () => {
    const { as, login } = await started();
    const metadata = (await (await fetch(`${as.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    let seenIss: string | null = null;
    await completeLogin(login.url, {
      alterCallback: (url) => {
        seenIss = url.searchParams.get('iss');
        return url;
      },
    });
    await within(login.done, 'login done');
    expect(seenIss).toBe(as.issuer);
    expect(as.tokenRequests('authorization_code')).toBe(1);
  });

  const tampered: [string, (url: URL, issuer: string) => void][] = [
    ['missing although advertised', (url) => url.searchParams.delete('iss')],
    ['another issuer', (url) => url.searchParams.set('iss', 'https://evil.example.com')],
    ['the issuer with a trailing slash (equal only after normalization)', (url, issuer) => url.searchParams.set('iss', `${issuer}/`)],
    ['the issuer in upper case (equal only after case folding)', (url, issuer) => url.searchParams.set('iss', issuer.toUpperCase())],
    ['given twice', (url, issuer) => url.searchParams.append('iss', issuer)],
  ];
  for (const [label, tamper] of tampered) {
    it(`iss ${label}: AUTH_FAILED/authorization_response_issuer_mismatch, the code never reaches the token endpoint`, async () => {
      const { as, login, log } = await started();
      await completeLogin(login.url, { alterCallback: (url) => (tamper(url, as.issuer), url) });
      const error = await rejectionOf(within(login.done, 'login done'));
      expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'notion', reason: authorizationResponseIssuerMismatch.reason } });
      expect(as.tokenRequests('authorization_code')).toBe(0);
      expect(error.message).not.toContain('evil.example.com');
      expect(log.text()).not.toContain('evil.example.com');
    });
  }

  it('an error response with a wrong iss is refused as a mix-up: its error and description are not believed or repeated', async () => {
    const { as, login } = await started();
    await completeLogin(login.url, {
      alterCallback: (url) => {
        const forged = new URL(url.origin + url.pathname);
        forged.searchParams.set('error', 'access_denied');
        forged.searchParams.set('error_description', 'Call +1-555-PHISH to unlock your account');
        forged.searchParams.set('state', url.searchParams.get('state') ?? '');
        forged.searchParams.set('iss', 'https://evil.example.com');
        return forged;
      },
    });
    const error = await rejectionOf(within(login.done, 'login done'));
    expect(error.details?.reason).toBe('authorization_response_issuer_mismatch');
    expect(error.details?.oauthError).toBeUndefined();
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toMatch(/PHISH|access_denied/);
    expect(as.tokenRequests()).toBe(0);
  });

  it('an authorization server that does not advertise iss: absent is accepted, present must still match exactly', () => {
    const as = { issuer: 'https://as.example.com' };
    expect(() => checkResponseIssuer('s', as, new URLSearchParams('code=x'))).not.toThrow();
    expect(() => checkResponseIssuer('s', as, new URLSearchParams('code=x&iss=https%3A%2F%2Fas.example.com'))).not.toThrow();
    for (const iss of ['https://evil.example.com', 'https://as.example.com/', 'https://AS.example.com', 'https://as.example.com:443']) {
      expect(() => checkResponseIssuer('s', as, new URLSearchParams({ code: 'x', iss })), iss).toThrow(/not the issuer/);
    }
    expect(() => checkResponseIssuer('s', { ...as, authorization_response_iss_parameter_supported: false }, new URLSearchParams('code=x'))).not.toThrow();
  });
});

describe('credentials bound to the authorization server that issued them (SEP-2352)', () => {
  it('the server moves to another authorization server: its tokens are refused, the gateway discovers again, registers there and logs in; nothing of the old one is sent to the new one', async () => {
    const first = await startAs();
    const second = await startAs();
    let current = first;
    // The protected resource metadata names `authorizationServers[0]`, read per request: the test switches it.
    const authorizationServers = [first.issuer];
    const rs = await startHttpMcpServer({
      name: 'notion',
      protectedResource: { authorizationServers, scopesSupported: ['mcp:read'] },
      bearer: async (token, request) => {
        try {
          await current.verifyAccessToken(token, request.resource);
          return true;
        } catch {
          return { status: 401, error: 'invalid_token' };
        }
      },
    });
    cleanups.push(() => rs.close());
    const store = new MemoryTokenStore();
    const running = await startGateway([httpSpec('notion', rs.url)], store);

    const firstUrl = await loginFirst(running);
    expect(firstUrl.origin).toBe(first.issuer);
    expect((await echo(running.gateway, 'at the first')).structuredContent).toEqual({ text: 'at the first' });
    const before = await stored(store, rs.url);
    expect(before.client).toMatchObject({ issuer: first.issuer, source: 'dcr' });
    expect(before.tokens?.issuer).toBe(first.issuer);
    const firstClientId = before.client?.client_id;

    authorizationServers[0] = second.issuer;
    current = second;
    const secondUrl = await loginAgain(running, 'moved');
    expect(secondUrl.origin).toBe(second.issuer);
    expect(secondUrl.searchParams.get('client_id')).not.toBe(firstClientId);
    expect(running.log.text()).toContain(`now names the authorization server ${second.issuer} (was ${first.issuer})`);

    expect((await echo(running.gateway, 'at the second')).structuredContent).toEqual({ text: 'at the second' });
    expect(registrations(second)).toBe(1);
    // Neither the first server's refresh token nor its client went to the second one.
    expect(second.tokenRequests('refresh_token')).toBe(0);
    expect(first.tokenRequests('refresh_token')).toBe(0);
    const after = await stored(store, rs.url);
    expect(after.client).toMatchObject({ issuer: second.issuer, source: 'dcr' });
    expect(after.client?.client_id).not.toBe(firstClientId);
    expect(after.tokens?.issuer).toBe(second.issuer);
  });

  it('tokens stored before the issuer was recorded (no `issuer`) are used and refreshed as before, and stamped at that refresh', async () => {
    const as = await startAs({ accessTokenTtl: 2 });
    const rs = await startProtectedMcpServer({ authorizationServer: as, name: 'notion' });
    cleanups.push(() => rs.close());
    const store = new MemoryTokenStore();
    const first = await startGateway([httpSpec('notion', rs.url)], store);
    await loginFirst(first);
    await first.gateway.close();

    // The entry as an earlier version wrote it: tokens without `issuer`.
    const entry = await stored(store, rs.url);
    const { issuer: _issuer, ...unstamped } = entry.tokens ?? { access_token: '' };
    await store.set(serverStoreKey(rs.url), { ...entry, tokens: unstamped });
    expect((await stored(store, rs.url)).tokens?.issuer).toBeUndefined();
    const expiresAt = unstamped.expires_at ?? 0;
    const wait = expiresAt * 1000 - Date.now() + 50;
    expect(wait).toBeLessThan(10_000);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait)); // the one wait: until the 2 s token has expired

    const second = await startGateway([httpSpec('notion', rs.url)], store);
    expect((await echo(second.gateway, 'unstamped')).structuredContent).toEqual({ text: 'unstamped' });
    expect(as.tokenRequests('refresh_token')).toBe(1);
    expect(as.tokenRequests('authorization_code')).toBe(1);
    expect(registrations(as)).toBe(1);
    expect((await stored(store, rs.url)).tokens?.issuer).toBe(as.issuer);
  });
});

describe('step-up (SEP-2350)', () => {
  it('each re-authorization asks for the union of what was asked and granted before and what is challenged now, within the step-up cap', async () => {
    const as = await startAs({ scopes: ['openid', 'offline_access', 'mcp:read', 'mcp:write', 'mcp:admin'] });
    const required = ['mcp:write'];
    const rs = await startProtectedMcpServer({ authorizationServer: as, name: 'notion', scopes: required, resourceMetadata: { scopesSupported: ['mcp:read'] } });
    cleanups.push(() => rs.close());
    const running = await startGateway([httpSpec('notion', rs.url)], new MemoryTokenStore());
    const scopes = (url: URL) => new Set(url.searchParams.get('scope')?.split(' '));

    expect(scopes(await loginFirst(running))).toEqual(new Set(['mcp:read']));
    expect(scopes(await loginAgain(running, 'write'))).toEqual(new Set(['mcp:read', 'mcp:write']));
    expect((await echo(running.gateway, 'write')).structuredContent).toEqual({ text: 'write' });

    required.splice(0, required.length, 'mcp:admin'); // the server now challenges for mcp:admin alone
    expect(scopes(await loginAgain(running, 'admin'))).toEqual(new Set(['mcp:read', 'mcp:write', 'mcp:admin']));
    expect((await echo(running.gateway, 'admin')).structuredContent).toEqual({ text: 'admin' });

    // The cap stays: the third step-up is not made.
    required.splice(0, required.length, 'mcp:other');
    const error = await rejectionOf(echo(running.gateway, 'other'));
    expect(error.code).not.toBe('AUTH_REQUIRED');
    expect(running.log.text()).toMatch(/still asks for more scope after 2 step-up\(s\); giving up/);
  });
});

describe('dynamic client registration', () => {
  it('asks for application_type native (the redirect is a loopback one), which oidc-provider needs to accept any loopback port', async () => {
    const as = await startAs();
    const rs = await startProtectedMcpServer({ authorizationServer: as, name: 'notion' });
    cleanups.push(() => rs.close());
    const bodies: unknown[] = [];
    const recording: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.origin === as.issuer && url.pathname === '/reg' && typeof init?.body === 'string') bodies.push(JSON.parse(init.body));
      return fetch(input, init);
    };
    const running = await startGateway([httpSpec('notion', rs.url)], new MemoryTokenStore(), { fetch: recording });
    await loginFirst(running);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toMatchObject({ application_type: 'native', redirect_uris: [expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/callback$/)] });
  });
});

describe('Client ID Metadata Documents (SEP-991)', () => {
  const CIMD = 'https://gateway.example.com/oauth/client-metadata.json';

  /** An MCP server that is its own authorization server, offering dynamic registration and, when asked, CIMD. oidc-provider has no CIMD. */
  async function server(cimd: boolean) {
    const s = await startDocServer((req, res, origin) => {
      if (!req.url?.startsWith('/mcp')) return false;
      res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"` }).end();
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
        ...(cimd && { client_id_metadata_document_supported: true }),
      },
    });
    s.routes.set('/register', { status: 201, body: { client_id: 'registered-client', token_endpoint_auth_method: 'none' } });
    return s;
  }

  async function authorizationUrl(s: Awaited<ReturnType<typeof server>>): Promise<URL> {
    const strategy = new OAuthStrategy({
      spec: httpSpec('docs', `${s.origin}/mcp`, { auth: { type: 'oauth', clientMetadataUrl: CIMD } }),
      store: new MemoryTokenStore(),
      logger: captureLogger().logger,
      env: { BROWSER: 'none' },
      loginTimeoutMs: 10_000,
      clientName: 'test',
    });
    cleanups.push(async () => strategy.close());
    return new URL((await within(strategy.startLogin(), 'login started')).url);
  }

  it('the AS offers both CIMD and dynamic registration, a clientMetadataUrl is configured: the URL is the client id, nothing is registered', async () => {
    const s = await server(true);
    const url = await authorizationUrl(s);
    expect(url.searchParams.get('client_id')).toBe(CIMD);
    expect(s.paths()).not.toContain('/register');
  });

  it('the AS does not advertise CIMD: the configured URL is not used, the gateway registers', async () => {
    const s = await server(false);
    const url = await authorizationUrl(s);
    expect(url.searchParams.get('client_id')).toBe('registered-client');
    expect(s.paths()).toContain('/register');
  });
});

describe('application_type in the registration (SEP-837)', () => {
  /** An authorization server (a small real one) that records the registration bodies it receives. */
  async function recordingServer(bodies: Record<string, unknown>[]) {
    const s = await startDocServer((req, res, origin) => {
      if (req.url?.startsWith('/mcp')) {
        res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"` }).end();
        return true;
      }
      if (req.method !== 'POST' || req.url !== '/register') return false;
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        bodies.push(JSON.parse(text) as Record<string, unknown>);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ client_id: `client-${bodies.length}`, token_endpoint_auth_method: 'none' }));
      });
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
      },
    });
    return s;
  }

  for (const [label, auth, expected] of [
    ['nothing configured: native (a loopback redirect)', undefined, 'native'],
    ['configured web: kept as configured', { type: 'oauth' as const, applicationType: 'web' as const }, 'web'],
  ] as const) {
    it(label, async () => {
      const bodies: Record<string, unknown>[] = [];
      const s = await recordingServer(bodies);
      const strategy = new OAuthStrategy({
        spec: httpSpec('docs', `${s.origin}/mcp`, auth ? { auth } : {}),
        store: new MemoryTokenStore(),
        logger: captureLogger().logger,
        env: { BROWSER: 'none' },
        loginTimeoutMs: 10_000,
        clientName: 'test',
      });
      cleanups.push(async () => strategy.close());
      await within(strategy.startLogin(), 'login started');
      expect(bodies).toHaveLength(1);
      expect(bodies[0]).toMatchObject({ application_type: expected, redirect_uris: [expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/callback$/)] });
    });
  }
});

describe('rediscovery after a refused token', () => {
  /** An authorization server's metadata on a small real server (oidc-provider is not needed to tell servers apart). */
  async function asServer() {
    const s = await startDocServer();
    cleanups.push(() => s.close());
    s.routes.set('/.well-known/oauth-authorization-server', {
      body: { issuer: s.origin, authorization_endpoint: `${s.origin}/authorize`, token_endpoint: `${s.origin}/token`, code_challenge_methods_supported: ['S256'] },
    });
    return s;
  }

  it('names the new authorization server when the metadata says so; keeps the previous one when the metadata cannot be read or is gone', async () => {
    const [a, b] = [await asServer(), await asServer()];
    const rs = await startDocServer();
    cleanups.push(() => rs.close());
    const prm = '/.well-known/oauth-protected-resource/mcp';
    rs.routes.set(prm, { body: { resource: `${rs.origin}/mcp`, authorization_servers: [a.origin] } });
    const discovery = new Discovery({ name: 'docs', url: `${rs.origin}/mcp`, options: {} as OAuthStrategyOptions });
    expect((await discovery.session()).as.issuer).toBe(a.origin);

    // Gone (404): the 2025-03-26 fallback would make the server's own origin the authorization server. Not a move.
    rs.routes.delete(prm);
    expect(await discovery.rediscover()).toMatchObject({ before: a.origin, session: { as: { issuer: a.origin } } });
    // The new authorization server's metadata cannot be read: not a move either.
    rs.routes.set(prm, { body: { resource: `${rs.origin}/mcp`, authorization_servers: [b.origin] } });
    b.routes.delete('/.well-known/oauth-authorization-server');
    expect(await discovery.rediscover()).toMatchObject({ before: a.origin, session: { as: { issuer: a.origin } } });
    expect(discovery.issuer).toBe(a.origin);
    // Readable: the move is seen, once for concurrent callers.
    b.routes.set('/.well-known/oauth-authorization-server', {
      body: { issuer: b.origin, authorization_endpoint: `${b.origin}/authorize`, token_endpoint: `${b.origin}/token`, code_challenge_methods_supported: ['S256'] },
    });
    const before = rs.paths().length;
    const [one, two] = await Promise.all([discovery.rediscover(), discovery.rediscover()]);
    expect(one).toMatchObject({ before: a.origin, session: { as: { issuer: b.origin } } });
    expect(two).toBe(one);
    expect(rs.paths().slice(before).filter((p) => p === prm)).toHaveLength(1);
    expect(discovery.issuer).toBe(b.origin);
  });
});
