/**
 * A third-party auth plugin through the built CLI (issue 13), the example package
 * examples/gateway-auth-acme-hmac listed by its folder path: its `auth` type is registered with
 * its schema and selected by `auth.type`; `validate` loads it and names the JSON path of a typo in
 * its block; `auth login` refuses a strategy without a login; its secret appears in no output.
 * (The same plugin packed and installed from tarballs: example-plugin.e2e.test.ts.)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpMcpServer } from '@agent-mcp-gateway/testing';
import { startAcmeServer, type AcmeServer } from '../../../examples/gateway-auth-acme-hmac/test/acme-server.js';
import { json, runCli, startGateway, tempDir, writeConfig, type RunningGateway } from './harness.js';

/** The example plugin's package folder (built by the root `tsc -b`). */
const PLUGIN = fileURLToPath(new URL('../../../examples/gateway-auth-acme-hmac', import.meta.url));
const KEY = 'acme-hmac-key-0123456789';
const SETTINGS = JSON.stringify({ plugins: [PLUGIN] });

const servers: { close(): Promise<void> }[] = [];
const gateways: RunningGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function configWith(entries: Record<string, unknown>): Promise<{ dir: string; config: string }> {
  const files = await writeConfig(entries);
  await writeFile(join(files.dir, '.agent-mcp-gatewayrc.json'), SETTINGS);
  return files;
}

describe('a third-party auth plugin, selected by auth.type', () => {
  it('signs every request with method, path and time; its key never appears in any output', async () => {
    const server: AcmeServer = await startAcmeServer({ keys: { k1: KEY } });
    servers.push(server);
    const g = await startGateway({
      servers: { acme: { url: server.url, auth: { type: 'acme-hmac', keyId: 'k1', secret: KEY } } },
      files: { '.agent-mcp-gatewayrc.json': SETTINGS },
      env: { GATEWAY_LOG_LEVEL: 'debug' },
    });
    gateways.push(g);
    expect(json(await g.call('execute_tool', { server: 'acme', tool: 'echo', args: { text: 'signed' } }))).toEqual({ text: 'signed' });
    const listed = json<{ servers: { name: string; auth: string }[] }>(await g.call('list_servers', { include_metadata: true }));
    expect(listed.servers.map((s) => s.auth)).toEqual(['acme-hmac']);
    expect(server.requests.length).toBeGreaterThan(0);
    expect(server.requests.filter((r) => r.verdict !== 'ok')).toEqual([]); // checked by the server's own code
    expect(g.stderr()).not.toContain(KEY);
  });

  it('validate loads the plugin: a good block passes; a typo inside it, an unknown type and a bad store are errors naming file and JSON path', async () => {
    const good = await configWith({ acme: { url: 'https://acme.example/mcp', auth: { type: 'acme-hmac', keyId: 'k1', secret: KEY } } });
    const ok = await runCli(['validate', '--config', good.config], { cwd: good.dir, env: { HOME: good.dir } });
    expect(ok, ok.stderr).toMatchObject({ code: 0, stderr: '' });

    const typo = await configWith({ acme: { url: 'https://acme.example/mcp', auth: { type: 'acme-hmac', keyId: 'k1', keyID: 'k1', secret: KEY } } });
    const bad = await runCli(['validate', '--config', typo.config], { cwd: typo.dir, env: { HOME: typo.dir } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`CONFIG_INVALID: ${typo.config}: $.mcpServers.acme.auth: unknown key "keyID" (allowed: type, keyId, secret)`);
    expect(bad.stderr + bad.stdout).not.toContain(KEY);

    const unknown = await configWith({ acme: { url: 'https://acme.example/mcp', auth: { type: 'acme-hmax', secret: KEY } } });
    const refused = await runCli(['validate', '--config', unknown.config], { cwd: unknown.dir, env: { HOME: unknown.dir } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/\$\.mcpServers\.acme\.auth\.type: expected one of "none", .*"acme-hmac"/);
    expect(refused.stderr).not.toContain(KEY);

    const store = await configWith({ acme: { url: 'https://acme.example/mcp', tokenStore: 'vault' } });
    const noStore = await runCli(['validate', '--config', store.config], { cwd: store.dir, env: { HOME: store.dir } });
    expect(noStore.stderr).toContain(`${store.config}: $.mcpServers.acme.tokenStore: expected one of "keychain", "auto", "fs"`);
  });

  it('auth login refuses a strategy without login (headers), auth status does not list its server as a login', async () => {
    const files = await configWith({ pat: { url: 'https://pat.example/mcp', auth: 'headers', headers: { Authorization: `Bearer ${KEY}` } } });
    const env = { HOME: files.dir };
    const login = await runCli(['auth', 'login', 'pat', '--config', files.config], { cwd: files.dir, env });
    expect(login.code).toBe(1);
    expect(login.stderr).toContain(`INVALID_ARGUMENTS: Server 'pat' is configured with "auth" type "headers", whose plugin has no login: there is nothing to log in to`);
    const status = await runCli(['auth', 'status', '--json', '--config', files.config], { cwd: files.dir, env });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual({ servers: [], unconfigured: [] });
    for (const out of [login.stdout, login.stderr, status.stdout, status.stderr]) expect(out).not.toContain(KEY);
  });

  it('commands without a servers file check the tokenStore setting against the registered stores too', async () => {
    const home = await tempDir();
    const fromEnv = await runCli(['secret', 'list'], { cwd: home, env: { HOME: home, GATEWAY_TOKEN_STORE: 'vault' } });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toContain('environment variable GATEWAY_TOKEN_STORE="vault": expected one of "keychain", "auto", "fs"');
    const userDir = join(home, '.config', 'agent-mcp-gateway');
    await mkdir(userDir, { recursive: true });
    const rc = join(userDir, '.agent-mcp-gatewayrc.json');
    await writeFile(rc, JSON.stringify({ tokenStore: 'vault' }));
    const fromFile = await runCli(['secret', 'list'], { cwd: home, env: { HOME: home } });
    expect(fromFile.code).toBe(1);
    expect(fromFile.stderr).toContain(`${rc}: $.tokenStore: expected one of "keychain", "auto", "fs"`);
  });

  it('a server that asks for no credentials has nothing to log in to (the probe finds no challenge)', async () => {
    const open = await startHttpMcpServer({ name: 'open' });
    servers.push(open);
    const files = await configWith({ open: { url: open.url } });
    const login = await runCli(['auth', 'login', 'open', '--no-browser', '--config', files.config], { cwd: files.dir, env: { HOME: files.dir } });
    expect(login.code).toBe(1);
    expect(login.stderr).toContain("Server 'open' answered without asking for credentials: there is nothing to log in to");
  });
});
