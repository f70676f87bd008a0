import { describe, expect, it } from 'vitest';
import { createHooks, selectAuth } from '../src/hooks.js';
import { silentLogger } from '../src/logger.js';
import type { AuthStrategy, ServerSpec } from '../src/types.js';

const ctx = { logger: silentLogger, signal: new AbortController().signal };
const spec = (auth?: ServerSpec['auth']): ServerSpec => ({
  name: 's',
  transport: 'http',
  url: 'https://h/mcp',
  args: [],
  env: {},
  headers: {},
  enabled: true,
  secretValues: [],
  ...(auth !== undefined && { auth }),
});
const strategy = (kind: string): AuthStrategy => ({ kind, headers: async () => ({}), onChallenge: async () => 'fail', status: () => ({ kind, state: 'ok' }) });

describe('selectAuth: an explicit auth.type picks its plugin; otherwise the resolveAuth chain decides', () => {
  it('an explicit type asks only authFor.for(type), never the chain; "none" asks nobody', async () => {
    const hooks = createHooks();
    const asked: string[] = [];
    hooks.resolveAuth.tap({ name: 'Early', stage: -10 }, () => {
      asked.push('chain');
      return strategy('chain');
    });
    hooks.authFor.for('acme').tap('Acme', (s) => {
      asked.push(`acme:${typeof s.auth === 'object' ? s.auth.keyId : s.auth}`);
      return strategy('acme');
    });
    expect((await selectAuth(hooks, spec({ type: 'acme', keyId: 'k' }), null, ctx))?.kind).toBe('acme');
    expect((await selectAuth(hooks, spec('acme'), null, ctx))?.kind).toBe('acme');
    expect(await selectAuth(hooks, spec('none'), null, ctx)).toBeUndefined();
    expect(asked).toEqual(['acme:k', 'acme:acme']);
    expect((await selectAuth(hooks, spec(), null, ctx))?.kind).toBe('chain');
    expect(asked).toEqual(['acme:k', 'acme:acme', 'chain']);
  });

  it('in the chain, a negative stage answers before taps made earlier at the default stage', async () => {
    const hooks = createHooks();
    hooks.resolveAuth.tap('BuiltIn', () => strategy('built-in'));
    hooks.resolveAuth.tap({ name: 'ThirdParty', stage: -10 }, () => strategy('third-party'));
    hooks.resolveAuth.tap({ name: 'Fallback', stage: 10 }, () => strategy('fallback'));
    expect((await selectAuth(hooks, spec(), null, ctx))?.kind).toBe('third-party');
  });

  it('a type nobody taps is a PLUGIN_ERROR naming the server and the type', async () => {
    const error = await selectAuth(createHooks(), spec({ type: 'ghost' }), null, ctx).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PLUGIN_ERROR', details: { server: 's' } });
    expect((error as Error).message).toContain('auth type "ghost"');
  });
});
