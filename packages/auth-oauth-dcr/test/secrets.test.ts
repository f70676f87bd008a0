/**
 * Every OAuth credential joins the gateway's redactor the moment it is loaded or
 * issued (issue: "OAuth secrets are protected only by a `Bearer …` pattern"):
 * tokens and client secrets read from the store, tokens from a login, configured
 * client secrets and private keys.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Gateway, MemoryTokenStore, SecretRedactor, serverStoreKey, silentLogger, type StoredAuth } from '@agent-mcp-gateway/core';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import { startAuthorizationServer, startProtectedMcpServer, testBrowserCommand } from '@agent-mcp-gateway/testing';
import { OAuthPlugin } from '../src/index.js';
import { OAuthStrategy } from '../src/strategy.js';
import { configuredCredentials, credentialsOf, registeringStore } from '../src/tokens.js';
import { gatewayConfig, httpSpec, nextState, rejectionOf, tokenStorePlugin, within, cleanupsAfterEach } from './helpers.js';

const URL_ = 'https://mcp.example.com/mcp';
const KEY = serverStoreKey(URL_);
const STORED: StoredAuth = {
  server: { name: 'notion', url: URL_ },
  tokens: { access_token: 'eyJ.loaded-access-token.sig', refresh_token: 'loaded-refresh-token-0001', expires_at: Math.floor(Date.now() / 1000) + 3600 },
  client: { issuer: 'https://as.example.com', client_id: 'cid', client_secret: 'loaded-client-secret-0001', source: 'dcr' },
};
const LOADED = ['eyJ.loaded-access-token.sig', 'loaded-refresh-token-0001', 'loaded-client-secret-0001'];

const cleanups = cleanupsAfterEach();

function collector(): { added: string[]; addSecret: (value: string) => void } {
  const added: string[] = [];
  return { added, addSecret: (value) => added.push(value) };
}

describe('credentialsOf / configuredCredentials', () => {
  it('finds access, refresh and ID tokens, client secrets and named secrets; nothing else', () => {
    expect(credentialsOf(STORED)).toEqual(LOADED);
    expect(credentialsOf({ tokens: { access_token: 'a-1', id_token: 'id-1' } })).toEqual(['a-1', 'id-1']);
    expect(credentialsOf({ secret: 'named-1' })).toEqual(['named-1']);
    expect(credentialsOf(undefined)).toEqual([]);
    expect(configuredCredentials({ type: 'oauth', clientId: 'c', clientSecret: 'cfg-secret' } as never)).toEqual(['cfg-secret']);
    expect(
      configuredCredentials({ type: 'client_credentials', clientId: 'c', tokenEndpointAuthMethod: 'private_key_jwt', privateKey: 'PEM' } as never),
    ).toEqual(['PEM']);
    expect(configuredCredentials('oauth')).toEqual([]);
  });
});

describe('registeringStore', () => {
  it('registers what get loads and what set saves; everything else passes through', async () => {
    const memory = new MemoryTokenStore();
    await memory.set(KEY, STORED);
    const { added, addSecret } = collector();
    const store = registeringStore(memory, addSecret);
    expect(store.kind).toBe(memory.kind);
    expect(await store.get(KEY)).toEqual(STORED);
    expect(added).toEqual(LOADED);
    await store.set('other', { tokens: { access_token: 'saved-access-token-0002' } });
    expect(added).toContain('saved-access-token-0002');
    expect(await store.withLock(KEY, async () => 7)).toBe(7);
    expect((await store.list()).map((e) => e.key).sort()).toEqual([KEY, 'other'].sort());
    expect(registeringStore(memory, undefined)).toBe(memory);
  });
});

describe('OAuthStrategy registers credentials', () => {
  const base = { logger: silentLogger, env: {}, loginTimeoutMs: 1000, clientName: 'test' };

  it('loaded from the store: access token, refresh token, client secret', async () => {
    const store = new MemoryTokenStore();
    await store.set(KEY, STORED);
    const { added, addSecret } = collector();
    const strategy = new OAuthStrategy({ ...base, spec: httpSpec('notion', URL_), store, addSecret });
    expect(added).toEqual([]);
    expect(await strategy.headers()).toEqual({ Authorization: `Bearer ${STORED.tokens?.access_token}` });
    expect(added).toEqual(expect.arrayContaining(LOADED));
  });

  it('configured: a client secret and a private key, at once', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const { added, addSecret } = collector();
    new OAuthStrategy({
      ...base,
      spec: httpSpec('svc', URL_, { auth: { type: 'client_credentials', clientId: 'svc', tokenEndpointAuthMethod: 'private_key_jwt', privateKey: pem } as never }),
      store: new MemoryTokenStore(),
      addSecret,
    });
    expect(added).toEqual([pem]);
    new OAuthStrategy({ ...base, spec: httpSpec('pre', URL_, { auth: { type: 'oauth', clientId: 'pre', clientSecret: 'configured-secret-1' } as never }), store: new MemoryTokenStore(), addSecret });
    expect(added).toContain('configured-secret-1');
  });
});

describe('SecretRedactor and a registered private key', () => {
  it('blanks the whole key, any one line of it, and its JSON-escaped form', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const redactor = new SecretRedactor();
    redactor.add(pem);
    const lines = pem.trim().split('\n');
    const middle = lines[3] as string;
    expect(redactor.redactString(`key: ${pem}`)).toBe('key: [REDACTED]');
    expect(redactor.redactString(`bad key near "${middle}"`)).toBe('bad key near "[REDACTED]"');
    expect(redactor.redactString(JSON.stringify({ body: pem }))).not.toContain(middle);
    expect(redactor.redactString(JSON.stringify({ body: pem }))).not.toContain(lines[1] as string);
    // the armour lines are no secret
    expect(redactor.redactString('-----BEGIN PRIVATE KEY-----')).toBe('-----BEGIN PRIVATE KEY-----');
  });

  it('blanks a multi-line or quoted secret as a JSON string shows it', () => {
    const redactor = new SecretRedactor();
    redactor.add('line one\nline "two"');
    expect(redactor.redactString('{"v":"line one\\nline \\"two\\""}')).toBe('{"v":"[REDACTED]"}');
  });
});

describe('through a Gateway (the plugin passes gateway.redactor)', () => {
  it('stored tokens are registered when the server is prepared, before any request', async () => {
    const store = new MemoryTokenStore();
    await store.set(KEY, STORED);
    const gateway = new Gateway({
      config: gatewayConfig([httpSpec('notion', URL_)]),
      plugins: [new HttpTransportPlugin(), new OAuthPlugin({ env: {} }), tokenStorePlugin(store)],
      logger: silentLogger,
    });
    cleanups.push(() => gateway.close());
    await gateway.start({ connect: false });
    await within(
      (async () => {
        while (gateway.redactor.redactString(LOADED[0] as string) !== '[REDACTED]') await new Promise((r) => setTimeout(r, 10));
      })(),
      'the stored access token registered',
    );
    for (const secret of LOADED) expect(gateway.redactor.redactString(`x ${secret} y`)).toBe('x [REDACTED] y');
  });

  it('tokens of a login are registered as they are issued, refreshed ones too', async () => {
    const as = await within(startAuthorizationServer({ accessTokenTtl: 2 }), 'authorization server');
    cleanups.push(() => as.close());
    const rs = await within(startProtectedMcpServer({ authorizationServer: as, name: 'notion' }), 'protected server');
    cleanups.push(() => rs.close());
    const store = new MemoryTokenStore();
    const gateway = new Gateway({
      config: gatewayConfig([httpSpec('notion', rs.url)]),
      plugins: [new HttpTransportPlugin(), new OAuthPlugin({ env: { BROWSER: testBrowserCommand() }, loginTimeoutMs: 20_000 }), tokenStorePlugin(store)],
      logger: silentLogger,
    });
    cleanups.unshift(() => gateway.close());
    await gateway.start();
    const ready = nextState(gateway, 'notion', 'ready');
    await rejectionOf(gateway.listTools('tester', 'notion')); // AUTH_REQUIRED; the login runs in the background
    await ready;
    const first = (await store.get(serverStoreKey(rs.url)))?.tokens;
    expect(first?.refresh_token).toBeTruthy();
    for (const token of [first?.access_token, first?.refresh_token] as string[]) {
      expect(gateway.redactor.redactString(`echo ${token}`)).toBe('echo [REDACTED]');
    }
    // after expiry, the refreshed (rotated) tokens too
    const expiresAt = first?.expires_at as number;
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt * 1000 - Date.now() + 50)));
    await gateway.callTool({ agent: 'tester', server: 'notion', tool: 'echo', args: { text: 'x' } });
    const second = (await store.get(serverStoreKey(rs.url)))?.tokens;
    expect(second?.access_token).not.toBe(first?.access_token);
    for (const token of [second?.access_token, second?.refresh_token] as string[]) {
      expect(gateway.redactor.redactString(`echo ${token}`)).toBe('echo [REDACTED]');
    }
  });
});
