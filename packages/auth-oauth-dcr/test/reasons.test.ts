/**
 * A catalogued failure keeps its identity when the OAuth strategy wraps it again: whatever step
 * met it (a refresh, a grant without a user, a login's code exchange, a registration, a
 * revocation, saving tokens), the caller sees the catalogued `code` and `details.reason`, not a
 * bare AUTH_FAILED. Real HTTP servers on 127.0.0.1 and real undici connections; only hostname
 * resolution is the test's (the strategy's `lookup` option), to make a token endpoint's name
 * resolve to a public address when it is connected to (DNS rebinding), which the egress policy
 * refuses: plain http is allowed to local addresses only.
 */
import { describe, expect, it } from 'vitest';
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
import {
  authorizationRefused,
  clientCredentialsRefused,
  codeExchangeRefused,
  deviceAuthorizationRefused,
  deviceCodeExpired,
  deviceGrantRefused,
  deviceUnsupported,
  egressRefused,
  endpointMissing,
  issuerMismatch,
  metadataInvalid,
  metadataNotFound,
  pkceUnsupported,
  refreshFailed,
  refreshRefused,
  registrationRefused,
  registrationUnsupported,
  resourceMismatch,
  revokeTokens,
} from '../src/index.js';
import type { LookupFn } from '../src/egress.js';
import { OAuthStrategy } from '../src/strategy.js';
import { captureLogger, httpSpec, rejectionOf, startDocServer, within, type DocServer, readForm, cleanupsAfterEach } from './helpers.js';

const cleanups = cleanupsAfterEach();

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
  /** What /device (the device authorization endpoint) answers (change it at will). */
  device: TokenAnswer;
  /** When set, /authorize sends the browser back with this `error` (and a description) instead of a code. */
  authorizeError: string | undefined;
}

/**
 * `endpoints`: metadata fields to override, `<origin>` replaced by the server's origin and `<port>` by its port
 * in strings; `null` removes the field.
 */
