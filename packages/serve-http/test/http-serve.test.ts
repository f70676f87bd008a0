import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Gateway, GatewaySettingsSchema, silentLogger, type GatewayConfig, type RulesFile } from '@agent-mcp-gateway/core';
import { HttpServeSettingsSchema } from '../src/settings.js';
import { isLoopbackHost } from '@agent-mcp-gateway/core';
import { checkHttpServeSettings, startHttpServer, type GatewayHttpServer } from '../src/http-serve.js';
import { CallerAuth, discoverJwksUri, hashApiKey } from '../src/http-auth.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn().catch(() => undefined);
});

function gatewayWith(rules?: RulesFile): Gateway {
  const config: GatewayConfig = { servers: [], ...(rules && { rules }), settings: GatewaySettingsSchema.parse({}), sources: {}, warnings: [] };
  const gateway = new Gateway({ config, logger: silentLogger });
  cleanup.push(() => gateway.close());
  return gateway;
}

async function listener(http: Record<string, unknown> = {}, rules?: RulesFile): Promise<{ server: GatewayHttpServer; gateway: Gateway; base: string }> {
  const gateway = gatewayWith(rules);
  const server = await startHttpServer({
    gateway,
    settings: HttpServeSettingsSchema.parse({ port: 0, ...http }),
    debug: false,
    allowUnauthenticated: false,
    logger: silentLogger,
  });
  cleanup.push(() => server.close());
  return { server, gateway, base: server.url.replace(/\/mcp$/, '') };
}

