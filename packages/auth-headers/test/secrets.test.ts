import { Writable } from 'node:stream';
import {
  Gateway,
  GatewaySettingsSchema,
  MemoryTokenStore,
  createLogger,
  secretStoreKey,
  type GatewayConfig,
  type ServerSpec,
} from '@agent-mcp-gateway/core';
import { describe, expect, it } from 'vitest';
import { HeadersAuthPlugin, StaticCredentialsStrategy } from '../src/index.js';

/** The request a strategy authorizes (the transport passes the real one). */
const REQUEST = { method: 'POST', url: 'https://api.example.com/mcp' };

function spec(over: Partial<ServerSpec>): ServerSpec {
  return { name: 'gh', transport: 'http', url: 'https://api.example.com/mcp', args: [], env: {}, headers: {}, enabled: true, secretValues: [], ...over };
}

async function gatewayWith(store: MemoryTokenStore | undefined) {
  let log = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      log += String(chunk);
      cb();
    },
  });
  const config: GatewayConfig = { servers: [], settings: GatewaySettingsSchema.parse({}), sources: {}, warnings: [] };
  const gateway = new Gateway({
    config,
    plugins: [
      new HeadersAuthPlugin(),
      { name: 'store', apply: (g) => void g.hooks.resolveTokenStore.tap('store', () => store) },
    ],
    logger: createLogger({ stream, level: 'debug' }),
  });
  await gateway.start({ connect: false });
  const ctx = { logger: gateway.logger, signal: new AbortController().signal };
  return { gateway, log: () => log, strategy: (s: ServerSpec) => gateway.hooks.resolveAuth.promise(s, null, ctx) };
}

describe('${secret:NAME} in headers and env', () => {
  it('headers: read from the server\'s token store at first use, kept, registered with the redactor', async () => {
    const store = new MemoryTokenStore();
    await store.set(secretStoreKey('GH'), { secret: 'ghp_secretvalue123' });
    const { gateway, strategy } = await gatewayWith(store);
    const auth = await strategy(spec({ headers: { Authorization: 'Bearer ${secret:GH}', 'X-Team': 'a' } }));
    expect(auth?.kind).toBe('headers');
    expect(await auth?.headers(REQUEST)).toEqual({ Authorization: 'Bearer ghp_secretvalue123', 'X-Team': 'a' });
    await store.set(secretStoreKey('GH'), { secret: 'ghp_changed456789' });
    expect((await auth?.headers(REQUEST))?.Authorization).toBe('Bearer ghp_secretvalue123'); // kept until refused
    expect(gateway.redactor.redactString('token ghp_secretvalue123')).toBe('token [REDACTED]');
    // refused: the changed secret is read and tried once
    expect(await auth?.onChallenge({ status: 401, scheme: 'Bearer', params: {} })).toBe('retry');
    expect((await auth?.headers(REQUEST))?.Authorization).toBe('Bearer ghp_changed456789');
    // refused again with nothing new: fail
    expect(await auth?.onChallenge({ status: 401, scheme: 'Bearer', params: {} })).toBe('fail');
    expect(auth?.status()).toMatchObject({ state: 'failed', detail: 'configured credential rejected' });
  });

  it('env: read at every start of the child', async () => {
    const store = new MemoryTokenStore();
    await store.set(secretStoreKey('API_KEY'), { secret: 'sk-first-value' });
    const { strategy } = await gatewayWith(store);
    const auth = await strategy(spec({ transport: 'stdio', url: undefined, command: 'x', env: { KEY: '${secret:API_KEY}', PLAIN: 'p' } }));
    expect(await auth?.env?.()).toEqual({ KEY: 'sk-first-value', PLAIN: 'p' });
    await store.set(secretStoreKey('API_KEY'), { secret: 'sk-second-value' });
    expect(await auth?.env?.()).toEqual({ KEY: 'sk-second-value', PLAIN: 'p' });
  });

  it('a missing secret, a bad name, or no store: AUTH_FAILED naming the secret and the fix, never a value', async () => {
    const { strategy } = await gatewayWith(new MemoryTokenStore());
    const missing = await strategy(spec({ headers: { Authorization: 'Bearer ${secret:NOPE}' } }));
    await expect(missing?.headers(REQUEST)).rejects.toMatchObject({
      code: 'AUTH_FAILED',
      message: "Authentication to server 'gh' failed: secret NOPE is not set in the memory store; set it with 'agent-mcp-gateway secret set NOPE'",
    });
    const bad = await strategy(spec({ headers: { Authorization: 'Bearer ${secret:ghp_pasted value}' } }));
    const error = await bad?.headers(REQUEST).catch((e: Error) => e);
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect((error as Error).message).not.toContain('ghp_pasted');
    const none = await (await gatewayWith(undefined)).strategy(spec({ headers: { Authorization: 'Bearer ${secret:X}' } }));
    await expect(none?.headers(REQUEST)).rejects.toThrow(/no token store plugin answered/);
  });

  it('plain headers never touch the store', async () => {
    const strategy = new StaticCredentialsStrategy(spec({ headers: { Authorization: 'Bearer plain' } }));
    expect(await strategy.headers(REQUEST)).toEqual({ Authorization: 'Bearer plain' });
  });
});