async function fixture(endpoints: Record<string, unknown> = {}): Promise<Fixture> {
  const grants: string[] = [];
  let token: TokenAnswer = { status: 200, body: { access_token: 'at-new', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-new' } };
  let device: TokenAnswer = { status: 200, body: { device_code: 'dc', user_code: 'ABCD-EFGH', verification_uri: 'http://127.0.0.1/device', expires_in: 60, interval: 1 } };
  let authorizeError: string | undefined;
  const s = await startDocServer((req, res, origin) => {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/mcp') {
      res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'application/json' }).end('{"error":"invalid_token"}');
      return true;
    }
    if (url.pathname === '/authorize') {
      // The user consents at once: back to the redirect URI with a code and the state.
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      if (authorizeError) {
        back.searchParams.set('error', authorizeError);
        back.searchParams.set('error_description', 'Sensitive Tenant Name said no');
      } else back.searchParams.set('code', 'the-code');
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.href }).end();
      return true;
    }
    if (req.method === 'POST' && (url.pathname === '/token' || url.pathname === '/revoke' || url.pathname === '/device')) {
      void readForm(req).then((params) => {
        if (url.pathname === '/token') grants.push(params.get('grant_type') ?? '');
        const answer = url.pathname === '/token' ? token : url.pathname === '/device' ? device : { status: 200, body: {} };
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      });
      return true;
    }
    return false;
  });
  cleanups.push(() => s.close());
  const fill = (value: unknown) => (typeof value === 'string' ? value.replaceAll('<origin>', s.origin).replaceAll('<port>', String(s.port)) : value);
  const metadata: Record<string, unknown> = {
    issuer: s.origin,
    authorization_endpoint: `${s.origin}/authorize`,
    token_endpoint: `${s.origin}/token`,
    registration_endpoint: `${s.origin}/register`,
    revocation_endpoint: `${s.origin}/revoke`,
    code_challenge_methods_supported: ['S256'],
    ...Object.fromEntries(Object.entries(endpoints).map(([k, v]) => [k, fill(v)])),
  };
  for (const [k, v] of Object.entries(metadata)) if (v === null) delete metadata[k];
  s.routes.set('/.well-known/oauth-protected-resource/mcp', { body: { resource: `${s.origin}/mcp`, authorization_servers: [s.origin] } });
  s.routes.set('/.well-known/oauth-authorization-server', { body: metadata });
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
    get device() {
      return device;
    },
    set device(answer) {
      device = answer;
    },
    get authorizeError() {
      return authorizeError;
    },
    set authorizeError(error) {
      authorizeError = error;
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
    expect(error).toMatchObject({ code: refreshRefused.code, details: { server: 'srv', reason: refreshRefused.reason, oauthError: 'invalid_grant' } });
    expect(new URL(String(error.details?.authorizationUrl)).origin).toBe(f.s.origin);
    expect(JSON.stringify(error)).not.toContain('refresh token revoked'); // the AS's free text travels nowhere
    expect(f.grants).toEqual(['refresh_token']);
    const after = await store.get(serverStoreKey(f.url));
    expect(after?.tokens).toBeUndefined();
    expect(after?.client?.client_id).toBe('registered-client');
    expect(events.map((e) => e.type)).toEqual(['failure']);
  });

  it('answered invalid_client: AUTH_REQUIRED/refresh_refused; the tokens and the client are dropped, the new login registers again', async () => {
    const f = await fixture();
    f.token = { status: 401, body: { error: 'invalid_client' } };
    const { strategy, store } = await strategyFor(httpSpec('srv', f.url), { stored: expiredLogin(f) });
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject({ code: 'AUTH_REQUIRED', details: { server: 'srv', reason: 'refresh_refused', oauthError: 'invalid_client' } });
    expect(f.s.paths()).toContain('/register');
    const after = await store.get(serverStoreKey(f.url));
    expect(after?.tokens).toBeUndefined();
    expect(after?.client?.redirect_uris).not.toEqual(['http://127.0.0.1:1/callback']);
  });

  it('answered another error: AUTH_FAILED/refresh_failed with the registered OAuth error, and the tokens stay', async () => {
    const f = await fixture();
    f.token = { status: 400, body: { error: 'invalid_request', error_description: 'Sensitive Tenant Name' } };
    const { strategy, store } = await strategyFor(httpSpec('srv', f.url), { stored: expiredLogin(f) });
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject({ code: refreshFailed.code, details: { server: 'srv', reason: refreshFailed.reason, oauthError: 'invalid_request' } });
    expect(JSON.stringify(error)).not.toContain('Sensitive Tenant Name');
    expect((await store.get(serverStoreKey(f.url)))?.tokens?.refresh_token).toBe('rt-old');
  });

  it('answered an error code no RFC registers: AUTH_FAILED/refresh_failed, the code not in details', async () => {
    const f = await fixture();
    f.token = { status: 400, body: { error: 'acme_tenant_suspended' } };
    const { strategy } = await strategyFor(httpSpec('srv', f.url), { stored: expiredLogin(f) });
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'srv', reason: 'refresh_failed' } });
    expect(error.details).not.toHaveProperty('oauthError');
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

  it('client credentials answered invalid_client: AUTH_FAILED/client_credentials_refused naming the OAuth error', async () => {
    const f = await fixture();
    f.token = { status: 401, body: { error: 'invalid_client' } };
    const spec = httpSpec('srv', f.url, { auth: { type: 'client_credentials', clientId: 'svc', clientSecret: 'svc-secret' } });
    const { strategy } = await strategyFor(spec);
    const error = await rejectionOf(within(strategy.headers(), 'headers'));
    expect(error).toMatchObject({
      code: clientCredentialsRefused.code,
      details: { server: 'srv', reason: clientCredentialsRefused.reason, oauthError: 'invalid_client' },
    });
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

  it('whose code is refused (invalid_grant): done rejects with AUTH_FAILED/code_exchange_refused naming it', async () => {
    const f = await fixture();
    f.token = { status: 400, body: { error: 'invalid_grant' } };
    const { strategy } = await strategyFor(httpSpec('srv', f.url));
    const login = await within(strategy.startLogin(), 'login');
    await consent(login.url);
    const error = await rejectionOf(within(login.done, 'login done'));
    expect(error).toMatchObject({ code: codeExchangeRefused.code, details: { server: 'srv', reason: codeExchangeRefused.reason, oauthError: 'invalid_grant' } });
    expect(error.message).toMatch(/invalid_grant/);
    expect(f.grants).toEqual(['authorization_code']);
  });

  for (const [answered, oauthError] of [
    ['access_denied', 'access_denied'],
    ['invalid_scope', 'invalid_scope'],
    ['acme_said_no', undefined],
  ] as const) {
    it(`sent back with error=${answered}: done rejects with AUTH_FAILED/authorization_refused; no code exchange`, async () => {
      const f = await fixture();
      f.authorizeError = answered;
      const { strategy } = await strategyFor(httpSpec('srv', f.url));
      const login = await within(strategy.startLogin(), 'login');
      await consent(login.url);
      const error = await rejectionOf(within(login.done, 'login done'));
      expect(error).toMatchObject({ code: authorizationRefused.code, details: { server: 'srv', reason: authorizationRefused.reason } });
      expect(error.details?.oauthError).toBe(oauthError);
      expect(JSON.stringify(error)).not.toContain('Sensitive Tenant Name');
      expect(f.grants).toEqual([]);
      expect(strategy.status()).toMatchObject({ state: 'failed' });
    });
  }

  it('whose registration is refused (invalid_client_metadata): AUTH_FAILED/registration_refused from startLogin', async () => {
    const f = await fixture();
    f.s.routes.set('/register', { status: 400, body: { error: 'invalid_client_metadata', error_description: 'Sensitive Tenant Name' } });
    const { strategy } = await strategyFor(httpSpec('srv', f.url));
    const error = await rejectionOf(within(strategy.startLogin(), 'login'));
    expect(error).toMatchObject({
      code: registrationRefused.code,
      details: { server: 'srv', reason: registrationRefused.reason, oauthError: 'invalid_client_metadata' },
    });
    expect(JSON.stringify(error)).not.toContain('Sensitive Tenant Name');
    expect(f.s.paths()).not.toContain('/authorize');
  });

  it('at a server without dynamic registration and no configured client: AUTH_FAILED/registration_unsupported, nothing registered', async () => {
    const f = await fixture({ registration_endpoint: null });
    const { strategy } = await strategyFor(httpSpec('srv', f.url));
    const error = await rejectionOf(within(strategy.startLogin(), 'login'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'srv', reason: registrationUnsupported.reason } });
    expect(f.s.paths()).not.toContain('/register');
  });

  it('at a server whose metadata names no authorization endpoint: AUTH_FAILED/endpoint_missing, nothing registered', async () => {
    const f = await fixture({ authorization_endpoint: null });
    const { strategy } = await strategyFor(httpSpec('srv', f.url));
    const error = await rejectionOf(within(strategy.startLogin(), 'login'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'srv', reason: endpointMissing.reason } });
    expect(f.s.paths()).not.toContain('/register');
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

describe('discovery refused: before any registration or login', () => {
  const cases: [string, (f: Fixture) => void, { readonly reason: string | undefined }][] = [
    ['metadata naming another issuer', (f) => f.s.routes.set('/.well-known/oauth-authorization-server', { body: { issuer: 'http://127.0.0.1:1', code_challenge_methods_supported: ['S256'] } }), issuerMismatch],
    ['no authorization server metadata', (f) => f.s.routes.delete('/.well-known/oauth-authorization-server'), metadataNotFound],
    ['metadata that is not a JSON object', (f) => f.s.routes.set('/.well-known/oauth-authorization-server', { body: ['not', 'an', 'object'] }), metadataInvalid],
    ['a protected resource naming another resource', (f) => f.s.routes.set('/.well-known/oauth-protected-resource/mcp', { body: { resource: `${f.s.origin}/other`, authorization_servers: [f.s.origin] } }), resourceMismatch],
  ];
  for (const [what, spoil, template] of cases) {
    it(`${what}: AUTH_FAILED/${template.reason}`, async () => {
      const f = await fixture();
      spoil(f);
      const { strategy } = await strategyFor(httpSpec('srv', f.url));
      const error = await rejectionOf(within(strategy.startLogin(), 'login'));
      expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'srv', reason: template.reason } });
      expect(f.s.paths()).not.toContain('/register');
    });
  }

  for (const [what, endpoints, template] of [
    ['no S256', { code_challenge_methods_supported: ['plain'] }, pkceUnsupported],
    ['no PKCE methods at all', { code_challenge_methods_supported: null }, pkceUnsupported],
    ['no token endpoint', { token_endpoint: null }, endpointMissing],
    ['an endpoint that is not a URL', { registration_endpoint: 42 }, metadataInvalid],
  ] as const) {
    it(`metadata with ${what}: AUTH_FAILED/${template.reason}, also for a grant without a user`, async () => {
      const f = await fixture(endpoints);
      const { strategy } = await strategyFor(httpSpec('srv', f.url));
      expect(await rejectionOf(within(strategy.startLogin(), 'login'))).toMatchObject({ code: 'AUTH_FAILED', details: { reason: template.reason } });
      const spec = httpSpec('svc', f.url, { auth: { type: 'client_credentials', clientId: 'svc', clientSecret: 'svc-secret' } });
      const { strategy: withoutUser } = await strategyFor(spec);
      expect(await rejectionOf(within(withoutUser.headers(), 'headers'))).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'svc', reason: template.reason } });
      expect(f.grants).toEqual([]);
      expect(f.s.paths()).not.toContain('/register');
    });
  }
});

