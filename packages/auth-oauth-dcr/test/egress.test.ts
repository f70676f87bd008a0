/**
 * The egress policy (SSRF): which URLs the OAuth client may request, decided by the configured
 * server's own address; hostnames checked on the address actually connected to (real undici
 * connections to a recording server on 127.0.0.1), redirects never followed; and the strategy
 * refusing what a remote server names (a challenge, metadata, a device answer) with AUTH_FAILED.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTokenStore, createLogger, isGatewayError, parseWwwAuthenticate, type ServerSpec } from '@agent-mcp-gateway/core';
import { EgressPolicy, classifyAddress, type FetchFn, type LookupFn } from '../src/egress.js';
import { revokeTokens } from '../src/revoke.js';
import { OAuthStrategy } from '../src/strategy.js';
import { httpSpec, rejectionOf, within } from './helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];

/** A refusal, as catalogued: code + reason, whatever the prose says. */
const REFUSED = { code: 'AUTH_FAILED', details: { reason: 'egress_refused' } };
afterEach(async () => {
  await within(Promise.allSettled(cleanups.splice(0).map((fn) => fn())), 'cleanup');
});

/** A fake resolver: names from `table`; an unknown name does not resolve. Counts the lookups of each name. */
function fakeDns(table: Record<string, readonly string[] | (() => readonly string[])>): LookupFn & { calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const lookup = async (host: string) => {
    calls.set(host, (calls.get(host) ?? 0) + 1);
    const entry = table[host];
    const addresses = typeof entry === 'function' ? entry() : (entry ?? []);
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(lookup, { calls });
}

/** An HTTP server on 127.0.0.1 that counts connections (even a TLS hello to it counts) and requests. */
interface Recorder {
  readonly port: number;
  connections: number;
  readonly requests: { method: string; path: string; host: string }[];
}

async function recorder(answer?: (path: string) => { status: number; headers?: Record<string, string> }): Promise<Recorder> {
  const rec: Recorder = { port: 0, connections: 0, requests: [] };
  const server: Server = createServer((req, res) => {
    rec.requests.push({ method: req.method ?? '', path: req.url ?? '', host: req.headers.host ?? '' });
    const a = answer?.(req.url ?? '/') ?? { status: 200 };
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end('{}');
  });
  server.on('connection', () => rec.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(rec, { port: (server.address() as AddressInfo).port });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return rec;
}

const PUBLIC = '93.184.216.34';

async function policy(serverUrl: string, dns: Record<string, readonly string[] | (() => readonly string[])>, fetch?: FetchFn): Promise<EgressPolicy> {
  const egress = await EgressPolicy.forServer('srv', serverUrl, { lookup: fakeDns(dns), ...(fetch && { fetch }) });
  cleanups.push(() => egress.close());
  return egress;
}

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback', true],
    ['127.9.9.9', 'loopback', true],
    ['::1', 'loopback', true],
    ['::ffff:127.0.0.1', 'loopback', true],
    ['::ffff:7f00:1', 'loopback', true],
    ['10.1.2.3', 'private', true],
    ['172.16.0.1', 'private', true],
    ['192.168.1.1', 'private', true],
    ['169.254.169.254', 'linkLocal', true],
    ['::ffff:169.254.169.254', 'linkLocal', true],
    ['fe80::1', 'linkLocal', true],
    ['fd00::1', 'uniqueLocal', true],
    ['0.0.0.0', 'unspecified', true],
    ['::', 'unspecified', true],
    ['100.64.0.1', 'carrierGradeNat', true],
  ])('%s is local (%s)', (address, range, local) => {
    expect(classifyAddress(address)).toMatchObject({ range, local, public: false });
  });

  it.each([
    [PUBLIC, 'unicast', true],
    ['2606:4700::1111', 'unicast', true],
    ['203.0.113.2', 'reserved', false],
    ['224.0.0.1', 'multicast', false],
    ['255.255.255.255', 'broadcast', false],
    ['::7f00:1', 'ipv4Compatible', false],
    ['64:ff9b::7f00:1', 'rfc6052', false],
    ['2002:7f00:1::', '6to4', false],
    ['4000::1', 'nonGlobal', false],
  ])('%s is not local (%s); public: %s', (address, range, isPublic) => {
    expect(classifyAddress(address)).toMatchObject({ range, local: false, public: isPublic });
  });

  it('is undefined for anything but an IP address', () => {
    for (const value of ['localhost', 'example.com', '', '1.2.3', '[::1']) expect(classifyAddress(value)).toBeUndefined();
  });
});

