/**
 * The plugin as a plugin author tests it: its configuration validated the way the gateway does
 * (`ConfigRegistry` + `parseServers`), and its strategy driven through a real `Gateway` with the
 * HTTP transport against a real Acme server that checks every signature (test/acme-server.ts).
 */
import { createHmac } from 'node:crypto';
import {
  ConfigRegistry,
  Gateway,
  GatewaySettingsSchema,
  MemoryTokenStore,
  parsePluginOptions,
  parseServers,
  secretStoreKey,
  serverStoreKey,
  silentLogger,
  type GatewayConfig,
  type GatewayPlugin,
  type ServerSpec,
} from '@agent-mcp-gateway/core';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import { afterEach, describe, expect, it } from 'vitest';
import AcmeHmacPlugin, { ACME_HMAC_TYPE, acmeErrors, authorization, stringToSign, verifiedKeyOf, type AcmeHmacOptionsInput } from '../src/index.js';
import { startAcmeServer, type AcmeServer } from './acme-server.js';

const SECRET = 'acme-secret-0123456789abcdef';
const OTHER_SECRET = 'acme-other-secret-fedcba9876';

const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close().catch(() => undefined);
});

async function acme(keys: Record<string, string> = { k1: SECRET }): Promise<AcmeServer> {
  const server = await startAcmeServer({ keys });
  closing.push(() => server.close());
  return server;
}

function registryOf(...plugins: GatewayPlugin[]): ConfigRegistry {
  const registry = new ConfigRegistry();
  for (const plugin of plugins) plugin.register?.(registry);
  return registry;
}

function servers(entries: Record<string, unknown>, plugin: GatewayPlugin, env: Record<string, string> = {}): readonly ServerSpec[] {
  return parseServers(JSON.stringify({ mcpServers: entries }), '/project/.mcp.json', env, registryOf(plugin)).servers;
}

/** A started gateway with the HTTP transport, a memory token store and the plugin. */
async function gatewayWith(entries: Record<string, unknown>, options: AcmeHmacOptionsInput = {}, store = new MemoryTokenStore()) {
  const plugin = new AcmeHmacPlugin(options);
  const config: GatewayConfig = { servers: servers(entries, plugin), settings: GatewaySettingsSchema.parse({ connectTimeoutMs: 10_000 }), sources: {}, warnings: [] };
  const storePlugin: GatewayPlugin = { name: 'store', apply: (g) => void g.hooks.resolveTokenStore.tap('store', () => store) };
  const gateway = new Gateway({ config, plugins: [new HttpTransportPlugin(), storePlugin, plugin], logger: silentLogger });
  closing.push(() => gateway.close());
  await gateway.start({ connect: false });
  const ctx = { logger: gateway.logger, signal: new AbortController().signal };
  const call = (server: string, text: string) => gateway.callTool({ agent: gateway.resolveAgent(), server, tool: 'echo', args: { text } });
  return { gateway, store, ctx, call };
}

describe('the signature', () => {
  it('is HMAC-SHA256 over method, path with query, and timestamp; the host is not signed', () => {
    expect(stringToSign('post', 'https://mcp.acme.example/mcp?x=1', 1_700_000_000)).toBe('POST\n/mcp?x=1\n1700000000');
    const expected = createHmac('sha256', SECRET).update('POST\n/mcp?x=1\n1700000000').digest('hex');
    expect(authorization({ keyId: 'k1', secret: SECRET }, 'POST', 'https://mcp.acme.example/mcp?x=1', 1_700_000_000)).toBe(
      `Acme-HMAC keyId="k1", ts="1700000000", sig="${expected}"`,
    );
    expect(authorization({ keyId: 'k1', secret: SECRET }, 'POST', 'http://other:8080/mcp?x=1', 1_700_000_000)).toContain(expected);
    expect(authorization({ keyId: 'k1', secret: SECRET }, 'GET', 'https://mcp.acme.example/mcp?x=1', 1_700_000_000)).not.toContain(expected);
  });
});

