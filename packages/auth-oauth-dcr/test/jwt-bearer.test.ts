/**
 * The workload identity grant (SEP-1933, RFC 7523) through the real kernel: the platform's JWT is sent as a
 * JWT bearer grant to a small real token endpoint that verifies it (signature, audience, expiry) with jose, and
 * the access token it issues opens a protected MCP server. No browser, no registration, no other grant.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, generateKeyPair, jwtVerify, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { ConfigRegistry, ErrorCodes, Gateway, GatewayError, MemoryTokenStore, parseServers, type AuthConfig } from '@agent-mcp-gateway/core';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import { startProtectedMcpServer, type AccessTokenClaims } from '@agent-mcp-gateway/testing';
import { OAuthPlugin } from '../src/index.js';
import { captureLogger, gatewayConfig, httpSpec, rejectionOf, startDocServer, tokenStorePlugin, within, type DocServer, readForm, cleanupsAfterEach } from './helpers.js';

const cleanups = cleanupsAfterEach();

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';


interface Fixture {
  as: DocServer;
  mcpUrl: string;
  /** Signs a workload JWT for the authorization server (or another audience). */
  sign(subject: string, audience?: string): Promise<string>;
  /** Every token request: its parameters, Authorization header, and the verified assertion's subject. */
  grants: { params: URLSearchParams; authorization: string | undefined; subject?: string }[];
  /** Access tokens the MCP server refuses once (401 invalid_token), then `onRefused` runs. */
  refuseOnce: Set<string>;
  onRefused?: () => Promise<void>;
}

/** A token endpoint that takes a workload JWT (verified with jose) for an access token; `refuse`: answer every grant with this OAuth error. */
async function start(options: { refuse?: string } = {}): Promise<Fixture> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const grants: Fixture['grants'] = [];
  let issued = 0;
  const verifyAssertion = async (assertion: string, audience: string): Promise<string | undefined> => {
    try {
      return (await jwtVerify(assertion, publicKey as CryptoKey, { audience, issuer: 'https://workload.example' })).payload.sub;
    } catch {
      return undefined;
    }
  };
  const as = await startDocServer((req, res, origin) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/token')) return false;
    void readForm(req).then(async (params) => {
      const subject = await verifyAssertion(params.get('assertion') ?? '', origin);
      grants.push({ params, authorization: req.headers.authorization, ...(subject && { subject }) });
      const error = params.get('grant_type') !== JWT_BEARER ? 'unsupported_grant_type' : (options.refuse ?? (subject ? undefined : 'invalid_grant'));
      res
        .writeHead(error ? 400 : 200, { 'content-type': 'application/json' })
        .end(JSON.stringify(error ? { error, error_description: 'the workload may not' } : { access_token: `at-${++issued}`, token_type: 'Bearer', expires_in: 3600 }));
    });
    return true;
  });
  cleanups.push(() => as.close());
  as.routes.set('/.well-known/oauth-authorization-server', {
    body: {
      issuer: as.origin,
      token_endpoint: `${as.origin}/token`,
      authorization_endpoint: `${as.origin}/authorize`,
      registration_endpoint: `${as.origin}/register`,
      grant_types_supported: [JWT_BEARER, 'authorization_code', 'client_credentials'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic'],
      code_challenge_methods_supported: ['S256'],
    },
  });
  const fixture: Fixture = {
    as,
    mcpUrl: '',
    grants,
    refuseOnce: new Set(),
    sign: (subject, audience = as.origin) =>
      new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://workload.example').setSubject(subject).setAudience(audience).setIssuedAt().setExpirationTime('5m').sign(privateKey),
  };
  const rs = await within(
    startProtectedMcpServer({
      authorizationServer: {
        issuer: as.origin,
        verifyAccessToken: async (token): Promise<AccessTokenClaims> => {
          if (!/^at-\d+$/.test(token)) throw new Error('unknown token');
          if (fixture.refuseOnce.delete(token)) {
            await fixture.onRefused?.();
            throw new Error('revoked');
          }
          return { scope: 'mcp:read mcp:write' } as AccessTokenClaims;
        },
      },
    }),
    'protected MCP server',
  );
  cleanups.push(() => rs.close());
  fixture.mcpUrl = rs.url;
  return fixture;
}

