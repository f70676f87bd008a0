/**
 * A catalogued failure keeps its identity when the OAuth strategy wraps it again: whatever step
 * met it (a refresh, a grant without a user, a login's code exchange, a registration, a
 * revocation, saving tokens), the caller sees the catalogued `code` and `details.reason`, not a
 * bare AUTH_FAILED. Real HTTP servers on 127.0.0.1 and real undici connections; only hostname
 * resolution is the test's (the strategy's `lookup` option), to make a token endpoint's name
 * resolve to a public address when it is connected to (DNS rebinding), which the egress policy
 * refuses: plain http is allowed to local addresses only.
 */
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  GatewayError,
  MemoryTokenStore,
  serverStoreKey,
  type AuthEvent,
  type ServerSpec,
  type StoreKey,
  type StoredAuth,
  type TokenStore,
} from '@agent-mcp-gateway/core';
import { egressRefused, revokeTokens } from '../src/index.js';
import type { LookupFn } from '../src/egress.js';
import { OAuthStrategy } from '../src/strategy.js';
import { captureLogger, httpSpec, rejectionOf, startDocServer, within, type DocServer } from './helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await within(Promise.allSettled(cleanups.splice(0).map((fn) => fn())), 'cleanup');
});

const PUBLIC = '93.184.216.34';
const REFUSED = { code: egressRefused.code, details: { reason: egressRefused.reason } };

/**
 * Resolves `name` to 127.0.0.1 the first `local` times it is asked (the endpoint checks when the
 * metadata is read), then to a public address: plain http there is refused, no connection is made.
 */
function rebinding(name: string, local = 1): LookupFn & { asked: () => number } {
  let asked = 0;
  const lookup = async (host: string) => {
    if (host !== name) return [];
    asked++;
    return [{ address: asked > local ? PUBLIC : '127.0.0.1', family: 4 }];
  };
  return Object.assign(lookup, { asked: () => asked });
}

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return new URLSearchParams(body);
}

interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

interface Fixture {
  /** The MCP server and its authorization server in one (401 on /mcp), on 127.0.0.1. */
  s: DocServer;
  url: string;
  /** What /token answers (change it at will). */
  token: TokenAnswer;
  /** The grant_type of every token request. */
  grants: string[];
}

/** `endpoints`: metadata fields to override, `<origin>` replaced by the server's origin and `<port>` by its port. */
async function fixture(endpoints: Record<string, string> = {}): Promise<Fixture> {
  const grants: string[] = [];
  let token: TokenAnswer = { status: 200, body: { access_token: 'at-new', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-new' } };
  const s = await startDocServer((req, res, origin) => {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/mcp') {
      res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'application/json' }).end('{"error":"invalid_token"}');
      return true;
    }
    if (url.pathname === '/authorize') {
      // The user consents at once: back to the redirect URI with a code and the state.
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', 'the-code');
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.href }).end();
      return true;
    }
    if (req.method === 'POST' && (url.pathname === '/token' || url.pathname === '/revoke')) {
      void form(req).then((params) => {
        if (url.pathname === '/token') grants.push(params.get('grant_type') ?? '');
        const answer = url.pathname === '/token' ? token : { status: 200, body: {} };
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      });
      return true;
    }
    return false;
  });
  cleanups.push(() => s.close());
  const fill = (value: string) => value.replaceAll('<origin>', s.origin).replaceAll('<port>', String(s.port));
  s.routes.set('/.well-known/oauth-protected-resource/mcp', { body: { resource: `${s.origin}/mcp`, authorization_servers: [s.origin] } });
  s.routes.set('/.well-known/oauth-authorization-server', {
    body: {
      issuer: s.origin,
      authorization_endpoint: `${s.origin}/authorize`,
      token_endpoint: `${s.origin}/token`,
      registration_endpoint: `${s.origin}/register`,
      revocation_endpoint: `${s.origin}/revoke`,
      code_challenge_methods_supported: ['S256'],
      ...Object.fromEntries(Object.entries(endpoints).map(([k, v]) => [k, fill(v)])),
    },
  });
  s.routes.set('/register', { status: 201, body: { client_id: 'registered-client', token_endpoint_auth_method: 'none' } });
  return {
    s,
    url: `${s.origin}/mcp`,
    grants,
    get token() {
      return token;
    },
    set token(answer) {
      token = answer;
    },
  };
}

/** What a gateway stored after a login: an expired access token, a refresh token, the registered client. */
function expiredLogin(f: Fixture): StoredAuth {
  return {
    server: { name: 'srv', url: f.url },
    tokens: { access_token: 'at-old', refresh_token: 'rt-old', expires_at: Math.floor(Date.now() / 1000) - 60, token_type: 'Bearer' },
    client: { issuer: f.s.origin, client_id: 'registered-client', redirect_uris: ['http://127.0.0.1:1/callback'], token_endpoint_auth_method: 'none', source: 'dcr' },
  };
}