describe('EgressPolicy.forServer: local development only when the configured server is local', () => {
  it.each([
    ['http://127.0.0.1:3000/mcp', {}, true],
    ['http://[::1]:3000/mcp', {}, true],
    ['http://localhost:3000/mcp', { localhost: ['127.0.0.1', '::1'] }, true],
    ['http://mcp.localhost/mcp', {}, true],
    ['http://10.0.0.5/mcp', {}, true],
    ['https://corp.internal/mcp', { 'corp.internal': ['10.0.0.5', 'fd00::5'] }, true],
    ['https://mcp.example/mcp', { 'mcp.example': [PUBLIC] }, false],
    ['https://mixed.example/mcp', { 'mixed.example': [PUBLIC, '127.0.0.1'] }, false],
    ['https://nowhere.example/mcp', {}, false],
    ['https://203.0.113.2/mcp', {}, false],
    ['not a url', {}, false],
  ] as const)('%s → allowLocal %s', async (url, dns, allowLocal) => {
    expect((await policy(url, dns)).allowLocal).toBe(allowLocal);
  });

  it("a server on a non-public, non-local address (documentation range) keeps its own address, and only that", async () => {
    const egress = await policy('https://203.0.113.2:8443/mcp', {});
    await expect(egress.check('https://203.0.113.2:9/.well-known/x', 'resource metadata URL')).resolves.toBeInstanceOf(URL);
    const error = await rejectionOf(egress.check('https://203.0.113.3/x', 'token endpoint'));
    expect(error.message).toMatch(/token endpoint https:\/\/203\.0\.113\.3 is refused: 203\.0\.113\.3 is a reserved address/);
  });
});

describe('EgressPolicy.check', () => {
  it('refuses anything but http(s), with a coded AUTH_FAILED', async () => {
    const egress = await policy('http://127.0.0.1/mcp', {});
    for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'ftp://127.0.0.1/', 'gopher://127.0.0.1:6379/_INFO', 'data:text/plain,x']) {
      const error = await rejectionOf(egress.check(url, 'resource metadata URL'));
      expect(isGatewayError(error), url).toBe(true);
      expect(error, url).toMatchObject(REFUSED);
    }
    expect(await rejectionOf(egress.check('::not a url', 'token endpoint'))).toMatchObject(REFUSED);
  });

  it('a public server: every spelling of a loopback, private or link-local address is refused, before any lookup', async () => {
    const dns = fakeDns({ 'mcp.example': [PUBLIC] });
    const egress = await EgressPolicy.forServer('srv', 'https://mcp.example/mcp', { lookup: dns });
    for (const host of [
      '127.0.0.1',
      '0x7f.1',
      '2130706433',
      '127.1',
      '017700000001',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '[0:0:0:0:0:ffff:7f00:1]',
      '0.0.0.0',
      '10.0.0.1',
      '169.254.169.254',
      '[fe80::1]',
      '[fd00::1]',
      '100.64.0.1',
      'a.b.localhost',
    ]) {
      const error = await rejectionOf(egress.check(`https://${host}:8080/admin/shutdown?confirm=yes`, 'resource metadata URL'));
      expect(error, host).toMatchObject(REFUSED);
      expect(error.message, host).toMatch(/resource metadata URL https:\/\/.* is refused: .* is an? (loopback|private|link-local|unique-local|unspecified|shared \(CGNAT\)) address, allowed only when the server itself is on/);
    }
    expect([...dns.calls.keys()]).toEqual(['mcp.example']); // only the server's own name was ever resolved
  });

  it('a public server: a hostname is checked on every address it resolves to', async () => {
    const egress = await policy('https://mcp.example/mcp', {
      'mcp.example': [PUBLIC],
      'as.example': ['93.184.216.35'],
      'internal.example': ['10.1.2.3'],
      'mixed.example': ['93.184.216.35', '127.0.0.1'],
      'mapped.example': ['::ffff:169.254.169.254'],
      localhost: ['127.0.0.1'],
    });
    await expect(egress.check('https://as.example/token', 'token endpoint')).resolves.toBeInstanceOf(URL);
    await expect(egress.check('https://nowhere.example/token', 'token endpoint')).resolves.toBeInstanceOf(URL); // fails later, as a request
    for (const [host, why] of [
      ['internal.example', 'internal.example resolves to 10.1.2.3, a private address'],
      ['mixed.example', 'mixed.example resolves to 127.0.0.1, a loopback address'],
      ['mapped.example', 'mapped.example resolves to 169.254.169.254, a link-local address'],
      ['localhost', 'localhost resolves to 127.0.0.1, a loopback address'],
    ]) {
      const error = await rejectionOf(egress.check(`https://${host}/token`, 'token endpoint'));
      expect(error.message).toContain(`token endpoint https://${host} is refused: ${why}, allowed only when the server itself is on`);
    }
    const http = await rejectionOf(egress.check('http://as.example/token', 'token endpoint'));
    expect(http.message).toMatch(/token endpoint http:\/\/as\.example is refused: it must use https \(plain http is allowed only when the server itself is on/);
  });

  it('a local server: any https URL, plain http only to local addresses', async () => {
    const egress = await policy('http://localhost:3000/mcp', { localhost: ['127.0.0.1'], 'public.example': [PUBLIC], 'lan.example': ['192.168.1.9'] });
    for (const url of ['http://127.0.0.1:9/t', 'http://[::1]:9/t', 'http://localhost:9/t', 'http://lan.example/t', 'http://10.0.0.1/t', 'https://public.example/t', 'https://127.0.0.1/t']) {
      await expect(egress.check(url, 'token endpoint'), url).resolves.toBeInstanceOf(URL);
    }
    for (const [url, why] of [
      ['http://public.example/t', /it must use https: public\.example resolves to 93\.184\.216\.34, a public address, and plain http is allowed only to/],
      ['http://93.184.216.34/t', /it must use https: 93\.184\.216\.34 is a public address/],
      ['http://nowhere.example/t', /it must use https: nowhere\.example does not resolve/],
    ] as const) {
      expect((await rejectionOf(egress.check(url, 'token endpoint'))).message, url).toMatch(why);
    }
  });
});

