import type * as oauth from 'oauth4webapi';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthChallenge } from '@agent-mcp-gateway/core';
import {
  discoverAuthorizationServer,
  discoverResource,
  requireS256,
  requireSecureEndpoints,
} from '../src/discovery.js';
import { EgressPolicy } from '../src/egress.js';
import { rejectionOf, startDocServer, within, type DocServer } from './helpers.js';

const PRM = '/.well-known/oauth-protected-resource';
const OAUTH_AS = '/.well-known/oauth-authorization-server';
const OPENID = '/.well-known/openid-configuration';

const servers: DocServer[] = [];
afterEach(async () => {
  await within(Promise.all(servers.splice(0).map((s) => s.close())), 'servers closed');
});

async function docServer(): Promise<DocServer> {
  const server = await startDocServer();
  servers.push(server);
  return server;
}

function challenge(resourceMetadata?: string): AuthChallenge {
  return { status: 401, scheme: 'Bearer', params: {}, ...(resourceMetadata && { resourceMetadata }) };
}

function asMetadata(issuer: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    registration_endpoint: `${issuer}/reg`,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    ...extra,
  };
}

describe('discoverResource (RFC 9728)', () => {
  it('tries the challenge resource_metadata first, then the path-aware well-known URL, then the root one', async () => {
    const s = await docServer();
    s.routes.set(PRM, { body: { resource: `${s.origin}/mcp`, authorization_servers: [`${s.origin}/as`], scopes_supported: ['a', 'b'] } });
    const info = await discoverResource('srv', `${s.origin}/mcp`, challenge(`${s.origin}/meta/from-challenge`));
    expect(s.paths()).toEqual(['/meta/from-challenge', `${PRM}/mcp`, PRM]);
    expect(info).toEqual({ resource: `${s.origin}/mcp`, authorizationServer: `${s.origin}/as`, scopesSupported: ['a', 'b'], fromMetadata: true });
  });

  it('stops at the first document that answers: the challenge one', async () => {
    const s = await docServer();
    const doc = { resource: `${s.origin}/mcp`, authorization_servers: [`${s.origin}/from-challenge`] };
    s.routes.set('/meta/from-challenge', { body: doc });
    s.routes.set(`${PRM}/mcp`, { body: { ...doc, authorization_servers: [`${s.origin}/path-aware`] } });
    s.routes.set(PRM, { body: { ...doc, authorization_servers: [`${s.origin}/root`] } });
    const info = await discoverResource('srv', `${s.origin}/mcp`, challenge(`${s.origin}/meta/from-challenge`));
    expect(s.paths()).toEqual(['/meta/from-challenge']);
    expect(info.authorizationServer).toBe(`${s.origin}/from-challenge`);
  });

  it('without a challenge URL: the path-aware document wins over the root one, which is then not asked', async () => {
    const s = await docServer();
    s.routes.set(`${PRM}/mcp`, { body: { resource: `${s.origin}/mcp`, authorization_servers: [`${s.origin}/path-aware`] } });
    s.routes.set(PRM, { body: { resource: `${s.origin}/mcp`, authorization_servers: [`${s.origin}/root`] } });
    const info = await discoverResource('srv', `${s.origin}/mcp/`, null);
    expect(s.paths()).toEqual([`${PRM}/mcp`]);
    expect(info.authorizationServer).toBe(`${s.origin}/path-aware`);
  });

  it('a server at the root has only the root well-known URL', async () => {
    const s = await docServer();
    const info = await discoverResource('srv', `${s.origin}/`, null);
    expect(s.paths()).toEqual([PRM]);
    expect(info.fromMetadata).toBe(false);
  });

  it('skips a document that names no authorization server, and an error status, and goes on', async () => {
    const s = await docServer();
    s.routes.set('/meta/from-challenge', { status: 500, body: { resource: `${s.origin}/mcp`, authorization_servers: [`${s.origin}/broken`] } });
    s.routes.set(`${PRM}/mcp`, { body: { resource: `${s.origin}/mcp` } });
    s.routes.set(PRM, { body: { resource: `${s.origin}/mcp`, authorization_servers: [`${s.origin}/root`] } });
    const info = await discoverResource('srv', `${s.origin}/mcp`, challenge(`${s.origin}/meta/from-challenge`));
    expect(s.paths()).toEqual(['/meta/from-challenge', `${PRM}/mcp`, PRM]);
    expect(info.authorizationServer).toBe(`${s.origin}/root`);
  });

  it('a resource that does not cover the server URL is AUTH_FAILED/resource_mismatch (another path, another origin)', async () => {
    const MISMATCH = { code: 'AUTH_FAILED', details: { server: 'srv', reason: 'resource_mismatch' } };
    const s = await docServer();
    s.routes.set(`${PRM}/mcp`, { body: { resource: `${s.origin}/other`, authorization_servers: [s.origin] } });
    const wrongPath = await rejectionOf(discoverResource('srv', `${s.origin}/mcp`, null));
    expect(wrongPath).toMatchObject(MISMATCH);
    expect(wrongPath.message).toContain(`${s.origin}/other`);

    s.routes.set(`${PRM}/mcp`, { body: { resource: 'http://127.0.0.1:1/mcp', authorization_servers: [s.origin] } });
    expect(await rejectionOf(discoverResource('srv', `${s.origin}/mcp`, null))).toMatchObject(MISMATCH);

    // a mere string prefix is not a path prefix
    s.routes.set(`${PRM}/mcp`, { body: { resource: `${s.origin}/m`, authorization_servers: [s.origin] } });
    expect(await rejectionOf(discoverResource('srv', `${s.origin}/mcp`, null))).toMatchObject(MISMATCH);
  });

  it('a resource that is a path prefix of the server URL covers it', async () => {
    const s = await docServer();
    s.routes.set(`${PRM}/api/mcp`, { body: { resource: `${s.origin}/api`, authorization_servers: [s.origin] } });
    const info = await discoverResource('srv', `${s.origin}/api/mcp`, null);
    expect(info.resource).toBe(`${s.origin}/api`);
  });

  it('no metadata anywhere: fromMetadata false, the authorization server is the origin, the resource the server URL', async () => {
    const s = await docServer();
    const info = await discoverResource('srv', `${s.origin}/mcp`, challenge(`${s.origin}/meta/gone`));
    expect(s.paths()).toEqual(['/meta/gone', `${PRM}/mcp`, PRM]);
    expect(info).toEqual({ resource: `${s.origin}/mcp`, authorizationServer: s.origin, fromMetadata: false });
  });

  it('refuses a plain-http metadata URL on a non-loopback host before sending any request', async () => {
    const s = await docServer();
    const error = await rejectionOf(discoverResource('srv', `${s.origin}/mcp`, challenge('http://auth.example.com/meta')));
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(error.message).toMatch(/resource metadata URL http:\/\/auth\.example\.com is refused: it must use https/);
    expect(s.log).toEqual([]); // not even the well-known URLs of the server itself
  });

  it('refuses a plain-http MCP server on a non-loopback host (no request is sent)', async () => {
    const error = await rejectionOf(discoverResource('srv', 'http://mcp.example.com/mcp', null));
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(error.message).toMatch(/must use https/);
  });

  it('refuses metadata that names a plain-http authorization server on a non-loopback host', async () => {
    const s = await docServer();
    s.routes.set(`${PRM}/mcp`, { body: { resource: `${s.origin}/mcp`, authorization_servers: ['http://auth.example.com'] } });
    const error = await rejectionOf(discoverResource('srv', `${s.origin}/mcp`, null));
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(error.message).toMatch(/authorization server http:\/\/auth\.example\.com is refused: it must use https/);
  });
});

