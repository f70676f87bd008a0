import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCodes, GatewayError } from '../src/errors.js';
import { loadGatewayConfig, parseServers, reloadGatewayConfig } from '../src/config/load.js';
import { ConfigRegistry, secret, secretValuesOf } from '../src/config/registry.js';

const FILE = '/proj/.mcp.json';

/** A third-party auth type as a plugin would register it: strict, with a secret and a nested secret. */
const AcmeSchema = z.strictObject({
  type: z.literal('acme-hmac'),
  keyId: z.string().min(1),
  key: secret(z.string().min(1)),
  clock: z.strictObject({ skewSeconds: z.number().int().min(0).max(300).optional(), salt: secret(z.string()).optional() }).optional(),
});

function registry(): ConfigRegistry {
  return new ConfigRegistry()
    .registerAuthType({ type: 'acme-hmac', schema: AcmeSchema, plugin: 'AcmePlugin' })
    .registerAuthType({ type: 'headers', schema: z.strictObject({ type: z.literal('headers') }), plugin: 'HeadersPlugin' })
    .registerTokenStore({ name: 'fs', plugin: 'FsPlugin' })
    .registerTokenStore({ name: 'vault', plugin: 'VaultPlugin' });
}

const servers = (entries: Record<string, unknown>) => JSON.stringify({ mcpServers: entries });

function caught(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a GatewayError');
}

