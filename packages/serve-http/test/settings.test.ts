/**
 * The `http` settings section is serve-http's own: registered through the ConfigRegistry, it is
 * validated by the settings loader (errors name file and JSON path), GATEWAY_HOST / GATEWAY_PORT
 * override it, and `transport: "http"` is valid only with it registered.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigRegistry, ErrorCodes, loadSettingsFor } from '@agent-mcp-gateway/core';
import { gatewayErrorOf } from '@agent-mcp-gateway/testing';
import { HttpServePlugin, httpServeSettingsOf, registerHttpServeSettings } from '../src/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'amg-http-settings-'));
  await writeFile(join(dir, '.mcp.json'), JSON.stringify({ mcpServers: {} }));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function withHttp(): ConfigRegistry {
  const registry = new ConfigRegistry();
  new HttpServePlugin().register(registry);
  return registry;
}

async function load(settings: unknown, env: Record<string, string> = {}, registry: ConfigRegistry = withHttp()) {
  const file = join(dir, '.agent-mcp-gatewayrc.json');
  await writeFile(file, JSON.stringify(settings));
  const loaded = await loadSettingsFor({ configPath: join(dir, '.mcp.json'), cwd: dir, home: dir, env, registry });
  return { file, settings: loaded.settings };
}

describe('the http settings section', () => {
  it('is registered by HttpServePlugin: defaults filled, transport "http" accepted', async () => {
    const { settings } = await load({ transport: 'http', http: { port: 9999, allowedOrigins: ['https://app.example'] } });
    expect(settings.transport).toBe('http');
    expect(httpServeSettingsOf(settings)).toMatchObject({ host: '127.0.0.1', port: 9999, allowedOrigins: ['https://app.example'], maxBodyBytes: 4 * 1024 * 1024 });
    expect(httpServeSettingsOf((await load({})).settings)).toBeUndefined();
  });

  it('errors inside it name the file and JSON path', async () => {
    const file = join(dir, '.agent-mcp-gatewayrc.json');
    const error = await gatewayErrorOf(load({ http: { publicUrl: 'https://gw.example/base', auth: { issuer: 'http://login.example' } } }));
    expect(error).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file } });
    expect(error.message).toContain(`${file}: $.http.publicUrl: expected an origin only`);
    expect(error.message).toContain(`${file}: $.http.auth.issuer: must use https`);
  });

  it('GATEWAY_HOST / GATEWAY_PORT override it (and make it when the file has none); a bad one names the variable', async () => {
    expect(httpServeSettingsOf((await load({ http: { port: 7000 } }, { GATEWAY_HOST: '0.0.0.0' })).settings)).toMatchObject({ host: '0.0.0.0', port: 7000 });
    expect(httpServeSettingsOf((await load({}, { GATEWAY_PORT: '0' })).settings)).toMatchObject({ host: '127.0.0.1', port: 0 });
    for (const port of ['70000', 'eighty']) {
      const error = await gatewayErrorOf(load({}, { GATEWAY_PORT: port }));
      expect(error).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { path: 'GATEWAY_PORT' } });
      expect(error.message).toContain('port number from 0 to 65535');
    }
  });

  it('without it registered, "http" is an unknown key and transport "http" is refused: core knows neither', async () => {
    const bare = new ConfigRegistry();
    const unknown = await gatewayErrorOf(load({ http: {} }, {}, bare));
    expect(unknown).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { reason: 'unknown_setting' } });
    const transport = await gatewayErrorOf(load({ transport: 'http' }, {}, bare));
    expect(transport).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { path: '$.transport' } });
    // Registering twice (a plugin listed twice) is the registry's error.
    expect(() => registerHttpServeSettings(withHttp())).toThrow(/registered twice/);
  });
});