describe('EgressPolicy.fetcher: real connections', () => {
  it('connects to the address its own lookup checked (a name no resolver knows reaches 127.0.0.1 because the policy said so)', async () => {
    const rec = await recorder();
    const egress = await policy('http://127.0.0.1/mcp', { 'pinned.test': ['127.0.0.1'] });
    const response = await egress.fetch(`http://pinned.test:${rec.port}/hello`);
    expect(response.status).toBe(200);
    expect(rec.requests).toEqual([{ method: 'GET', path: '/hello', host: `pinned.test:${rec.port}` }]);
  });

  it('DNS rebinding: a name that resolves to a public address when checked and to 127.0.0.1 when connecting is refused; nothing connects', async () => {
    const rec = await recorder();
    let lookups = 0;
    const egress = await policy('https://mcp.example/mcp', { 'mcp.example': [PUBLIC], 'rebind.example': () => (++lookups === 1 ? [PUBLIC] : ['127.0.0.1']) });
    await expect(egress.check(`https://rebind.example:${rec.port}/token`, 'token endpoint')).resolves.toBeInstanceOf(URL);
    const fetchToken = egress.fetcher(() => 'token endpoint');
    const error = await rejectionOf(fetchToken(`https://rebind.example:${rec.port}/token`, { method: 'POST', body: 'grant_type=x' }));
    expect(error).toMatchObject(REFUSED);
    expect(error.message).toContain(`token endpoint https://rebind.example:${rec.port} is refused: rebind.example resolves to 127.0.0.1, a loopback address`);
    expect(rec.connections).toBe(0);
  });

  it('a literal refused address never connects (no lookup, no socket)', async () => {
    const rec = await recorder();
    const egress = await policy('https://mcp.example/mcp', { 'mcp.example': [PUBLIC] });
    for (const url of [`https://127.0.0.1:${rec.port}/`, `http://127.0.0.1:${rec.port}/`, `https://[::ffff:127.0.0.1]:${rec.port}/`]) {
      expect(await rejectionOf(egress.fetch(url)), url).toMatchObject(REFUSED);
    }
    expect(rec.connections).toBe(0);
  });

  it('never follows a redirect: the 302 is the answer, its target gets nothing', async () => {
    const target = await recorder();
    const redirecting = await recorder(() => ({ status: 302, headers: { location: `http://127.0.0.1:${target.port}/admin/shutdown?confirm=yes` } }));
    const egress = await policy('http://127.0.0.1/mcp', {});
    const response = await egress.fetch(`http://127.0.0.1:${redirecting.port}/meta`, { redirect: 'follow' });
    expect(response.status).toBe(302);
    expect(target.connections).toBe(0);
  });

  it('an injected fetch is called only after the checks (hostnames resolved first), always with redirect: manual', async () => {
    const seen: { url: string; redirect: RequestInit['redirect'] }[] = [];
    const injected = (async (url: string, init?: RequestInit) => {
      seen.push({ url, redirect: init?.redirect });
      return new Response('{}', { status: 200 });
    }) as FetchFn;
    const egress = await policy('https://mcp.example/mcp', { 'mcp.example': [PUBLIC], 'as.example': [PUBLIC], 'internal.example': ['10.0.0.1'] }, injected);
    expect(await rejectionOf(egress.fetch('https://internal.example/token'))).toMatchObject(REFUSED);
    expect(await rejectionOf(egress.fetch('https://10.0.0.1/token'))).toMatchObject(REFUSED);
    await egress.fetch('https://as.example/token', { redirect: 'follow' });
    expect(seen).toEqual([{ url: 'https://as.example/token', redirect: 'manual' }]);
  });
});

