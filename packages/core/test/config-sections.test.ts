/**
 * Settings sections registered by plugins: core validates its own keys and the plugin list
 * first, then — once the plugins registered — each other top-level key as a registered section,
 * with its variables over the file; an unknown key lists the registered ones; errors inside a
 * section name the file and JSON path as core's do.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { gatewayErrorOf } from '@agent-mcp-gateway/testing';
import { ErrorCodes } from '../src/errors.js';
import { loadGatewayConfig, loadSettings, reloadGatewayConfig } from '../src/config/load.js';
import { ConfigRegistry } from '../src/config/registry.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'amg-sections-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ListenSchema = z.strictObject({
  address: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(7000),
  limits: z.strictObject({ maxItems: z.number().int().positive() }).optional(),
});

/** A plugin's section that is a way of serving, with two variables; and one that is not. */
function registry(): ConfigRegistry {
  return new ConfigRegistry()
    .registerSettingsSection({
      name: 'listen',
      schema: ListenSchema,
      plugin: 'ListenPlugin',
      serves: true,
      env: {
        LISTEN_ADDRESS: { key: 'address' },
        LISTEN_PORT: {
          key: 'port',
          parse: (text) => {
            if (!/^\d+$/.test(text)) throw new Error('expected a port number');
            return Number(text);
          },
        },
      },
    })
    .registerSettingsSection({ name: 'vault', schema: z.strictObject({ url: z.string().url() }), plugin: 'VaultPlugin' });
}

async function rc(value: unknown, name = '.agent-mcp-gatewayrc.json'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(value));
  return file;
}

