import { describe, expect, it } from 'vitest';
import { ConfigRegistry, ErrorCodes, GatewayError, parseServers } from '@agent-mcp-gateway/core';
import { OAuthPlugin } from '../src/index.js';

const FILE = '/proj/.mcp.json';
const servers = (entries: Record<string, unknown>) => JSON.stringify({ mcpServers: entries });

/** What the CLI does: the plugin registers its auth types before the servers file is validated. */
function registry(): ConfigRegistry {
  const registry = new ConfigRegistry();
  new OAuthPlugin().register(registry);
  return registry;
}

function caught(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a GatewayError');
}

describe('the OAuth plugin owns its configuration', () => {
  it('registers oauth (with its shorthand), client_credentials, enterprise_managed and jwt_bearer', () => {
    expect(registry().authTypes().map((t) => t.type)).toEqual(['none', 'oauth', 'client_credentials', 'enterprise_managed', 'jwt_bearer']);
  });

  it('keeps auth and lists a client secret among the secret values', () => {
    const auth = { type: 'oauth', clientId: 'cid', clientSecret: 'csecret', scopes: ['a', 'b'], callbackPort: 8976 };
    const { servers: specs } = parseServers(servers({ a: { url: 'https://h/mcp', auth } }), FILE, {}, registry());
    expect(specs[0]?.auth).toEqual(auth);
    expect(specs[0]?.secretValues).toEqual(['csecret']);
    const forced = parseServers(servers({ a: { url: 'https://h/mcp', auth: 'oauth' } }), FILE, {}, registry());
    expect(forced.servers[0]?.auth).toBe('oauth');
  });

  it('keeps client credentials auth and lists its client secret and private key among the secret values', () => {
    const auth = { type: 'client_credentials', clientId: 'cid', clientSecret: 'csecret', tokenEndpointAuthMethod: 'private_key_jwt', privateKey: 'PEM' };
    const { servers: specs } = parseServers(servers({ a: { url: 'https://h/mcp', auth } }), FILE, {}, registry());
    expect(specs[0]?.secretValues).toEqual(expect.arrayContaining(['csecret', 'PEM']));
  });

  it('keeps enterprise-managed auth and lists its client secrets and the ID token among the secret values', () => {
    const idp = { issuer: 'https://idp.example', clientId: 'idp-client', clientSecret: 'idp-secret', idToken: 'eyJ.id.token' };
    const auth = { type: 'enterprise_managed', clientId: 'cid', clientSecret: 'csecret', idp };
    const { servers: specs } = parseServers(servers({ a: { url: 'https://h/mcp', auth } }), FILE, {}, registry());
    expect(specs[0]?.auth).toEqual(auth);
    expect(specs[0]?.secretValues).toEqual(expect.arrayContaining(['csecret', 'idp-secret', 'eyJ.id.token']));
    const noToken = caught(() => parseServers(servers({ a: { url: 'https://h/mcp', auth: { ...auth, idp: { ...idp, idToken: undefined } } } }), FILE, {}, registry()));
    expect(noToken.message).toContain('$.mcpServers.a.auth.idp.idToken');
  });

  it.each([
    ['an unknown auth word', { auth: 'basic' }, '$.mcpServers.a.auth', 'expected one of "none", "oauth" or an object'],
    ['an unknown auth type', { auth: { type: 'saml' } }, '$.mcpServers.a.auth.type', 'expected one of "none", "oauth", "client_credentials", "enterprise_managed"'],
    ['client_credentials without clientId', { auth: { type: 'client_credentials' } }, '$.mcpServers.a.auth.clientId', 'missing (expected a string)'],
    ['a misspelt oauth key', { auth: { type: 'oauth', clientID: 'x' } }, '$.mcpServers.a.auth', 'unknown key "clientID" (allowed: type, clientId'],
    ['a bad callback port', { auth: { type: 'oauth', callbackPort: 70000 } }, '$.mcpServers.a.auth.callbackPort', 'must be at most 65535'],
  ])('%s → CONFIG_INVALID naming file and JSON path', (_what, extra, path, expected) => {
    const error = caught(() => parseServers(servers({ a: { url: 'https://h', ...extra } }), FILE, {}, registry()));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${FILE}: ${path}: ${expected}`);
    expect(error.details).toEqual({ file: FILE, path });
  });
});
