import { afterEach, describe, expect, it } from 'vitest';
import { Client, SSEClientTransport, StreamableHTTPClientTransport, LATEST_PROTOCOL_VERSION, SdkHttpError } from '@modelcontextprotocol/client';
import { startHttpMcpServer, type HttpMcpServer, type HttpMcpServerOptions } from '../src/index.js';

const WAIT_MS = 5_000;

/** Races `promise` against a timer so no wait in this file is unbounded. */
function within<T>(promise: Promise<T>, label: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const servers: HttpMcpServer[] = [];
const clients: Client[] = [];

afterEach(async () => {
  await within(Promise.allSettled(clients.splice(0).map((client) => client.close())), 'clients to close');
  await within(Promise.all(servers.splice(0).map((server) => server.close())), 'servers to close');
});

async function start(options?: HttpMcpServerOptions): Promise<HttpMcpServer> {
  const server = await within(startHttpMcpServer(options), 'server to listen');
  servers.push(server);
  return server;
}

type ClientTransport = StreamableHTTPClientTransport | SSEClientTransport;

async function connect<T extends ClientTransport>(transport: T): Promise<{ client: Client; transport: T }> {
  const client = new Client({ name: 'http-server-test', version: '0.0.0' });
  clients.push(client);
  await within(client.connect(transport), 'initialize');
  return { client, transport };
}

async function echo(client: Client, text: string): Promise<unknown> {
  const result = await within(client.callTool({ name: 'echo', arguments: { text } }), 'echo');
  return result.structuredContent;
}

const STREAMABLE_HEADERS = {
  'Content-Type': 'application/json',
  Accept: 'application/json, text/event-stream',
  'MCP-Protocol-Version': LATEST_PROTOCOL_VERSION,
};

/** A plain fetch POST of `tools/list`, optionally on an existing session. */
function postToolsList(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return within(
    fetch(url, {
      method: 'POST',
      headers: { ...STREAMABLE_HEADERS, ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    }),
    'fetch',
  );
}

describe('startHttpMcpServer, streamable mode', () => {
  it('listens on 127.0.0.1 with an ephemeral port and serves the demo tools', async () => {
    const server = await start({ name: 'alpha' });
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/mcp`);
    expect(server.sseUrl).toBeUndefined();

    const { client, transport } = await connect(new StreamableHTTPClientTransport(new URL(server.url)));
    expect(client.getServerVersion()?.name).toBe('alpha');
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const { tools } = await within(client.listTools(), 'tools/list');
    expect(tools.map((t) => t.name)).toContain('echo');
    expect(await echo(client, 'hello')).toEqual({ text: 'hello' });
  });

  it('honours a custom path', async () => {
    const server = await start({ path: '/custom/endpoint' });
    expect(server.url).toMatch(/\/custom\/endpoint$/);
    const { client } = await connect(new StreamableHTTPClientTransport(new URL(server.url)));
    expect(await echo(client, 'x')).toEqual({ text: 'x' });
    expect((await postToolsList(server.url.replace('/custom/endpoint', '/mcp'))).status).toBe(404);
  });

  it('records requests with lower-cased header names and their statuses', async () => {
    const server = await start();
    const { client, transport } = await connect(
      new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { 'X-Trace-Id': 'trace-1' } } }),
    );
    await echo(client, 'recorded');

    const [initialize, initialized] = server.requests;
    expect(initialize).toMatchObject({ method: 'POST', path: '/mcp', search: '', status: 200 });
    expect(initialize?.headers['x-trace-id']).toBe('trace-1');
    expect(initialize?.headers['content-type']).toBe('application/json');
    expect(initialize?.headers['mcp-session-id']).toBeUndefined();
    expect(initialized).toMatchObject({ method: 'POST', status: 202 });
    expect(initialized?.headers['mcp-session-id']).toBe(transport.sessionId);
    for (const request of server.requests) {
      for (const name of Object.keys(request.headers)) expect(name).toBe(name.toLowerCase());
    }
    const posts = server.requests.filter((r) => r.method === 'POST');
    expect(posts.length).toBeGreaterThanOrEqual(3); // initialize, notifications/initialized, tools/call
    expect(posts.at(-1)).toMatchObject({ status: 200 });
    expect(posts.at(-1)?.headers['mcp-protocol-version']).toBeDefined();
  });

  it('answers 400 to a non-initialize request without a session and 404 to an unknown session', async () => {
    const server = await start();
    const noSession = await postToolsList(server.url);
    expect(noSession.status).toBe(400);
    expect(await noSession.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });

    const unknown = await postToolsList(server.url, { 'mcp-session-id': 'no-such-session' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' } });

    const get = await within(fetch(server.url, { headers: { Accept: 'text/event-stream', 'mcp-session-id': 'nope' } }), 'GET');
    expect(get.status).toBe(404);
    await get.body?.cancel();
  });

  it('answers 400 with a JSON-RPC parse error to a malformed body', async () => {
    const server = await start();
    const response = await within(fetch(server.url, { method: 'POST', headers: STREAMABLE_HEADERS, body: '{not json' }), 'fetch');
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: -32700 } });
  });

  it('expireSessions makes the next request with the old session id get 404', async () => {
    const server = await start();
    const { client, transport } = await connect(new StreamableHTTPClientTransport(new URL(server.url)));
    await echo(client, 'before');
    const oldSession = transport.sessionId;
    expect(oldSession).toBeDefined();

    // Still valid before expiry.
    const before = await postToolsList(server.url, { 'mcp-session-id': oldSession ?? '' });
    expect(before.status).toBe(200);
    await before.body?.cancel();

    server.expireSessions();

    const after = await postToolsList(server.url, { 'mcp-session-id': oldSession ?? '' });
    expect(after.status).toBe(404);
    expect(await after.json()).toMatchObject({ error: { code: -32001 } });
    expect(server.requests.at(-1)).toMatchObject({ method: 'POST', status: 404 });
    expect(server.requests.at(-1)?.headers['mcp-session-id']).toBe(oldSession);

    // The SDK client sees the 404 too; a new client re-initialises on a fresh session.
    const error = await client.callTool({ name: 'echo', arguments: { text: 'after' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SdkHttpError);
    expect((error as SdkHttpError).status).toBe(404);
    const { client: fresh, transport: freshTransport } = await connect(new StreamableHTTPClientTransport(new URL(server.url)));
    expect(freshTransport.sessionId).not.toBe(oldSession);
    expect(await echo(fresh, 'again')).toEqual({ text: 'again' });
  });

  it('the crash tool does not exit the process: it drops connections and sessions', async () => {
    const server = await start();
    const { client, transport } = await connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const oldSession = transport.sessionId ?? '';
    await expect(within(client.callTool({ name: 'crash', arguments: {} }), 'crash')).rejects.toThrow();
    const after = await postToolsList(server.url, { 'mcp-session-id': oldSession });
    expect(after.status).toBe(404);
  });

  it('close() stops the server; a second close() is harmless', async () => {
    const server = await start();
    await connect(new StreamableHTTPClientTransport(new URL(server.url)));
    await within(server.close(), 'close');
    await within(server.close(), 'second close');
    await expect(postToolsList(server.url)).rejects.toThrow();
  });
});

describe('startHttpMcpServer, sse mode', () => {
  it('serves the legacy HTTP+SSE transport on the same path', async () => {
    const server = await start({ mode: 'sse', name: 'legacy' });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/mcp`);
    expect(server.sseUrl).toBe(server.url);

    const { client } = await connect(new SSEClientTransport(new URL(server.url)));
    expect(client.getServerVersion()?.name).toBe('legacy');
    expect(await echo(client, 'via sse')).toEqual({ text: 'via sse' });

    const stream = server.requests.find((r) => r.method === 'GET');
    expect(stream).toMatchObject({ path: '/mcp', status: 200 });
    expect(stream?.headers.accept).toBe('text/event-stream');
    const messages = server.requests.filter((r) => r.method === 'POST');
    expect(messages.length).toBeGreaterThanOrEqual(3);
    for (const message of messages) {
      expect(message).toMatchObject({ path: '/messages', status: 202 });
      expect(message.search).toMatch(/^\?sessionId=[0-9a-f-]{36}$/);
    }
  });

  it('answers 405 to a POST on the SSE path (so Streamable HTTP clients fall back)', async () => {
    const server = await start({ mode: 'sse' });
    const response = await postToolsList(server.url);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
    await response.body?.cancel();
  });

  it('answers 404 to a message for an unknown or expired session', async () => {
    const server = await start({ mode: 'sse' });
    const { client } = await connect(new SSEClientTransport(new URL(server.url)));
    await echo(client, 'x');
    const endpoint = server.requests.find((r) => r.path === '/messages');
    const messagesUrl = `http://127.0.0.1:${server.port}/messages${endpoint?.search ?? ''}`;
    server.expireSessions();
    const response = await postToolsList(messagesUrl);
    expect(response.status).toBe(404);
    await response.body?.cancel();
  });
});

describe('startHttpMcpServer, both mode', () => {
  it('serves Streamable HTTP on path and legacy SSE on /sse + /messages', async () => {
    const server = await start({ mode: 'both' });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/mcp`);
    expect(server.sseUrl).toBe(`http://127.0.0.1:${server.port}/sse`);

    const { client: streamable } = await connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const { client: legacy } = await connect(new SSEClientTransport(new URL(server.sseUrl ?? '')));
    expect(await echo(streamable, 'one')).toEqual({ text: 'one' });
    expect(await echo(legacy, 'two')).toEqual({ text: 'two' });
    expect(server.requests.some((r) => r.method === 'GET' && r.path === '/sse')).toBe(true);
    expect(server.requests.some((r) => r.method === 'POST' && r.path === '/messages')).toBe(true);
  });

  it('rejects a path that collides with the legacy endpoints', async () => {
    await expect(startHttpMcpServer({ mode: 'both', path: '/sse' })).rejects.toThrow(/collides/);
  });
});

describe('startHttpMcpServer, bearer auth', () => {
  it('answers 401 with a bare challenge when no token is sent', async () => {
    const server = await start({ bearer: 'good' });
    const response = await postToolsList(server.url);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="mcp"');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({ error: expect.any(String) });
    expect(server.requests.at(-1)).toMatchObject({ status: 401 });
  });

  it('answers 401 with error="invalid_token" (and resource_metadata when configured) for a wrong token', async () => {
    const server = await start({ bearer: 'good', resourceMetadataUrl: 'http://127.0.0.1:1/.well-known/oauth-protected-resource' });
    const response = await postToolsList(server.url, { Authorization: 'Bearer bad' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="mcp", error="invalid_token", resource_metadata="http://127.0.0.1:1/.well-known/oauth-protected-resource"',
    );
    expect(await response.json()).toMatchObject({ error: 'invalid_token' });

    const none = await postToolsList(server.url);
    expect(none.headers.get('www-authenticate')).toBe(
      'Bearer realm="mcp", resource_metadata="http://127.0.0.1:1/.well-known/oauth-protected-resource"',
    );
    await none.body?.cancel();
  });

  it('lets a client with the right token through (Streamable HTTP)', async () => {
    const server = await start({ bearer: 'good' });
    const { client } = await connect(
      new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { Authorization: 'Bearer good' } } }),
    );
    expect(await echo(client, 'authorised')).toEqual({ text: 'authorised' });
    expect(server.requests.every((r) => r.headers.authorization === 'Bearer good')).toBe(true);
    expect(server.requests.some((r) => r.status === 401)).toBe(false);
  });

  it('rejects a client without a token', async () => {
    const server = await start({ bearer: 'good' });
    const client = new Client({ name: 'http-server-test', version: '0.0.0' });
    clients.push(client);
    await expect(within(client.connect(new StreamableHTTPClientTransport(new URL(server.url))), 'connect')).rejects.toThrow(/401|nauthorized/);
  });

  it('accepts a predicate and protects the legacy SSE endpoints too', async () => {
    const server = await start({ mode: 'sse', bearer: (token) => token.startsWith('ok-') });
    const stream = await within(fetch(server.url, { headers: { Accept: 'text/event-stream', Authorization: 'Bearer nope' } }), 'GET');
    expect(stream.status).toBe(401);
    await stream.body?.cancel();

    const { client } = await connect(
      new SSEClientTransport(new URL(server.url), { requestInit: { headers: { Authorization: 'Bearer ok-123' } } }),
    );
    expect(await echo(client, 'sse auth')).toEqual({ text: 'sse auth' });
  });
});