describe('ConfigRegistry: plugins own the auth and token store vocabulary', () => {
  it('validates a registered type with its plugin\'s schema and lists its secret fields among the secret values', () => {
    const auth = { type: 'acme-hmac', keyId: 'k1', key: 'hmac-key-value', clock: { skewSeconds: 30, salt: 'pepper' } };
    const { servers: specs } = parseServers(servers({ a: { url: 'https://h/mcp', auth } }), FILE, {}, registry());
    expect(specs[0]?.auth).toEqual(auth);
    expect(specs[0]?.secretValues).toEqual(expect.arrayContaining(['hmac-key-value', 'pepper']));
    expect(specs[0]?.secretValues).not.toContain('k1');
  });

  it('accepts a type\'s name as a shorthand when its schema needs nothing else, and "none" always', () => {
    const { servers: specs } = parseServers(servers({ a: { url: 'https://h/mcp', auth: 'headers' }, b: { command: 'x', auth: 'none' } }), FILE, {}, registry());
    expect(specs.map((s) => s.auth)).toEqual(['headers', 'none']);
  });

  it.each([
    ['an unknown auth word', { auth: 'basic' }, '$.mcpServers.a.auth', 'expected one of "none", "headers" or an object'],
    ['an unknown auth type', { auth: { type: 'saml' } }, '$.mcpServers.a.auth.type', 'expected one of "none", "acme-hmac", "headers"'],
    ['a missing field of a plugin\'s block', { auth: { type: 'acme-hmac', key: 'x' } }, '$.mcpServers.a.auth.keyId', 'missing (expected a string)'],
    ['a misspelt key in a plugin\'s block', { auth: { type: 'acme-hmac', keyId: 'k', keyID: 'k', key: 'x' } }, '$.mcpServers.a.auth', 'unknown key "keyID" (allowed: type, keyId, key, clock)'],
    ['a bad nested value in a plugin\'s block', { auth: { type: 'acme-hmac', keyId: 'k', key: 'x', clock: { skewSeconds: 900 } } }, '$.mcpServers.a.auth.clock.skewSeconds', 'must be at most 300'],
    ['an unregistered token store', { tokenStore: 'keyring' }, '$.mcpServers.a.tokenStore', 'expected one of "fs", "vault"'],
  ])('%s → CONFIG_INVALID naming file and JSON path', (_what, extra, path, expected) => {
    const error = caught(() => parseServers(servers({ a: { url: 'https://h/mcp', ...extra } }), FILE, {}, registry()));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${FILE}: ${path}: ${expected}`);
    expect(error.details).toEqual({ file: FILE, path });
  });

  it('never echoes a value from a plugin\'s block in an error', () => {
    const error = caught(() => parseServers(servers({ a: { url: 'https://h/mcp', auth: { type: 'acme-hmac', keyId: 'k', key: 42 } } }), FILE, {}, registry()));
    expect(error.message).toContain('$.mcpServers.a.auth.key: expected a string');
    expect(error.message).not.toContain('42');
  });

  it('without registrations, only "none" is an auth type and any token store name passes', () => {
    expect(caught(() => parseServers(servers({ a: { url: 'https://h', auth: { type: 'acme-hmac' } } }), FILE, {})).message).toContain('$.mcpServers.a.auth.type: expected "none"');
    expect(parseServers(servers({ a: { command: 'x', tokenStore: 'anything' } }), FILE, {}).servers[0]?.tokenStore).toBe('anything');
  });

  it('refuses a type registered twice and a schema whose type is not literal', () => {
    expect(() => registry().registerAuthType({ type: 'headers', schema: z.strictObject({ type: z.literal('headers') }), plugin: 'Other' })).toThrow(
      'auth type "headers" is registered twice (by HeadersPlugin and Other)',
    );
    expect(() => new ConfigRegistry().registerAuthType({ type: 'x', schema: z.strictObject({ type: z.string() }), plugin: 'P' })).toThrow('z.literal("x")');
    expect(() => registry().registerTokenStore({ name: 'fs', plugin: 'P' })).toThrow('token store "fs" is registered twice');
  });

  it('secretValuesOf follows optional, nested, array and union schemas', () => {
    const schema = z.object({
      list: z.array(secret(z.string())),
      either: z.union([z.object({ a: secret(z.string()) }), z.object({ b: z.string() })]).optional(),
    });
    expect(secretValuesOf(schema, { list: ['s1', 's2'], either: { a: 's3' } })).toEqual(['s1', 's2', 's3']);
    expect(secretValuesOf(schema, { list: [], either: { b: 'plain' } })).toEqual([]);
  });
});

describe('loadGatewayConfig: settings, then the plugins\' registrations, then the servers file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'amg-registry-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('calls the registry function with the loaded settings, validates the servers against it, and reloads with it', async () => {
    const config = join(dir, '.mcp.json');
    await writeFile(config, servers({ a: { url: 'https://h/mcp', auth: { type: 'acme-hmac', keyId: 'k', key: 'v' } } }));
    await writeFile(join(dir, '.agent-mcp-gatewayrc.json'), JSON.stringify({ plugins: ['./acme.mjs'] }));
    // A plugin path must name an existing file: the loader resolves it as an import would.
    await writeFile(join(dir, 'acme.mjs'), 'export default {};\n');
    const seen: unknown[] = [];
    const loaded = await loadGatewayConfig({
      configPath: config,
      cwd: dir,
      env: {},
      home: dir,
      registry: (settings) => {
        seen.push(settings.plugins);
        return registry();
      },
    });
    expect(seen).toEqual([[join(dir, 'acme.mjs')]]);
    expect(loaded.servers[0]?.secretValues).toContain('v');
    const reloaded = await reloadGatewayConfig(loaded.sources, { configPath: config, cwd: dir, env: {}, home: dir, registry: loaded.registry });
    expect(reloaded.servers[0]?.auth).toEqual({ type: 'acme-hmac', keyId: 'k', key: 'v' });
  });

  it('the tokenStore setting must be registered: the error names the variable, or the settings file and path', async () => {
    const config = join(dir, '.mcp.json');
    await writeFile(config, servers({ a: { command: 'x' } }));
    const opts = { configPath: config, cwd: dir, home: dir, registry: registry() };
    const fromEnv = await loadGatewayConfig({ ...opts, env: { GATEWAY_TOKEN_STORE: 'keyring' } }).catch((e: unknown) => e);
    expect(fromEnv).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { path: 'GATEWAY_TOKEN_STORE' } });
    expect((fromEnv as Error).message).toBe('environment variable GATEWAY_TOKEN_STORE="keyring": expected one of "fs", "vault"');
    const rc = join(dir, '.agent-mcp-gatewayrc.json');
    await writeFile(rc, JSON.stringify({ tokenStore: 'keyring' }));
    const fromFile = await loadGatewayConfig({ ...opts, env: {} }).catch((e: unknown) => e);
    expect(fromFile).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file: rc, path: '$.tokenStore' } });
    expect((fromFile as Error).message).toBe(`${rc}: $.tokenStore: expected one of "fs", "vault"`);
  });
});
