/**
 * Fuzz pass over what a remote server controls — WWW-Authenticate headers, protected-resource and
 * authorization-server metadata, device answers, redirects — and over the configured server URL.
 * The OAuth strategy runs for real (discovery, registration, browser / device / client-credentials
 * grants) against an injected fetch that serves the generated documents and records every request;
 * names resolve from a fixed table. Properties:
 *   - no request ever goes to a URL the rule refuses (a reference oracle, written independently of
 *     src/egress.ts, from the table's hand-written address kinds), and every request is `redirect: manual`;
 *   - every failure is a coded GatewayError (AUTH_FAILED / AUTH_REQUIRED), never anything else;
 *   - a URL handed to the user (authorization URL, verification URI) passes the same rule.
 */
import { isIP } from 'node:net';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryTokenStore, createLogger, isGatewayError, parseWwwAuthenticate, type ServerSpec } from '@agent-mcp-gateway/core';
import type { FetchFn } from '../src/egress.js';
import { OAuthStrategy, type PendingLogin } from '../src/strategy.js';
import { httpSpec, within } from './helpers.js';

type Kind = 'local' | 'public' | 'other';

/** Every address used, by its normalised spelling, with its kind as the rule sees it (written by hand). */
const KIND: Record<string, Kind> = {
  '127.0.0.1': 'local',
  '::1': 'local',
  '::ffff:7f00:1': 'local',
  '10.0.0.7': 'local',
  '192.168.1.9': 'local',
  '169.254.169.254': 'local',
  '::ffff:a9fe:a9fe': 'local',
  '::ffff:169.254.169.254': 'local',
  'fe80::1': 'local',
  'fd12::1': 'local',
  '0.0.0.0': 'local',
  '100.64.0.1': 'local',
  '93.184.216.34': 'public',
  '93.184.216.35': 'public',
  '2606:4700::1111': 'public',
  '203.0.113.2': 'other',
  '224.0.0.1': 'other',
  '240.0.0.1': 'other',
  '64:ff9b::7f00:1': 'other',
  '::7f00:1': 'other',
};

/** The resolver's table (what the fake lookup answers); names not in it do not resolve. */
const DNS: Record<string, string[]> = {
  localhost: ['127.0.0.1', '::1'],
  'public.example': ['93.184.216.34'],
  'as.example': ['93.184.216.35'],
  'internal.example': ['10.0.0.7'],
  'lan.example': ['192.168.1.9'],
  'mixed.example': ['93.184.216.35', '127.0.0.1'],
  'v6local.example': ['fd12::1'],
  'mapped.example': ['::ffff:169.254.169.254'],
  'doc.example': ['203.0.113.2'],
};

/** Host spellings a remote may write: many ways to say loopback, private, link-local, public and special. */
const HOSTS = [
  '127.0.0.1',
  '0x7f.1',
  '2130706433',
  '127.1',
  '0177.0.0.1',
  '[::1]',
  '[::ffff:127.0.0.1]',
  '10.0.0.7',
  '169.254.169.254',
  '[::ffff:169.254.169.254]',
  '[fe80::1]',
  '[fd12::1]',
  '0.0.0.0',
  '100.64.0.1',
  '93.184.216.34',
  '[2606:4700::1111]',
  '203.0.113.2',
  '224.0.0.1',
  '240.0.0.1',
  '[64:ff9b::7f00:1]',
  '[::7f00:1]',
  'admin.localhost',
  'nowhere.example',
  ...Object.keys(DNS),
];

const bare = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/** The addresses a URL's host stands for (empty: it does not resolve). */
function addressesOf(url: URL): { address: string; kind: Kind }[] {
  const host = bare(url.hostname);
  const literal = KIND[host];
  if (literal) return [{ address: host, kind: literal }];
  if (isIP(host)) throw new Error(`oracle: no kind for literal ${host}`);
  if (host.endsWith('.localhost')) return [{ address: '127.0.0.1', kind: 'local' }];
  return (DNS[host] ?? []).map((address) => {
    const kind = KIND[address];
    if (!kind) throw new Error(`oracle: no kind for ${address}`);
    return { address, kind };
  });
}

/** The reference rule: may the gateway, configured with `serverUrl`, request `target`? */
function allowed(serverUrl: string, target: string): boolean {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return false;
  }
  const server = addressesOf(new URL(serverUrl));
  const allowLocal = server.length > 0 && server.every((a) => a.kind === 'local');
  const own = new Set(allowLocal ? [] : server.filter((a) => a.kind !== 'local').map((a) => a.address));
  const addresses = addressesOf(url);
  if (url.protocol === 'http:') return allowLocal && addresses.length > 0 && addresses.every((a) => a.kind === 'local');
  if (url.protocol !== 'https:') return false;
  return allowLocal || addresses.every((a) => a.kind === 'public' || (a.kind === 'other' && own.has(a.address)));
}