describe('a device login (RFC 8628)', () => {
  const DEVICE = { device_authorization_endpoint: '<origin>/device' };

  it('at a server without device authorization: AUTH_FAILED/device_unsupported, nothing registered', async () => {
    const f = await fixture();
    const { strategy } = await strategyFor(httpSpec('srv', f.url));
    const error = await rejectionOf(within(strategy.startDeviceLogin(), 'device login'));
    expect(error).toMatchObject({ code: deviceUnsupported.code, details: { server: 'srv', reason: deviceUnsupported.reason } });
    expect(f.s.paths()).not.toContain('/register');
  });

  it('refused at the device authorization endpoint: AUTH_FAILED/device_authorization_refused', async () => {
    const f = await fixture(DEVICE);
    f.device = { status: 400, body: { error: 'unauthorized_client', error_description: 'Sensitive Tenant Name' } };
    const { strategy } = await strategyFor(httpSpec('srv', f.url));
    const error = await rejectionOf(within(strategy.startDeviceLogin(), 'device login'));
    expect(error).toMatchObject({
      code: deviceAuthorizationRefused.code,
      details: { server: 'srv', reason: deviceAuthorizationRefused.reason, oauthError: 'unauthorized_client' },
    });
    expect(JSON.stringify(error)).not.toContain('Sensitive Tenant Name');
  });

  for (const [answered, template] of [
    ['expired_token', deviceCodeExpired],
    ['access_denied', authorizationRefused],
    ['invalid_grant', deviceGrantRefused],
  ] as const) {
    it(`the token endpoint answers ${answered} while polling: done rejects with AUTH_FAILED/${template.reason}`, async () => {
      const f = await fixture(DEVICE);
      f.token = { status: 400, body: { error: answered } };
      const { strategy } = await strategyFor(httpSpec('srv', f.url));
      const login = await within(strategy.startDeviceLogin(), 'device login');
      const error = await rejectionOf(within(login.done, 'device login done'));
      expect(error).toMatchObject({ code: template.code, details: { server: 'srv', reason: template.reason, oauthError: answered } });
      expect(f.grants).toEqual(['urn:ietf:params:oauth:grant-type:device_code']);
      expect(strategy.status()).toMatchObject({ state: 'failed' });
    });
  }
});
