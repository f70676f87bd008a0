import { describe, expect, it } from 'vitest';
import { UsageError, parseCliArgs } from '../src/args.js';

describe('secret and auth migrate command lines', () => {
  it('parses secret set/list/delete and --store', () => {
    expect(parseCliArgs(['secret', 'set', 'GH'])).toMatchObject({ command: 'secret', operands: ['set', 'GH'] });
    expect(parseCliArgs(['secret', 'list', '--json', '--store', 'keychain'])).toMatchObject({ operands: ['list'], json: true, store: 'keychain' });
    expect(parseCliArgs(['secret', 'delete', 'GH'])).toMatchObject({ operands: ['delete', 'GH'] });
  });

  it('never takes a secret value from the command line', () => {
    expect(() => parseCliArgs(['secret', 'set', 'GH', 'ghp_value'])).toThrow(UsageError);
    expect(() => parseCliArgs(['secret', 'set'])).toThrow(/'secret' needs <name>/);
    expect(() => parseCliArgs(['secret', 'show', 'GH'])).toThrow(/Unknown secret command/);
    expect(() => parseCliArgs(['secret', 'list', '--store', 'vault'])).toThrow(/--store must be fs, keychain or auto/);
  });

  it('auth migrate needs --to keychain|fs', () => {
    expect(parseCliArgs(['auth', 'migrate', '--to', 'keychain'])).toMatchObject({ command: 'auth', operands: ['migrate'], to: 'keychain' });
    expect(parseCliArgs(['auth', 'migrate', '--to', 'fs', '--force'])).toMatchObject({ to: 'fs', force: true });
    expect(() => parseCliArgs(['auth', 'migrate'])).toThrow(/needs --to keychain or --to fs/);
    expect(() => parseCliArgs(['auth', 'migrate', '--to', 'vault'])).toThrow(/--to must be keychain or fs/);
  });
});
