/**
 * KeychainTokenStore on a real Secret Service: gnome-keyring on a private D-Bus session
 * bus started here (see @agent-mcp-gateway/testing startSecretService). Skipped, with the
 * reason printed, only when no Secret Service can be started on this machine.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { Gateway, GatewaySettingsSchema, createLogger, type GatewayConfig, type ServerSpec, type TokenStore } from '@agent-mcp-gateway/core';
import { FsTokenStorePlugin } from '@agent-mcp-gateway/store-fs';
import { startSecretService, type SecretService } from '@agent-mcp-gateway/testing';
import { describeTokenStoreContract } from '@agent-mcp-gateway/testing/store-contract';
import { findCredentialsAsync } from '@napi-rs/keyring';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KeychainTokenStore, KeychainTokenStorePlugin, explainKeychainFailure } from '../src/index.js';

const execFileAsync = promisify(execFile);
const originalAddress = process.env.DBUS_SESSION_BUS_ADDRESS;
let service: SecretService | undefined;
let skipReason = '';
try {
  service = await startSecretService();
  process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
} catch (error) {
  skipReason = error instanceof Error ? error.message : String(error);
  // .ci/run sets this: there, no Secret Service is a failure, not a skip.
  if (process.env.GATEWAY_TEST_REQUIRE_KEYCHAIN === '1') throw error;
  console.warn(`[store-keychain] keychain tests skipped: no Secret Service could be started here: ${skipReason}`);
}

afterAll(async () => {
  if (originalAddress === undefined) delete process.env.DBUS_SESSION_BUS_ADDRESS;
  else process.env.DBUS_SESSION_BUS_ADDRESS = originalAddress;
  await service?.close();
});

const temps: string[] = [];
afterEach(async () => {
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'store-keychain-'));
  temps.push(dir);
  return dir;
}

/** Removes every item of a test service (the keyring outlives single tests). */
async function wipe(serviceName: string): Promise<void> {
  const store = new KeychainTokenStore({ service: serviceName });
  const { AsyncEntry } = await import('@napi-rs/keyring');
  for (const { account } of await findCredentialsAsync(serviceName)) {
    await new AsyncEntry(serviceName, account, { linux: { store: 'secret-service' } }).deleteCredential();
  }
  expect(await store.list()).toEqual([]);
}

