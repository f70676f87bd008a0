/**
 * Enterprise-Managed Authorization (the MCP extension, ID-JAG) through the real kernel: the configured ID token
 * is exchanged at a fake enterprise IdP (RFC 8693) for an ID-JAG, which a fake authorization server takes as a
 * JWT bearer grant (RFC 7523) for an access token of a protected MCP server. No browser is involved.
 */
import { describe, expect, it } from 'vitest';
import { Gateway, MemoryTokenStore, type AuthConfig } from '@agent-mcp-gateway/core';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import { startProtectedMcpServer, type AccessTokenClaims } from '@agent-mcp-gateway/testing';
import { OAuthPlugin } from '../src/index.js';
import { captureLogger, gatewayConfig, httpSpec, rejectionOf, startDocServer, tokenStorePlugin, within, type DocServer, readForm, cleanupsAfterEach } from './helpers.js';

const cleanups = cleanupsAfterEach();

const ID_TOKEN = 'eyJ.the-users-id-token.sig';


interface Fixture {
  idp: DocServer;
  as: DocServer;
  mcpUrl: string;
  /** Every token request, as `where grant_type` with its parameters and Authorization header. */
  grants: { at: 'idp' | 'as'; params: URLSearchParams; authorization: string | undefined }[];
}

/** An IdP that exchanges {@link ID_TOKEN} for an ID-JAG, an AS that takes that ID-JAG for an access token, and an MCP server accepting it. */
async function start(options: { idpRefuses?: boolean; asRefuses?: boolean } = {}): Promise<Fixture> {
  const grants: Fixture['grants'] = [];
  let issued = 0;
  const idp = await startDocServer((req, res) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/token')) return false;
    void readForm(req).then((params) => {
      grants.push({ at: 'idp', params, authorization: req.headers.authorization });
      const ok = !options.idpRefuses && params.get('subject_token') === ID_TOKEN;
      res.writeHead(ok ? 200 : 400, { 'content-type': 'application/json' }).end(
        JSON.stringify(
          ok
            ? { access_token: `id-jag-for-${params.get('audience')}`, issued_token_type: 'urn:ietf:params:oauth:token-type:id-jag', token_type: 'N_A' }
            : { error: 'invalid_grant', error_description: 'the ID token has expired' },
        ),
      );
    });
    return true;
  });
  cleanups.push(() => idp.close());
  idp.routes.set('/.well-known/openid-configuration', {
    body: { issuer: idp.origin, token_endpoint: `${idp.origin}/token`, token_endpoint_auth_methods_supported: ['client_secret_post'] },
  });
  const as = await startDocServer((req, res, origin) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/token')) return false;
    void readForm(req).then((params) => {
      grants.push({ at: 'as', params, authorization: req.headers.authorization });
      const ok = !options.asRefuses && params.get('assertion') === `id-jag-for-${origin}`;
      res
        .writeHead(ok ? 200 : 400, { 'content-type': 'application/json' })
        .end(JSON.stringify(ok ? { access_token: `at-${++issued}`, token_type: 'Bearer', expires_in: 3600 } : { error: 'invalid_grant' }));
    });
    return true;
  });
  cleanups.push(() => as.close());
  as.routes.set('/.well-known/oauth-authorization-server', {
    body: {
      issuer: as.origin,
      token_endpoint: `${as.origin}/token`,
      grant_types_supported: ['urn:ietf:params:oauth:grant-type:jwt-bearer'],
      token_endpoint_auth_methods_supported: ['client_secret_basic'],
      code_challenge_methods_supported: ['S256'],
    },
  });
  const rs = await within(
    startProtectedMcpServer({
      authorizationServer: {
        issuer: as.origin,
        verifyAccessToken: async (token): Promise<AccessTokenClaims> => {
          if (!/^at-\d+$/.test(token)) throw new Error('unknown token');
          return { scope: 'mcp:read mcp:write' } as AccessTokenClaims;
        },
      },
    }),
    'protected MCP server',
  );
  cleanups.push(() => rs.close());
  return { idp, as, mcpUrl: rs.url, grants };
}