const fakeLookup = async (host: string) => (DNS[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

// ---- generators -----------------------------------------------------------------------------

const scheme = fc.constantFrom('https', 'https', 'https', 'http', 'http', 'ftp', 'file', 'javascript', 'gopher');
const port = fc.option(fc.constantFrom(80, 443, 631, 6379, 8080, 9000), { nil: undefined });
const path = fc.constantFrom('/', '/admin/shutdown?confirm=yes', '/.well-known/oauth-protected-resource/mcp', '/token', '/register', '/meta', '/a/b?c=d#e');
const host = fc.constantFrom(...HOSTS);
const structuredUrl = fc
  .tuple(scheme, host, port, path)
  .map(([s, h, p, rest]) => `${s}://${h}${p === undefined ? '' : `:${p}`}${rest}`);
/** A URL a remote may write: mostly structured, sometimes anything at all. */
const remoteUrl = fc.oneof({ weight: 10, arbitrary: structuredUrl }, { weight: 1, arbitrary: fc.webUrl() }, { weight: 1, arbitrary: fc.string() });

const serverUrl = fc
  .tuple(fc.constantFrom('https', 'https', 'http'), host, port, fc.constantFrom('/mcp', '/', '/tenant/mcp'))
  .map(([s, h, p, rest]) => `${s}://${h}${p === undefined ? '' : `:${p}`}${rest}`);

const header = fc.oneof(
  remoteUrl.map((u) => `Bearer resource_metadata="${u}"`),
  fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER'), remoteUrl, fc.constantFrom('', ', scope="read write"', ', error="invalid_token"')).map(
    ([s, u, extra]) => `${s} realm="mcp", resource_metadata="${u.replace(/["\\]/g, '\\$&')}"${extra}`,
  ),
  remoteUrl.map((u) => `Bearer resource_metadata=${u}`),
  remoteUrl.map((u) => `Basic realm="x", Bearer resource_metadata="${u}"`),
  fc.string(),
  fc.constant(''),
);

/** What one path answers: a document, a redirect, an error, junk. */
type Answer = { status: number; body?: unknown; location?: string };
const answerOf = (doc: fc.Arbitrary<unknown>): fc.Arbitrary<Answer> =>
  fc.oneof(
    { weight: 6, arbitrary: doc.map((body) => ({ status: 200, body })) },
    { weight: 1, arbitrary: remoteUrl.map((location) => ({ status: 302, location })) },
    { weight: 1, arbitrary: fc.constantFrom(404, 500).map((status) => ({ status })) },
    { weight: 1, arbitrary: fc.jsonValue().map((body) => ({ status: 200, body })) },
  );

const ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'registration_endpoint', 'revocation_endpoint', 'device_authorization_endpoint'] as const;