/** Runs an ES module snippet in a fresh node process with `DBUS_SESSION_BUS_ADDRESS` as given; `print(x)` returns x. */
async function inChild(address: string | undefined, body: string): Promise<Record<string, unknown>> {
  const url = (path: string) => pathToFileURL(fileURLToPath(new URL(path, import.meta.url))).href;
  const script = `
    import { KeychainTokenStore, KeychainTokenStorePlugin } from ${JSON.stringify(url('../dist/index.js'))};
    import { FsTokenStorePlugin } from ${JSON.stringify(url('../../store-fs/dist/index.js'))};
    import { Gateway, GatewaySettingsSchema, createLogger } from ${JSON.stringify(url('../../core/dist/index.js'))};
    import { Writable } from 'node:stream';
    const print = (x) => process.stdout.write(JSON.stringify(x));
    ${body}`;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: await tempDir() };
  if (address !== undefined) env.DBUS_SESSION_BUS_ADDRESS = address;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { env, timeout: 20_000 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

const PROBE_FN = `const probe = () => new KeychainTokenStore().probe().then(() => undefined, (e) => e.message);`;
const PROBE = `new KeychainTokenStore().probe().then(() => print({ error: null }), (e) => print({ error: e.message, name: e.name, code: e.code, reason: e.details?.reason }));`;
const GATEWAY_FN = `
  const spec = (name, tokenStore) => ({ name, transport: 'http', url: 'https://' + name + '.example.com/mcp', args: [], env: {}, headers: {}, enabled: true, secretValues: [], ...(tokenStore && { tokenStore }) });
  async function gatewayWith(tokenStore) {
    let log = '';
    const stream = new Writable({ write(c, _e, cb) { log += String(c); cb(); } });
    const config = { servers: [], settings: GatewaySettingsSchema.parse({ tokenStore, tokenDir: process.env.HOME + '/tokens' }), sources: {}, warnings: [] };
    const gateway = new Gateway({ config, plugins: [new KeychainTokenStorePlugin(), new FsTokenStorePlugin()], logger: createLogger({ stream, level: 'debug' }) });
    await gateway.start({ connect: false });
    const ctx = { logger: gateway.logger, signal: new AbortController().signal };
    return { resolve: (s) => gateway.hooks.resolveTokenStore.promise(s, ctx), log: () => log };
  }`;

function contractSubject(extra: { maxItemLength?: number } = {}) {
  return async () => {
    const serviceName = `amg-contract-${randomBytes(4).toString('hex')}`;
    const lockDir = await mkdtemp(join(tmpdir(), 'store-keychain-locks-'));
    const make = () => new KeychainTokenStore({ service: serviceName, lockDir, ...extra });
    return {
      store: make(),
      reopen: make,
      cleanup: async () => {
        await wipe(serviceName);
        await rm(lockDir, { recursive: true, force: true });
      },
    };
  };
}

describe.skipIf(!service)(`KeychainTokenStore on a real Secret Service${service ? '' : ` (skipped: ${skipReason})`}`, () => {
  describeTokenStoreContract('KeychainTokenStore (Secret Service)', contractSubject(), { kind: 'keychain' });
  // The same contract with values split over several items (what Windows' 2.5 kB item limit needs).
  describeTokenStoreContract('KeychainTokenStore, values split over items', contractSubject({ maxItemLength: 500 }), { kind: 'keychain' });

  it('files entries under service agent-mcp-gateway, account = key, value = JSON; location names them', async () => {
    const serviceName = `amg-layout-${randomBytes(4).toString('hex')}`;
    const store = new KeychainTokenStore({ service: serviceName, lockDir: await tempDir() });
    expect(new KeychainTokenStore().service).toBe('agent-mcp-gateway');
    await store.set('example.com-0123456789abcdef', { tokens: { access_token: 'at' } });
    const items = await findCredentialsAsync(serviceName);
    expect(items).toEqual([{ account: 'example.com-0123456789abcdef', password: JSON.stringify({ tokens: { access_token: 'at' } }) }]);
    expect((await store.list())[0]?.location).toBe(`keychain:${serviceName}/example.com-0123456789abcdef`);
    await wipe(serviceName);
  });

  it('reports an item that is not a stored entry once, by key and never by content, and treats it as absent', async () => {
    const serviceName = `amg-corrupt-${randomBytes(4).toString('hex')}`;
    const warnings: string[] = [];
    const store = new KeychainTokenStore({ service: serviceName, lockDir: await tempDir(), onWarning: (m) => warnings.push(m) });
    const { AsyncEntry } = await import('@napi-rs/keyring');
    await new AsyncEntry(serviceName, 'bad-key', { linux: { store: 'secret-service' } }).setPassword('not json but a secret-looking value');
    expect(await store.get('bad-key')).toBeUndefined();
    expect(await store.get('bad-key')).toBeUndefined();
    expect(warnings).toEqual([`keychain:${serviceName}/bad-key: not valid JSON; treated as absent`]);
    expect((await store.list()).find((e) => e.key === 'bad-key')).toMatchObject({ problem: 'not valid JSON', hasTokens: false });
    await store.set('bad-key', { tokens: { access_token: 'fixed' } });
    expect(await store.get('bad-key')).toEqual({ tokens: { access_token: 'fixed' } });
    await wipe(serviceName);
  });

  it('keeps the lock files in lockDir only while held: no token on disk', async () => {
    const lockDir = await tempDir();
    const serviceName = `amg-lock-${randomBytes(4).toString('hex')}`;
    const store = new KeychainTokenStore({ service: serviceName, lockDir });
    await store.withLock('k-1', async () => {
      expect(await readdir(lockDir)).toEqual(['k-1.lock']);
      await store.set('k-1', { tokens: { access_token: 'at' } });
    });
    expect(await readdir(lockDir)).toEqual([]);
    await wipe(serviceName);
  });

  it('probe passes on a reachable keychain and leaves no probe item behind', async () => {
    const store = new KeychainTokenStore();
    await store.probe();
    expect((await findCredentialsAsync('agent-mcp-gateway')).filter((c) => c.account.startsWith('.probe'))).toEqual([]);
  });

  describe('unreachable keychain: "keychain unavailable: <cause>; <fix>"', () => {
    // The native binding keeps its D-Bus connection for the process: each situation runs in a child process.
    it('no D-Bus session at all', async () => {
      const out = await inChild(undefined, PROBE);
      expect(out.error).toMatch(/^keychain unavailable: no D-Bus session bus .*; run inside a desktop session, or start one: .*dbus-run-session.*GATEWAY_TOKEN_STORE=fs/);
      expect(out).toMatchObject({ name: 'KeychainUnavailableError', code: 'SERVER_UNAVAILABLE', reason: 'keychain_unavailable' });
    });

    it('a D-Bus address that leads nowhere', async () => {
      const out = await inChild('unix:path=/nonexistent/amg-bus', PROBE);
      expect(out.error).toMatch(/^keychain unavailable: no D-Bus session bus .*GATEWAY_TOKEN_STORE=fs/);
    });

    it('a locked keyring, for the probe and for every operation', async () => {
      const locked = await startSecretService();
      try {
        await locked.lock();
        const out = await inChild(locked.address, `${PROBE_FN}
          const store = new KeychainTokenStore({ service: 'amg-locked' });
          const set = await store.set('k', { tokens: { access_token: 'x' } }).then(() => 'ok', (e) => e.message);
          print({ error: await probe(), set });`);
        expect(out.error).toMatch(/^keychain unavailable: the keyring is locked .*; unlock it: .*GATEWAY_TOKEN_STORE=fs/);
        expect(out.set).toMatch(/^keychain unavailable: the keyring is locked/);
      } finally {
        await locked.close();
      }
    });

    it('no default keyring (a Secret Service without a collection)', () => {
      expect(explainKeychainFailure(new Error("Couldn't access platform storage: Secret Service: no result found"))?.cause).toMatch(/no default keyring/);
    });
  });

  describe('KeychainTokenStorePlugin: which store answers', () => {
    function spec(name: string, tokenStore?: ServerSpec['tokenStore']): ServerSpec {
      return {
        name,
        transport: 'http',
        url: `https://${name}.example.com/mcp`,
        args: [],
        env: {},
        headers: {},
        enabled: true,
        secretValues: [],
        ...(tokenStore && { tokenStore }),
      };
    }

    async function gatewayWith(tokenStore: 'fs' | 'keychain' | 'auto'): Promise<{ resolve(s: ServerSpec): Promise<TokenStore | undefined>; log: () => string; close(): Promise<void> }> {
      let log = '';
      const stream = new Writable({
        write(chunk, _enc, cb) {
          log += String(chunk);
          cb();
        },
      });
      const config: GatewayConfig = {
        servers: [],
        settings: GatewaySettingsSchema.parse({ tokenStore, tokenDir: await tempDir() }),
        sources: {},
        warnings: [],
      };
      const gateway = new Gateway({ config, plugins: [new KeychainTokenStorePlugin(), new FsTokenStorePlugin()], logger: createLogger({ stream, level: 'debug' }) });
      await gateway.start({ connect: false });
      const ctx = { logger: gateway.logger, signal: new AbortController().signal };
      return { resolve: (s) => gateway.hooks.resolveTokenStore.promise(s, ctx), log: () => log, close: () => gateway.close() };
    }

    it('keychain → the keychain; fs → files; a server’s own tokenStore wins over the setting', async () => {
      const g = await gatewayWith('keychain');
      expect((await g.resolve(spec('a')))?.kind).toBe('keychain');
      expect((await g.resolve(spec('b', 'fs')))?.kind).toBe('fs');
      const f = await gatewayWith('fs');
      expect((await f.resolve(spec('a')))?.kind).toBe('fs');
      expect((await f.resolve(spec('b', 'keychain')))?.kind).toBe('keychain');
      expect((await f.resolve(spec('c', 'auto')))?.kind).toBe('keychain');
      await g.close();
      await f.close();
    });

    it('keychain requested but unreachable: SERVER_UNAVAILABLE naming cause and fix, never files', async () => {
      const out = await inChild(undefined, `${GATEWAY_FN}
        const g = await gatewayWith('keychain');
        const a = await g.resolve(spec('a')).then((s) => s?.kind, (e) => ({ code: e.code, details: e.details, message: e.message }));
        const b = await g.resolve(spec('b', 'fs')).then((s) => s?.kind, (e) => e.message);
        print({ a, b, log: g.log() });`);
      expect(out.a).toMatchObject({ code: 'SERVER_UNAVAILABLE', details: { server: 'a', reason: 'keychain_unavailable' } });
      expect((out.a as { message: string }).message).toMatch(/keychain unavailable: no D-Bus session bus .*; run inside a desktop session/);
      // a server that asks for files still gets them
      expect(out.b).toBe('fs');
    });

    it('auto with the keychain unreachable: files, with one warning for all servers', async () => {
      const out = await inChild(undefined, `${GATEWAY_FN}
        const g = await gatewayWith('auto');
        const kinds = [];
        for (const name of ['a', 'b', 'c']) kinds.push((await g.resolve(spec(name)))?.kind);
        print({ kinds, log: g.log() });`);
      expect(out.kinds).toEqual(['fs', 'fs', 'fs']);
      const warnings = String(out.log).split('\n').filter((l) => l.includes('keychain unavailable'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/Token store 'auto': keychain unavailable: no D-Bus session bus .*Using files instead/);
    });

    it('auto with the keychain reachable: the keychain, no warning', async () => {
      const g = await gatewayWith('auto');
      expect((await g.resolve(spec('a')))?.kind).toBe('keychain');
      expect(g.log()).not.toMatch(/keychain unavailable/);
      await g.close();
    });
  });
});