describe('configuration', () => {
  it('the auth block: validated by its strict schema, the secret joins the secret values', () => {
    const [spec] = servers({ acme: { url: 'https://mcp.acme.example/mcp', auth: { type: 'acme-hmac', keyId: 'k1', secret: '${ACME_SECRET}' } } }, new AcmeHmacPlugin(), { ACME_SECRET: SECRET });
    expect(spec?.auth).toEqual({ type: ACME_HMAC_TYPE, keyId: 'k1', secret: SECRET });
    expect(spec?.secretValues).toContain(SECRET);
  });

  it('a typo inside the block, a missing field and a bad key id are CONFIG_INVALID naming the JSON path, never the secret', () => {
    const attempt = (auth: Record<string, unknown>) => {
      try {
        servers({ acme: { url: 'https://mcp.acme.example/mcp', auth } }, new AcmeHmacPlugin());
      } catch (error) {
        return error as Error & { code: string; details: { path?: string } };
      }
      throw new Error('accepted');
    };
    // `keyID` for `keyId`: the unknown key is named first (the likelier cause), the missing one after it.
    const typo = attempt({ type: 'acme-hmac', keyID: 'k1', secret: SECRET });
    expect(typo).toMatchObject({ code: 'CONFIG_INVALID', details: { path: '$.mcpServers.acme.auth' } });
    expect(typo.message).toContain('"keyID"');
    expect(typo.message.indexOf('"keyID"')).toBeLessThan(typo.message.indexOf('auth.keyId'));
    const extra = attempt({ type: 'acme-hmac', keyId: 'k1', keyID: 'k1', secret: SECRET });
    expect(extra).toMatchObject({ code: 'CONFIG_INVALID', details: { path: '$.mcpServers.acme.auth' } });
    expect(extra.message).toContain('"keyID"');
    expect(attempt({ type: 'acme-hmac', keyId: 'k1' })).toMatchObject({ code: 'CONFIG_INVALID', details: { path: '$.mcpServers.acme.auth.secret' } });
    expect(attempt({ type: 'acme-hmac', keyId: 'k"1', secret: SECRET })).toMatchObject({ code: 'CONFIG_INVALID', details: { path: '$.mcpServers.acme.auth.keyId' } });
    for (const error of [typo, extra]) expect(error.message).not.toContain(SECRET);
  });

  it('the options: the declared optionsSchema, as the gateway applies it: ${VAR} expanded, secrets collected, a mistake CONFIG_INVALID naming its path', () => {
    const schema = AcmeHmacPlugin.optionsSchema;
    const source = { file: '/home/u/.config/agent-mcp-gateway/.agent-mcp-gatewayrc.json', path: ['plugins', 0, 1] };
    const origin = 'https://mcp.acme.example';
    const ok = parsePluginOptions(schema, { keys: { [origin]: { keyId: 'k1', secret: '${ACME_SECRET}' } } }, { ACME_SECRET: SECRET }, source);
    expect(ok.options).toEqual({ keys: { [origin]: { keyId: 'k1', secret: SECRET } } });
    expect(ok.secrets).toEqual([SECRET]);
    expect(() => new AcmeHmacPlugin(ok.options)).not.toThrow();
    // A stored secret's reference stays as written (the strategy reads it from the store), and is no secret value itself.
    const stored = parsePluginOptions(schema, { keys: { [origin]: { keyId: 'k1', secret: '${secret:ACME}' } } }, {}, source);
    expect(stored.options.keys[origin]?.secret).toBe('${secret:ACME}');
    expect(stored.secrets).toEqual([]);
    expect(parsePluginOptions(schema, undefined, {}, source).options).toEqual({ keys: {} });

    const fails = (options: unknown, env: Record<string, string> = {}) => {
      try {
        parsePluginOptions(schema, options, env, source);
      } catch (error) {
        return error as Error & { code: string; details: { file?: string; path?: string; reason?: string } };
      }
      throw new Error('accepted');
    };
    const notOrigin = fails({ keys: { 'https://mcp.acme.example/mcp': { keyId: 'k1', secret: SECRET } } });
    expect(notOrigin).toMatchObject({ code: 'CONFIG_INVALID', details: { file: source.file, path: '$.plugins[0][1].keys["https://mcp.acme.example/mcp"]' } });
    const typo = fails({ keys: { [origin]: { keyId: 'k1', secrett: SECRET } } });
    expect(typo).toMatchObject({ code: 'CONFIG_INVALID', details: { path: '$.plugins[0][1].keys["https://mcp.acme.example"]' } });
    expect(typo.message).toContain('"secrett"');
    expect(typo.message).not.toContain(SECRET);
    expect(fails({ key: {} })).toMatchObject({ code: 'CONFIG_INVALID', details: { path: '$.plugins[0][1]' } });
    expect(fails({ keys: { [origin]: { keyId: 'k1', secret: '${ACME_SECRET}' } } })).toMatchObject({
      code: 'CONFIG_MISSING_VARIABLE',
      details: { path: '$.plugins[0][1].keys["https://mcp.acme.example"].secret' },
    });
  });
});

