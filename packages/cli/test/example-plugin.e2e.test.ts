/**
 * A third-party plugin as a user installs it (issue 13): the example plugin
 * (examples/gateway-auth-acme-hmac) and the gateway's packages are packed with `npm pack` and
 * installed from the tarballs into an empty folder — no workspace link — and the INSTALLED CLI
 * (node_modules/.bin/agent-mcp-gateway) is driven against real MCP servers that check every
 * request's Acme-HMAC signature:
 * - `auth: {type: "acme-hmac", …}` selects the plugin, and tool calls succeed;
 * - a typo inside its block fails `validate` naming the JSON path; a mistake in its options too;
 * - with nothing configured in the entry, the server's 401 challenge picks the plugin;
 * - `auth status`, `auth login`, `auth logout` report and act through the plugin;
 * - its secrets appear in no output of any command, debug logs included, nor in any stored file.
 *
 * Needs the built dist/ of every packed package (tests run after `npm run build`).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAcmeServer, type AcmeServer } from '../../../examples/gateway-auth-acme-hmac/test/acme-server.js';
import { installedDir, packAndInstall, type Workspace } from './pack.js';

const PLUGIN = '@acme/agent-mcp-gateway-auth-hmac';
const SETUP_MS = 240_000;
/** In the explicit `auth` block of `.mcp.json`, as written. */
const SECRET = 'acme-entry-secret-7f3a9c21d4';
/** In the plugin's options, as `${ACME_SECRET}`. */
const OPTIONS_SECRET = 'acme-options-secret-51be08e6';
/** A wrong one, refused by the server. */
const WRONG_SECRET = 'acme-wrong-secret-c0ffee1234';
const SECRETS = [SECRET, OPTIONS_SECRET, WRONG_SECRET];

