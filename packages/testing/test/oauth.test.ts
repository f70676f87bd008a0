import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { Client, InsufficientScopeError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  completeLogin,
  startAuthorizationServer,
  startProtectedMcpServer,
  testBrowserCommand,
  type AuthorizationServer,
  type AuthorizationServerOptions,
  type ProtectedMcpServer,
  type ProtectedMcpServerOptions,
} from '../src/index.js';

const WAIT_MS = 10_000;

/** Races `promise` against a timer so no wait in this file is unbounded. */
function within<T>(promise: Promise<T>, label: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await within(Promise.allSettled(cleanups.splice(0).reverse().map((cleanup) => cleanup())), 'cleanup');
});

async function startAs(options?: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const server = await within(startAuthorizationServer(options), 'authorization server');
  cleanups.push(() => server.close());
  return server;
}

async function startRs(options: ProtectedMcpServerOptions): Promise<ProtectedMcpServer> {
  const server = await within(startProtectedMcpServer(options), 'protected server');
  cleanups.push(() => server.close());
  return server;
}

/** A client's loopback callback server: answers 200 to a `code`, 400 to an `error`. */
async function startCallback(): Promise<{ redirectUri: string; hits: URL[] }> {
  const hits: URL[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    hits.push(url);
    const ok = url.searchParams.has('code');
    res.writeHead(ok ? 200 : 400, { 'Content-Type': 'text/plain' }).end(ok ? 'signed in' : `error ${url.searchParams.get('error')}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { redirectUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`, hits };
}

const insecure = { execute: [client.allowInsecureRequests] };

/** Registers a public native client (DCR) whose registered redirect URI has no port. */
async function registerNative(as: AuthorizationServer, grantTypes = ['authorization_code', 'refresh_token']): Promise<client.Configuration> {
  return within(
    client.dynamicClientRegistration(
      new URL(as.issuer),
      {
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: grantTypes,
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      },
      client.None(),
      insecure,
    ),
    'registration',
  );
}

/** Authorization code + PKCE through the headless login; returns the token response. */
async function login(
  config: client.Configuration,
  { resource, scope = 'mcp:read offline_access' }: { resource: string; scope?: string },
): Promise<client.TokenEndpointResponse> {
  const { redirectUri } = await startCallback();
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource,
  });
  const { callbackUrl, callbackStatus } = await within(completeLogin(url.href), 'login');
  expect(callbackStatus).toBe(200);
  return within(
    client.authorizationCodeGrant(config, new URL(callbackUrl), { pkceCodeVerifier: verifier, expectedState: state }, { resource }),
    'code exchange',
  );
}

function decodeClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

const RESOURCE = 'http://127.0.0.1:1/mcp';

