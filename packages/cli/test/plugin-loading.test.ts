/**
 * Plugin loading with real files in temporary folders: specifiers in a settings file resolve as
 * Node's ESM `import` does (export conditions), from the settings file's folder — never from
 * the working folder — and every failure is a PLUGIN_ERROR with a catalogued reason naming the
 * settings file and the entry's JSON path.
 */
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ErrorCodes, Gateway, GatewaySettingsSchema, loadSettingsFor, silentLogger, type GatewayPlugin } from '@agent-mcp-gateway/core';
import { gatewayErrorOf } from '@agent-mcp-gateway/testing';
import { describe, expect, it } from 'vitest';
import { PLUGIN_OPTION_SECRETS, loadPlugins } from '../src/plugins.js';
import { REFUSED_REASON, writeOptionsPlugins } from './options-plugin.js';

async function tempDir(): Promise<string> {
  return realpath(await mkdtemp(join(tmpdir(), 'amg-plugins-')));
}

async function put(file: string, content: string | object): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

/** A plugin module (ESM) whose plugin's name says which file it came from. */
function pluginModule(name: string): string {
  return `export default class P { constructor(options) { this.options = options; } name = ${JSON.stringify(name)}; apply() {} }\n`;
}

/**
 * The settings next to `dir`'s servers file (given as by --config, so its folder is trusted),
 * loaded from the working folder `cwd`.
 */
async function settingsOf(dir: string, home: string, cwd = dir) {
  const configPath = join(dir, '.mcp.json');
  await put(configPath, { mcpServers: {} });
  return loadSettingsFor({ configPath, cwd, env: {}, home });
}

/** Loads the settings of `dir` and then their plugins, as the CLI does. */
async function load(dir: string, home?: string, env: NodeJS.ProcessEnv = {}) {
  const userHome = home ?? (await tempDir());
  const { settings, file } = await settingsOf(dir, userHome);
  return loadPlugins(settings.plugins, { settingsFile: file, dir, home: userHome, env });
}

