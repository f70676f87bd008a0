/**
 * A third-party plugin's options, through the built CLI: the plugin declares their schema
 * (`static optionsSchema`), so the gateway validates them (errors name the settings file and the
 * JSON path inside the options), expands `${VAR}`, registers their secrets with the redactor —
 * the plugin logs its token and whole options, at info and debug, and they are blanked — and a
 * constructor's own catalogued error keeps its code, its message blanked too.
 */
import { realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeAfterEach, connectGateway, demoServer, runCli, tempDir, type RunResult } from './harness.js';
import { writeOptionsPlugins } from './options-plugin.js';

const TOKEN = 'opt-token-9c4f7e21b3a8';
const KEY = 'opt-endpoint-key-1e6d93f0';
const ORIGIN = 'https://x.example';
const RC = '.agent-mcp-gatewayrc.json';

/** A folder with the servers file, the settings (listing the options plugin with `options`) and the plugins. */
async function folderWith(options: Record<string, unknown>, settings: Record<string, unknown> = {}): Promise<{ dir: string; config: string; rc: string }> {
  const dir = await realpath(await tempDir());
  await writeOptionsPlugins(dir);
  const config = join(dir, '.mcp.json');
  await writeFile(config, JSON.stringify({ mcpServers: { notes: demoServer('notes') } }));
  const rc = join(dir, RC);
  await writeFile(rc, JSON.stringify({ ...settings, plugins: [['./options-plugin.mjs', options]] }, null, 2));
  return { dir, config, rc };
}

function expectNoSecret(run: Pick<RunResult, 'stdout' | 'stderr'>, what: string): void {
  for (const secret of [TOKEN, KEY]) {
    expect(run.stdout, `stdout of ${what}`).not.toContain(secret);
    expect(run.stderr, `stderr of ${what}`).not.toContain(secret);
  }
}

describe('plugin options declared by the plugin (built CLI)', () => {
  const closing = closeAfterEach();

  it('a typo in the options fails validate with CONFIG_INVALID naming the settings file and the JSON path, the unknown key first', async () => {
    const { dir, config, rc } = await folderWith({ token: TOKEN, endpoints: { [ORIGIN]: { keyID: 'k1', key: KEY } } });
    const run = await runCli(['validate', '--config', config], { cwd: dir, env: { HOME: dir } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`CONFIG_INVALID: ${rc}: $.plugins[0][1].endpoints["${ORIGIN}"]: unknown key "keyID"`);
    expect(run.stderr.indexOf('"keyID"')).toBeLessThan(run.stderr.indexOf(`["${ORIGIN}"].keyId`));
    expectNoSecret(run, 'validate');

    const unset = await folderWith({ token: '${OPT_TOKEN_UNSET}' });
    const missing = await runCli(['validate', '--config', unset.config], { cwd: unset.dir, env: { HOME: unset.dir } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`CONFIG_MISSING_VARIABLE: ${unset.rc}: $.plugins[0][1].token`);
  });

  it('${VAR} is expanded and the secrets are in no output, debug logs included, of serve or of a command', async () => {
    const { dir, config } = await folderWith({ token: '${OPT_TOKEN}', endpoints: { [ORIGIN]: { keyId: 'k1', key: KEY } } }, { logLevel: 'debug' });
    const env = { HOME: dir, OPT_TOKEN: TOKEN };

    const validated = await runCli(['validate', '--config', config], { cwd: dir, env });
    expect(validated.code, validated.stderr).toBe(0);
    expectNoSecret(validated, 'validate');

    const servers = await runCli(['servers', '--config', config], { cwd: dir, env: { ...env, GATEWAY_LOG_LEVEL: 'debug' } });
    expect(servers.code, servers.stderr).toBe(0);
    // The plugin got the expanded token (blanked as a value, not the `${OPT_TOKEN}` it was written as) and logged it.
    expect(servers.stderr).toContain('options fixture: token [REDACTED]');
    expect(servers.stderr).toContain('"token":"[REDACTED]"');
    expect(servers.stderr).toContain('"keyId":"k1"');
    expectNoSecret(servers, 'servers');

    const gateway = await connectGateway({ args: ['--config', config], env, cwd: dir });
    closing.add(() => gateway.close());
    await gateway.waitForStderr('options fixture: options');
    await gateway.waitForStderr('options fixture: token');
    const listed = await gateway.call('list_servers', {});
    expect(JSON.stringify(listed)).not.toContain(TOKEN);
    expect(gateway.stderr()).toContain('"label":"fixture"'); // a default the schema filled in
    expectNoSecret({ stdout: '', stderr: gateway.stderr() }, 'serve');
  });

  it("a constructor's catalogued error keeps its code, the option secret it quotes blanked", async () => {
    const { dir, config, rc } = await folderWith({ token: TOKEN, refuse: true });
    const run = await runCli(['validate', '--config', config], { cwd: dir, env: { HOME: dir, GATEWAY_LOG_LEVEL: 'debug' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`PLUGIN_ERROR: ${rc}: $.plugins[0]: `);
    expect(run.stderr).toContain('the fixture refuses token [REDACTED]');
    expectNoSecret(run, 'validate');
  });
});