/** A store that can no longer be written once `locked`, as a keychain that locks: its catalogued error. */
class LockingStore extends MemoryTokenStore {
  locked = false;

  override async set(key: StoreKey, value: StoredAuth): Promise<void> {
    if (this.locked) throw new GatewayError('SERVER_UNAVAILABLE', 'keychain unavailable: locked', { reason: 'keychain_unavailable' });
    return super.set(key, value);
  }
}

interface Made {
  strategy: OAuthStrategy;
  store: TokenStore;
  events: AuthEvent[];
}

async function strategyFor(spec: ServerSpec, options: { lookup?: LookupFn; stored?: StoredAuth; store?: TokenStore } = {}): Promise<Made> {
  const store = options.store ?? new MemoryTokenStore();
  if (options.stored) await store.set(serverStoreKey(spec.url as string), options.stored);
  const events: AuthEvent[] = [];
  const strategy = new OAuthStrategy({
    spec,
    store,
    logger: captureLogger().logger,
    env: { BROWSER: 'none' },
    loginTimeoutMs: 10_000,
    clientName: 'test',
    onAuthEvent: (event) => events.push(event),
    ...(options.lookup && { lookup: options.lookup }),
  });
  cleanups.push(async () => strategy.close());
  return { strategy, store, events };
}

describe('a refresh', () => {
  it('answered invalid_grant: the caller gets the catalogued AUTH_REQUIRED with a login to open; the tokens are dropped, the client kept', async () => {
    const f = await fixture();
    f.token = { status: 400, body: { error: 'invalid_grant', error_description: 'refresh token revoked' } };
    const { strategy, store, events } = await strategyFor(httpSpec('srv', f.url), { stored: expiredLogin(f) });
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ code: 'AUTH_REQUIRED', details: { server: 'srv' } });
    expect(new URL(String(error.details?.authorizationUrl)).origin).toBe(f.s.origin);
    expect(f.grants).toEqual(['refresh_token']);
    const after = await store.get(serverStoreKey(f.url));
    expect(after?.tokens).toBeUndefined();
    expect(after?.client?.client_id).toBe('registered-client');
    expect(events.map((e) => e.type)).toEqual(['failure']);
  });

  it('answered another error: AUTH_FAILED (no reason is invented), and the tokens stay', async () => {
    const f = await fixture();
    f.token = { status: 400, body: { error: 'invalid_request' } };
    const { strategy, store } = await strategyFor(httpSpec('srv', f.url), { stored: expiredLogin(f) });
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'srv' } });
    expect(error.details?.reason).toBeUndefined();
    expect((await store.get(serverStoreKey(f.url)))?.tokens?.refresh_token).toBe('rt-old');
  });

  it('whose token endpoint is refused when connected to (rebinding): AUTH_FAILED/egress_refused reaches the caller; nothing was sent', async () => {
    const f = await fixture({ token_endpoint: 'http://tok.test:<port>/token' });
    const lookup = rebinding('tok.test');
    const { strategy, events } = await strategyFor(httpSpec('srv', f.url), { stored: expiredLogin(f), lookup });
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject({ ...REFUSED, details: { ...REFUSED.details, server: 'srv' } });
    expect(error.message).toMatch(/token refresh failed: .*token endpoint http:\/\/tok\.test:\d+ is refused/);
    expect(lookup.asked()).toBe(2);
    expect(f.grants).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['failure']);
  });

  it('whose new tokens cannot be saved: the store’s catalogued error (code and reason) reaches the caller, not AUTH_FAILED', async () => {
    const f = await fixture();
    const store = new LockingStore();
    const { strategy } = await strategyFor(httpSpec('srv', f.url), { stored: expiredLogin(f), store });
    store.locked = true;
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject({ code: 'SERVER_UNAVAILABLE', details: { server: 'srv', reason: 'keychain_unavailable' } });
    expect(error.message).toMatch(/token refresh failed: keychain unavailable/);
    expect(f.grants).toEqual(['refresh_token']);
  });
});