describe('plugin loading', () => {
  it('loads a package that exports only the "import" condition, from the settings folder\'s node_modules', async () => {
    const dir = await tempDir();
    await put(join(dir, 'node_modules/@acme/import-only/package.json'), {
      name: '@acme/import-only',
      type: 'module',
      exports: { '.': { import: './dist/index.js' } },
    });
    await put(join(dir, 'node_modules/@acme/import-only/dist/index.js'), pluginModule('import-only'));
    await put(join(dir, '.agent-mcp-gatewayrc.json'), { plugins: [['@acme/import-only', { level: 2 }]] });
    const [plugin] = await load(dir);
    expect(plugin?.name).toBe('import-only');
    expect((plugin as unknown as { options: unknown }).options).toEqual({ level: 2 });
  });

  it('resolves from the settings file\'s folder, not the working folder (a different cwd)', async () => {
    const settingsDir = await tempDir();
    const elsewhere = await tempDir();
    // A same-named package in the working folder must not be the one loaded.
    for (const [dir, name] of [
      [settingsDir, 'from-settings'],
      [elsewhere, 'from-cwd'],
    ] as const) {
      await put(join(dir, 'node_modules/amg-p/package.json'), { name: 'amg-p', type: 'module', exports: { import: './i.js' } });
      await put(join(dir, 'node_modules/amg-p/i.js'), pluginModule(name));
    }
    await put(join(settingsDir, '.agent-mcp-gatewayrc.json'), { plugins: ['amg-p', './local.mjs'] });
    await put(join(settingsDir, 'local.mjs'), pluginModule('local-from-settings'));
    await put(join(elsewhere, 'local.mjs'), pluginModule('local-from-cwd'));
    const previous = process.cwd();
    process.chdir(elsewhere);
    try {
      const { settings, file } = await settingsOf(settingsDir, await tempDir(), elsewhere);
      expect(file).toBe(join(settingsDir, '.agent-mcp-gatewayrc.json'));
      const plugins = await loadPlugins(settings.plugins, { settingsFile: file, dir: elsewhere, home: settingsDir });
      expect(plugins.map((p) => p.name)).toEqual(['from-settings', 'local-from-settings']);
    } finally {
      process.chdir(previous);
    }
  });

  it('loads an absolute file, a relative file, a ~/ file and folders (package.json exports, main, index.js)', async () => {
    const dir = await tempDir();
    const home = await tempDir();
    const absolute = await put(join(await tempDir(), 'abs.mjs'), pluginModule('absolute'));
    await put(join(dir, 'rel/p.mjs'), pluginModule('relative'));
    await put(join(home, 'plugins/h.mjs'), pluginModule('home'));
    await put(join(dir, 'with-exports/package.json'), { name: 'with-exports', type: 'module', exports: { '.': { import: './lib/e.js', require: './missing.cjs' } } });
    await put(join(dir, 'with-exports/lib/e.js'), pluginModule('folder-exports'));
    await put(join(dir, 'with-main/package.json'), { name: 'with-main', type: 'module', main: 'm.js' });
    await put(join(dir, 'with-main/m.js'), pluginModule('folder-main'));
    await put(join(dir, 'bare-folder/package.json'), { type: 'module' });
    await put(join(dir, 'bare-folder/index.js'), pluginModule('folder-index'));
    await put(join(dir, '.agent-mcp-gatewayrc.json'), {
      plugins: [absolute, './rel/p.mjs', '~/plugins/h.mjs', './with-exports', './with-main/', './bare-folder/../bare-folder'],
    });
    const plugins = await load(dir, home);
    expect(plugins.map((p) => p.name)).toEqual(['absolute', 'relative', 'home', 'folder-exports', 'folder-main', 'folder-index']);
  });

  it('a package that is not installed: PLUGIN_ERROR not_found naming the settings file and entry', async () => {
    const dir = await tempDir();
    const file = await put(join(dir, '.agent-mcp-gatewayrc.json'), { plugins: ['./ok.mjs', 'amg-not-installed'] });
    await put(join(dir, 'ok.mjs'), pluginModule('ok'));
    const error = await gatewayErrorOf(load(dir));
    expect(error).toMatchObject({ code: ErrorCodes.PLUGIN_ERROR, details: { reason: 'not_found', file, path: '$.plugins[1]' } });
    expect(error.message).toContain("'amg-not-installed'");
    expect(error.message).toContain(file);
  });

  it('a missing file or folder path: not_found (never joined onto the working folder)', async () => {
    const dir = await tempDir();
    const file = await put(join(dir, '.agent-mcp-gatewayrc.json'), { plugins: ['/nowhere/amg-plugin.mjs'] });
    expect(await gatewayErrorOf(load(dir))).toMatchObject({ details: { reason: 'not_found', file, path: '$.plugins[0]' } });
    await put(file, { plugins: ['./empty-folder'] });
    await mkdir(join(dir, 'empty-folder'));
    expect(await gatewayErrorOf(load(dir))).toMatchObject({ details: { reason: 'not_found', file, path: '$.plugins[0]' } });
  });

  it('a package exporting only "require": bad_package; a module that throws: load_failed; no plugin exported: bad_export', async () => {
    const dir = await tempDir();
    await put(join(dir, 'node_modules/cjs-only/package.json'), { name: 'cjs-only', exports: { require: './c.cjs' } });
    await put(join(dir, 'node_modules/cjs-only/c.cjs'), 'module.exports = {};\n');
    const file = await put(join(dir, '.agent-mcp-gatewayrc.json'), { plugins: ['cjs-only'] });
    expect(await gatewayErrorOf(load(dir))).toMatchObject({ code: ErrorCodes.PLUGIN_ERROR, details: { reason: 'bad_package', file, path: '$.plugins[0]' } });

    await put(join(dir, 'throws.mjs'), "throw new Error('boom at import');\n");
    await put(file, { plugins: ['./throws.mjs'] });
    expect(await gatewayErrorOf(load(dir))).toMatchObject({ details: { reason: 'load_failed', file, path: '$.plugins[0]' } });

    await put(join(dir, 'nothing.mjs'), 'export default 42;\n');
    await put(file, { plugins: ['./nothing.mjs'] });
    expect(await gatewayErrorOf(load(dir))).toMatchObject({ details: { reason: 'bad_export', file, path: '$.plugins[0]' } });
  });

  it('in package.json, the entry\'s path is under the "agent-mcp-gateway" key', async () => {
    const dir = await tempDir();
    const file = await put(join(dir, 'package.json'), { name: 'proj', 'agent-mcp-gateway': { plugins: ['amg-none'] } });
    expect(await gatewayErrorOf(load(dir))).toMatchObject({ details: { reason: 'not_found', file, path: '$.agent-mcp-gateway.plugins[0]' } });
  });

  it('a library caller\'s bare names resolve from the given folder the same way', async () => {
    const dir = await tempDir();
    await put(join(dir, 'node_modules/lib-p/package.json'), { name: 'lib-p', type: 'module', exports: { import: './x.js' } });
    await put(join(dir, 'node_modules/lib-p/x.js'), pluginModule('lib'));
    const plugins = await loadPlugins(['lib-p'], { dir, home: dir });
    expect(plugins.map((p) => p.name)).toEqual(['lib']);
    expect(await gatewayErrorOf(loadPlugins(['lib-q'], { dir, home: dir }))).toMatchObject({ details: { reason: 'not_found' } });
  });
});

