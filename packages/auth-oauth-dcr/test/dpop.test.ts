/**
 * DPoP (RFC 9449, SEP-1932) through the real kernel: oidc-provider with `features.dPoP` (and its nonce) issues
 * DPoP-bound tokens to the gateway's browser login, and a real MCP server that checks every proof (jose:
 * signature, htm, htu, ath, jti replay, cnf.jkt binding, its own nonce challenge) answers the gateway's calls
 * — and refuses the same token presented as Bearer, or a replayed proof.
 */
import { describe, expect, it } from 'vitest';
import { Gateway, MemoryTokenStore, serverStoreKey, type ServerSpec, type StoredAuth } from '@agent-mcp-gateway/core';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import {
  startAuthorizationServer,
  startDpopMcpServer,
  startProtectedMcpServer,
  testBrowserCommand,
  type AuthorizationServer,
  type AuthorizationServerOptions,
  type DpopMcpServer,
  type DpopMcpServerOptions,
} from '@agent-mcp-gateway/testing';
import { OAuthPlugin } from '../src/index.js';
import { captureLogger, gatewayConfig, httpSpec, nextState, rejectionOf, tokenStorePlugin, within, type CapturedLogger, cleanupsAfterEach } from './helpers.js';

const AGENT = 'tester';
const cleanups = cleanupsAfterEach();

async function startAs(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const as = await within(startAuthorizationServer(options), 'authorization server');
  cleanups.push(() => as.close());
  return as;
}

async function startRs(options: DpopMcpServerOptions): Promise<DpopMcpServer> {
  const rs = await within(startDpopMcpServer(options), 'DPoP MCP server');
  cleanups.push(() => rs.close());
  return rs;
}

async function startGateway(specs: ServerSpec[], store = new MemoryTokenStore()): Promise<{ gateway: Gateway; store: MemoryTokenStore; log: CapturedLogger }> {
  const log = captureLogger();
  const gateway = new Gateway({
    config: gatewayConfig(specs),
    plugins: [new HttpTransportPlugin(), new OAuthPlugin({ env: { BROWSER: testBrowserCommand() }, loginTimeoutMs: 20_000 }), tokenStorePlugin(store)],
    logger: log.logger,
  });
  await gateway.start();
  cleanups.unshift(() => gateway.close());
  return { gateway, store, log };
}

/** Logs in through a first listTools (AUTH_REQUIRED, login in the background) and waits for the server to become ready. */
async function loginFirst(gateway: Gateway, server: string): Promise<URL> {
  const ready = nextState(gateway, server, 'ready');
  const error = await rejectionOf(gateway.listTools(AGENT, server));
  expect(error.code, error.message).toBe('AUTH_REQUIRED');
  await within(ready, `${server} ready`, 20_000);
  return new URL(String(error.details?.authorizationUrl));
}

async function storedTokens(store: MemoryTokenStore, url: string): Promise<NonNullable<StoredAuth['tokens']> & { dpop_key?: { alg: string; jwk: Record<string, unknown> } }> {
  const tokens = (await store.get(serverStoreKey(url)))?.tokens;
  if (!tokens) throw new Error(`no tokens stored for ${url}`);
  return tokens;
}

const echoText = async (gateway: Gateway, server: string, text: string): Promise<string> => {
  const result = await within(gateway.callTool({ agent: AGENT, server, tool: 'echo', args: { text } }), 'echo');
  return JSON.stringify(result.content);
};

