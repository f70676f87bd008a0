/**
 * When the OAuth plugin takes a server, and when it must not: a configured
 * Authorization header, `auth: "none"`, a challenge that is not Bearer.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Gateway, MemoryTokenStore, type ServerSpec } from '@agent-mcp-gateway/core';
import { HeadersAuthPlugin } from '@agent-mcp-gateway/auth-headers';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import {
  startAuthorizationServer,
  startHttpMcpServer,
  startProtectedMcpServer,
  testBrowserCommand,
  type AuthorizationServer,
} from '@agent-mcp-gateway/testing';
import { OAuthPlugin } from '../src/index.js';
import { captureLogger, gatewayConfig, httpSpec, rejectionOf, startDocServer, tokenStorePlugin, within, type CapturedLogger, cleanupsAfterEach } from './helpers.js';

const AGENT = 'tester';
const cleanups = cleanupsAfterEach();

function later<T extends { close(): Promise<unknown> }>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

async function startGateway(specs: ServerSpec[]): Promise<{ gateway: Gateway; log: CapturedLogger }> {
  const log = captureLogger();
  const gateway = new Gateway({
    config: gatewayConfig(specs),
    // OAuth first: it must decline by itself, not merely be pre-empted by the headers plugin.
    plugins: [
      new HttpTransportPlugin(),
      new OAuthPlugin({ env: { BROWSER: testBrowserCommand() }, loginTimeoutMs: 20_000 }),
      new HeadersAuthPlugin(),
      tokenStorePlugin(new MemoryTokenStore()),
    ],
    logger: log.logger,
  });
  await gateway.start();
  cleanups.unshift(() => gateway.close());
  return { gateway, log };
}

const oauthTouched = (as: AuthorizationServer) => as.requests.length;
const wellKnown = (paths: string[]) => paths.filter((p) => p.startsWith('/.well-known/'));

describe('OAuthPlugin', () => {
  it('a server with a configured Authorization header is never handed to OAuth, also when the header is refused', async () => {
    const as = later(await startAuthorizationServer());
    const refusing = later(await startProtectedMcpServer({ authorizationServer: as, name: 'pat' }));
    const accepting = later(
      await startHttpMcpServer({ name: 'ok', bearer: async (token) => token === 'pat-good', protectedResource: { authorizationServers: [as.issuer] } }),
    );
    const { gateway, log } = await startGateway([
      httpSpec('pat', refusing.url, { headers: { Authorization: 'Bearer pat-refused' }, secretValues: ['Bearer pat-refused'] }),
      httpSpec('ok', accepting.url, { headers: { authorization: 'Bearer pat-good' }, secretValues: ['Bearer pat-good'] }),
    ]);

    // refused: the configured credential fails plainly, no browser login
    const error = await rejectionOf(gateway.listTools(AGENT, 'pat'));
    expect(error.code, error.message).toBe('AUTH_FAILED');
    expect(error.message).toMatch(/configured credential rejected/);
    expect(error.details?.authorizationUrl).toBeUndefined();
    expect(await rejectionOf(gateway.listTools(AGENT, 'pat'))).toMatchObject({ code: 'AUTH_FAILED' });
    const sent = refusing.requests.filter((r) => r.path === '/mcp').map((r) => r.headers.authorization);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((h) => h === 'Bearer pat-refused')).toBe(true);
    expect(wellKnown(refusing.requests.map((r) => r.path))).toEqual([]);

    // accepted: works with the header, the server's auth is "headers"
    expect((await gateway.listTools(AGENT, 'ok')).map((t) => t.name)).toContain('echo');
    expect(gateway.server('ok')?.info().auth).toBe('headers');
    expect(wellKnown(accepting.requests.map((r) => r.path))).toEqual([]);

    expect(oauthTouched(as)).toBe(0);
    const lines = log.lines();
    expect(lines.filter((l) => l.includes('OAuth disabled for pat: a configured Authorization header is used'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('OAuth disabled for ok: a configured Authorization header is used'))).toHaveLength(1);
    expect(log.text()).not.toContain('OAuth flow initiated');
    expect(log.text()).not.toContain('pat-refused');
    expect(log.text()).not.toContain('pat-good');
  });

  it('auth "none": OAuth stays out even on a Bearer challenge', async () => {
    const as = later(await startAuthorizationServer());
    const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
    const { gateway, log } = await startGateway([httpSpec('notion', notion.url, { auth: 'none' })]);

    const error = await rejectionOf(gateway.listTools(AGENT, 'notion'));
    expect(error.code, error.message).toBe('AUTH_REQUIRED');
    expect(error.message).toMatch(/Bearer challenge/);
    expect(error.details?.authorizationUrl).toBeUndefined();
    expect(gateway.server('notion')?.info()).toMatchObject({ auth: 'none', state: 'auth_required' });
    expect(oauthTouched(as)).toBe(0);
    expect(wellKnown(notion.requests.map((r) => r.path))).toEqual([]);
    expect(notion.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(log.text()).not.toContain('OAuth flow initiated');
  });

  it('a 401 with a non-Bearer challenge does not bring OAuth in', async () => {
    const s = later(
      await startDocServer((_req, res) => {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="legacy"', 'content-type': 'text/plain' }).end('who are you?');
        return true;
      }),
    );
    const { gateway, log } = await startGateway([httpSpec('basic', `${s.origin}/mcp`)]);
    const error = await rejectionOf(gateway.listTools(AGENT, 'basic'));
    expect(error.code, error.message).toBe('AUTH_REQUIRED');
    expect(error.details?.authorizationUrl).toBeUndefined();
    expect(wellKnown(s.paths())).toEqual([]);
    expect(log.text()).not.toContain('OAuth flow initiated');
  });

  // KNOWN BUG (reported, not fixed here): nothing cancels a pending login when the gateway closes, so its
  // loopback callback server keeps listening (and keeps the process alive) until loginTimeoutMs (default 5 min).
  // The assertion states the wanted behaviour; drop `.fails` once the plugin cancels pending logins on shutdown.
  it('gateway.close() stops the callback server of a pending login', async () => {
    const as = later(await startAuthorizationServer());
    const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
    const log = captureLogger();
    const gateway = new Gateway({
      config: gatewayConfig([httpSpec('notion', notion.url)]),
      plugins: [new HttpTransportPlugin(), new OAuthPlugin({ env: { BROWSER: 'none' }, loginTimeoutMs: 3_000 }), tokenStorePlugin(new MemoryTokenStore())],
      logger: log.logger,
    });
    await gateway.start();
    cleanups.unshift(() => gateway.close());
    const error = await rejectionOf(gateway.listTools(AGENT, 'notion'));
    expect(error.code).toBe('AUTH_REQUIRED');
    const redirect = new URL(new URL(String(error.details?.authorizationUrl)).searchParams.get('redirect_uri') ?? '');
    await gateway.close();
    const probe = await within(
      new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: Number(redirect.port) });
        socket.once('connect', () => {
          socket.destroy();
          resolve('still listening');
        });
        socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      }),
      'TCP probe',
    );
    expect(probe).toBe('ECONNREFUSED');
  });
});