async function startGateway(url: string, auth: AuthConfig): Promise<Gateway> {
  const gateway = new Gateway({
    config: gatewayConfig([httpSpec('workload', url, { auth })]),
    plugins: [new HttpTransportPlugin(), new OAuthPlugin({ env: { BROWSER: 'none' } }), tokenStorePlugin(new MemoryTokenStore())],
    logger: captureLogger().logger,
  });
  await gateway.start();
  cleanups.unshift(() => gateway.close());
  return gateway;
}

async function tempFile(content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wif-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'token');
  await writeFile(file, content);
  return file;
}

describe('workload identity: the jwt_bearer grant (RFC 7523, SEP-1933)', () => {
  it('sends the configured JWT as a jwt-bearer grant with resource and client_id, no client authentication, and uses the token: no browser, no registration', async () => {
    const f = await start();
    const gateway = await startGateway(f.mcpUrl, { type: 'jwt_bearer', clientId: 'workload-client', assertion: await f.sign('pod-a'), scopes: ['mcp:read'] });
    const tools = await within(gateway.listTools('tester', 'workload'), 'listTools');
    expect(tools.map((t) => t.name)).toContain('echo');

    expect(f.grants).toHaveLength(1);
    const [grant] = f.grants;
    expect(grant?.subject).toBe('pod-a'); // the token endpoint verified the assertion (signature, audience = its issuer)
    expect(Object.fromEntries(grant?.params ?? [])).toMatchObject({ grant_type: JWT_BEARER, resource: f.mcpUrl, client_id: 'workload-client', scope: 'mcp:read' });
    expect(grant?.authorization).toBeUndefined(); // token endpoint auth `none`
    expect(f.as.paths()).not.toContain('/register');
    expect(f.as.paths()).not.toContain('/authorize');
  });

  it('reads assertionFile again for every token request (the platform rotates it)', async () => {
    const f = await start();
    const file = await tempFile(`${await f.sign('first')}\n`);
    const gateway = await startGateway(f.mcpUrl, { type: 'jwt_bearer', clientId: 'workload-client', assertionFile: file });
    // The first access token is refused once by the MCP server; meanwhile the platform has rotated the file.
    f.refuseOnce.add('at-1');
    f.onRefused = async () => writeFile(file, await f.sign('second'));
    await within(gateway.listTools('tester', 'workload'), 'listTools');
    expect(f.grants.map((g) => g.subject)).toEqual(['first', 'second']);
  });

  it.each(['invalid_grant', 'invalid_scope', 'unauthorized_client'])(
    'a %s refusal → AUTH_FAILED/jwt_bearer_refused at once: one token request, no retry, no other grant',
    async (refusal) => {
      const f = await start({ refuse: refusal });
      const gateway = await startGateway(f.mcpUrl, { type: 'jwt_bearer', clientId: 'workload-client', assertion: await f.sign('pod-a') });
      const error = await rejectionOf(within(gateway.listTools('tester', 'workload'), 'listTools'));
      expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'workload', reason: 'jwt_bearer_refused', oauthError: refusal } });
      expect(error.message).toContain(`authorization server ${f.as.origin} refused the workload's JWT assertion`);
      expect(JSON.stringify(error)).not.toContain('the workload may not'); // the server's free text travels nowhere
      expect(f.grants.map((g) => g.params.get('grant_type'))).toEqual([JWT_BEARER]);
      expect(f.as.paths().filter((p) => p !== '/.well-known/oauth-authorization-server' && p !== '/token')).toEqual([]);
    },
  );

  it('an assertionFile that cannot be read → AUTH_FAILED/assertion_unreadable naming the file; nothing is sent', async () => {
    const f = await start();
    const missing = join(await mkdtemp(join(tmpdir(), 'wif-')), 'absent');
    const gateway = await startGateway(f.mcpUrl, { type: 'jwt_bearer', clientId: 'workload-client', assertionFile: missing });
    const error = await rejectionOf(within(gateway.listTools('tester', 'workload'), 'listTools'));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'workload', reason: 'assertion_unreadable' } });
    expect(error.message).toContain(`${missing} cannot be read (ENOENT)`);
    expect(f.grants).toEqual([]);
  });

  it('`auth login` has nothing to log in to', async () => {
    const f = await start();
    const spec = httpSpec('workload', f.mcpUrl, { auth: { type: 'jwt_bearer', clientId: 'c', assertion: 'x.y.z' } });
    const plugin = new OAuthPlugin({ env: { BROWSER: 'none' } });
    const strategy = await plugin.strategyFor(spec, { logger: captureLogger().logger, signal: new AbortController().signal }, new MemoryTokenStore());
    const error = await rejectionOf(strategy.login());
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENTS);
    expect(error.message).toContain('workload identity grant');
  });
});