// ---- the strategy against a remote that names internal URLs -------------------------------------

const PRM = '/.well-known/oauth-protected-resource';

interface Remote {
  readonly fetch: FetchFn;
  readonly urls: string[];
}

/** A "public" MCP server and AS at https://mcp.example, served by an injected fetch; `docs` by path. */
function remote(docs: Record<string, { status?: number; body?: unknown; headers?: Record<string, string> }>): Remote {
  const urls: string[] = [];
  const fetch = (async (input: string | URL) => {
    const url = new URL(input);
    urls.push(url.href);
    const doc = url.origin === 'https://mcp.example' ? docs[url.pathname] : undefined;
    if (!doc) return new Response('{"error":"not_found"}', { status: 404, headers: { 'content-type': 'application/json' } });
    return new Response(doc.body === undefined ? null : JSON.stringify(doc.body), { status: doc.status ?? 200, headers: { 'content-type': 'application/json', ...doc.headers } });
  }) as FetchFn;
  return { fetch, urls };
}

const ISSUER = 'https://mcp.example';
function asMetadata(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: ISSUER,
    authorization_endpoint: `${ISSUER}/authorize`,
    token_endpoint: `${ISSUER}/token`,
    registration_endpoint: `${ISSUER}/register`,
    code_challenge_methods_supported: ['S256'],
    ...extra,
  };
}

function strategy(r: Remote, spec: ServerSpec = httpSpec('remote', 'https://mcp.example/mcp')): OAuthStrategy {
  const stream = new PassThrough();
  stream.resume();
  const s = new OAuthStrategy({
    spec,
    store: new MemoryTokenStore(),
    logger: createLogger({ level: 'error', stream }),
    env: { BROWSER: 'none' },
    loginTimeoutMs: 5_000,
    clientName: 'test',
    fetch: r.fetch,
    lookup: fakeDns({ 'mcp.example': [PUBLIC], 'internal.example': ['10.0.0.9'], localhost: ['127.0.0.1'] }),
  });
  cleanups.push(async () => s.close());
  return s;
}