describe('plugin options, when the plugin declares their schema', () => {
  const TOKEN = 'fixture-token-5d1c0a7e93';
  const KEY = 'fixture-endpoint-key-44b2e1';
  const ORIGIN = 'https://x.example';
  type Fixture = GatewayPlugin & { options: Record<string, unknown> };

  it('${VAR} is expanded, defaults filled, the parsed options passed; their secrets reach the gateway\'s redactor first', async () => {
    const dir = await tempDir();
    await writeOptionsPlugins(dir);
    await put(join(dir, '.agent-mcp-gatewayrc.json'), {
      plugins: [['./options-plugin.mjs', { token: '${FIX_TOKEN}', endpoints: { [ORIGIN]: { keyId: 'k1', key: KEY } } }], ['./factory-plugin.mjs', { url: '${FIX_URL:-https://default.example}' }]],
    });
    const plugins = await load(dir, undefined, { FIX_TOKEN: TOKEN });
    expect(plugins.map((p) => p.name)).toEqual([PLUGIN_OPTION_SECRETS, 'OptionsFixture', 'FactoryFixture']);
    expect((plugins[1] as Fixture).options).toEqual({ token: TOKEN, endpoints: { [ORIGIN]: { keyId: 'k1', key: KEY } }, label: 'fixture', refuse: false });
    expect((plugins[2] as Fixture).options).toEqual({ url: 'https://default.example', retries: 2 });

    const config = { servers: [], settings: GatewaySettingsSchema.parse({}), sources: {}, warnings: [] };
    const gateway = new Gateway({ config, plugins, logger: silentLogger });
    await gateway.start({ connect: false });
    try {
      const text = gateway.redactor.redactString(`token ${TOKEN}, key ${KEY}, key id k1, url https://default.example`);
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(KEY);
      expect(text).toContain('key id k1'); // not a secret: neither marked nor from a variable
    } finally {
      await gateway.close();
    }
  });

  it('a mistake is CONFIG_INVALID naming the settings file and the JSON path in the options; the unknown key before the missing one', async () => {
    const dir = await tempDir();
    await writeOptionsPlugins(dir);
    const file = join(dir, '.agent-mcp-gatewayrc.json');
    await put(file, { plugins: [['./factory-plugin.mjs', { url: 'https://y.example' }], ['./options-plugin.mjs', { token: TOKEN, endpoints: { [ORIGIN]: { keyID: 'k1', key: KEY } } }]] });
    const typo = await gatewayErrorOf(load(dir));
    expect(typo).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file, path: '$.plugins[1][1].endpoints["https://x.example"]' } });
    expect(typo.message).toContain('"keyID"');
    expect(typo.message.indexOf('"keyID"')).toBeLessThan(typo.message.indexOf('.keyId'));
    expect(typo.message).not.toContain(TOKEN);
    expect(typo.message).not.toContain(KEY);

    // A string entry gets `{}`: the factory's required `url` is missing.
    await put(file, { plugins: ['./factory-plugin.mjs'] });
    expect(await gatewayErrorOf(load(dir))).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file, path: '$.plugins[0][1].url' } });

    await put(file, { plugins: [['./options-plugin.mjs', { token: '${FIX_MISSING}' }]] });
    expect(await gatewayErrorOf(load(dir))).toMatchObject({ code: ErrorCodes.CONFIG_MISSING_VARIABLE, details: { file, path: '$.plugins[0][1].token' } });

    const pkg = await put(join(dir, 'package.json'), { name: 'proj', 'agent-mcp-gateway': { plugins: [['./options-plugin.mjs', { token: 7 }]] } });
    await rm(file);
    expect(await gatewayErrorOf(load(dir))).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file: pkg, path: '$.agent-mcp-gateway.plugins[0][1].token' } });
  });

  it('without a schema the options are passed as written (no expansion)', async () => {
    const dir = await tempDir();
    await put(join(dir, 'p.mjs'), pluginModule('plain'));
    await put(join(dir, '.agent-mcp-gatewayrc.json'), { plugins: [['./p.mjs', { token: '${FIX_TOKEN}' }]] });
    const plugins = await load(dir, undefined, { FIX_TOKEN: TOKEN });
    expect(plugins.map((p) => p.name)).toEqual(['plain']);
    expect((plugins[0] as Fixture).options).toEqual({ token: '${FIX_TOKEN}' });
  });

  it('a constructor\'s GatewayError with a catalogued reason keeps it (entry named, secrets blanked); anything else is load_failed', async () => {
    const dir = await tempDir();
    await writeOptionsPlugins(dir);
    const file = await put(join(dir, '.agent-mcp-gatewayrc.json'), { plugins: [['./options-plugin.mjs', { token: TOKEN, refuse: true }]] });
    const refused = await gatewayErrorOf(load(dir));
    expect(refused).toMatchObject({ code: ErrorCodes.PLUGIN_ERROR, details: { reason: REFUSED_REASON, file, path: '$.plugins[0]' } });
    expect(refused.message).not.toContain(TOKEN);

    await put(join(dir, 'uncatalogued.mjs'), "import { GatewayError } from '@agent-mcp-gateway/core';\nexport default class U { constructor() { throw new GatewayError('PLUGIN_ERROR', 'no', { reason: 'never_defined_anywhere' }); } apply() {} }\n");
    await put(join(dir, 'plain-throw.mjs'), "export default function make() { throw new Error('plain'); }\n");
    await put(join(dir, 'bad-schema.mjs'), "export default Object.assign(() => ({ name: 'b', apply() {} }), { optionsSchema: { parse() {} } });\n");
    for (const plugin of ['./uncatalogued.mjs', './plain-throw.mjs', './bad-schema.mjs']) {
      await put(file, { plugins: [plugin] });
      expect(await gatewayErrorOf(load(dir)), plugin).toMatchObject({ code: ErrorCodes.PLUGIN_ERROR, details: { reason: 'load_failed', file, path: '$.plugins[0]' } });
    }
  });
});