describe('startAuthorizationServer', () => {
  it('serves discovery with the exact loopback issuer, S256 only and open registration', async () => {
    const as = await startAs();
    expect(as.issuer).toBe(`http://127.0.0.1:${as.port}`);
    const config = await within(client.discovery(new URL(as.issuer), 'unused', undefined, client.None(), insecure), 'discovery');
    const metadata = config.serverMetadata();
    expect(metadata).toMatchObject({
      issuer: as.issuer,
      authorization_endpoint: `${as.issuer}/auth`,
      token_endpoint: `${as.issuer}/token`,
      registration_endpoint: `${as.issuer}/reg`,
      revocation_endpoint: `${as.issuer}/token/revocation`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
      scopes_supported: ['openid', 'offline_access', 'mcp:read', 'mcp:write'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));

    // RFC 8414 path too, with the same document.
    const oauth = await within(client.discovery(new URL(as.issuer), 'unused', undefined, client.None(), { ...insecure, algorithm: 'oauth2' }), 'RFC 8414');
    expect(oauth.serverMetadata().issuer).toBe(as.issuer);
    expect(as.requests.map((r) => [r.path, r.status])).toEqual([
      ['/.well-known/openid-configuration', 200],
      ['/.well-known/oauth-authorization-server', 200],
    ]);
  });

  it('can switch off a discovery document and dynamic registration, and offer other scopes', async () => {
    const oauthOnly = await startAs({ discovery: 'oauth' });
    expect((await fetch(`${oauthOnly.issuer}/.well-known/openid-configuration`)).status).toBe(404);
    expect((await fetch(`${oauthOnly.issuer}/.well-known/oauth-authorization-server`)).status).toBe(200);
    expect(oauthOnly.requests.map((r) => r.status)).toEqual([404, 200]);

    const as = await startAs({ discovery: 'openid', registration: false, scopes: ['offline_access', 'files:read'] });
    expect((await fetch(`${as.issuer}/.well-known/oauth-authorization-server`)).status).toBe(404);
    const metadata = (await (await fetch(`${as.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.registration_endpoint).toBeUndefined();
    expect(metadata.scopes_supported).toEqual(['offline_access', 'files:read', 'openid']); // oidc-provider always adds openid
    const registration = await fetch(`${as.issuer}/reg`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'] }),
    });
    expect(registration.status).toBe(404);
    await registration.body?.cancel();
  });

  it('registers a native client and accepts its loopback redirect on any port (RFC 8252)', async () => {
    const as = await startAs();
    const config = await registerNative(as);
    expect(config.clientMetadata()).toMatchObject({ application_type: 'native', token_endpoint_auth_method: 'none' });

    const tokens = await login(config, { resource: RESOURCE });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.scope).toBe('mcp:read');
    expect(tokens.expires_in).toBe(3600);

    const claims = await as.verifyAccessToken(tokens.access_token, RESOURCE);
    expect(claims).toMatchObject({ iss: as.issuer, aud: RESOURCE, sub: 'alice', scope: 'mcp:read', client_id: config.clientMetadata().client_id });
    await expect(as.verifyAccessToken(tokens.access_token, 'http://127.0.0.1:2/mcp')).rejects.toThrow(/aud/);

    expect(as.tokenRequests()).toBe(1);
    expect(as.tokenRequests('authorization_code')).toBe(1);
    expect(as.requests.find((r) => r.route === 'authorization')).toMatchObject({ method: 'GET', path: '/auth', status: 303, resource: RESOURCE });
    expect(as.requests.find((r) => r.route === 'token')).toMatchObject({
      method: 'POST',
      path: '/token',
      status: 200,
      grantType: 'authorization_code',
      resource: RESOURCE,
    });
  });

  it('requires PKCE', async () => {
    const as = await startAs();
    const config = await registerNative(as);
    const { redirectUri, hits } = await startCallback();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'mcp:read', state: 's', resource: RESOURCE });
    const result = await within(completeLogin(url.href), 'login');
    expect(result.callbackStatus).toBe(400);
    expect(hits[0]?.searchParams.get('error')).toBe('invalid_request');
    expect(hits[0]?.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('delivers access_denied to the callback when the login is refused', async () => {
    const as = await startAs();
    const config = await registerNative(as);
    const { redirectUri, hits } = await startCallback();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'mcp:read',
      state: 'refused',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const result = await within(completeLogin(url.href, { deny: true }), 'refused login');
    expect(result).toMatchObject({ callbackStatus: 400, callbackBody: 'error access_denied' });
    expect(hits[0]?.searchParams.get('state')).toBe('refused');
    expect(as.tokenRequests()).toBe(0);
  });

  it('rotates refresh tokens; reusing a rotated one fails and revokes the grant', async () => {
    const as = await startAs();
    const config = await registerNative(as);
    const first = await login(config, { resource: RESOURCE });
    const firstRefresh = first.refresh_token ?? '';

    const second = await within(client.refreshTokenGrant(config, firstRefresh, { resource: RESOURCE }), 'refresh');
    expect(second.refresh_token).toEqual(expect.any(String));
    expect(second.refresh_token).not.toBe(firstRefresh);
    expect((await as.verifyAccessToken(second.access_token, RESOURCE)).aud).toBe(RESOURCE);
    // Without `resource` the granted one is used.
    const third = await within(client.refreshTokenGrant(config, second.refresh_token ?? ''), 'refresh without resource');
    expect((await as.verifyAccessToken(third.access_token, RESOURCE)).aud).toBe(RESOURCE);

    const reuse = await errorOf(client.refreshTokenGrant(config, firstRefresh));
    expect(reuse).toBeInstanceOf(client.ResponseBodyError);
    expect((reuse as client.ResponseBodyError).error).toBe('invalid_grant');
    // Reuse detection: the whole grant is gone, the newest refresh token included.
    const after = await errorOf(client.refreshTokenGrant(config, third.refresh_token ?? ''));
    expect((after as client.ResponseBodyError).error).toBe('invalid_grant');

    expect(as.tokenRequests('refresh_token')).toBe(4);
    expect(as.requests.filter((r) => r.grantType === 'refresh_token').map((r) => r.status)).toEqual([200, 200, 400, 400]);
  });

  it('revokeAllRefreshTokens makes every refresh fail with invalid_grant', async () => {
    const as = await startAs();
    const config = await registerNative(as);
    const tokens = await login(config, { resource: RESOURCE });
    expect(as.revokeAllRefreshTokens()).toBe(1);
    const error = await errorOf(client.refreshTokenGrant(config, tokens.refresh_token ?? ''));
    expect(error).toMatchObject({ error: 'invalid_grant', status: 400 });
    // The access token itself is a self-contained JWT and stays valid until it expires.
    await expect(as.verifyAccessToken(tokens.access_token, RESOURCE)).resolves.toMatchObject({ aud: RESOURCE });
  });

  it('revokes a refresh token at the revocation endpoint', async () => {
    const as = await startAs();
    const config = await registerNative(as);
    const tokens = await login(config, { resource: RESOURCE });
    await within(client.tokenRevocation(config, tokens.refresh_token ?? ''), 'revocation');
    expect(await errorOf(client.refreshTokenGrant(config, tokens.refresh_token ?? ''))).toMatchObject({ error: 'invalid_grant' });
  });

  it('issues no refresh token to a client without the refresh_token grant', async () => {
    const as = await startAs();
    const config = await registerNative(as, ['authorization_code']);
    const tokens = await login(config, { resource: RESOURCE });
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('serves pre-registered confidential and public clients, with the access token lifetime adjustable', async () => {
    const as = await startAs({
      accessTokenTtl: 120,
      preRegisteredClients: [
        {
          client_id: 'basic',
          client_secret: 'basic-secret',
          grant_types: ['client_credentials'],
          response_types: [],
          token_endpoint_auth_method: 'client_secret_basic',
          scope: 'mcp:read mcp:write',
        },
        {
          client_id: 'post',
          client_secret: 'post-secret',
          grant_types: ['client_credentials'],
          response_types: [],
          token_endpoint_auth_method: 'client_secret_post',
        },
        {
          client_id: 'public',
          application_type: 'native',
          redirect_uris: ['http://127.0.0.1/callback'],
          grant_types: ['authorization_code', 'refresh_token'],
          token_endpoint_auth_method: 'none',
        },
      ],
    });
    const basic = await client.discovery(new URL(as.issuer), 'basic', undefined, client.ClientSecretBasic('basic-secret'), insecure);
    const first = await within(client.clientCredentialsGrant(basic, { scope: 'mcp:write', resource: RESOURCE }), 'client credentials');
    const firstClaims = await as.verifyAccessToken(first.access_token, RESOURCE);
    expect(firstClaims).toMatchObject({ client_id: 'basic', scope: 'mcp:write' });
    expect(firstClaims.exp - firstClaims.iat).toBe(120);

    as.setAccessTokenTtl(1);
    const post = await client.discovery(new URL(as.issuer), 'post', undefined, client.ClientSecretPost('post-secret'), insecure);
    const second = await within(client.clientCredentialsGrant(post, { resource: RESOURCE }), 'client credentials (post)');
    expect(second.expires_in).toBe(1);
    const secondClaims = decodeClaims(second.access_token);
    expect(Number(secondClaims.exp) - Number(secondClaims.iat)).toBe(1);

    const wrongSecret = await client.discovery(new URL(as.issuer), 'post', undefined, client.ClientSecretPost('nope'), insecure);
    expect(await errorOf(client.clientCredentialsGrant(wrongSecret))).toMatchObject({ error: 'invalid_client' });
    expect(as.tokenRequests('client_credentials')).toBe(3);

    as.setAccessTokenTtl(300);
    const publicClient = await client.discovery(new URL(as.issuer), 'public', undefined, client.None(), insecure);
    const tokens = await login(publicClient, { resource: RESOURCE });
    expect(tokens.expires_in).toBe(300);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(() => as.setAccessTokenTtl(0)).toThrow(TypeError);
  });

  it('mcp-test-browser completes the login (or refuses it with MCP_TEST_BROWSER_DENY=1) and exits 0', async () => {
    const as = await startAs();
    const config = await registerNative(as);
    const run = (url: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(testBrowserCommand(), [url], { env: { ...process.env, ...env }, timeout: WAIT_MS }, (error, stdout, stderr) => {
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
        });
      });
    const authorizationUrl = async (redirectUri: string): Promise<string> =>
      client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'mcp:read',
        state: 'bin',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      }).href;

    const granted = await startCallback();
    expect(await run(await authorizationUrl(granted.redirectUri))).toEqual({ code: 0, stdout: 'callback 200\n', stderr: '' });
    expect(granted.hits[0]?.searchParams.get('code')).toEqual(expect.any(String));

    const refused = await startCallback();
    expect(await run(await authorizationUrl(refused.redirectUri), { MCP_TEST_BROWSER_DENY: '1' })).toMatchObject({ code: 0, stdout: 'callback 400\n' });
    expect(refused.hits[0]?.searchParams.get('error')).toBe('access_denied');

    const failed = await run(`${as.issuer}/auth?client_id=nobody&response_type=code`);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^mcp-test-browser: login failed: .*answered 400/);
  });
});

describe('startProtectedMcpServer', () => {
  async function setup(options: Partial<ProtectedMcpServerOptions> = {}): Promise<{
    as: AuthorizationServer;
    rs: ProtectedMcpServer;
    config: client.Configuration;
  }> {
    const as = await startAs();
    const rs = await startRs({ authorizationServer: as, ...options });
    return { as, rs, config: await registerNative(as) };
  }

  async function connect(url: string, token: string): Promise<Client> {
    const mcp = new Client({ name: 'oauth-test', version: '0.0.0' });
    cleanups.push(() => mcp.close());
    await within(
      mcp.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } })),
      'initialize',
    );
    return mcp;
  }

  const initialize = (url: string, headers: Record<string, string> = {}): Promise<Response> =>
    within(
      fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
        }),
      }),
      'initialize',
    );

  it('serves RFC 9728 metadata at the path-aware and the root well-known URL', async () => {
    const { as, rs } = await setup();
    expect(rs.resourceMetadataUrl).toBe(`http://127.0.0.1:${rs.port}/.well-known/oauth-protected-resource/mcp`);
    for (const url of [rs.resourceMetadataUrl, `http://127.0.0.1:${rs.port}/.well-known/oauth-protected-resource`]) {
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        resource: rs.url,
        authorization_servers: [as.issuer],
        scopes_supported: ['mcp:read', 'mcp:write'],
        bearer_methods_supported: ['header'],
      });
    }
  });

  it('can serve the metadata only at the root, and name a scope in the 401 challenge', async () => {
    const { rs } = await setup({ resourceMetadata: { serveAt: 'root', scopesSupported: [], challengeScope: 'mcp:read' } });
    expect(rs.resourceMetadataUrl).toBe(`http://127.0.0.1:${rs.port}/.well-known/oauth-protected-resource`);
    expect((await fetch(`http://127.0.0.1:${rs.port}/.well-known/oauth-protected-resource/mcp`)).status).toBe(404);
    expect(await (await fetch(rs.resourceMetadataUrl)).json()).not.toHaveProperty('scopes_supported');
    const response = await initialize(rs.url);
    expect(response.headers.get('www-authenticate')).toBe(`Bearer realm="mcp", scope="mcp:read", resource_metadata="${rs.resourceMetadataUrl}"`);
  });

  it('answers 401 with the RFC 9728 challenge without a token, and invalid_token for a bad one', async () => {
    const { as, rs, config } = await setup();
    const none = await initialize(rs.url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="mcp", resource_metadata="${rs.resourceMetadataUrl}"`);

    const garbage = await initialize(rs.url, { Authorization: 'Bearer not-a-jwt' });
    expect(garbage.status).toBe(401);
    expect(garbage.headers.get('www-authenticate')).toBe(`Bearer realm="mcp", error="invalid_token", resource_metadata="${rs.resourceMetadataUrl}"`);

    // A genuine token, but for another resource.
    const tokens = await login(config, { resource: RESOURCE });
    const otherAudience = await initialize(rs.url, { Authorization: `Bearer ${tokens.access_token}` });
    expect(otherAudience.status).toBe(401);
    expect(await otherAudience.json()).toMatchObject({ error: 'invalid_token', error_description: expect.stringMatching(/aud/) });
    expect(as.requests.some((r) => r.path.startsWith('/.well-known/oauth-protected-resource'))).toBe(false);
  });

  it('serves a client whose token names it as the audience, and records the Authorization header', async () => {
    const { rs, config } = await setup();
    const tokens = await login(config, { resource: rs.url });
    const mcp = await connect(rs.url, tokens.access_token);
    const result = await within(mcp.callTool({ name: 'echo', arguments: { text: 'protected' } }), 'echo');
    expect(result.structuredContent).toEqual({ text: 'protected' });
    expect(rs.requests.length).toBeGreaterThanOrEqual(3);
    expect(rs.requests.every((r) => r.headers.authorization === `Bearer ${tokens.access_token}` && r.status < 300)).toBe(true);
  });

  it('answers 403 insufficient_scope to tools/call when the token lacks a required scope (step-up)', async () => {
    const { rs, config } = await setup({ scopes: ['mcp:write'] });
    const readOnly = await login(config, { resource: rs.url, scope: 'mcp:read' });
    const mcp = await connect(rs.url, readOnly.access_token);
    expect((await within(mcp.listTools(), 'tools/list')).tools.length).toBeGreaterThan(0);

    const error = await errorOf(mcp.callTool({ name: 'echo', arguments: { text: 'x' } }));
    // The SDK client reads the challenge itself (v2: without an OAuth provider it cannot step up).
    expect(error).toBeInstanceOf(InsufficientScopeError);
    expect((error as InsufficientScopeError).requiredScope?.split(' ')).toContain('mcp:write');
    const refused = rs.requests.at(-1);
    expect(refused?.status).toBe(403);

    const raw = await within(
      fetch(rs.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          Authorization: `Bearer ${readOnly.access_token}`,
          'mcp-session-id': refused?.headers['mcp-session-id'] ?? '',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }),
      }),
      'raw tools/call',
    );
    expect(raw.status).toBe(403);
    expect(raw.headers.get('www-authenticate')).toBe(
      `Bearer realm="mcp", error="insufficient_scope", scope="mcp:write", resource_metadata="${rs.resourceMetadataUrl}"`,
    );
    expect(await raw.json()).toMatchObject({ error: 'insufficient_scope' });

    const readWrite = await login(config, { resource: rs.url, scope: 'mcp:read mcp:write' });
    const stepped = await connect(rs.url, readWrite.access_token);
    expect((await within(stepped.callTool({ name: 'echo', arguments: { text: 'ok' } }), 'echo')).structuredContent).toEqual({ text: 'ok' });
  });
});
