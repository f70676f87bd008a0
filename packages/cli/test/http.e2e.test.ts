import { afterEach, describe, expect, it } from 'vitest';
import { startHttpMcpServer, type HttpMcpServer } from '@agent-mcp-gateway/testing';
import { demoServer, errorOf, json, startGateway, type RunningGateway } from './harness.js';

const PAT = 'ghp_e2eTestPersonalAccessToken0123456789';
const API_KEY = 'sk-e2e-env-api-key-abcdef0123456789';

const cleanup: (() => Promise<unknown>)[] = [];
async function http(options: Parameters<typeof startHttpMcpServer>[0]): Promise<HttpMcpServer> {
  const server = await startHttpMcpServer(options);
  cleanup.push(() => server.close());
  return server;
}
async function gateway(options: Parameters<typeof startGateway>[0]): Promise<RunningGateway> {
  const g = await startGateway(options);
  cleanup.unshift(() => g.close());
  return g;
}
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn().catch(() => undefined);
});

type Listed = { servers: { name: string; transport: string; auth: string; state: string; url?: string }[] };
const text = (r: { content: unknown[] }) => (r.content[0] as { text: string }).text;

describe('HTTP downstreams and automatic auth selection', () => {
  it('serves stdio + env key, PAT over Streamable HTTP, open HTTP and legacy SSE from one config', async () => {
    const patServer = await http({ name: 'pat', bearer: PAT });
    const openServer = await http({ name: 'open' });
    const sseServer = await http({ name: 'legacy', mode: 'sse' });
    const g = await gateway({
      servers: {
        local: demoServer('local', { env: { TEST_SERVER_REQUIRE_ENV: 'DEMO_API_KEY', DEMO_API_KEY: '${DEMO_KEY}' } }),
        github: { url: patServer.url, headers: { Authorization: 'Bearer ${GITHUB_PAT}', 'X-Team': 'gateway' } },
        open: { url: openServer.url },
        legacy: { type: 'sse', url: sseServer.url },
      },
      env: { DEMO_KEY: API_KEY, GITHUB_PAT: PAT, GATEWAY_LOG_LEVEL: 'debug' },
      args: ['--debug'],
    });
    for (const server of ['local', 'github', 'open', 'legacy']) {
      const r = await g.call('execute_tool', { server, tool: 'echo', args: { text: `via ${server}` } });
      expect(json(r)).toEqual({ text: `via ${server}` });
    }
    expect(text(await g.call('execute_tool', { server: 'local', tool: 'env', args: { name: 'DEMO_API_KEY' } }))).toBe(API_KEY);

    const listed = json<Listed>(await g.call('list_servers', { include_metadata: true }));
    expect(listed.servers.map(({ name, transport, auth, state }) => ({ name, transport, auth, state }))).toEqual([
      { name: 'local', transport: 'stdio', auth: 'headers', state: 'ready' },
      { name: 'github', transport: 'http', auth: 'headers', state: 'ready' },
      { name: 'open', transport: 'http', auth: 'none', state: 'ready' },
      { name: 'legacy', transport: 'sse', auth: 'none', state: 'ready' },
    ]);
    // the PAT reached the server with the configured non-credential header
    const authorized = patServer.requests.filter((r) => r.status === 200);
    expect(authorized.length).toBeGreaterThan(0);
    for (const r of authorized) expect(r.headers).toMatchObject({ authorization: `Bearer ${PAT}`, 'x-team': 'gateway' });
    expect(sseServer.requests.some((r) => r.method === 'GET')).toBe(true);

    // status shows transport/auth/state and never a secret; neither does the debug log
    const status = await g.call('get_gateway_status', {});
    const everything = JSON.stringify(status) + g.stderr();
    expect(g.stderr()).toMatch(/DEBUG/);
    expect(everything).not.toContain(PAT);
    expect(everything).not.toContain(API_KEY);
    expect(everything).not.toContain(PAT.slice(4, 24));
  });

  it('falls back to legacy SSE when a Streamable HTTP initialize is refused with 4xx', async () => {
    const sseOnly = await http({ name: 'old', mode: 'sse' });
    const g = await gateway({ servers: { old: { url: sseOnly.url } } });
    expect(json(await g.call('execute_tool', { server: 'old', tool: 'echo', args: { text: 'fallback' } }))).toEqual({ text: 'fallback' });
    const post = sseOnly.requests.find((r) => r.method === 'POST' && r.path === '/mcp');
    expect(post?.status).toBe(405);
    await g.waitForStderr(/\[old\] Streamable HTTP refused \(405\); falling back to legacy SSE/);
  });

  it('a wrong PAT puts only that server in AUTH_FAILED; the others keep working', async () => {
    const patServer = await http({ name: 'pat', bearer: PAT });
    const openServer = await http({ name: 'open' });
    const g = await gateway({
      servers: {
        github: { url: patServer.url, headers: { Authorization: 'Bearer wrong-token-0000000000' } },
        open: { url: openServer.url },
        local: demoServer('local'),
      },
    });
    const failed = errorOf(await g.call('execute_tool', { server: 'github', tool: 'echo', args: { text: 'x' } }));
    expect(failed).toMatchObject({ code: 'AUTH_FAILED', server: 'github' });
    expect(failed.message).toMatch(/configured credential rejected \(HTTP 401, invalid_token\)/);
    expect(failed.message).not.toContain('wrong-token');
    for (const server of ['open', 'local']) {
      expect(json(await g.call('execute_tool', { server, tool: 'echo', args: { text: server } }))).toEqual({ text: server });
    }
    const listed = json<Listed>(await g.call('list_servers', { include_metadata: true }));
    expect(listed.servers.find((s) => s.name === 'github')?.state).toBe('error');
    // it never fell back to another strategy: every request carried the configured header
    expect(patServer.requests.every((r) => r.headers.authorization === 'Bearer wrong-token-0000000000')).toBe(true);
    expect(g.stderr()).toContain('OAuth disabled for github: a configured Authorization header is used');
  });

  it('a 401 Bearer challenge from a server whose OAuth cannot work fails that server alone, saying why', async () => {
    // The challenge brings OAuth in; this server has no metadata, no authorization server, no registration.
    const broken = await http({ name: 'broken', bearer: 'whatever', resourceMetadataUrl: 'http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp' });
    const openServer = await http({ name: 'open' });
    const g = await gateway({ servers: { notion: { url: broken.url }, open: { url: openServer.url } }, env: { BROWSER: 'none' } });
    const error = errorOf(await g.call('get_server_tools', { server: 'notion' }));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', server: 'notion' });
    expect(error.message).toMatch(/client registration refused/);
    const listed = json<Listed>(await g.call('list_servers', { include_metadata: true }));
    expect(listed.servers.map((s) => [s.name, s.state])).toEqual([
      ['notion', 'error'],
      ['open', 'ready'],
    ]);
    expect(json(await g.call('execute_tool', { server: 'open', tool: 'echo', args: { text: 'fine' } }))).toEqual({ text: 'fine' });
  });

  it('a third-party plugin tapping resolveAuth wins for its servers, loaded from the settings', async () => {
    const signed = await http({ name: 'signed', requiredHeaders: { 'x-signature': 'sig-for-signed', 'x-team': 'gateway' } });
    const plain = await http({ name: 'plain' });
    const plugin = `
      export default class SignaturePlugin {
        name = 'SignaturePlugin';
        constructor(options) { this.servers = options.servers; }
        apply(gateway) {
          gateway.hooks.resolveAuth.tap({ name: this.name, stage: -10 }, (spec, challenge) => {
            if (challenge !== null || !this.servers.includes(spec.name)) return undefined;
            return {
              kind: 'signature',
              headers: async () => ({ 'x-signature': 'sig-for-' + spec.name }),
              onChallenge: async () => 'fail',
              status: () => ({ kind: 'signature', state: 'ok' }),
            };
          });
        }
      }`;
    const g = await gateway({
      servers: { signed: { url: signed.url, headers: { 'X-Team': 'gateway' } }, plain: { url: plain.url } },
      files: {
        'signature-plugin.mjs': plugin,
        '.agent-mcp-gatewayrc.json': JSON.stringify({ plugins: [['./signature-plugin.mjs', { servers: ['signed'] }]] }),
      },
    });
    expect(json(await g.call('execute_tool', { server: 'signed', tool: 'echo', args: { text: 's' } }))).toEqual({ text: 's' });
    expect(json(await g.call('execute_tool', { server: 'plain', tool: 'echo', args: { text: 'p' } }))).toEqual({ text: 'p' });
    const listed = json<Listed>(await g.call('list_servers', { include_metadata: true }));
    expect(listed.servers.map((s) => s.auth)).toEqual(['signature', 'none']);
    expect(plain.requests.some((r) => 'x-signature' in r.headers)).toBe(false);
  });

  it('re-initialises an expired session transparently', async () => {
    const server = await http({ name: 'forgetful' });
    const g = await gateway({ servers: { forgetful: { url: server.url } } });
    expect(json(await g.call('execute_tool', { server: 'forgetful', tool: 'echo', args: { text: '1' } }))).toEqual({ text: '1' });
    server.expireSessions();
    expect(json(await g.call('execute_tool', { server: 'forgetful', tool: 'echo', args: { text: '2' } }))).toEqual({ text: '2' });
    expect(server.requests.some((r) => r.status === 404)).toBe(true);
    await g.waitForStderr(/\[forgetful\] Session expired; re-initialising/);
  });

  it('a server that is down is in error, and the next use reconnects once it is back', async () => {
    const first = await http({ name: 'flaky' });
    const port = first.port;
    await first.close();
    const g = await gateway({ servers: { flaky: { url: `http://127.0.0.1:${port}/mcp` } }, env: { GATEWAY_INIT_STRATEGY: 'lazy' } });
    const down = errorOf(await g.call('get_server_tools', { server: 'flaky' }));
    expect(down.code).toBe('SERVER_UNAVAILABLE');
    expect(json<Listed>(await g.call('list_servers', { include_metadata: true })).servers[0]?.state).toBe('error');
    await http({ name: 'flaky', port });
    expect(json(await g.call('execute_tool', { server: 'flaky', tool: 'echo', args: { text: 'back' } }))).toEqual({ text: 'back' });
  });
});