describe('settings sections', () => {
  it('a registered section is validated by its schema (defaults filled) and kept in settings.sections', async () => {
    await rc({ logLevel: 'warn', listen: { port: 9000 }, vault: { url: 'https://vault.example' } });
    const { settings } = await loadSettings({ cwd: dir, env: {}, registry: registry() });
    expect(settings.logLevel).toBe('warn');
    expect(settings.sections).toEqual({ listen: { address: '127.0.0.1', port: 9000 }, vault: { url: 'https://vault.example' } });
  });

  it('an unknown top-level key is CONFIG_INVALID listing core keys and the registered sections', async () => {
    const file = await rc({ listne: {} });
    const error = await gatewayErrorOf(loadSettings({ cwd: dir, env: {}, registry: registry() }));
    expect(error).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file, path: '$', reason: 'unknown_setting' } });
    expect(error.message).toContain(`${file}: $: unknown key "listne"`);
    expect(error.message).toContain('sections registered by plugins: listen, vault');
    // Without the plugin, its own section is unknown too: fail closed.
    await rc({ listen: {} });
    const without = await gatewayErrorOf(loadSettings({ cwd: dir, env: {} }));
    expect(without.message).toContain('no plugin registered a settings section');
  });

  it('errors inside a section name the file and JSON path (inside package.json too)', async () => {
    const file = await rc({ listen: { port: 70000, limits: { maxItem: 3 } } });
    const error = await gatewayErrorOf(loadSettings({ cwd: dir, env: {}, registry: registry() }));
    expect(error).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file } });
    expect(error.message).toContain(`${file}: $.listen.port: must be at most 65535`);
    expect(error.message).toContain(`${file}: $.listen.limits: unknown key "maxItem"`);
    await rm(file);
    const pkg = await rc({ name: 'p', 'agent-mcp-gateway': { vault: { url: 'nope' } } }, 'package.json');
    const inPkg = await gatewayErrorOf(loadSettings({ cwd: dir, env: {}, registry: registry() }));
    expect(inPkg.details).toEqual({ file: pkg, path: '$.agent-mcp-gateway.vault.url' });
  });

  it("a section's variables override the file, make the section when the file has none, and errors name the variable", async () => {
    await rc({ listen: { port: 9000 } });
    const over = await loadSettings({ cwd: dir, env: { LISTEN_ADDRESS: '0.0.0.0' }, registry: registry() });
    expect(over.settings.sections.listen).toEqual({ address: '0.0.0.0', port: 9000 });
    await rm(join(dir, '.agent-mcp-gatewayrc.json'));
    const made = await loadSettings({ cwd: dir, env: { LISTEN_PORT: '0' }, registry: registry() });
    expect(made.settings.sections).toEqual({ listen: { address: '127.0.0.1', port: 0 } });
    const none = await loadSettings({ cwd: dir, env: {}, registry: registry() });
    expect(none.settings.sections).toEqual({});
    for (const [variable, value, expected] of [
      ['LISTEN_PORT', 'eighty', 'expected a port number'],
      ['LISTEN_PORT', '70000', 'must be at most 65535'],
    ] as const) {
      const error = await gatewayErrorOf(loadSettings({ cwd: dir, env: { [variable]: value }, registry: registry() }));
      expect(error).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { path: variable } });
      expect(error.message).toBe(`environment variable ${variable}=${JSON.stringify(value)}: ${expected}`);
    }
  });

  it('transport names "stdio" or a section registered with serves; anything else is an error naming the file or the variable', async () => {
    await rc({ transport: 'listen' });
    expect((await loadSettings({ cwd: dir, env: {}, registry: registry() })).settings.transport).toBe('listen');
    const file = await rc({ transport: 'vault' });
    const error = await gatewayErrorOf(loadSettings({ cwd: dir, env: {}, registry: registry() }));
    expect(error).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file, path: '$.transport' } });
    expect(error.message).toBe(`${file}: $.transport: expected one of "stdio", "listen"`);
    const byEnv = await gatewayErrorOf(loadSettings({ cwd: dir, env: { GATEWAY_TRANSPORT: 'ws' }, registry: registry() }));
    expect(byEnv).toMatchObject({ details: { path: 'GATEWAY_TRANSPORT' } });
  });

  it('a section may not take a core key or variable, nor one another plugin registered', async () => {
    const taken = new ConfigRegistry().registerSettingsSection({ name: 'logLevel', schema: z.object({}), plugin: 'Greedy' });
    await rc({});
    expect(await gatewayErrorOf(loadSettings({ cwd: dir, env: {}, registry: taken }))).toMatchObject({ code: ErrorCodes.PLUGIN_ERROR, details: { reason: 'register_failed' } });
    const variable = new ConfigRegistry().registerSettingsSection({ name: 'x', schema: z.object({}), plugin: 'Greedy', env: { GATEWAY_TOKEN_STORE: { key: 'a' } } });
    expect(await gatewayErrorOf(loadSettings({ cwd: dir, env: {}, registry: variable }))).toMatchObject({ code: ErrorCodes.PLUGIN_ERROR });
    expect(() => registry().registerSettingsSection({ name: 'listen', schema: z.object({}), plugin: 'Other' })).toThrow(/registered twice/);
    expect(() => registry().registerSettingsSection({ name: 'y', schema: z.object({}), plugin: 'Other', env: { LISTEN_PORT: { key: 'p' } } })).toThrow(/already read by ListenPlugin/);
  });

  it('two phases: the registry function sees the plugin list before sections are checked; a reload checks them again', async () => {
    const config = join(dir, '.mcp.json');
    await writeFile(config, JSON.stringify({ mcpServers: { a: { command: 'x' } } }));
    await writeFile(join(dir, 'p.mjs'), 'export default {};\n');
    const settingsFile = await rc({ plugins: ['./p.mjs'], listen: { port: 1234 } });
    const seen: unknown[] = [];
    const loaded = await loadGatewayConfig({
      configPath: config,
      cwd: dir,
      env: {},
      home: dir,
      registry: (settings, file) => {
        seen.push([settings.plugins, settings.sections, file]);
        return registry();
      },
    });
    expect(seen).toEqual([[[join(dir, 'p.mjs')], {}, settingsFile]]);
    expect(loaded.settings.sections.listen).toEqual({ address: '127.0.0.1', port: 1234 });
    await rc({ plugins: ['./p.mjs'], listen: { port: 'x' } });
    const reload = await gatewayErrorOf(reloadGatewayConfig(loaded.sources, { configPath: config, cwd: dir, env: {}, home: dir, registry: loaded.registry }));
    expect(reload).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file: settingsFile, path: '$.listen.port' } });
  });
});
