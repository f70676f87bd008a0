/**
 * Where the built CLI finds its settings (issue 13): `--settings <file>` (else GATEWAY_SETTINGS)
 * alone, and fail closed when it is missing or invalid; else next to the servers file in use,
 * then a trusted project folder, then the user's folder (`~/.config/agent-mcp-gateway/`) — so an
 * MCP client that starts the gateway in whatever project is open still reads the user's settings.
 * `validate` names the settings file it used. Plugins in those settings resolve from the
 * settings file's folder, whatever the working folder.
 */
import { mkdir, realpath, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoServer, runCli, tempDir } from './harness.js';

async function put(file: string, value: unknown): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
}

async function dir(): Promise<string> {
  return realpath(await tempDir());
}

const SERVERS = { mcpServers: { notes: demoServer('notes') } };
const RC = '.agent-mcp-gatewayrc.json';

/** A home whose user folder holds a servers file and (optionally) settings. */
async function homeWith(settings?: unknown): Promise<{ home: string; userDir: string; servers: string; settings?: string }> {
  const home = await dir();
  const userDir = join(home, '.config', 'agent-mcp-gateway');
  const servers = await put(join(userDir, '.mcp.json'), SERVERS);
  if (settings === undefined) return { home, userDir, servers };
  return { home, userDir, servers, settings: await put(join(userDir, RC), settings) };
}

/** A plugin package exporting only the `import` condition, registering a token store name (needs no import of its own). */
async function storePluginPackage(folder: string, store: string): Promise<void> {
  await put(join(folder, 'node_modules/acme-store/package.json'), { name: 'acme-store', type: 'module', exports: { '.': { import: './index.js' } } });
  await put(
    join(folder, 'node_modules/acme-store/index.js'),
    `export default { name: 'AcmeStore', register(r) { r.registerTokenStore({ name: ${JSON.stringify(store)}, plugin: 'AcmeStore' }); }, apply() {} };\n`,
  );
}

describe('settings discovery (built CLI)', () => {
  it("the user's folder: used when the working folder is another (untrusted) project, whose own settings are not read", async () => {
    const user = await homeWith({ logLevel: 'debug' });
    const project = await dir();
    await put(join(project, RC), { logLevel: 'nonsense' });
    const r = await runCli(['validate'], { cwd: project, env: { HOME: user.home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`settings ${user.settings}`);
    expect(r.stdout).not.toContain(project);
  });

  it('a trusted project folder: its settings win over the user\'s, even with the servers file from the user\'s folder', async () => {
    const user = await homeWith({ logLevel: 'debug' });
    const project = await dir();
    const projectSettings = await put(join(project, RC), { logLevel: 'warn' });
    expect((await runCli(['trust'], { cwd: project, env: { HOME: user.home } })).code).toBe(0);
    const r = await runCli(['validate'], { cwd: project, env: { HOME: user.home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`ok: ${user.servers}`);
    expect(r.stdout).toContain(`settings ${projectSettings}`);
  });

  it('next to an explicit servers file; none anywhere: validate says so', async () => {
    const { home } = await homeWith();
    const folder = await dir();
    const config = await put(join(folder, '.mcp.json'), SERVERS);
    const none = await runCli(['validate', '--config', config], { cwd: await dir(), env: { HOME: home } });
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toContain('no settings file');
    const beside = await put(join(folder, RC), {});
    const r = await runCli(['validate', '--config', config], { cwd: await dir(), env: { HOME: home } });
    expect(r.stdout).toContain(`settings ${beside}`);
  });

  it('--settings is used alone (over the servers file\'s folder, the project and the user\'s); GATEWAY_SETTINGS likewise, the flag winning', async () => {
    const user = await homeWith({ logLevel: 'debug' });
    const project = await dir();
    await put(join(project, RC), {});
    expect((await runCli(['trust'], { cwd: project, env: { HOME: user.home } })).code).toBe(0);
    const explicit = await put(join(await dir(), 'gateway-settings.json'), { logLevel: 'error' });
    const viaEnv = await put(join(await dir(), 'env-settings.json'), {});
    const byFlag = await runCli(['validate', '--settings', explicit], { cwd: project, env: { HOME: user.home, GATEWAY_SETTINGS: viaEnv } });
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(byFlag.stdout).toContain(`settings ${explicit}`);
    const byEnv = await runCli(['validate'], { cwd: project, env: { HOME: user.home, GATEWAY_SETTINGS: viaEnv } });
    expect(byEnv.stdout).toContain(`settings ${viaEnv}`);
    // A relative --settings is against the working folder, like --config.
    const relative = await runCli(['validate', '--settings', RC], { cwd: project, env: { HOME: user.home } });
    expect(relative.stdout).toContain(`settings ${join(project, RC)}`);
  });

  it('fail closed: a missing --settings file or GATEWAY_SETTINGS is CONFIG_NOT_FOUND; an invalid one is CONFIG_INVALID naming it — never skipped for another', async () => {
    const user = await homeWith({});
    const cwd = await dir();
    const missing = join(cwd, 'nope.json');
    for (const [args, env, source] of [
      [['validate', '--settings', missing], {}, '--settings'],
      [['validate'], { GATEWAY_SETTINGS: missing }, 'GATEWAY_SETTINGS'],
      [[], { GATEWAY_SETTINGS: missing }, 'GATEWAY_SETTINGS'],
    ] as const) {
      const r = await runCli(args, { cwd, env: { HOME: user.home, ...env } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`CONFIG_NOT_FOUND: ${missing}: settings file not found (given by ${source})`);
    }
    const invalid = await put(join(cwd, 'bad.json'), { logLevel: 'loud' });
    const bad = await runCli(['validate', '--settings', invalid], { cwd, env: { HOME: user.home } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`CONFIG_INVALID: ${invalid}: $.logLevel:`);
    // Commands without a servers file (secret) honour --settings too.
    const secret = await runCli(['secret', 'list', '--settings', missing], { cwd, env: { HOME: user.home } });
    expect(secret.code).toBe(1);
    expect(secret.stderr).toContain('CONFIG_NOT_FOUND');
  });

  it("a plugin package exporting only \"import\" loads from the --settings file's folder, whatever the working folder", async () => {
    const user = await homeWith();
    const settingsDir = await dir();
    await storePluginPackage(settingsDir, 'acme-vault');
    const settings = await put(join(settingsDir, RC), { plugins: ['acme-store'], tokenStore: 'acme-vault' });
    const cwd = await dir();
    const ok = await runCli(['validate', '--settings', settings], { cwd, env: { HOME: user.home } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`settings ${settings}`);

    // The same settings without the package next to them: PLUGIN_ERROR naming the file and entry.
    const bare = await put(join(await dir(), RC), { plugins: ['acme-store'] });
    await storePluginPackage(cwd, 'acme-vault'); // installed in the working folder: not looked at
    const missing = await runCli(['validate', '--settings', bare], { cwd, env: { HOME: user.home } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`PLUGIN_ERROR: ${bare}: $.plugins[0]: cannot find plugin 'acme-store'`);
  });
});