describe('discoverAuthorizationServer (RFC 8414 / OIDC)', () => {
  it('an issuer with a path: oauth path-insertion, openid path-insertion, openid path-appending, in that order', async () => {
    const s = await docServer();
    const issuer = `${s.origin}/tenant/one`;
    const error = await rejectionOf(discoverAuthorizationServer('srv', issuer, false));
    expect(s.paths()).toEqual([`${OAUTH_AS}/tenant/one`, `${OPENID}/tenant/one`, `/tenant/one${OPENID}`]);
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(error.message).toContain('no authorization server metadata found');
  });

  it('an issuer with a path: the first document that answers is used', async () => {
    const s = await docServer();
    const issuer = `${s.origin}/tenant`;
    s.routes.set(`${OPENID}/tenant`, { body: asMetadata(issuer) });
    s.routes.set(`/tenant${OPENID}`, { body: asMetadata(issuer, { token_endpoint: `${s.origin}/not-this-one` }) });
    const as = await discoverAuthorizationServer('srv', issuer, false);
    expect(s.paths()).toEqual([`${OAUTH_AS}/tenant`, `${OPENID}/tenant`]);
    expect(as.token_endpoint).toBe(`${issuer}/token`);
  });

  it('an issuer with a path: the path-appending OIDC document as the last resort', async () => {
    const s = await docServer();
    const issuer = `${s.origin}/tenant`;
    s.routes.set(`/tenant${OPENID}`, { body: asMetadata(issuer) });
    const as = await discoverAuthorizationServer('srv', issuer, false);
    expect(s.paths()).toEqual([`${OAUTH_AS}/tenant`, `${OPENID}/tenant`, `/tenant${OPENID}`]);
    expect(as.issuer).toBe(issuer);
  });

  it('an issuer without a path: the two root documents, RFC 8414 first', async () => {
    const s = await docServer();
    await rejectionOf(discoverAuthorizationServer('srv', s.origin, false));
    expect(s.paths()).toEqual([OAUTH_AS, OPENID]);

    s.log.length = 0;
    s.routes.set(OPENID, { body: asMetadata(s.origin) });
    const as = await discoverAuthorizationServer('srv', `${s.origin}/`, false);
    expect(s.paths()).toEqual([OAUTH_AS, OPENID]);
    expect(as.authorization_endpoint).toBe(`${s.origin}/auth`);
  });

  it('a document naming another issuer is refused with AUTH_FAILED/issuer_mismatch, also for a legacy server', async () => {
    const MISMATCH = { code: 'AUTH_FAILED', details: { server: 'srv', reason: 'issuer_mismatch' } };
    const s = await docServer();
    s.routes.set(OAUTH_AS, { body: asMetadata(`${s.origin}/someone-else`) });
    const error = await rejectionOf(discoverAuthorizationServer('srv', s.origin, false));
    expect(error).toMatchObject(MISMATCH);
    expect(error.message).toMatch(/refused/);
    // never tolerated, not even by the 2025-03-26 fallback
    expect(await rejectionOf(discoverAuthorizationServer('srv', s.origin, true))).toMatchObject(MISMATCH);
    // an issuer with a path, every document names the issuer without it
    s.routes.clear();
    for (const path of [`${OAUTH_AS}/t`, `${OPENID}/t`, `/t${OPENID}`]) s.routes.set(path, { body: asMetadata(s.origin) });
    expect(await rejectionOf(discoverAuthorizationServer('srv', `${s.origin}/t`, false))).toMatchObject(MISMATCH);
  });

  it('a document without an issuer, or not JSON, is AUTH_FAILED/metadata_invalid; none at all (not legacy) metadata_not_found', async () => {
    const s = await docServer();
    s.routes.set(OAUTH_AS, { body: { token_endpoint: `${s.origin}/token` } });
    expect(await rejectionOf(discoverAuthorizationServer('srv', s.origin, false))).toMatchObject({ code: 'AUTH_FAILED', details: { reason: 'metadata_invalid' } });
    s.routes.set(OAUTH_AS, { body: 'not an object' });
    expect(await rejectionOf(discoverAuthorizationServer('srv', s.origin, false))).toMatchObject({ code: 'AUTH_FAILED', details: { reason: 'metadata_invalid' } });
    s.routes.clear();
    expect(await rejectionOf(discoverAuthorizationServer('srv', s.origin, false))).toMatchObject({ code: 'AUTH_FAILED', details: { reason: 'metadata_not_found' } });
    expect(s.paths().slice(-2)).toEqual([OAUTH_AS, OPENID]);
  });

  it('the endpoints of a document naming another issuer are never used', async () => {
    const s = await docServer();
    s.routes.set(OAUTH_AS, { body: asMetadata('http://127.0.0.1:1', { token_endpoint: 'http://127.0.0.1:1/token' }) });
    s.routes.set(OPENID, { body: asMetadata(s.origin) });
    const as = await discoverAuthorizationServer('srv', s.origin, false);
    expect(as.issuer).toBe(s.origin);
    expect(as.token_endpoint).toBe(`${s.origin}/token`);
  });

  it('legacy (2025-03-26) server without metadata: the default endpoints on its origin', async () => {
    const s = await docServer();
    const as = await discoverAuthorizationServer('srv', s.origin, true);
    expect(s.paths()).toEqual([OAUTH_AS, OPENID]);
    expect(as).toMatchObject({
      issuer: s.origin,
      authorization_endpoint: `${s.origin}/authorize`,
      token_endpoint: `${s.origin}/token`,
      registration_endpoint: `${s.origin}/register`,
    });
  });

  it('refuses a plain-http issuer on a non-loopback host before any request', async () => {
    for (const issuer of ['http://auth.example.com', 'http://auth.example.com/tenant']) {
      const error = await rejectionOf(within(discoverAuthorizationServer('srv', issuer, true), issuer, 2_000));
      expect(error).toMatchObject({ code: 'AUTH_FAILED' });
      expect(error.message).toMatch(/must use https/);
    }
  });
});