describe('grants without a user', () => {
  it('client credentials, token endpoint refused when connected to: AUTH_FAILED/egress_refused', async () => {
    const f = await fixture({ token_endpoint: 'http://tok.test:<port>/token' });
    const spec = httpSpec('srv', f.url, { auth: { type: 'client_credentials', clientId: 'svc', clientSecret: 'svc-secret' } });
    const { strategy } = await strategyFor(spec, { lookup: rebinding('tok.test') });
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject(REFUSED);
    expect(error.message).toMatch(/client credentials grant refused: .*is refused/);
    expect(f.grants).toEqual([]);
  });

  it('client credentials answered invalid_client: AUTH_FAILED naming the OAuth error, without a reason', async () => {
    const f = await fixture();
    f.token = { status: 401, body: { error: 'invalid_client' } };
    const spec = httpSpec('srv', f.url, { auth: { type: 'client_credentials', clientId: 'svc', clientSecret: 'svc-secret' } });
    const { strategy } = await strategyFor(spec);
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'srv' } });
    expect(error.details?.reason).toBeUndefined();
    expect(error.message).toMatch(/invalid_client/);
  });

  it('enterprise-managed, the configured IdP token endpoint refused: AUTH_FAILED/egress_refused, the ID token sent nowhere', async () => {
    const f = await fixture();
    const idp = await startDocServer();
    cleanups.push(() => idp.close());
    const spec = httpSpec('srv', f.url, {
      auth: {
        type: 'enterprise_managed',
        clientId: 'mcp-client',
        idp: { issuer: idp.origin, tokenEndpoint: `http://idp.test:${idp.port}/token`, clientId: 'idp-client', idToken: 'eyJ.id-token.sig' },
      },
    });
    const { strategy, events } = await strategyFor(spec, { lookup: rebinding('idp.test', 0) });
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject(REFUSED);
    expect(error.message).toMatch(/refused to exchange the ID token for an ID-JAG: .*IdP token endpoint http:\/\/idp\.test:\d+ is refused/);
    expect(idp.log).toEqual([]);
    expect(f.grants).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['failure']);
  });
});

describe('a browser login', () => {
  /** Plays the user's browser: opens the authorization URL and follows its redirect to the loopback callback. */
  async function consent(url: string): Promise<void> {
    const answer = await fetch(url, { redirect: 'manual' });
    await answer.body?.cancel();
    const back = await fetch(answer.headers.get('location') as string);
    await back.body?.cancel();
  }

  it('whose code exchange is refused when the token endpoint is connected to: done rejects with AUTH_FAILED/egress_refused', async () => {
    const f = await fixture({ token_endpoint: 'http://tok.test:<port>/token' });
    const { strategy } = await strategyFor(httpSpec('srv', f.url), { lookup: rebinding('tok.test') });
    const login = await within(strategy.startLogin(), 'login');
    await consent(login.url);
    const error = await rejectionOf(within(login.done, 'login done'));
    expect(error).toMatchObject({ ...REFUSED, details: { ...REFUSED.details, server: 'srv' } });
    expect(f.grants).toEqual([]);
    expect(strategy.status()).toMatchObject({ state: 'failed', detail: expect.stringMatching(/^login failed: .*is refused/) });
  });

  it('whose code is refused (invalid_grant): done rejects with a coded AUTH_FAILED naming it', async () => {
    const f = await fixture();
    f.token = { status: 400, body: { error: 'invalid_grant' } };
    const { strategy } = await strategyFor(httpSpec('srv', f.url));
    const login = await within(strategy.startLogin(), 'login');
    await consent(login.url);
    const error = await rejectionOf(within(login.done, 'login done'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'srv' } });
    expect(error.message).toMatch(/invalid_grant/);
    expect(f.grants).toEqual(['authorization_code']);
  });

  it('whose registration endpoint is refused when connected to: AUTH_FAILED/egress_refused from startLogin', async () => {
    const f = await fixture({ registration_endpoint: 'http://reg.test:<port>/register' });
    const { strategy } = await strategyFor(httpSpec('srv', f.url), { lookup: rebinding('reg.test') });
    const error = await rejectionOf(within(strategy.startLogin(), 'login'));
    expect(error).toMatchObject(REFUSED);
    expect(error.message).toMatch(/client registration refused by .*registration endpoint http:\/\/reg\.test:\d+ is refused/);
    expect(f.s.paths()).not.toContain('/register');
    expect(strategy.status()).toMatchObject({ state: 'failed' });
  });
});

describe('revocation (`auth logout`)', () => {
  it('a revocation endpoint refused when connected to: revokeTokens rejects with AUTH_FAILED/egress_refused; no token is sent', async () => {
    const f = await fixture({ revocation_endpoint: 'http://rev.test:<port>/revoke' });
    const error = await rejectionOf(
      within(
        revokeTokens({ name: 'srv', url: f.url, stored: expiredLogin(f), lookup: rebinding('rev.test') }),
        'revoke',
      ),
    );
    expect(error).toMatchObject(REFUSED);
    expect(error.message).toMatch(/refused to revoke the refresh token: .*revocation endpoint http:\/\/rev\.test:\d+ is refused/);
    expect(f.s.paths()).not.toContain('/revoke');
  });
});
