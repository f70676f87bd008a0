/**
 * Real HTTP MCP servers for tests of HTTP downstreams: the demo server (see
 * ./demo-server.ts) behind the SDK's Streamable HTTP and/or legacy HTTP+SSE
 * server transports, on plain `node:http`, listening on 127.0.0.1 only.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { NodeStreamableHTTPServerTransport, toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import { SSEServerTransport } from '@modelcontextprotocol/server-legacy/sse';
import { createMcpHandler, isInitializeRequest, isLegacyRequest } from '@modelcontextprotocol/server';
import type { McpServer } from '@modelcontextprotocol/server';
import { createDemoServer } from './demo-server.js';
import { listenOnLoopback } from './listen.js';

/** Which MCP HTTP transport(s) {@link startHttpMcpServer} serves. */
export type HttpMcpServerMode = 'streamable' | 'sse' | 'both';

/**
 * Which protocol era(s) the Streamable HTTP endpoint speaks:
 * - `2025` (default): 2025-era only (`initialize`, stateful sessions);
 * - `2026`: 2026-07-28 only (stateless, `server/discover`; 2025-era requests are refused with the
 *   unsupported-protocol-version error: the SDK's `createMcpHandler(…, { legacy: 'reject' })`);
 * - `both`: 2026-07-28 requests go to the modern handler, the rest to the 2025 sessions.
 */
export type HttpMcpServerEra = '2025' | '2026' | 'both';

export interface HttpMcpServerOptions {
  /** `serverInfo.name` of every session's demo server. Default `demo`. */
  name?: string;
  /** Port on 127.0.0.1. Default 0 (an ephemeral port; read it from `port`/`url`). */
  port?: number;
  /** Path of the MCP endpoint. Default `/mcp`. */
  path?: string;
  /**
   * - `streamable` (default): Streamable HTTP (stateful sessions) on `path`.
   * - `sse`: legacy HTTP+SSE (protocol 2024-11-05): GET `path` opens the stream, POST
   *   `/messages?sessionId=…` delivers messages; POST `path` answers 405.
   * - `both`: Streamable HTTP on `path`, legacy HTTP+SSE on `/sse` + `/messages`.
   */
  mode?: HttpMcpServerMode;
  /** The protocol era(s) of the Streamable HTTP endpoint (see {@link HttpMcpServerEra}). Default `2025`; `sse` mode takes `2025` only. */
  era?: HttpMcpServerEra;
  /**
   * With `era: '2026'`: a 2025-era POST (an `initialize`, say) is refused as the wrong era before
   * `bearer` is checked, so it never draws a 401 — a server that parses before it authenticates.
   * Default false (credentials first).
   */
  rejectLegacyBeforeAuth?: boolean;
  /** `ttlMs` of the 2026-07-28 `tools/list` results (see `DemoServerOptions.toolsTtlMs`). Default: the SDK's, `0`. */
  toolsTtlMs?: number;
  /**
   * When set, every request to an MCP endpoint must carry `Authorization: Bearer <token>`
   * with this token (or one the function accepts); otherwise 401 with a `WWW-Authenticate`
   * challenge. A function may also answer with a {@link BearerRejection} (e.g. 403
   * `insufficient_scope`), and may be async.
   */
  bearer?: string | ((token: string, request: BearerRequest) => BearerVerdict | Promise<BearerVerdict>);
  /**
   * Instead of `bearer`: decides every request to an MCP endpoint from its raw headers (a scheme other than
   * Bearer, e.g. DPoP: see ./dpop-server.ts). `true` lets it through; a refusal is sent as it is.
   */
  authorize?: (req: IncomingMessage, request: AuthorizeRequest) => Promise<true | AuthorizeRefusal>;
  /**
   * Headers every request to an MCP endpoint must carry with exactly these values
   * (names are case-insensitive); otherwise 400. Checked after `bearer`.
   */
  requiredHeaders?: Record<string, string>;
  /** When set, added as `resource_metadata="…"` to the 401 challenge (RFC 9728). */
  resourceMetadataUrl?: string;
  /**
   * Serve RFC 9728 protected resource metadata for the MCP endpoint (`resource` = `url`) and
   * put its URL into every challenge (instead of `resourceMetadataUrl`).
   */
  protectedResource?: ProtectedResourceOptions;
  /** Receives the demo tools' diagnostic lines (e.g. `sleep started 500`). Default: discarded. */
  log?: (line: string) => void;
}

