/**
 * `parsePluginOptions`: a plugin's options as the loader hands them to its constructor — `${VAR}`
 * expanded, validated by the plugin's schema with errors naming the settings file and JSON path,
 * secrets collected. And the order of an object's findings: its unknown key before its missing one.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCodes, isGatewayError, type GatewayError } from '../src/errors.js';
import { configInvalidFromZod, readableZodErrorMap } from '../src/config/format.js';
import { secret } from '../src/config/registry.js';
import { parsePluginOptions } from '../src/config/settings.js';

const FILE = '/u/.config/agent-mcp-gateway/.agent-mcp-gatewayrc.json';
const SOURCE = { file: FILE, path: ['plugins', 1, 1] };
const Schema = z.strictObject({
  keys: z.record(z.string(), z.strictObject({ keyId: z.string(), secret: secret(z.string().min(1)) })).default({}),
  region: z.string().default('eu'),
  apiKey: secret(z.string()).optional(),
});

function failure(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    if (isGatewayError(error)) return error;
    throw error;
  }
  throw new Error('accepted');
}

describe('parsePluginOptions', () => {
  it('expands ${VAR} (defaults too), fills defaults, and collects what variables put in and the secret() fields', () => {
    const raw = { keys: { 'https://x': { keyId: '${KEY_ID:-k1}', secret: 'literal-secret-1' } }, apiKey: '${API_KEY}' };
    const { options, secrets } = parsePluginOptions(Schema, raw, { API_KEY: 'api-key-from-env' }, SOURCE);
    expect(options).toEqual({ keys: { 'https://x': { keyId: 'k1', secret: 'literal-secret-1' } }, region: 'eu', apiKey: 'api-key-from-env' });
    expect([...secrets].sort()).toEqual(['api-key-from-env', 'literal-secret-1']);
    expect(raw.apiKey).toBe('${API_KEY}'); // the input is not modified
  });

  it('leaves ${secret:NAME} as written, and does not count the reference as a secret value', () => {
    const { options, secrets } = parsePluginOptions(Schema, { apiKey: '${secret:ACME}' }, {}, SOURCE);
    expect(options.apiKey).toBe('${secret:ACME}');
    expect(secrets).toEqual([]);
  });

  it('errors name the settings file and the JSON path inside the options, never a value', () => {
    const bad = failure(() => parsePluginOptions(Schema, { keys: { 'https://x': { keyId: 'k1', secret: 'literal-secret-1', extra: 'literal-secret-2' } } }, {}, SOURCE));
    expect(bad).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file: FILE, path: '$.plugins[1][1].keys["https://x"]' } });
    expect(bad.message).not.toContain('literal-secret');
    const empty = failure(() => parsePluginOptions(Schema, { keys: { 'https://x': { keyId: 'k1', secret: '' } } }, {}, SOURCE));
    expect(empty.details.path).toBe('$.plugins[1][1].keys["https://x"].secret');
    expect(failure(() => parsePluginOptions(Schema, { apiKey: '${NOPE}' }, {}, SOURCE))).toMatchObject({
      code: ErrorCodes.CONFIG_MISSING_VARIABLE,
      details: { file: FILE, path: '$.plugins[1][1].apiKey' },
    });
    // Without a settings file (a library caller): the path alone.
    const loose = failure(() => parsePluginOptions(Schema, { region: 3 }, {}, { label: "plugin 'x' options" }));
    expect(loose.details).toEqual({ path: '$.region' });
    expect(loose.message).toContain("plugin 'x' options");
  });
});

describe('an unknown key and a missing one in the same object', () => {
  it('names the unknown key first (the likelier cause: a typo), and only reorders within that object', () => {
    const S = z.object({
      a: z.strictObject({ keyId: z.string(), secret: z.string() }),
      b: z.strictObject({ keyId: z.string() }),
    });
    const parsed = S.safeParse({ a: { keyID: 'k', secret: 's' }, b: { keyId: 1 } }, { error: readableZodErrorMap });
    expect(parsed.success).toBe(false);
    const error = configInvalidFromZod('f.json', parsed.error!.issues);
    expect(error.details.path).toBe('$.a');
    const lines = error.message.split('\n');
    expect(lines[0]).toContain('$.a: unknown key "keyID"');
    expect(lines[1]).toContain('$.a.keyId: missing');
    expect(lines[2]).toContain('$.b.keyId');
  });
});