describe('through a Gateway, against a server that checks every signature', () => {
  it('auth.type selects the plugin: every request is signed, the tool call succeeds', async () => {
    const server = await acme();
    const { call } = await gatewayWith({ acme: { url: server.url, auth: { type: 'acme-hmac', keyId: 'k1', secret: SECRET } } });
    const result = await call('acme', 'signed');
    expect(result.structuredContent).toEqual({ text: 'signed' });
    expect(server.requests.length).toBeGreaterThan(0);
    expect(server.requests.filter((r) => r.verdict !== 'ok')).toEqual([]);
  });

  it('a wrong secret: the server refuses, the call fails AUTH_FAILED and the secret appears in no error', async () => {
    const server = await acme();
    const { call } = await gatewayWith({ acme: { url: server.url, auth: { type: 'acme-hmac', keyId: 'k1', secret: OTHER_SECRET } } });
    const error = (await call('acme', 'x').catch((e: unknown) => e)) as Error & { code: string };
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(`${error.message} ${JSON.stringify(error)}`).not.toContain(OTHER_SECRET);
    expect(server.requests.map((r) => r.verdict)).toContain('bad_signature');
  });

  it('nothing configured: the 401 Acme-HMAC challenge brings the plugin in, with the key the options give for the origin', async () => {
    const server = await acme();
    const { call, gateway } = await gatewayWith({ acme: { url: server.url } }, { keys: { [server.origin]: { keyId: 'k1', secret: SECRET } } });
    expect((await call('acme', 'challenged')).structuredContent).toEqual({ text: 'challenged' });
    expect(server.requests[0]?.verdict).toBe('unsigned');
    expect(server.requests.slice(1).filter((r) => r.verdict !== 'ok')).toEqual([]);
    expect(gateway.listServers(gateway.resolveAgent()).map((s) => s.auth)).toEqual(['acme-hmac']);
  });

  it('a challenge for an origin without a key: AUTH_FAILED acme_hmac_no_key', async () => {
    const server = await acme();
    const { call } = await gatewayWith({ acme: { url: server.url } }, { keys: { 'https://elsewhere.example': { keyId: 'k1', secret: SECRET } } });
    await expect(call('acme', 'x')).rejects.toMatchObject({ code: 'AUTH_FAILED', details: { reason: 'acme_hmac_no_key' } });
  });

  it('${secret:NAME} as the secret: read from the token store, registered with the redactor', async () => {
    const server = await acme();
    const store = new MemoryTokenStore();
    await store.set(secretStoreKey('ACME'), { secret: SECRET });
    const { call, gateway } = await gatewayWith({ acme: { url: server.url, auth: { type: 'acme-hmac', keyId: 'k1', secret: '${secret:ACME}' } } }, {}, store);
    expect((await call('acme', 'stored')).structuredContent).toEqual({ text: 'stored' });
    expect(gateway.redactor.redactString(`key ${SECRET}`)).toBe('key [REDACTED]');
  });

  it('login verifies the key and remembers it; describe reads it back; logout forgets it', async () => {
    const server = await acme();
    const { gateway, store, ctx } = await gatewayWith({ good: { url: server.url, auth: { type: 'acme-hmac', keyId: 'k1', secret: SECRET } }, bad: { url: `${server.url}?bad`, auth: { type: 'acme-hmac', keyId: 'k1', secret: OTHER_SECRET } } });
    const [good, bad] = gateway.config.servers;
    const strategy = await gateway.hooks.authFor.for(ACME_HMAC_TYPE).promise(good as ServerSpec, null, ctx);
    const key = serverStoreKey(server.url);
    expect(await strategy?.describe?.()).toMatchObject({ loggedIn: false, store: 'memory', key });

    const flow = await strategy?.login?.();
    await flow?.done;
    expect(verifiedKeyOf(await store.get(key))).toMatchObject({ keyId: 'k1' });
    expect(await strategy?.describe?.()).toMatchObject({ loggedIn: true, store: 'memory', key });
    expect(server.requests.filter((r) => r.verdict !== 'ok')).toEqual([]);

    expect(await strategy?.logout?.()).toMatchObject({ deleted: true });
    expect(await store.get(key)).toBeUndefined();
    expect(await strategy?.describe?.()).toMatchObject({ loggedIn: false });
    expect(await strategy?.logout?.()).toMatchObject({ deleted: false });

    const refused = await gateway.hooks.authFor.for(ACME_HMAC_TYPE).promise(bad as ServerSpec, null, ctx);
    const error = await refused?.login?.().catch((e: unknown) => e);
    expect(acmeErrors.keyRejected.is(error)).toBe(true);
    expect(await store.get(serverStoreKey(`${server.url}?bad`))).toBeUndefined();
  });

  it('a verified login lets a server that configures nothing start signed, without the 401 round trip', async () => {
    const server = await acme();
    const store = new MemoryTokenStore();
    const options = { keys: { [server.origin]: { keyId: 'k1', secret: SECRET } } };
    const first = await gatewayWith({ acme: { url: server.url } }, options, store);
    const [spec] = first.gateway.config.servers;
    expect(await first.gateway.hooks.resolveAuth.promise(spec as ServerSpec, null, first.ctx)).toBeUndefined();
    const strategy = await first.gateway.hooks.resolveAuth.promise(spec as ServerSpec, { status: 401, scheme: 'Acme-HMAC', params: { realm: 'acme' } }, first.ctx);
    await (await strategy?.login?.())?.done;

    const second = await gatewayWith({ acme: { url: server.url } }, options, store);
    server.requests.length = 0;
    expect((await second.call('acme', 'remembered')).structuredContent).toEqual({ text: 'remembered' });
    expect(server.requests.filter((r) => r.verdict !== 'ok')).toEqual([]);
  });
});