describe('jwt_bearer configuration', () => {
  const FILE = '/proj/.mcp.json';
  const parse = (auth: unknown) => {
    const registry = new ConfigRegistry();
    new OAuthPlugin().register(registry);
    return parseServers(JSON.stringify({ mcpServers: { w: { url: 'https://h/mcp', auth } } }), FILE, {}, registry);
  };
  const caught = (fn: () => unknown): GatewayError => {
    try {
      fn();
    } catch (error) {
      if (error instanceof GatewayError) return error;
      throw error;
    }
    throw new Error('expected a GatewayError');
  };

  it('keeps the block and lists the assertion (and a client secret) among the secret values', () => {
    const auth = { type: 'jwt_bearer', clientId: 'c', assertion: 'eyJ.workload.jwt', clientSecret: 's', scopes: ['a'] };
    const { servers } = parse(auth);
    expect(servers[0]?.auth).toEqual(auth);
    expect(servers[0]?.secretValues).toEqual(expect.arrayContaining(['eyJ.workload.jwt', 's']));
  });

  it.each([
    ['neither assertion nor assertionFile', { type: 'jwt_bearer', clientId: 'c' }, '$.mcpServers.w.auth.assertion', 'give exactly one of "assertion" and "assertionFile"'],
    ['both', { type: 'jwt_bearer', clientId: 'c', assertion: 'a', assertionFile: '/t' }, '$.mcpServers.w.auth.assertion', 'give exactly one of'],
    ['a relative assertionFile', { type: 'jwt_bearer', clientId: 'c', assertionFile: 'token' }, '$.mcpServers.w.auth.assertionFile', 'must be an absolute path'],
    ['no clientId', { type: 'jwt_bearer', assertion: 'a' }, '$.mcpServers.w.auth.clientId', 'missing'],
    ['client_secret_basic without a secret', { type: 'jwt_bearer', clientId: 'c', assertion: 'a', tokenEndpointAuthMethod: 'client_secret_basic' }, '$.mcpServers.w.auth.clientSecret', 'tokenEndpointAuthMethod "client_secret_basic" needs a clientSecret'],
    ['a misspelt key', { type: 'jwt_bearer', clientId: 'c', assertion: 'a', assertion_file: '/t' }, '$.mcpServers.w.auth', 'unknown key "assertion_file"'],
  ])('%s → CONFIG_INVALID naming file and JSON path', (_what, auth, path, expected) => {
    const error = caught(() => parse(auth));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${FILE}: ${path}: ${expected}`);
    expect(JSON.stringify(error)).not.toContain('"a"');
  });
});
