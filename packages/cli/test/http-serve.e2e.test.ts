import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { startAuthorizationServer, startProtectedMcpServer, type AuthorizationServer } from '@agent-mcp-gateway/testing';
import { binPath, demoServer, errorOf, json, runCli, startGateway, writeConfig } from './harness.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn().catch(() => undefined);
});

/** The form of `agents.<id>.api_keys` entries. */
const hashOf = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`;
const newKey = () => `amg_${randomBytes(24).toString('base64url')}`;

interface HttpGateway {
  /** `http://127.0.0.1:PORT/mcp`, as printed. */
  readonly url: string;
  /** `http://127.0.0.1:PORT`. */
  readonly base: string;
  readonly dir: string;
  readonly child: ChildProcess;
  stderr(): string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** The built CLI with `--transport http --port 0`; resolves once it prints the URL it listens on. */
async function startHttpGateway(options: {
  servers: Record<string, unknown>;
  rules?: unknown;
  settings?: Record<string, unknown>;
  args?: readonly string[];
  env?: Record<string, string>;
  /** The config files of another gateway (one config, several processes); `servers`/`rules` are then not written. */
  files?: { dir: string; config: string; rules?: string };
}): Promise<HttpGateway> {
  const files = options.files ?? (await writeConfig(options.servers, options.rules));
  if (options.settings && !options.files) await writeFile(join(files.dir, '.agent-mcp-gatewayrc.json'), JSON.stringify(options.settings));
  const args = [binPath, '--config', files.config, ...(files.rules ? ['--rules', files.rules] : []), '--transport', 'http', '--port', '0', ...(options.args ?? [])];
  const child = spawn(process.execPath, args, {
    cwd: files.dir,
    env: { PATH: process.env.PATH ?? '', HOME: files.dir, GATEWAY_TOKEN_DIR: join(files.dir, 'tokens'), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "Gateway listening on" line; stderr:\n${stderr}`)), 15_000);
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
      const match = /Gateway listening on (http:\/\/\S+)/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited (${code}) before listening; stderr:\n${stderr}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const gateway: HttpGateway = {
    url,
    base: url.replace(/\/mcp$/, ''),
    dir: files.dir,
    child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      expect(stdout).toBe(''); // nothing but logs, and those go to stderr
      return code;
    },
  };
  cleanup.push(() => gateway.stop());
  return gateway;
}

/** The revision a 2026 client is pinned to. */
const MODERN = '2026-07-28';

/**
 * An SDK client over Streamable HTTP, sending `headers` with every request: a 2025 one (handshake,
 * session) by default, or one pinned to 2026-07-28 (`era: 'modern'`: no handshake, no session).
 */
async function connect(
  url: string,
  headers: Record<string, string> = {},
  options: { era?: 'legacy' | 'modern'; fetch?: typeof fetch } = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport; call(tool: string, args?: Record<string, unknown>): Promise<CallToolResult> }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, ...(options.fetch && { fetch: options.fetch }) });
  const client = new Client({ name: 'http-e2e', version: '1.0.0' }, options.era === 'modern' ? { versionNegotiation: { mode: { pin: MODERN } } } : {});
  await client.connect(transport);
  expect(client.getProtocolEra()).toBe(options.era ?? 'legacy');
  cleanup.unshift(() => client.close());
  return { client, transport, call: async (tool, args = {}) => (await client.callTool({ name: tool, arguments: args })) as CallToolResult };
}

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

/** A raw POST of `initialize` to the MCP endpoint. */
function postInitialize(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(INITIALIZE),
  });
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const serverNames = (result: CallToolResult) => json<{ servers: { name: string }[] }>(result).servers.map((s) => s.name);

describe('the gateway served over Streamable HTTP (built CLI, SDK clients)', () => {
  it('binds each agent to its API key: different servers per key, a forged agent_id refused, sessions not shared', async () => {
    const researcherKey = newKey();
    const opsKey = newKey();
    const g = await startHttpGateway({
      servers: { notes: demoServer('notes'), billing: demoServer('billing') },
      rules: {
        agents: {
          researcher: { allow: { servers: ['notes'] }, api_keys: [hashOf(researcherKey)] },
          ops: { allow: { servers: ['*'] }, deny: { servers: ['notes'] }, api_keys: [hashOf(opsKey)] },
          default: { allow: { servers: ['*'] } },
        },
      },
      env: { GATEWAY_LOG_LEVEL: 'debug' },
    });
    expect(g.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);

    const researcher = await connect(g.url, bearer(researcherKey));
    const ops = await connect(g.url, bearer(opsKey));
    expect(serverNames(await researcher.call('list_servers'))).toEqual(['notes']);
    expect(serverNames(await ops.call('list_servers'))).toEqual(['billing']);
    // naming oneself is fine
    expect(serverNames(await researcher.call('list_servers', { agent_id: 'researcher' }))).toEqual(['notes']);
    expect(json(await researcher.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: 'hi' } }))).toEqual({ text: 'hi' });

    // claiming another agent (or the fallback) is refused, for every tool
    for (const [tool, args] of [
      ['list_servers', { agent_id: 'ops' }],
      ['list_servers', { agent_id: 'default' }],
      ['get_server_tools', { agent_id: 'ops', server: 'billing' }],
      ['execute_tool', { agent_id: 'ops', server: 'billing', tool: 'echo', args: { text: 'x' } }],
    ] as const) {
      const error = errorOf(await researcher.call(tool, args));
      expect(error.code).toBe('INVALID_AGENT_ID');
      expect(error.message).toContain("belongs to agent 'researcher'");
    }
    // and without a claim, the policy of the key's agent applies
    expect(errorOf(await researcher.call('execute_tool', { server: 'billing', tool: 'echo', args: { text: 'x' } })).code).toBe('SERVER_NOT_FOUND');

    // A session belongs to the agent that opened it: ops's key does not reach researcher's session.
    const sessionId = researcher.transport.sessionId as string;
    const hijack = await fetch(g.url, {
      method: 'POST',
      headers: { ...bearer(opsKey), 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'list_servers', arguments: {} } }),
    });
    expect(hijack.status).toBe(404);

    // the audit log names the agent of the key
    await g.stop();
    const audit = (await readFile(join(g.dir, '.cache', 'agent-mcp-gateway', 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { agent: string | null; error_code: string | null });
    expect(new Set(audit.map((r) => r.agent))).toEqual(new Set(['researcher', 'ops', null]));
    expect(audit.filter((r) => r.error_code === 'INVALID_AGENT_ID')).toHaveLength(4);
    // no key in the log
    expect(g.stderr()).not.toContain(researcherKey);
    expect(g.stderr()).not.toContain(opsKey);
  });

  it('serves a 2026-07-28 client statelessly and a 2025 client with its session from one listener; the key names the agent in both eras', async () => {
    const researcherKey = newKey();
    const opsKey = newKey();
    const g = await startHttpGateway({
      servers: { notes: demoServer('notes'), billing: demoServer('billing') },
      rules: {
        agents: {
          researcher: { allow: { servers: ['notes'] }, api_keys: [hashOf(researcherKey)] },
          ops: { allow: { servers: ['billing'] }, api_keys: [hashOf(opsKey)] },
        },
      },
    });
    const ready = async () => (await (await fetch(`${g.base}/ready`)).json()) as { sessions: number; inFlight: number };

    // 2026: no handshake, no session; every request carries the key, and the key is the agent
    const modern = await connect(g.url, bearer(researcherKey), { era: 'modern' });
    expect(modern.client.getNegotiatedProtocolVersion()).toBe(MODERN);
    expect(modern.transport.sessionId).toBeUndefined();
    expect(serverNames(await modern.call('list_servers'))).toEqual(['notes']);
    const tools = json<{ tools: { name: string }[] }>(await modern.call('get_server_tools', { server: 'notes' })).tools.map((t) => t.name);
    expect(tools).toContain('echo');
    expect(json(await modern.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: '2026' } }))).toEqual({ text: '2026' });
    // a credential cannot name another agent, in this era either
    for (const [tool, args] of [
      ['list_servers', { agent_id: 'ops' }],
      ['get_server_tools', { agent_id: 'ops', server: 'billing' }],
      ['execute_tool', { agent_id: 'ops', server: 'billing', tool: 'echo', args: { text: 'x' } }],
    ] as const) {
      expect(errorOf(await modern.call(tool, args)).code).toBe('INVALID_AGENT_ID');
    }
    expect(errorOf(await modern.call('execute_tool', { server: 'billing', tool: 'echo', args: { text: 'x' } })).code).toBe('SERVER_NOT_FOUND');
    // a 2026 request without the credential is refused like any other
    const anonymous = await fetch(g.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } } }),
    });
    expect(anonymous.status).toBe(401);
    // the modern leg checks the media type itself (the SDK's sessionful transport does it for 2025 requests)
    const notJson = await fetch(g.url, {
      method: 'POST',
      headers: { ...bearer(researcherKey), 'content-type': 'text/plain', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } } }),
    });
    expect(notJson.status).toBe(415);
    expect(await ready()).toMatchObject({ sessions: 0, inFlight: 0 });

    // 2025 through the same listener: handshake, a session that lasts across calls, DELETE ends it
    const legacy = await connect(g.url, bearer(opsKey));
    const sessionId = legacy.transport.sessionId;
    expect(sessionId).toMatch(/.+/);
    expect(serverNames(await legacy.call('list_servers'))).toEqual(['billing']);
    expect(json<{ tools: { name: string }[] }>(await legacy.call('get_server_tools', { server: 'billing' })).tools.map((t) => t.name)).toContain('echo');
    expect(json(await legacy.call('execute_tool', { server: 'billing', tool: 'echo', args: { text: '2025' } }))).toEqual({ text: '2025' });
    expect(errorOf(await legacy.call('list_servers', { agent_id: 'researcher' })).code).toBe('INVALID_AGENT_ID');
    expect(legacy.transport.sessionId).toBe(sessionId);
    expect(await ready()).toMatchObject({ sessions: 1, inFlight: 0 });
    // the 2026 client keeps working next to the session
    expect(serverNames(await modern.call('list_servers'))).toEqual(['notes']);
    await legacy.transport.terminateSession();
    expect(await ready()).toMatchObject({ sessions: 0 });

    await g.stop();
    const audit = (await readFile(join(g.dir, '.cache', 'agent-mcp-gateway', 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { agent: string | null; tool: string | null; error_code: string | null });
    expect(audit.filter((r) => r.error_code === null && r.tool === 'echo').map((r) => r.agent).sort()).toEqual(['ops', 'researcher']);
    expect(g.stderr()).not.toContain(researcherKey);
  });

  it('two gateway processes on one config: a 2026 client whose requests alternate between them gets every call answered', async () => {
    const key = newKey();
    const files = await writeConfig(
      { notes: demoServer('notes') },
      { agents: { researcher: { allow: { servers: ['notes'] }, api_keys: [hashOf(key)] } } },
    );
    const a = await startHttpGateway({ servers: {}, files });
    const b = await startHttpGateway({ servers: {}, files });
    const ports = [new URL(a.url).port, new URL(b.url).port];
    const served: string[] = [];
    let n = 0;
    const alternating: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      url.port = ports[n++ % 2] as string;
      served.push(url.port);
      return fetch(url, init);
    };
    const client = await connect(a.url, bearer(key), { era: 'modern', fetch: alternating });
    for (let i = 0; i < 3; i++) {
      expect(serverNames(await client.call('list_servers'))).toEqual(['notes']);
      expect(json<{ tools: { name: string }[] }>(await client.call('get_server_tools', { server: 'notes' })).tools.map((t) => t.name)).toContain('echo');
      expect(json(await client.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: `call ${i}` } }))).toEqual({ text: `call ${i}` });
      expect(errorOf(await client.call('list_servers', { agent_id: 'other' })).code).toBe('INVALID_AGENT_ID');
    }
    // consecutive requests really went to both processes, in turn
    expect(served.length).toBeGreaterThanOrEqual(12);
    for (let i = 1; i < served.length; i++) expect(served[i]).not.toBe(served[i - 1]);

    // a 2025 client on one of them keeps its session (its requests all go to that process)
    const legacy = await connect(b.url, bearer(key));
    const sessionId = legacy.transport.sessionId;
    expect(json(await legacy.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: 'sticky' } }))).toEqual({ text: 'sticky' });
    expect(legacy.transport.sessionId).toBe(sessionId);
    expect(await (await fetch(`${b.base}/ready`)).json()).toMatchObject({ sessions: 1 });
    expect(await (await fetch(`${a.base}/ready`)).json()).toMatchObject({ sessions: 0 });

    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });

  it('refuses a missing or bad key with 401 and a challenge, a foreign Origin or Host with 403, a large body with 413; serves /health, /ready, /metrics', async () => {
    const key = newKey();
    const g = await startHttpGateway({
      servers: { notes: demoServer('notes') },
      rules: { agents: { researcher: { allow: { servers: ['*'] }, api_keys: [hashOf(key)] } } },
      settings: { http: { allowedOrigins: ['https://app.example.com'] } },
    });

    const missing = await postInitialize(g.url);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="agent-mcp-gateway"');
    const bad = await postInitialize(g.url, bearer(newKey()));
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer realm="agent-mcp-gateway", error="invalid_token"/);
    expect(await bad.json()).toMatchObject({ error: 'invalid_token' });
    const basic = await postInitialize(g.url, { Authorization: `Basic ${Buffer.from(`u:${key}`).toString('base64')}` });
    expect(basic.status).toBe(401);
    // the SDK client gets no further either
    await expect(connect(g.url, bearer('wrong'))).rejects.toMatchObject({ status: 401 });

    // DNS-rebinding protection: a foreign Origin or Host is refused before anything else, credential or not
    const evilOrigin = await postInitialize(g.url, { ...bearer(key), Origin: 'http://evil.example' });
    expect(evilOrigin.status).toBe(403);
    expect(await evilOrigin.text()).toContain('Invalid Origin header');
    expect((await postInitialize(g.url, { Origin: 'http://evil.example' })).status).toBe(403);
    const evilHost = await fetchWithHost(`${g.url}`, 'evil.example');
    expect(evilHost).toBe(403);
    // the gateway's own origin and a configured one are fine (with CORS headers for the browser)
    const own = await postInitialize(g.url, { ...bearer(key), Origin: g.base });
    expect(own.status).toBe(200);
    const app = await postInitialize(g.url, { ...bearer(key), Origin: 'https://app.example.com' });
    expect(app.status).toBe(200);
    expect(app.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(app.headers.get('access-control-expose-headers')).toContain('Mcp-Session-Id');

    // request size limit: 4 MiB by default
    const large = await fetch(g.url, {
      method: 'POST',
      headers: { ...bearer(key), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ ...INITIALIZE, padding: 'x'.repeat(4 * 1024 * 1024) }),
    });
    expect(large.status).toBe(413);

    // probes: no credential needed
    expect(await (await fetch(`${g.base}/health`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${g.base}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
    // metrics: behind the same credential as /mcp
    const anonymousMetrics = await fetch(`${g.base}/metrics`);
    expect(anonymousMetrics.status).toBe(401);
    expect(anonymousMetrics.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const researcher = await connect(g.url, bearer(key));
    json(await researcher.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: 'counted' } }));
    const metrics = await fetch(`${g.base}/metrics`, { headers: bearer(key) });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    expect(await metrics.text()).toMatch(/agent_mcp_gateway_calls_total\{[^}]*agent="researcher"[^}]*\} 1/);
    // no OAuth here: no protected resource metadata
    expect((await fetch(`${g.base}/.well-known/oauth-protected-resource/mcp`)).status).toBe(404);
    expect((await fetch(`${g.base}/nothing-here`, { headers: bearer(key) })).status).toBe(404);

    // graceful shutdown: sessions and listener closed, exit 0
    expect(await g.stop()).toBe(0);
    expect(g.stderr()).toContain('Shutting down (SIGTERM)');
  });

  it('on a non-loopback address without credentials it refuses to start, unless --allow-unauthenticated', async () => {
    const files = await writeConfig({ notes: demoServer('notes') });
    const refused = await runCli(['--config', files.config, '--transport', 'http', '--host', '0.0.0.0', '--port', '0'], { cwd: files.dir, env: { HOME: files.dir } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('CONFIG_INVALID: Refusing to serve over HTTP on 0.0.0.0 without agent credentials');
    expect(refused.stderr).toContain('--allow-unauthenticated');

    const open = await startHttpGateway({ servers: { notes: demoServer('notes') }, args: ['--host', '0.0.0.0', '--allow-unauthenticated'] });
    expect(open.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/mcp$/);
    const local = open.url.replace('0.0.0.0', '127.0.0.1');
    const client = await connect(local);
    expect(serverNames(await client.call('list_servers'))).toEqual(['notes']);
    // bad flags are usage errors
    expect((await runCli(['--transport', 'ws'])).code).toBe(2);
    expect((await runCli(['--port', 'eighty'])).code).toBe(2);
  });

  describe('with OAuth access tokens (the gateway as a protected resource)', () => {
    const GATEWAY_CLIENT = { id: 'gateway', secret: 'gateway-secret' };
    const AGENT_CLIENT = { id: 'researcher', secret: 'researcher-secret' };

    async function tokenFor(as: AuthorizationServer, client: { id: string; secret: string }, resource: string): Promise<string> {
      const metadata = (await (await fetch(`${as.issuer}/.well-known/oauth-authorization-server`)).json()) as { token_endpoint: string };
      const response = await fetch(metadata.token_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource }),
      });
      const body = (await response.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
      return body.access_token;
    }

    it('accepts a JWT for its own audience, refuses another audience, and never passes a caller credential downstream', async () => {
      const confidential = (c: { id: string; secret: string }) => ({
        client_id: c.id,
        client_secret: c.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      });
      const as = await startAuthorizationServer({ preRegisteredClients: [confidential(GATEWAY_CLIENT), confidential(AGENT_CLIENT)] });
      cleanup.push(() => as.close());
      const notion = await startProtectedMcpServer({ authorizationServer: as, name: 'notion' });
      cleanup.push(() => notion.close());
      const apiKey = newKey();
      const g = await startHttpGateway({
        servers: {
          notion: { url: notion.url, auth: { type: 'client_credentials', clientId: GATEWAY_CLIENT.id, clientSecret: GATEWAY_CLIENT.secret } },
          notes: demoServer('notes'),
        },
        rules: {
          agents: {
            researcher: { allow: { servers: ['*'] } },
            ops: { allow: { servers: ['notion'] }, api_keys: [hashOf(apiKey)] },
          },
        },
        settings: { http: { auth: { issuer: as.issuer } } },
      });
      const metadataUrl = `${g.base}/.well-known/oauth-protected-resource/mcp`;

      // RFC 9728 metadata for the gateway itself; challenges point at it
      const metadata = await fetch(metadataUrl);
      expect(metadata.status).toBe(200);
      expect(await metadata.json()).toMatchObject({ resource: g.url, authorization_servers: [as.issuer], bearer_methods_supported: ['header'] });
      const anonymous = await postInitialize(g.url);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadataUrl}"`);

      // a token for the gateway's resource URL: accepted; its `sub` (client id here) is the agent
      const token = await tokenFor(as, AGENT_CLIENT, g.url);
      const researcher = await connect(g.url, bearer(token));
      expect(serverNames(await researcher.call('list_servers'))).toEqual(['notion', 'notes']);
      expect(json(await researcher.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'via jwt' } }))).toEqual({ text: 'via jwt' });
      expect(errorOf(await researcher.call('list_servers', { agent_id: 'ops' })).code).toBe('INVALID_AGENT_ID');
      // the same token on 2026-07-28 requests (no session): the same agent, the same refusal
      const modern = await connect(g.url, bearer(token), { era: 'modern' });
      expect(serverNames(await modern.call('list_servers'))).toEqual(['notion', 'notes']);
      expect(json(await modern.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'via jwt, 2026' } }))).toEqual({ text: 'via jwt, 2026' });
      expect(errorOf(await modern.call('execute_tool', { agent_id: 'ops', server: 'notion', tool: 'echo', args: { text: 'x' } })).code).toBe('INVALID_AGENT_ID');

      // a token of the same server for another resource: refused
      const foreign = await tokenFor(as, AGENT_CLIENT, notion.url);
      const refused = await postInitialize(g.url, bearer(foreign));
      expect(refused.status).toBe(401);
      const challenge = refused.headers.get('www-authenticate') ?? '';
      expect(challenge).toContain(`resource_metadata="${metadataUrl}"`);
      expect(challenge).toContain('error="invalid_token"');
      expect(challenge).toContain('audience');
      await expect(connect(g.url, bearer(foreign))).rejects.toMatchObject({ status: 401 });

      // API keys work alongside
      const ops = await connect(g.url, bearer(apiKey));
      expect(serverNames(await ops.call('list_servers'))).toEqual(['notion']);
      expect(json(await ops.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'via key' } }))).toEqual({ text: 'via key' });

      // No token passthrough: the downstream saw the gateway's own token (its audience, its client), never a caller's.
      const seen = notion.requests.map((r) => r.headers.authorization).filter((h): h is string => h !== undefined);
      expect(seen.length).toBeGreaterThan(0);
      for (const header of seen) {
        expect(header).not.toContain(token);
        expect(header).not.toContain(apiKey);
        const claims = await as.verifyAccessToken(header.replace(/^Bearer /, ''), notion.url);
        expect(claims.client_id).toBe(GATEWAY_CLIENT.id);
      }
      for (const request of notion.requests) expect(JSON.stringify(request.headers)).not.toContain(token);
    });

    it('a spec-following OAuth client finds the authorization server through the challenge: one gateway behind another', async () => {
      const as = await startAuthorizationServer({
        preRegisteredClients: [{ client_id: 'edge', client_secret: 'edge-secret', grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_basic' }],
      });
      cleanup.push(() => as.close());
      const inner = await startHttpGateway({
        servers: { notes: demoServer('notes'), billing: demoServer('billing') },
        rules: { agents: { edge: { allow: { servers: ['notes'] } } } },
        settings: { http: { auth: { issuer: as.issuer } } },
      });
      // The outer gateway is told nothing but the URL and its client: RFC 9728 discovery from the 401 does the rest.
      const outer = await startGateway({
        servers: { inner: { url: inner.url, auth: { type: 'client_credentials', clientId: 'edge', clientSecret: 'edge-secret' } } },
        env: { GATEWAY_TOKEN_DIR: join(inner.dir, 'outer-tokens') },
      });
      cleanup.unshift(() => outer.close());
      const result = json(await outer.call('execute_tool', { server: 'inner', tool: 'execute_tool', args: { server: 'notes', tool: 'echo', args: { text: 'nested' } } }));
      expect(result).toEqual({ text: 'nested' });
      // the inner gateway acts for the outer one's client id, and its policy holds
      const listed = await outer.call('execute_tool', { server: 'inner', tool: 'list_servers', args: {} });
      expect(json<{ servers: { name: string }[] }>(listed).servers.map((s) => s.name)).toEqual(['notes']);
      expect(as.requests.filter((r) => r.route === 'token').every((r) => r.resource === inner.url)).toBe(true);
    });
  });
});

/** A request with a forged Host header (fetch does not allow setting it): the status code. */
async function fetchWithHost(url: string, host: string): Promise<number> {
  const { request } = await import('node:http');
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { host, 'content-type': 'application/json', accept: 'application/json, text/event-stream' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(INITIALIZE));
  });
}