/** A raw request, so Host can be forged. */
function raw(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const INITIALIZE = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

describe('the HTTP listener', () => {
  it('/ready: 503 until the gateway is marked ready, 200 then, 503 again while it shuts down; /health 200 throughout', async () => {
    const { server, gateway, base } = await listener();
    expect((await fetch(`${base}/ready`)).status).toBe(503);
    expect(await (await fetch(`${base}/ready`)).json()).toMatchObject({ status: 'starting' });
    // the MCP endpoint waits for readiness too
    const early = await fetch(server.url, { method: 'POST', headers: MCP_HEADERS, body: INITIALIZE });
    expect(early.status).toBe(503);
    expect(early.headers.get('retry-after')).toBe('1');
    expect((await fetch(`${base}/health`)).status).toBe(200);

    await gateway.start({ connect: false });
    server.markReady();
    expect((await fetch(`${base}/ready`)).status).toBe(200);

    // a client with an open session (and its standalone SSE stream) does not hold the shutdown up
    const client = new Client({ name: 't', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(server.url));
    await client.connect(transport);
    expect(server.sessionCount()).toBe(1);
    const closed = new Promise<void>((resolve) => (client.onclose = resolve));
    const closing = server.close();
    await closing;
    expect(server.sessionCount()).toBe(0);
    await expect(fetch(`${base}/ready`)).rejects.toThrow(); // listener gone
    await client.close();
    await closed;
  });

  it('a session is closed by DELETE and then unknown (404)', async () => {
    const { server, gateway } = await listener();
    await gateway.start({ connect: false });
    server.markReady();
    const transport = new StreamableHTTPClientTransport(new URL(server.url));
    const client = new Client({ name: 't', version: '1' });
    await client.connect(transport);
    const id = transport.sessionId as string;
    await transport.terminateSession();
    expect(server.sessionCount()).toBe(0);
    const after = await fetch(server.url, { method: 'POST', headers: { ...MCP_HEADERS, 'mcp-session-id': id }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) });
    expect(after.status).toBe(404);
    // without a session id only initialize is accepted; other methods are 405
    expect((await fetch(server.url, { method: 'POST', headers: MCP_HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }) })).status).toBe(400);
    expect((await fetch(server.url, { method: 'PUT', headers: MCP_HEADERS, body: '{}' })).status).toBe(405);
    expect((await fetch(server.url, { method: 'POST', headers: MCP_HEADERS, body: '{not json' })).status).toBe(400);
    await client.close();
  });

  it('checks Host: the bound address and localhost names with the port, allowedHosts (any port or exact), publicUrl, "*"', async () => {
    const { server, gateway } = await listener({ allowedHosts: ['gw.internal', 'lb.example:8443'], publicUrl: 'https://gateway.example.com', maxBodyBytes: 1000 });
    await gateway.start({ connect: false });
    server.markReady();
    const port = new URL(server.url).port;
    const status = async (host: string) => (await raw(server.url, { method: 'POST', headers: { ...MCP_HEADERS, host }, body: INITIALIZE })).status;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, 'gw.internal', 'gw.internal:9999', 'lb.example:8443', 'gateway.example.com']) {
      expect([host, await status(host)]).toEqual([host, 200]);
    }
    for (const host of ['evil.example', `evil.example:${port}`, 'localhost', `127.0.0.1:${Number(port) + 1}`, 'lb.example:8444', 'lb.example']) {
      expect([host, await status(host)]).toEqual([host, 403]);
    }
    // the request size limit is a setting
    const big = await raw(server.url, { method: 'POST', headers: MCP_HEADERS, body: JSON.stringify({ pad: 'x'.repeat(2000) }) });
    expect(big.status).toBe(413);

    const any = await listener({ allowedHosts: ['*'] });
    await any.gateway.start({ connect: false });
    any.server.markReady();
    expect((await raw(any.server.url, { method: 'POST', headers: { ...MCP_HEADERS, host: 'whatever.example' }, body: INITIALIZE })).status).toBe(200);
  });

  it('refuses unsafe settings: no credential on a non-loopback address (unless allowed); JWT audience of a wildcard address', () => {
    const settings = (http: Record<string, unknown>) => HttpServeSettingsSchema.parse(http);
    expect(() => checkHttpServeSettings({ settings: settings({ host: '0.0.0.0' }), hasApiKeys: false, allowUnauthenticated: false })).toThrow(/Refusing to serve/);
    expect(() => checkHttpServeSettings({ settings: settings({ host: '10.0.0.5' }), hasApiKeys: false, allowUnauthenticated: false })).toThrow(/Refusing to serve/);
    expect(() => checkHttpServeSettings({ settings: settings({ host: '0.0.0.0' }), hasApiKeys: true, allowUnauthenticated: false })).not.toThrow();
    expect(() => checkHttpServeSettings({ settings: settings({ host: '0.0.0.0' }), hasApiKeys: false, allowUnauthenticated: true })).not.toThrow();
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) {
      expect(isLoopbackHost(host)).toBe(true);
      expect(() => checkHttpServeSettings({ settings: settings({ host }), hasApiKeys: false, allowUnauthenticated: false })).not.toThrow();
    }
    const jwt = { issuer: 'https://login.example.com' };
    expect(() => checkHttpServeSettings({ settings: settings({ host: '0.0.0.0', auth: jwt }), hasApiKeys: false, allowUnauthenticated: false })).toThrow(/publicUrl/);
    expect(() =>
      checkHttpServeSettings({ settings: settings({ host: '0.0.0.0', auth: jwt, publicUrl: 'https://gw.example.com' }), hasApiKeys: false, allowUnauthenticated: false }),
    ).not.toThrow();
    // settings validation: issuers over https (http on loopback only), publicUrl an origin
    expect(HttpServeSettingsSchema.safeParse({ auth: { issuer: 'http://login.example.com' } }).success).toBe(false);
    expect(HttpServeSettingsSchema.safeParse({ auth: { issuer: 'http://127.0.0.1:9000' } }).success).toBe(true);
    expect(HttpServeSettingsSchema.safeParse({ publicUrl: 'https://gw.example.com/base' }).success).toBe(false);
  });

  it('API keys follow the rules as they are reloaded; a listener whose keys all went away stays closed off-loopback', async () => {
    const key = 'k-1';
    expect(hashApiKey(key)).toBe(`sha256:${createHash('sha256').update(key).digest('hex')}`);
    let rules: RulesFile | undefined = { agents: { a: { api_keys: [hashApiKey(key)] } } };
    const common = { rules: () => rules, resourceUrl: 'http://127.0.0.1:1/mcp', resourceMetadataUrl: 'http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp', logger: silentLogger };
    const auth = new CallerAuth({ ...common, openWhenUnconfigured: false });
    const ok = await auth.authenticate(`Bearer ${key}`);
    expect(ok).toMatchObject({ ok: true, agent: 'a', auth: { clientId: 'a', extra: { agent: 'a', credential: 'api_key' } } });
    // the credential itself never travels further
    expect(JSON.stringify(ok)).not.toContain(key);
    expect(await auth.authenticate(`bearer   ${key}`)).toMatchObject({ ok: true, agent: 'a' });
    expect(await auth.authenticate(undefined)).toMatchObject({ ok: false, status: 401 });
    expect(await auth.authenticate('Bearer nope')).toMatchObject({ ok: false, status: 401, error: 'invalid_token' });
    rules = { agents: { b: { api_keys: [hashApiKey(key)] } } };
    expect(await auth.authenticate(`Bearer ${key}`)).toMatchObject({ ok: true, agent: 'b' });
    rules = { agents: { b: {} } };
    expect(await auth.authenticate(`Bearer ${key}`)).toMatchObject({ ok: false, status: 503 });
    expect(await new CallerAuth({ ...common, openWhenUnconfigured: true }).authenticate(undefined)).toEqual({ ok: true, agent: undefined, auth: undefined });
  });

  it('discovers the JWKS from RFC 8414 metadata, then OpenID Connect, and refuses a document for another issuer', async () => {
    const served: Record<string, unknown> = {
      'https://as.example/.well-known/openid-configuration/tenant': { issuer: 'https://as.example/tenant', jwks_uri: 'https://as.example/tenant/jwks' },
      'https://other.example/.well-known/oauth-authorization-server': { issuer: 'https://evil.example', jwks_uri: 'https://evil.example/jwks' },
      'https://plain.example/.well-known/oauth-authorization-server': { issuer: 'https://plain.example', jwks_uri: 'http://plain.example/jwks' },
    };
    const fake = (async (input: string | URL | Request) => {
      const body = served[String(input)];
      return body ? new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } }) : new Response('no', { status: 404 });
    }) as typeof fetch;
    expect(await discoverJwksUri('https://as.example/tenant', fake)).toBe('https://as.example/tenant/jwks');
    await expect(discoverJwksUri('https://other.example', fake)).rejects.toThrow(/issuer "https:\/\/evil.example" is not https:\/\/other.example/);
    await expect(discoverJwksUri('https://plain.example', fake)).rejects.toThrow(/must use https/);
  });
});