/** What a `bearer` function learns about the request. */
export interface BearerRequest {
  /** The parsed JSON-RPC message (or batch) of a POST; undefined for GET and DELETE. */
  message: unknown;
  /** The MCP endpoint URL, i.e. the resource this server is (the expected token audience). */
  resource: string;
}

/** What an `authorize` function learns about the request besides its headers. */
export interface AuthorizeRequest extends BearerRequest {
  method: string;
}

/** An `authorize` function's refusal: status, headers (the challenge) and JSON body. */
export interface AuthorizeRefusal {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** A refusal by a `bearer` function: 401 (`invalid_token` by default) or 403 (`insufficient_scope` by default). */
export interface BearerRejection {
  status: 401 | 403;
  /** `error` of the challenge and body. */
  error?: string;
  /** `scope` of the challenge: the scopes the request needs. */
  scope?: string;
  /** `error_description` of the body. */
  description?: string;
}

/** `true` lets the request through; `false` is a plain 401 `invalid_token`. */
export type BearerVerdict = boolean | BearerRejection;

/** RFC 9728 metadata served by {@link startHttpMcpServer}. */
export interface ProtectedResourceOptions {
  /** `authorization_servers`: issuer URLs. */
  authorizationServers: string[];
  /** `scopes_supported`; omitted from the document when undefined or empty. */
  scopesSupported?: string[];
  /** `scope` added to every 401 challenge (the scopes a client should ask for). Default: none. */
  challengeScope?: string;
  /**
   * Where the document is served: `path` = `/.well-known/oauth-protected-resource<MCP path>`,
   * `root` = `/.well-known/oauth-protected-resource`, `both` (default). The challenge points
   * at the path-aware URL unless only `root` is served.
   */
  serveAt?: 'both' | 'path' | 'root';
  /** Further members of the document (e.g. `dpop_bound_access_tokens_required`). */
  extra?: Record<string, unknown>;
}

/** One HTTP request the server received. */
export interface RecordedRequest {
  method: string;
  /** URL path without the query string, e.g. `/mcp` or `/messages`. */
  path: string;
  /** Query string including the leading `?`, or `''`. */
  search: string;
  /** Request headers; names lower-cased, repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** Response status, set once the response headers are sent (0 until then). */
  status: number;
  /** The JSON-RPC method(s) of a POST body, comma-joined for a batch (e.g. `server/discover`, `initialize`). */
  rpcMethod?: string;
}

export interface HttpMcpServer {
  /** The MCP endpoint, e.g. `http://127.0.0.1:PORT/mcp` (in `sse` mode the SSE stream URL). */
  url: string;
  /** The legacy SSE stream URL (`sse`: same as `url`; `both`: `…/sse`; `streamable`: undefined). */
  sseUrl?: string;
  /** URL of the RFC 9728 metadata named in challenges (with `protectedResource`, or as given in `resourceMetadataUrl`). */
  resourceMetadataUrl?: string;
  port: number;
  /** Every request received so far, oldest first, including rejected ones. */
  requests: RecordedRequest[];
  /**
   * Forgets and closes every session (as a restarted server would), so the next request
   * carrying an old session id gets 404 (Streamable HTTP) and open streams end.
   */
  expireSessions(): void;
  /** Closes every session and transport, drops all connections and stops listening. */
  close(): Promise<void>;
}

/** RFC 9728 well-known prefix; the path-aware variant appends the resource's path. */
const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource';
/** Path of the legacy transport's message endpoint. */
const MESSAGES_PATH = '/messages';
/** Path of the legacy SSE stream in `both` mode. */
const BOTH_SSE_PATH = '/sse';
const MAX_BODY_BYTES = 4 * 1024 * 1024;

interface Session {
  server: McpServer;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** A JSON-RPC error response without an id, as the SDK's transports send for HTTP-level failures. */
function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string, headers?: Record<string, string>): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `Payload Too Large: body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'Parse error: Invalid JSON');
  }
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), if any. */
function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(headerValue(req, 'authorization') ?? '');
  return match?.[1];
}

/** Records the status of `res` as soon as its headers go out (every path ends in `writeHead`). */
function recordStatus(res: ServerResponse, record: RecordedRequest): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    const result = (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    record.status = this.statusCode;
    return result;
  } as ServerResponse['writeHead'];
  res.once('close', () => {
    if (record.status === 0 && res.headersSent) record.status = res.statusCode;
  });
}

/**
 * Starts a real HTTP MCP server (the demo server, one instance per session) on
 * 127.0.0.1. See {@link HttpMcpServerOptions} for the modes and checks.
 *
 * The demo `crash` tool does not exit the process here: it drops every connection
 * and forgets every session, as if the server had crashed and restarted.
 */
export async function startHttpMcpServer(options: HttpMcpServerOptions = {}): Promise<HttpMcpServer> {
  const mode = options.mode ?? 'streamable';
  const era = options.era ?? '2025';
  if (mode === 'sse' && era !== '2025') throw new TypeError(`era ${era} needs Streamable HTTP: the legacy HTTP+SSE transport is 2025-era only`);
  const mcpPath = options.path ?? '/mcp';
  if (!mcpPath.startsWith('/')) throw new TypeError(`path must start with "/": ${mcpPath}`);
  const ssePath = mode === 'sse' ? mcpPath : mode === 'both' ? BOTH_SSE_PATH : undefined;
  const streamablePath = mode === 'sse' ? undefined : mcpPath;
  const messagesPath = ssePath === undefined ? undefined : MESSAGES_PATH;
  const taken = [streamablePath, ssePath, messagesPath].filter((p) => p !== undefined);
  if (new Set(taken).size !== taken.length) {
    throw new TypeError(`path ${mcpPath} collides with the legacy SSE endpoints (${BOTH_SSE_PATH}, ${MESSAGES_PATH})`);
  }
  const log = options.log ?? ((): void => {});
  const requiredHeaders = Object.entries(options.requiredHeaders ?? {}).map(([name, value]) => [name.toLowerCase(), value] as const);
  const bearer = options.bearer;
  const verify =
    bearer === undefined
      ? undefined
      : typeof bearer === 'string'
        ? (token: string): BearerVerdict => token === bearer
        : bearer;
  const protectedResource = options.protectedResource;
  const serveAt = protectedResource?.serveAt ?? 'both';
  const metadataPaths =
    protectedResource === undefined
      ? []
      : [
          ...(serveAt === 'root' ? [] : [`${PROTECTED_RESOURCE_PATH}${mcpPath}`]),
          ...(serveAt === 'path' ? [] : [PROTECTED_RESOURCE_PATH]),
        ];

  const requests: RecordedRequest[] = [];
  /** Streamable HTTP sessions by `mcp-session-id`. */
  const streamableSessions = new Map<string, Session & { transport: NodeStreamableHTTPServerTransport }>();
  /** Legacy SSE sessions by the `sessionId` query parameter. */
  const sseSessions = new Map<string, Session & { transport: SSEServerTransport }>();
  /** Every connected demo server, including those of not (yet) initialised transports. */
  const live = new Set<Session>();
  const closing = new Set<Promise<void>>();

  function track(session: Session): Session {
    live.add(session);
    return session;
  }

  function closeSession(session: Session): void {
    if (!live.delete(session)) return;
    const done = session
      .close()
      .catch(() => {})
      .finally(() => closing.delete(done));
    closing.add(done);
  }

  function expireSessions(): void {
    streamableSessions.clear();
    sseSessions.clear();
    for (const session of [...live]) closeSession(session);
  }

  const newDemoServer = (): McpServer =>
    createDemoServer({
      name: options.name ?? 'demo',
      log,
      ...(options.toolsTtlMs !== undefined && { toolsTtlMs: options.toolsTtlMs }),
      exit: () => {
        expireSessions();
        httpServer.closeAllConnections();
      },
    });

  async function checkAuth(req: IncomingMessage, res: ServerResponse, message: unknown): Promise<boolean> {
    if (options.authorize) {
      const verdict = await options.authorize(req, { message, resource: url, method: req.method ?? 'GET' });
      if (verdict !== true) sendJson(res, verdict.status, verdict.body, verdict.headers);
      return verdict === true;
    }
    if (verify === undefined) return true;
    const token = bearerToken(req);
    const verdict = token === undefined ? undefined : await verify(token, { message, resource: url });
    if (verdict === true) return true;
    const rejection: BearerRejection = typeof verdict === 'object' ? verdict : { status: 401 };
    const error = rejection.error ?? (rejection.status === 403 ? 'insufficient_scope' : token === undefined ? undefined : 'invalid_token');
    const scope = rejection.scope ?? (rejection.status === 401 ? protectedResource?.challengeScope : undefined);
    let challenge = 'Bearer realm="mcp"';
    if (error !== undefined) challenge += `, error="${error}"`;
    if (scope !== undefined) challenge += `, scope="${scope}"`;
    if (resourceMetadataUrl !== undefined) challenge += `, resource_metadata="${resourceMetadataUrl}"`;
    const description =
      rejection.description ??
      (error === undefined
        ? 'Bearer token required'
        : error === 'insufficient_scope'
          ? 'The access token lacks a required scope'
          : 'The access token is invalid');
    sendJson(res, rejection.status, { error: error ?? 'unauthorized', error_description: description }, { 'WWW-Authenticate': challenge });
    return false;
  }

  function sendResourceMetadata(res: ServerResponse): void {
    sendJson(res, 200, {
      resource: url,
      authorization_servers: protectedResource?.authorizationServers ?? [],
      ...(protectedResource?.scopesSupported?.length ? { scopes_supported: protectedResource.scopesSupported } : {}),
      bearer_methods_supported: ['header'],
      ...protectedResource?.extra,
    });
  }

  function checkRequiredHeaders(req: IncomingMessage, res: ServerResponse): boolean {
    for (const [name, value] of requiredHeaders) {
      if (headerValue(req, name) !== value) {
        sendJson(res, 400, { error: 'missing_header', error_description: `Required header ${name} is missing or wrong`, header: name });
        return false;
      }
    }
    return true;
  }

  /** The 2026-07-28 leg: stateless, one demo server per request. */
  const modern = createMcpHandler(() => newDemoServer(), { legacy: 'reject' });
  const modernNode = toNodeHandler(modern);

  async function handleStreamable(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    if (era === '2026') {
      await modernNode(req, res, body);
      return;
    }
    if (era === 'both' && req.method === 'POST' && !(await isLegacyRequest(await toWebRequest(req, body), body))) {
      await modernNode(req, res, body);
      return;
    }
    const method = req.method ?? '';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      sendJsonRpcError(res, 405, -32000, 'Method not allowed.', { Allow: 'GET, POST, DELETE' });
      return;
    }
    const sessionId = headerValue(req, 'mcp-session-id');
    if (sessionId !== undefined) {
      const session = streamableSessions.get(sessionId);
      if (!session) {
        sendJsonRpcError(res, 404, -32001, 'Session not found');
        return;
      }
      await session.transport.handleRequest(req, res, body);
      return;
    }
    const initializing = method === 'POST' && (Array.isArray(body) ? body.some(isInitializeRequest) : isInitializeRequest(body));
    if (!initializing) {
      sendJsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
      return;
    }
    const server = newDemoServer();
    const transport: NodeStreamableHTTPServerTransport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        streamableSessions.set(id, session);
      },
    });
    const session = { server, transport, close: () => server.close() };
    track(session);
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id !== undefined && streamableSessions.get(id) === session) streamableSessions.delete(id);
      live.delete(session);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    // The transport refused the initialize (e.g. 406 for a bad Accept header): nothing can reach it.
    if (transport.sessionId === undefined) closeSession(session);
  }

  async function handleSseStream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'POST' || req.method === 'DELETE') {
      // Tells a Streamable HTTP client to fall back to the legacy transport.
      sendJsonRpcError(res, 405, -32000, 'Method not allowed: this endpoint serves the HTTP+SSE transport (GET).', { Allow: 'GET' });
      return;
    }
    if (req.method !== 'GET') {
      sendJsonRpcError(res, 405, -32000, 'Method not allowed.', { Allow: 'GET' });
      return;
    }
    const server = newDemoServer();
    const transport = new SSEServerTransport(MESSAGES_PATH, res);
    const session = { server, transport, close: () => server.close() };
    track(session);
    sseSessions.set(transport.sessionId, session);
    transport.onclose = () => {
      if (sseSessions.get(transport.sessionId) === session) sseSessions.delete(transport.sessionId);
      live.delete(session);
    };
    await server.connect(transport); // writes the headers and the endpoint event
  }

  async function handleSseMessage(req: IncomingMessage, res: ServerResponse, search: URLSearchParams, body: unknown): Promise<void> {
    if (req.method !== 'POST') {
      sendJsonRpcError(res, 405, -32000, 'Method not allowed.', { Allow: 'POST' });
      return;
    }
    const session = sseSessions.get(search.get('sessionId') ?? '');
    if (!session) {
      sendJsonRpcError(res, 404, -32001, 'Session not found');
      return;
    }
    await session.transport.handlePostMessage(req, res, body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record: RecordedRequest = {
      method: req.method ?? '',
      path: target.pathname,
      search: target.search,
      headers: flattenHeaders(req),
      status: 0,
    };
    requests.push(record);
    recordStatus(res, record);

    const route =
      target.pathname === streamablePath
        ? 'streamable'
        : target.pathname === ssePath
          ? 'sse'
          : target.pathname === messagesPath
            ? 'messages'
            : undefined;
    if (route === undefined) {
      if (metadataPaths.includes(target.pathname) && req.method === 'GET') sendResourceMetadata(res);
      else sendJson(res, 404, { error: 'not_found', error_description: `No MCP endpoint at ${target.pathname}` });
      return;
    }
    // Read before the checks, so a bearer function can see the JSON-RPC method; a bad body
    // is only reported to a request that passed them.
    let body: unknown;
    let bodyError: unknown;
    if (req.method === 'POST' && route !== 'sse') {
      try {
        body = await readJsonBody(req);
        const methods = (Array.isArray(body) ? (body as unknown[]) : [body])
          .map((m) => (typeof m === 'object' && m !== null ? (m as { method?: unknown }).method : undefined))
          .filter((m): m is string => typeof m === 'string');
        if (methods.length > 0) record.rpcMethod = methods.join(',');
      } catch (error) {
        bodyError = error;
      }
    }
    try {
      if (
        options.rejectLegacyBeforeAuth === true &&
        era === '2026' &&
        route === 'streamable' &&
        req.method === 'POST' &&
        bodyError === undefined &&
        (await isLegacyRequest(await toWebRequest(req, body), body))
      ) {
        await modernNode(req, res, body);
        return;
      }
      if (!(await checkAuth(req, res, body)) || !checkRequiredHeaders(req, res)) return;
      if (bodyError !== undefined) throw bodyError;
      if (route === 'streamable') await handleStreamable(req, res, body);
      else if (route === 'sse') await handleSseStream(req, res);
      else await handleSseMessage(req, res, target.searchParams, body);
    } catch (error) {
      if (error instanceof HttpError) {
        sendJsonRpcError(res, error.status, error.status === 400 ? -32700 : -32000, error.message);
      } else if (!res.headersSent) {
        sendJsonRpcError(res, 500, -32603, `Internal error: ${error instanceof Error ? error.message : String(error)}`);
      } else {
        res.destroy(error instanceof Error ? error : undefined);
      }
    }
  }

  const httpServer: Server = createServer((req, res) => void handle(req, res));
  const port = await listenOnLoopback(httpServer, options.port);
  const origin = `http://127.0.0.1:${port}`;
  const url = `${origin}${mcpPath}`;
  const resourceMetadataUrl = metadataPaths[0] !== undefined ? `${origin}${metadataPaths[0]}` : options.resourceMetadataUrl;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      const stopped = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      expireSessions();
      await modern.close().catch(() => undefined);
      await Promise.allSettled([...closing]);
      httpServer.closeAllConnections();
      await stopped;
    })();
    return closed;
  };

  return {
    url,
    ...(ssePath !== undefined ? { sseUrl: `${origin}${ssePath}` } : {}),
    ...(resourceMetadataUrl !== undefined ? { resourceMetadataUrl } : {}),
    port,
    requests,
    expireSessions,
    close,
  };
}