describe('OAuthStrategy: a public server naming internal URLs is refused (AUTH_FAILED, no request there)', () => {
  it('the issue: a challenge whose resource_metadata is a loopback admin URL', async () => {
    const r = remote({ [`${PRM}/mcp`]: { body: { resource: 'https://mcp.example/mcp', authorization_servers: [ISSUER] } } });
    const s = strategy(r);
    s.noteChallenge(parseWwwAuthenticate('Bearer resource_metadata="http://127.0.0.1:8080/admin/shutdown?confirm=yes"', 401));
    const error = await rejectionOf(within(s.startLogin(), 'login'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(error.message).toContain('resource metadata URL http://127.0.0.1:8080 is refused: it must use https');
    expect(r.urls).toEqual([]);
    expect(s.status()).toMatchObject({ state: 'failed' });
  });

  it.each([
    ['registration_endpoint', 'http://127.0.0.1:9/register', 'registration endpoint http://127.0.0.1:9 is refused'],
    ['token_endpoint', 'https://internal.example/token', 'token endpoint https://internal.example is refused: internal.example resolves to 10.0.0.9'],
    ['revocation_endpoint', 'https://[::ffff:a9fe:a9fe]/revoke', 'revocation endpoint https://[::ffff:a9fe:a9fe] is refused: 169.254.169.254 is a link-local address'],
    ['device_authorization_endpoint', 'https://localhost/device', 'device authorization endpoint https://localhost is refused: localhost resolves to 127.0.0.1'],
    ['authorization_endpoint', 'https://169.254.169.254/authorize', 'authorization endpoint https://169.254.169.254 is refused'],
  ])('authorization-server metadata with %s = %s', async (key, url, message) => {
    const r = remote({
      [`${PRM}/mcp`]: { body: { resource: 'https://mcp.example/mcp', authorization_servers: [ISSUER] } },
      '/.well-known/oauth-authorization-server': { body: asMetadata({ [key]: url }) },
    });
    const error = await rejectionOf(within(strategy(r).startLogin(), 'login'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(error.message).toContain(message);
    expect(r.urls.every((u) => u.startsWith('https://mcp.example/.well-known/'))).toBe(true);
  });

  it('a device answer whose verification_uri is plain http or internal is refused before anyone is shown it', async () => {
    for (const [verification, message] of [
      ['http://mcp.example/device', 'verification URI http://mcp.example is refused: it must use https'],
      ['https://127.0.0.1:631/admin', 'verification URI https://127.0.0.1:631 is refused: 127.0.0.1 is a loopback address'],
    ]) {
      const r = remote({
        [`${PRM}/mcp`]: { body: { resource: 'https://mcp.example/mcp', authorization_servers: [ISSUER] } },
        '/.well-known/oauth-authorization-server': { body: asMetadata({ device_authorization_endpoint: `${ISSUER}/device` }) },
        '/register': { status: 201, body: { client_id: 'c' } },
        '/device': { body: { device_code: 'd', user_code: 'U', verification_uri: verification, expires_in: 60, interval: 5 } },
      });
      const error = await rejectionOf(within(strategy(r).startDeviceLogin(), 'device login'));
      expect(error).toMatchObject({ code: 'AUTH_FAILED' });
      expect(error.message).toContain(message);
      expect(r.urls.filter((u) => u.endsWith('/token'))).toEqual([]); // no polling
    }
  });

  it('a redirect from the metadata URL is not followed: discovery goes on with the next well-known URL', async () => {
    const r = remote({
      '/meta': { status: 302, headers: { location: 'http://127.0.0.1:8080/admin' } },
      [`${PRM}/mcp`]: { body: { resource: 'https://mcp.example/mcp', authorization_servers: [ISSUER] } },
      '/.well-known/oauth-authorization-server': { body: asMetadata() },
      '/register': { status: 201, body: { client_id: 'c' } },
    });
    const s = strategy(r);
    s.noteChallenge(parseWwwAuthenticate('Bearer resource_metadata="https://mcp.example/meta"', 401));
    const login = await within(s.startLogin(), 'login');
    expect(login.url.startsWith(`${ISSUER}/authorize?`)).toBe(true);
    expect(r.urls.some((u) => u.includes('127.0.0.1'))).toBe(false);
    login.cancel();
    await login.done.catch(() => undefined);
  });

  it('client credentials: a token endpoint on an internal name is refused; no token request is sent', async () => {
    const r = remote({
      [`${PRM}/mcp`]: { body: { resource: 'https://mcp.example/mcp', authorization_servers: [ISSUER] } },
      '/.well-known/oauth-authorization-server': { body: asMetadata({ token_endpoint: 'https://internal.example/token' }) },
    });
    const spec = httpSpec('remote', 'https://mcp.example/mcp', { auth: { type: 'client_credentials', clientId: 'c', clientSecret: 's' } });
    const error = await rejectionOf(within(strategy(r, spec).headers(), 'client credentials'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(error.message).toContain('token endpoint https://internal.example is refused');
    expect(r.urls.some((u) => u.includes('internal.example'))).toBe(false);
  });

  it('`auth logout`: a revocation endpoint on a loopback address is refused; neither token is sent there', async () => {
    const r = remote({
      [`${PRM}/mcp`]: { body: { resource: 'https://mcp.example/mcp', authorization_servers: [ISSUER] } },
      '/.well-known/oauth-authorization-server': { body: asMetadata({ revocation_endpoint: 'https://127.0.0.1:8080/admin/shutdown' }) },
    });
    const error = await rejectionOf(
      revokeTokens({
        name: 'remote',
        url: 'https://mcp.example/mcp',
        stored: { tokens: { access_token: 'at', refresh_token: 'rt', token_type: 'Bearer' }, client: { issuer: ISSUER, client_id: 'c', source: 'dcr' } },
        fetch: r.fetch,
      }),
    );
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(error.message).toContain('revocation endpoint https://127.0.0.1:8080 is refused: 127.0.0.1 is a loopback address');
    expect(r.urls.every((u) => u.startsWith('https://mcp.example/.well-known/'))).toBe(true);
  });
});