describe('DPoP-bound tokens (RFC 9449)', () => {
  it('the login gets a DPoP-bound token (through the AS nonce), every call presents it with a fresh proof (through the server nonce); Bearer and a replayed proof are refused', async () => {
    const as = await startAs({ dpop: { requireNonce: true } });
    const rs = await startRs({ authorizationServer: as, name: 'bound', nonce: true });
    const { gateway, store, log } = await startGateway([httpSpec('bound', rs.url)]);

    const authorizationUrl = await loginFirst(gateway, 'bound');
    expect(await echoText(gateway, 'bound', 'one')).toContain('one');
    expect(await echoText(gateway, 'bound', 'two')).toContain('two');

    // The token endpoint: every code exchange carried a proof, and the AS's nonce challenge was answered.
    const tokenRequests = as.requests.filter((r) => r.route === 'token');
    expect(tokenRequests.length).toBeGreaterThanOrEqual(2);
    expect(tokenRequests.every((r) => r.dpop)).toBe(true);
    expect(tokenRequests.filter((r) => r.status === 400)).toHaveLength(1); // use_dpop_nonce, then the retry with it
    expect(tokenRequests.at(-1)?.status).toBe(200);

    // The token is DPoP-bound, and its key is stored with it (the private key never in the log).
    const tokens = await storedTokens(store, rs.url);
    expect(tokens.token_type?.toLowerCase()).toBe('dpop'); // openid-client lower-cases it
    expect(tokens.dpop_key?.alg).toBe('ES256');
    const claims = (await as.verifyAccessToken(tokens.access_token, rs.url)) as { cnf?: { jkt?: string } };
    expect(claims.cnf?.jkt).toEqual(expect.any(String));
    expect(authorizationUrl.searchParams.get('dpop_jkt')).toBe(claims.cnf?.jkt); // the code was bound to the key (RFC 9449 §10)
    expect(log.text()).not.toContain(String(tokens.dpop_key?.jwk.d));

    // The server: one nonce challenge, then every request accepted; nothing else refused.
    expect(rs.nonceChallenges).toBe(1);
    expect(rs.accepted).toBeGreaterThanOrEqual(3);
    expect(rs.refused).toEqual({});
    // Answered inline by a retry with the nonce: not taken for a refused token (no refresh, no reconnect).
    expect(as.tokenRequests('refresh_token')).toBe(0);
    expect(log.text()).not.toContain('refused');

    // The binding: the same token as Bearer, or a proof presented again, is refused.
    const last = rs.lastAccepted;
    if (!last) throw new Error('nothing accepted');
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
    const replay = await fetch(rs.url, { method: 'POST', body, headers: { ...headers, authorization: last.authorization, dpop: last.dpop } });
    expect(replay.status).toBe(401);
    const bearer = await fetch(rs.url, { method: 'POST', body, headers: { ...headers, authorization: `Bearer ${tokens.access_token}` } });
    expect(bearer.status).toBe(401);
    expect(rs.refused).toEqual({ replay: 1, bearer: 1 });
  });

  it('a DPoP-bound refresh token is refreshed with a proof of its key, and another gateway on the same store presents the tokens with the stored key (no new login)', async () => {
    const as = await startAs({ dpop: {}, accessTokenTtl: 2 });
    const rs = await startRs({ authorizationServer: as, name: 'bound' });
    const first = await startGateway([httpSpec('bound', rs.url)]);
    await loginFirst(first.gateway, 'bound');
    const before = await storedTokens(first.store, rs.url);
    expect(before.refresh_token).toEqual(expect.any(String));

    // The one acceptable wait: until the access token has expired (2 s).
    const ms = (before.expires_at ?? 0) * 1000 - Date.now() + 50;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    expect(await echoText(first.gateway, 'bound', 'after-expiry')).toContain('after-expiry');
    const refreshes = as.requests.filter((r) => r.route === 'token' && r.grantType === 'refresh_token');
    expect(refreshes.map((r) => [r.status, r.dpop])).toEqual([[200, true]]); // oidc-provider checks the proof key against the refresh token's
    const after = await storedTokens(first.store, rs.url);
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.dpop_key).toEqual(before.dpop_key);

    // A second gateway (another process: `auth login` then `serve`) with the same store: no login, the stored key signs.
    const second = await startGateway([httpSpec('bound', rs.url)], first.store);
    expect(await echoText(second.gateway, 'bound', 'second-process')).toContain('second-process');
    expect(as.requests.filter((r) => r.route === 'authorization')).toHaveLength(1);
    expect(rs.refused).toEqual({});
  });

  it.each([
    ['says so in its metadata: the first grant is DPoP-bound', true, [true], {}],
    ['says so only in its challenge: the Bearer token is refused once, and granted again with a proof', false, [false, true], { bearer: 1 }],
  ])('client credentials for a server that wants DPoP and %s', async (_what, inMetadata, proofs, refused) => {
    const as = await startAs({
      preRegisteredClients: [
        { client_id: 'machine', client_secret: 'machine-secret', grant_types: ['client_credentials'], response_types: [], scope: 'mcp:read mcp:write' },
      ],
    });
    const rs = await startRs({ authorizationServer: as, name: 'machine', requiredInMetadata: inMetadata });
    const { gateway, store } = await startGateway([
      httpSpec('machine', rs.url, { auth: { type: 'client_credentials', clientId: 'machine', clientSecret: 'machine-secret', scopes: ['mcp:read'] } }),
    ]);
    expect(await echoText(gateway, 'machine', 'no-user')).toContain('no-user');
    const grants = as.requests.filter((r) => r.route === 'token');
    expect(grants.map((r) => [r.grantType, r.status, r.dpop])).toEqual(proofs.map((dpop) => ['client_credentials', 200, dpop]));
    expect((await storedTokens(store, rs.url)).token_type?.toLowerCase()).toBe('dpop');
    expect(rs.refused).toEqual(refused);
  });

  it('an authorization server that offers DPoP and a server that takes Bearer only (and does not ask for DPoP): Bearer tokens, no proof sent anywhere', async () => {
    const as = await startAs({});
    const metadata = (await (await fetch(`${as.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256'])); // oidc-provider offers DPoP by default
    const rs = await within(startProtectedMcpServer({ authorizationServer: as, name: 'plain' }), 'protected MCP server');
    cleanups.push(() => rs.close());
    const { gateway, store } = await startGateway([httpSpec('plain', rs.url)]);
    expect((await loginFirst(gateway, 'plain')).searchParams.has('dpop_jkt')).toBe(false);
    expect(await echoText(gateway, 'plain', 'x')).toContain('x');
    expect((await storedTokens(store, rs.url)).token_type?.toLowerCase()).toBe('bearer');
    expect((await storedTokens(store, rs.url)).dpop_key).toBeUndefined();
    expect(as.requests.some((r) => r.dpop)).toBe(false);
    expect(rs.requests.some((r) => r.headers.dpop !== undefined)).toBe(false);
  });
});