describe('startHttpMcpServer, bearer verdicts and protected resource metadata', () => {
  it('hands the bearer function the JSON-RPC message and the resource, and answers its rejections', async () => {
    const seen: unknown[] = [];
    const server = await start({
      bearer: async (token, { message, resource }) => {
        seen.push({ token, method: (message as { method?: string }).method, resource });
        return token === 'reader' ? { status: 403, scope: 'write' } : token === 'ok';
      },
      protectedResource: { authorizationServers: ['http://127.0.0.1:1'], serveAt: 'path', challengeScope: 'read' },
    });
    expect(server.resourceMetadataUrl).toBe(`http://127.0.0.1:${server.port}/.well-known/oauth-protected-resource/mcp`);

    const forbidden = await postToolsList(server.url, { Authorization: 'Bearer reader' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('www-authenticate')).toBe(
      `Bearer realm="mcp", error="insufficient_scope", scope="write", resource_metadata="${server.resourceMetadataUrl}"`,
    );
    expect(await forbidden.json()).toMatchObject({ error: 'insufficient_scope' });
    expect(seen).toEqual([{ token: 'reader', method: 'tools/list', resource: server.url }]);

    const none = await postToolsList(server.url);
    expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="mcp", scope="read", resource_metadata="${server.resourceMetadataUrl}"`);
    await none.body?.cancel();

    const metadata = await within(fetch(server.resourceMetadataUrl ?? ''), 'metadata');
    expect(await metadata.json()).toEqual({
      resource: server.url,
      authorization_servers: ['http://127.0.0.1:1'],
      bearer_methods_supported: ['header'],
    });
    const root = await within(fetch(`http://127.0.0.1:${server.port}/.well-known/oauth-protected-resource`), 'root metadata');
    expect(root.status).toBe(404);
    await root.body?.cancel();

    const { client } = await connect(
      new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { Authorization: 'Bearer ok' } } }),
    );
    expect(await echo(client, 'verdict')).toEqual({ text: 'verdict' });
  });
});

describe('startHttpMcpServer, required headers', () => {
  it('answers 400 when a required header is missing or wrong, and serves clients that send it', async () => {
    const server = await start({ requiredHeaders: { 'X-Api-Key': 'k1' } });
    const missing = await postToolsList(server.url);
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ header: 'x-api-key' });
    const wrong = await postToolsList(server.url, { 'x-api-key': 'k2' });
    expect(wrong.status).toBe(400);
    await wrong.body?.cancel();

    const { client } = await connect(
      new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { 'X-Api-Key': 'k1' } } }),
    );
    expect(await echo(client, 'with key')).toEqual({ text: 'with key' });
  });
});