async function startGateway(url: string, auth: AuthConfig): Promise<Gateway> {
  const gateway = new Gateway({
    config: gatewayConfig([httpSpec('corp', url, { auth })]),
    plugins: [new HttpTransportPlugin(), new OAuthPlugin({ env: { BROWSER: 'none' } }), tokenStorePlugin(new MemoryTokenStore())],
    logger: captureLogger().logger,
  });
  await gateway.start();
  cleanups.unshift(() => gateway.close());
  return gateway;
}

describe('enterprise-managed authorization (ID-JAG)', () => {
  it('exchanges the ID token at the IdP for an ID-JAG naming the AS and the resource, and that ID-JAG for an access token: no browser', async () => {
    const f = await start();
    const gateway = await startGateway(f.mcpUrl, {
      type: 'enterprise_managed',
      clientId: 'mcp-client',
      clientSecret: 'mcp-secret',
      idp: { issuer: f.idp.origin, clientId: 'idp-client', clientSecret: 'idp-secret', idToken: ID_TOKEN },
    });
    const tools = await within(gateway.listTools('tester', 'corp'), 'listTools');
    expect(tools.map((t) => t.name)).toContain('echo');

    expect(f.idp.paths()).toContain('/.well-known/openid-configuration'); // the IdP's token endpoint, discovered from its issuer
    expect(f.grants.map((g) => g.at)).toEqual(['idp', 'as']);
    const [exchange, bearer] = f.grants;
    expect(Object.fromEntries(exchange?.params ?? [])).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
      audience: f.as.origin,
      resource: f.mcpUrl,
      subject_token: ID_TOKEN,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      client_id: 'idp-client',
      client_secret: 'idp-secret', // client_secret_post: what the IdP's metadata offers
    });
    expect(Object.fromEntries(bearer?.params ?? [])).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: `id-jag-for-${f.as.origin}`,
      resource: f.mcpUrl,
    });
    expect(bearer?.authorization).toBe(`Basic ${Buffer.from('mcp-client:mcp-secret').toString('base64')}`);
    expect(f.as.paths()).not.toContain('/authorize');
  });

  it('an IdP that refuses the ID token → AUTH_FAILED/idp_refused naming the IdP; nothing is sent to the authorization server', async () => {
    const f = await start({ idpRefuses: true });
    const gateway = await startGateway(f.mcpUrl, {
      type: 'enterprise_managed',
      clientId: 'mcp-client',
      idp: { issuer: f.idp.origin, tokenEndpoint: `${f.idp.origin}/token`, clientId: 'idp-client', idToken: 'expired' },
    });
    const error = await rejectionOf(within(gateway.listTools('tester', 'corp'), 'listTools'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'corp', reason: 'idp_refused', oauthError: 'invalid_grant' } });
    expect(JSON.stringify(error)).not.toContain('the ID token has expired'); // the IdP's free text travels nowhere
    expect(error.message).toContain(`identity provider ${f.idp.origin} refused`);
    expect(error.message).toContain('invalid_grant');
    expect(f.idp.paths()).not.toContain('/.well-known/openid-configuration'); // tokenEndpoint configured: no discovery
    expect(f.grants.map((g) => g.at)).toEqual(['idp']);
  });

  it('an authorization server that refuses the ID-JAG → AUTH_FAILED/id_jag_refused naming it', async () => {
    const f = await start({ asRefuses: true });
    const gateway = await startGateway(f.mcpUrl, {
      type: 'enterprise_managed',
      clientId: 'mcp-client',
      clientSecret: 'mcp-secret',
      idp: { issuer: f.idp.origin, clientId: 'idp-client', clientSecret: 'idp-secret', idToken: ID_TOKEN },
    });
    const error = await rejectionOf(within(gateway.listTools('tester', 'corp'), 'listTools'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'corp', reason: 'id_jag_refused', oauthError: 'invalid_grant' } });
    expect(error.message).toContain(`authorization server ${f.as.origin} refused the ID-JAG`);
    expect(f.grants.map((g) => g.at)).toEqual(['idp', 'as']);
  });
});