describe('requireS256 and HTTPS endpoints', () => {
  const base = { issuer: 'https://as.example', authorization_endpoint: 'https://as.example/auth', token_endpoint: 'https://as.example/token' };

  it('refuses metadata without code_challenge_methods_supported, or without S256 in it', () => {
    for (const as of [base, { ...base, code_challenge_methods_supported: [] }, { ...base, code_challenge_methods_supported: ['plain'] }]) {
      let thrown: unknown;
      try {
        requireS256('srv', as as oauth.AuthorizationServer);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'srv', reason: 'pkce_unsupported' } });
      expect(String((thrown as Error).message)).toContain('S256');
    }
    expect(() => requireS256('srv', { ...base, code_challenge_methods_supported: ['plain', 'S256'] })).not.toThrow();
  });

  /** A policy for a server `mcp.test` at `serverAddress`; names resolve from `dns` (no resolver is asked). */
  function policy(serverAddress: string, dns: Record<string, string[]> = {}): Promise<EgressPolicy> {
    const table: Record<string, string[]> = { ...dns, 'mcp.test': [serverAddress] };
    const lookup = async (host: string) => (table[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    return EgressPolicy.forServer('srv', 'https://mcp.test/mcp', { lookup });
  }

  async function refusal(as: Record<string, unknown>, egress: EgressPolicy): Promise<Error & { code?: string }> {
    return rejectionOf(requireSecureEndpoints('srv', as as oauth.AuthorizationServer, egress));
  }

  it('a public server: any endpoint on plain http, or on a loopback / private / link-local address, is refused; public https passes', async () => {
    const egress = await policy('93.184.216.34', { 'as.example': ['93.184.216.35'], 'internal.example': ['10.1.2.3'] });
    expect(egress.allowLocal).toBe(false);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'registration_endpoint', 'revocation_endpoint', 'device_authorization_endpoint']) {
      const label = key.replace(/_/g, ' ');
      for (const [url, why] of [
        ['http://as.example/x', /is refused: it must use https/],
        ['https://127.0.0.1:9/x', /is refused: 127\.0\.0\.1 is a loopback address/],
        ['https://[::ffff:169.254.169.254]/x', /is refused: 169\.254\.169\.254 is a link-local address/],
        ['https://internal.example/x', /is refused: internal\.example resolves to 10\.1\.2\.3, a private address/],
        ['https://admin.localhost/x', /is refused: admin\.localhost is a loopback address/],
      ] as const) {
        const error = await refusal({ ...base, [key]: url }, egress);
        expect(error, `${key} ${url}`).toMatchObject({ code: 'AUTH_FAILED' });
        expect(error.message, `${key} ${url}`).toContain(`${label} ${new URL(url).origin} is refused`);
        expect(error.message, `${key} ${url}`).toMatch(why);
      }
    }
    await expect(requireSecureEndpoints('srv', { ...base, registration_endpoint: 'https://as.example/reg' }, egress)).resolves.toBeUndefined();
  });

  it('a loopback server: loopback endpoints on plain http pass; plain http to a public host is still refused', async () => {
    const egress = await policy('127.0.0.1', { localhost: ['127.0.0.1', '::1'], 'public.example': ['93.184.216.34'] });
    expect(egress.allowLocal).toBe(true);
    const local = { issuer: 'http://127.0.0.1:9', authorization_endpoint: 'http://localhost:9/a', token_endpoint: 'http://[::1]:9/t' };
    await expect(requireSecureEndpoints('srv', local, egress)).resolves.toBeUndefined();
    await expect(requireSecureEndpoints('srv', { ...local, registration_endpoint: 'https://public.example/r' }, egress)).resolves.toBeUndefined();
    const error = await refusal({ ...local, registration_endpoint: 'http://public.example/r' }, egress);
    expect(error.message).toMatch(/registration endpoint http:\/\/public\.example is refused: it must use https: public\.example resolves to 93\.184\.216\.34, a public address/);
  });
});