interface Run {
  readonly args: readonly string[];
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** LoginReport rows of `auth status --json`. */
interface StatusRow {
  name: string | null;
  loggedIn: boolean;
  store: string | null;
  key: string;
  location: string | null;
}

// Each command is a fresh Node process loading the installed packages (1–2 s on two busy cores).
describe('the example plugin, packed and installed with the gateway, driven through the installed CLI', { timeout: 120_000 }, () => {
  let temp: string;
  let install: string;
  let home: string;
  let packages: Workspace[];
  /** Signs with the key of its entry (`auth.type`). */
  let explicit: AcmeServer;
  /** Configures nothing: challenged, signed with the key of the plugin's options for its origin. */
  let challenged: AcmeServer;
  const runs: Run[] = [];

  /** The installed CLI, in the folder `folder` of the install (its `.mcp.json`, settings next to it). */
  const cli = (args: readonly string[], folder = '.', env: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve) => {
      const cwd = join(install, folder);
      const full = [...args, '--config', join(cwd, '.mcp.json')];
      execFile(
        join(install, 'node_modules', '.bin', 'agent-mcp-gateway'),
        full,
        { cwd, env: { PATH: process.env.PATH ?? '', HOME: home, ACME_SECRET: OPTIONS_SECRET, ...env }, timeout: 30_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          const run = { args: full, code, stdout, stderr };
          runs.push(run);
          resolve(run);
        },
      );
    });

  const status = async (): Promise<Map<string | null, StatusRow>> => {
    const run = await cli(['auth', 'status', '--json']);
    expect(run, run.stderr).toMatchObject({ code: 0 });
    return new Map((JSON.parse(run.stdout) as { servers: StatusRow[] }).servers.map((row) => [row.name, row]));
  };

  const writeFolder = async (folder: string, servers: Record<string, unknown>, settings: unknown) => {
    const dir = join(install, folder);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '.mcp.json'), JSON.stringify({ mcpServers: servers }, null, 2));
    await writeFile(join(dir, '.agent-mcp-gatewayrc.json'), JSON.stringify(settings, null, 2));
  };

  beforeAll(async () => {
    temp = await mkdtemp(join(tmpdir(), 'amg-example-plugin-'));
    install = join(temp, 'install');
    home = join(temp, 'home');
    await mkdir(home);
    [packages, explicit, challenged] = await Promise.all([
      packAndInstall(['agent-mcp-gateway', PLUGIN], install, join(temp, 'tarballs'), ['--omit=dev']),
      startAcmeServer({ keys: { k1: SECRET } }),
      startAcmeServer({ keys: { k2: OPTIONS_SECRET } }),
    ]);
    const settings = { plugins: [[PLUGIN, { keys: { [challenged.origin]: { keyId: 'k2', secret: '${ACME_SECRET}' } } }]] };
    await writeFolder('.', { signed: { url: explicit.url, auth: { type: 'acme-hmac', keyId: 'k1', secret: SECRET } }, challenged: { url: challenged.url } }, settings);
    await writeFolder('typo', { signed: { url: explicit.url, auth: { type: 'acme-hmac', keyId: 'k1', keyID: 'k1', secret: SECRET } } }, settings);
    await writeFolder('bad-options', { signed: { url: explicit.url } }, { plugins: [[PLUGIN, { keys: { [`${challenged.origin}/`]: { keyId: 'k2', secret: OPTIONS_SECRET } } }]] });
    await writeFolder('wrong', { wrong: { url: explicit.url, auth: { type: 'acme-hmac', keyId: 'k1', secret: WRONG_SECRET } } }, settings);
  }, SETUP_MS);

  afterAll(async () => {
    await Promise.all([explicit?.close(), challenged?.close()]);
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  it('installs the plugin from its tarball, not as a link, next to the gateway it peers with', async () => {
    expect(packages.map((p) => p.manifest.name)).toEqual(expect.arrayContaining(['agent-mcp-gateway', '@agent-mcp-gateway/core', PLUGIN]));
    const dir = installedDir(install, PLUGIN);
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>>; peerDependencies: Record<string, string> };
    expect(Object.keys(manifest.exports['.'] ?? {})).not.toContain('require'); // ESM only: resolved as `import` resolves it
    expect(manifest.peerDependencies).toHaveProperty('@agent-mcp-gateway/core');
    expect(existsSync(join(dir, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(dir, 'src'))).toBe(false);
  });

  it('auth.type selects the plugin: validate passes, a tool call is signed and succeeds', async () => {
    const validated = await cli(['validate']);
    expect(validated, validated.stderr).toMatchObject({ code: 0 });
    const called = await cli(['call', 'signed', 'echo', '--args', '{"text":"signed by a plugin"}', '--json'], '.', { GATEWAY_LOG_LEVEL: 'debug' });
    expect(called, called.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(called.stdout)).toMatchObject({ structuredContent: { text: 'signed by a plugin' } });
    expect(explicit.requests.length).toBeGreaterThan(0);
    expect(explicit.requests.filter((r) => r.verdict !== 'ok')).toEqual([]);
  });

  it('a typo inside its block fails validate with CONFIG_INVALID naming the file and JSON path', async () => {
    const file = join(install, 'typo', '.mcp.json');
    const run = await cli(['validate'], 'typo');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`CONFIG_INVALID: ${file}: $.mcpServers.signed.auth: `);
    expect(run.stderr).toContain('"keyID"'); // the misspelt key is named
  });

  it('a mistake in its options (validated by the gateway with the schema it declares) fails validate naming the settings file and JSON path', async () => {
    const run = await cli(['validate'], 'bad-options');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`CONFIG_INVALID: ${join(install, 'bad-options', '.agent-mcp-gatewayrc.json')}: $.plugins[0][1].keys["${challenged.origin}/"]`);
  });

  it('nothing configured in the entry: the server\'s 401 Acme-HMAC challenge picks the plugin, with the key of its options', async () => {
    const called = await cli(['call', 'challenged', 'echo', '--args', '{"text":"challenged"}', '--json'], '.', { GATEWAY_LOG_LEVEL: 'debug' });
    expect(called, called.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(called.stdout)).toMatchObject({ structuredContent: { text: 'challenged' } });
    expect(challenged.requests[0]).toMatchObject({ verdict: 'unsigned' });
    expect(challenged.requests.slice(1).map((r) => r.verdict)).not.toContain('unsigned');
    expect(challenged.requests.filter((r) => r.keyId === 'k2' && r.verdict === 'ok').length).toBeGreaterThan(0);
  });

  it('auth status, login and logout report and act through the plugin', async () => {
    let rows = await status();
    expect(rows.get('signed')).toMatchObject({ loggedIn: false, store: 'fs' });
    expect(rows.get('challenged')).toMatchObject({ loggedIn: false });

    // login: one signed initialize, accepted; the verification is stored in the fs store under HOME
    const before = explicit.requests.length;
    const login = await cli(['auth', 'login', 'signed', '--no-browser']);
    expect(login, login.stderr).toMatchObject({ code: 0 });
    expect(login.stdout).toContain('Logged in to signed');
    // A key check is no browser login: no URL to open is printed.
    expect(login.stdout).not.toMatch(/browser|Open this URL/);
    expect(explicit.requests.slice(before).filter((r) => r.method === 'POST')).toEqual([expect.objectContaining({ keyId: 'k1', verdict: 'ok' })]);
    rows = await status();
    const signed = rows.get('signed');
    expect(signed).toMatchObject({ loggedIn: true, store: 'fs' });
    expect(signed?.location?.startsWith(home)).toBe(true);
    expect(existsSync(signed?.location as string)).toBe(true);

    // a server that configures nothing: the login probe's challenge picks the plugin
    const challengedLogin = await cli(['auth', 'login', 'challenged', '--no-browser']);
    expect(challengedLogin, challengedLogin.stderr).toMatchObject({ code: 0 });
    expect((await status()).get('challenged')).toMatchObject({ loggedIn: true, store: 'fs' });

    // a key the server refuses: AUTH_FAILED, nothing stored
    const wrong = await cli(['auth', 'login', 'wrong', '--no-browser'], 'wrong');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('AUTH_FAILED: ');

    // logout through the plugin: the verification is forgotten
    const logout = await cli(['auth', 'logout', 'signed']);
    expect(logout, logout.stderr).toMatchObject({ code: 0 });
    expect(logout.stdout).toContain('Logged out of signed');
    expect(existsSync(signed?.location as string)).toBe(false);
    rows = await status();
    expect(rows.get('signed')).toMatchObject({ loggedIn: false });
    expect(rows.get('challenged')).toMatchObject({ loggedIn: true });

    const all = await cli(['auth', 'logout', '--all']);
    expect(all, all.stderr).toMatchObject({ code: 0 });
    expect(all.stdout).toContain('Logged out of challenged');
    expect((await status()).get('challenged')).toMatchObject({ loggedIn: false });
  });

  it('no secret appears in any output of any command, debug logs included, nor in any file under HOME', async () => {
    expect(runs.length).toBeGreaterThanOrEqual(10);
    for (const run of runs) {
      for (const secret of SECRETS) {
        expect(run.stdout, `stdout of ${run.args.join(' ')}`).not.toContain(secret);
        expect(run.stderr, `stderr of ${run.args.join(' ')}`).not.toContain(secret);
      }
    }
    const files = await readdir(home, { recursive: true, withFileTypes: true });
    const stored = files.filter((f) => f.isFile()).map((f) => join(f.parentPath, f.name));
    for (const file of stored) {
      const text = await readFile(file, 'utf8');
      for (const secret of SECRETS) expect(text, file).not.toContain(secret);
    }
  });
});