const scenario = fc.record({
  server: serverUrl,
  header,
  flow: fc.constantFrom('login', 'device', 'client_credentials'),
  prm: answerOf(
    fc.record({
      resource: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: remoteUrl }),
      // The server's own origin often enough that whole logins complete (the other end of the property).
      authorization_servers: fc.array(fc.oneof({ weight: 1, arbitrary: remoteUrl }, { weight: 3, arbitrary: fc.constant('<server origin>') }), {
        minLength: 1,
        maxLength: 2,
      }),
    }),
  ),
  as: answerOf(
    fc.record({
      issuer: fc.oneof({ weight: 4, arbitrary: fc.constant('<asked>') }, { weight: 1, arbitrary: remoteUrl }),
      endpoints: fc.record(
        Object.fromEntries(
          ENDPOINTS.map((k) => [k, fc.option(fc.oneof({ weight: 1, arbitrary: remoteUrl }, { weight: 4, arbitrary: fc.constant('<issuer>') }), { nil: undefined, freq: 6 })]),
        ) as Record<(typeof ENDPOINTS)[number], fc.Arbitrary<string | undefined>>,
      ),
    }),
  ),
  verificationUri: remoteUrl,
  verificationUriComplete: fc.option(remoteUrl, { nil: undefined }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** The issuer a well-known URL asks for (RFC 8414 path insertion, OIDC appending), or undefined. */
function askedIssuer(url: URL): string | undefined {
  for (const wk of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    if (url.pathname.startsWith(wk)) return `${url.origin}${url.pathname.slice(wk.length)}`;
    if (url.pathname.endsWith(wk)) return `${url.origin}${url.pathname.slice(0, -wk.length)}`;
  }
  return undefined;
}

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** The remote: answers what the scenario says, by URL; records every request. */
function remote(s: Scenario, challengeUrl: string | undefined) {
  const requests: { url: string; redirect: RequestInit['redirect'] }[] = [];
  let metadata: Record<string, unknown> | undefined;
  const origin = new URL(s.server).origin;
  const fetch = (async (input: string | URL, init?: RequestInit) => {
    const url = new URL(input);
    requests.push({ url: url.href, redirect: init?.redirect });
    const answer = (a: Answer, render: (body: unknown) => unknown = (b) => b): Response =>
      a.status === 302 ? new Response(null, { status: 302, headers: { location: a.location ?? '/' } }) : json(a.status, a.status === 200 ? render(a.body) : { error: 'x' });
    if (url.pathname.startsWith('/.well-known/oauth-protected-resource') || url.href === challengeUrl) {
      return answer(s.prm, (body) => {
        const doc = body as { resource?: string; authorization_servers?: string[] } | null;
        if (!doc || typeof doc !== 'object' || !Array.isArray(doc.authorization_servers)) return body;
        return { ...doc, authorization_servers: doc.authorization_servers.map((a) => (a === '<server origin>' ? origin : a)) };
      });
    }
    const issuer = askedIssuer(url);
    if (issuer !== undefined) {
      return answer(s.as, (body) => {
        const doc = body as { issuer?: string; endpoints?: Record<string, string | undefined> } | null;
        if (!doc || typeof doc !== 'object' || !doc.endpoints) return body;
        const named = doc.issuer === '<asked>' ? issuer : doc.issuer;
        const endpoints = Object.fromEntries(
          Object.entries(doc.endpoints)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => [k, v === '<issuer>' ? `${named}/${k.split('_')[0]}` : v]),
        );
        metadata = { issuer: named, ...endpoints, code_challenge_methods_supported: ['S256'], grant_types_supported: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'] };
        return metadata;
      });
    }
    const is = (key: string) => typeof metadata?.[key] === 'string' && new URL(metadata[key] as string).href.split('?')[0] === url.href.split('?')[0];
    if (is('registration_endpoint')) return json(201, { client_id: 'fuzz-client' });
    if (is('device_authorization_endpoint')) {
      return json(200, {
        device_code: 'dc',
        user_code: 'UC',
        verification_uri: s.verificationUri,
        ...(s.verificationUriComplete !== undefined && { verification_uri_complete: s.verificationUriComplete }),
        expires_in: 60,
        interval: 5,
      });
    }
    if (is('token_endpoint')) return json(200, { access_token: 'at', token_type: 'bearer', expires_in: 3600 });
    return json(404, { error: 'not_found' });
  }) as FetchFn;
  return { fetch, requests };
}

function strategyFor(s: Scenario, fetch: FetchFn): OAuthStrategy {
  const stream = new PassThrough();
  stream.resume();
  const auth: ServerSpec['auth'] = s.flow === 'client_credentials' ? { type: 'client_credentials', clientId: 'c', clientSecret: 's' } : undefined;
  return new OAuthStrategy({
    spec: httpSpec('remote', s.server, auth ? { auth } : {}),
    store: new MemoryTokenStore(),
    logger: createLogger({ level: 'error', stream }),
    env: { BROWSER: 'none' },
    loginTimeoutMs: 5_000,
    clientName: 'fuzz',
    fetch,
    lookup: fakeLookup,
  });
}

describe('egress fuzz: what a remote server writes never makes the gateway request a refused address', () => {
  it('the oracle knows every host the generators write', () => {
    for (const h of HOSTS) expect(() => addressesOf(new URL(`https://${h}/`)), h).not.toThrow();
  });

  it('only coded errors, only allowed requests, redirects never followed', { timeout: 120_000 }, async () => {
    const outcomes = { ok: 0, refused: 0, failed: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const challenge = parseWwwAuthenticate(s.header, 401);
        const r = remote(s, challenge.resourceMetadata);
        const strategy = strategyFor(s, r.fetch);
        strategy.noteChallenge(challenge);
        const shown: string[] = [];
        let login: PendingLogin | undefined;
        try {
          if (s.flow === 'client_credentials') {
            await within(strategy.headers(), 'client credentials', 10_000);
          } else if (s.flow === 'device') {
            const device = await within(strategy.startDeviceLogin(), 'device login', 10_000);
            login = device;
            shown.push(device.verificationUri, ...(device.verificationUriComplete ? [device.verificationUriComplete] : []));
          } else {
            login = await within(strategy.startLogin(), 'login', 10_000);
            shown.push(login.url);
          }
          outcomes.ok++;
        } catch (error) {
          expect(isGatewayError(error), `not a coded error: ${String(error)}\n${(error as Error).stack}`).toBe(true);
          expect(['AUTH_FAILED', 'AUTH_REQUIRED']).toContain((error as { code: string }).code);
          if (/is refused/.test((error as Error).message)) outcomes.refused++;
          else outcomes.failed++;
        } finally {
          login?.cancel();
          await login?.done.catch(() => undefined);
          strategy.close();
        }
        for (const { url, redirect } of r.requests) {
          expect(allowed(s.server, url), `request to ${url} (server ${s.server})`).toBe(true);
          expect(redirect, url).toBe('manual');
        }
        for (const url of shown) expect(allowed(s.server, url), `URL shown to the user: ${url} (server ${s.server})`).toBe(true);
      }),
      { numRuns: 400 },
    );
    // The generators reach both ends: logins that complete and refusals.
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  });
});
