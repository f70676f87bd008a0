/**
 * The gateway over Streamable HTTP: one `node:http` listener, the MCP endpoint on `/mcp` for both
 * protocol eras — 2026-07-28 requests statelessly (each request self-contained, one SDK `Server` per
 * request: any instance on the same config can answer it), 2025 clients with their `initialize`
 * handshake and sessions (one SDK `Server` per session), all over one `Gateway` — DNS-rebinding protection
 * (Host and Origin checks), a request size limit, `/health`, `/ready`, `/metrics`, RFC 9728
 * metadata when OAuth access tokens are accepted, and per-agent credentials (./http-auth.ts).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeStreamableHTTPServerTransport, toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import { createMcpHandler, isInitializeRequest, isJsonContentType, isLegacyRequest } from '@modelcontextprotocol/server';
import type { Server as McpServer, AuthInfo } from '@modelcontextprotocol/server';
import {
  GatewayError,
  InteractionStateCodec,
  createGatewayServer,
  defaultInteractionState,
  isLoopbackHost,
  type Gateway,
  type Logger,
} from '@agent-mcp-gateway/core';
import type { HttpServeSettings } from './settings.js';
import { CallerAuth } from './http-auth.js';

/** The path of the MCP endpoint. */
export const MCP_PATH = '/mcp';
const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource';
/** A session nobody used for this long (and with no request open) is closed. */
const SESSION_IDLE_MS = 30 * 60_000;
const SESSION_SWEEP_MS = 60_000;
/** After the listener stops accepting, connections still open get this long before they are cut. */
const CONNECTION_GRACE_MS = 1_000;

function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** `::1` → `[::1]` (URL and Host header form). */
function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Options of {@link startHttpServer}. */
export interface HttpServeOptions {
  /** The gateway every session serves; not started yet (the caller starts it, then calls `markReady()`). */
  readonly gateway: Gateway;
  /** Parsed settings (`HttpServeSettingsSchema.parse(…)`): address, allowed hosts and origins, limits, JWT access tokens. */
  readonly settings: HttpServeSettings;
  /** Adds `get_gateway_status` to every session's server. */
  readonly debug: boolean;
  /** `--allow-unauthenticated` (or the setting): serve a non-loopback address without credentials. */
  readonly allowUnauthenticated: boolean;
  readonly logger: Logger;
}

/** A listening gateway: its URLs, readiness, and how to stop it. */
export interface GatewayHttpServer {
  /** The MCP endpoint as bound, e.g. `http://127.0.0.1:PORT/mcp`. */
  readonly url: string;
  /** The resource URL (`publicUrl` + `/mcp`, else {@link url}): the default token audience. */
  readonly resourceUrl: string;
  readonly port: number;
  /** `/ready` answers 200 from now on (until {@link close}). */
  markReady(): void;
  /** Open MCP sessions (2025 clients). */
  sessionCount(): number;
  /** 2026-07-28 requests being answered now (they have no session). */
  inFlightCount(): number;
  /** `/ready` turns 503, sessions close, the listener stops; connections still open after a grace period are cut. */
  close(): Promise<void>;
}

/**
 * Refuses settings that would serve without protection by accident: a non-loopback address
 * without any credential (unless allowed), and JWT settings whose audience is a wildcard address.
 * @throws GatewayError CONFIG_INVALID
 */
export function checkHttpServeSettings(options: { settings: HttpServeSettings; hasApiKeys: boolean; allowUnauthenticated: boolean }): void {
  const { settings } = options;
  const credentials = options.hasApiKeys || settings.auth !== undefined;
  if (!credentials && !isLoopbackHost(settings.host) && !options.allowUnauthenticated) {
    throw new GatewayError(
      'CONFIG_INVALID',
      `Refusing to serve over HTTP on ${settings.host} without agent credentials: anyone who reaches it could act as any agent. ` +
        `Give agents API keys (agents.<id>.api_keys in the rules file) or accept OAuth access tokens (http.auth in the settings); ` +
        `or bind to 127.0.0.1; or pass --allow-unauthenticated if a proxy in front authenticates callers`,
      { path: 'http.host' },
    );
  }
  if (settings.auth && settings.auth.audience === undefined && settings.publicUrl === undefined && isWildcardHost(settings.host)) {
    throw new GatewayError(
      'CONFIG_INVALID',
      `http.auth needs http.publicUrl (or http.auth.audience) when listening on ${settings.host}: the token audience is the URL clients reach the gateway at`,
      { path: 'http.publicUrl' },
    );
  }
}

interface Session {
  readonly transport: NodeStreamableHTTPServerTransport;
  readonly server: McpServer;
  /** The agent whose credential opened the session (undefined: unauthenticated listener). */
  readonly principal: string | undefined;
  lastSeen: number;
  /** Requests of this session still being answered (an open SSE stream counts). */
  open: number;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Starts listening and returns the bound listener; `/mcp` answers 503 until `markReady()`. The
 * lower-level step of {@link serveGateway} for callers that order things themselves (the CLI starts its
 * config watcher in between): listen, start the gateway, `markReady()`. It does not check the
 * settings — call {@link checkHttpServeSettings} first.
 * @throws GatewayError `CONFIG_INVALID` when the address cannot be bound.
 */
export async function startHttpServer(options: HttpServeOptions): Promise<GatewayHttpServer> {
  const { gateway, settings, logger } = options;
  const sessions = new Map<string, Session>();
  let inFlight = 0;
  let ready = false;
  let stopping = false;

  const httpServer: HttpServer = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpProblem ? error.status : 500;
      if (status === 500) logger.error(`HTTP ${req.method} ${req.url}: ${error instanceof Error ? error.message : String(error)}`);
      sendRpcError(res, status, status === 500 || !(error instanceof Error) ? 'Internal error' : error.message);
    });
  });
  // Open SSE streams must not be cut by the default timeouts; idle keep-alive sockets still are.
  httpServer.requestTimeout = 0;

  const port = await listen(httpServer, settings.port, settings.host);
  const bound = `http://${hostForUrl(settings.host)}:${port}`;
  const url = `${bound}${MCP_PATH}`;
  const origin = settings.publicUrl !== undefined ? new URL(settings.publicUrl).origin : bound;
  const resourceUrl = `${origin}${MCP_PATH}`;
  const resourceMetadataUrl = `${origin}${PROTECTED_RESOURCE_PATH}${MCP_PATH}`;
  // Set before the first request can be handled (that is a later event than this continuation).
  const hosts = allowedHosts(settings, port);
  const hostAllowed = hosts.matches;
  const originAllowed = allowedOrigins(settings, hosts.exact);
  const auth = new CallerAuth({
    rules: () => gateway.config.rules,
    ...(settings.auth && { jwt: settings.auth }),
    resourceUrl,
    resourceMetadataUrl,
    openWhenUnconfigured: isLoopbackHost(settings.host) || options.allowUnauthenticated,
    logger,
  });
  if (!auth.configured()) {
    logger.warn(`HTTP serving without agent credentials: any caller that reaches ${url} may act as any agent`);
  }

  // 2026-07-28 traffic: strict modern handler (2025 traffic never reaches it: it takes the sessionful path
  // below, which keeps server-to-client requests possible). One gateway Server per request; the caller's
  // credential travels as `req.auth` → the handler's `ctx.http.authInfo`, as on a session.
  // One sealing key for the interactive calls' state, shared by every instance configured with it.
  if (settings.stateKey !== undefined) gateway.redactor.add(settings.stateKey);
  const interactionState = settings.stateKey !== undefined ? new InteractionStateCodec(settings.stateKey) : defaultInteractionState();
  const serverOptions = { debug: options.debug, interactionState };
  const modern = createMcpHandler(() => createGatewayServer(gateway, serverOptions), {
    legacy: 'reject',
    onerror: (error) => logger.debug(`HTTP 2026-07-28 request: ${error.message}`),
  });
  const modernNode = toNodeHandler(modern, {
    maxRequestBodySize: settings.maxBodyBytes,
    onerror: (error) => logger.error(`HTTP 2026-07-28 request: ${error.message}`),
  });

  const sweep = setInterval(() => {
    const idleSince = Date.now() - SESSION_IDLE_MS;
    for (const [id, session] of sessions) {
      if (session.open === 0 && session.lastSeen < idleSince) {
        sessions.delete(id);
        logger.debug(`Closing idle session ${id}`);
        void session.server.close().catch(() => undefined);
      }
    }
  }, SESSION_SWEEP_MS);
  sweep.unref();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://gateway.invalid').pathname;
    // Probes: no credentials, no Host check (load balancers and orchestrators use addresses), nothing revealed.
    if (path === '/health') return sendJson(res, 200, { status: 'ok' });
    if (path === '/ready') {
      const state = stopping ? 'stopping' : ready ? 'ready' : 'starting';
      return sendJson(res, state === 'ready' ? 200 : 503, { status: state, sessions: sessions.size, inFlight });
    }

    // DNS-rebinding protection: a page on another site that resolves to this address is refused here.
    if (!hostAllowed(req.headers.host)) throw new HttpProblem(403, `Invalid Host header: ${req.headers.host ?? '(none)'}`);
    const requestOrigin = req.headers.origin;
    if (requestOrigin !== undefined) {
      if (!originAllowed(requestOrigin)) throw new HttpProblem(403, `Invalid Origin header: ${requestOrigin}`);
      addCorsHeaders(res, requestOrigin);
      if (req.method === 'OPTIONS') {
        res.writeHead(204).end();
        return;
      }
    }

    if (path === PROTECTED_RESOURCE_PATH || path === `${PROTECTED_RESOURCE_PATH}${MCP_PATH}`) {
      const metadata = auth.metadata();
      if (!metadata) throw new HttpProblem(404, 'This gateway does not accept OAuth access tokens');
      res.setHeader('Cache-Control', 'max-age=3600');
      return sendJson(res, 200, metadata);
    }
    if (path === '/metrics') {
      // What the gateway's plugins export on the `metrics` hook (MetricsPlugin, in the CLI's composition).
      if (!settings.publicMetrics && !(await authorize(req, res))) return;
      if (!gateway.hooks.metrics.isUsed()) throw new HttpProblem(404, 'No plugin of this gateway exports metrics');
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(gateway.hooks.metrics.call(''));
      return;
    }
    if (path !== MCP_PATH) throw new HttpProblem(404, 'Not found');
    if (!ready || stopping) {
      res.setHeader('Retry-After', '1');
      throw new HttpProblem(503, stopping ? 'The gateway is shutting down' : 'The gateway is starting');
    }
    const verdict = await authorize(req, res);
    if (!verdict) return;
    if (verdict.auth) (req as IncomingMessage & { auth?: AuthInfo }).auth = verdict.auth;
    await handleMcp(req, res, verdict.agent);
  }

  /** Checks the request's credential; on refusal answers it (401 with a challenge, 403, 503) and returns undefined. */
  async function authorize(req: IncomingMessage, res: ServerResponse): Promise<{ agent: string | undefined; auth: AuthInfo | undefined } | undefined> {
    const verdict = await auth.authenticate(req.headers.authorization);
    if (verdict.ok) return { agent: verdict.agent, auth: verdict.auth };
    logger.debug(`HTTP ${req.method} ${req.url}: refused (${verdict.status} ${verdict.error ?? 'no credential'})`);
    if (verdict.status === 401 || verdict.status === 403) {
      res.setHeader('WWW-Authenticate', auth.challenge(verdict.error ? { error: verdict.error, description: verdict.description } : {}));
    } else res.setHeader('Retry-After', '5');
    sendJson(res, verdict.status, { error: verdict.error ?? 'invalid_token', error_description: verdict.description });
    return undefined;
  }

  async function handleMcp(req: IncomingMessage, res: ServerResponse, principal: string | undefined): Promise<void> {
    const method = req.method ?? 'GET';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      res.setHeader('Allow', 'GET, POST, DELETE');
      throw new HttpProblem(405, 'Method not allowed');
    }
    const body = method === 'POST' ? await readJsonBody(req, res, settings.maxBodyBytes) : undefined;
    if (body === TOO_LARGE) return;
    if (method === 'POST' && !(await isLegacyRequest(await toWebRequest(req, body), body))) return serveModern(req, res, body);
    const sessionId = header(req, 'mcp-session-id');
    if (sessionId === undefined) {
      if (method !== 'POST' || !isInitializeRequest(body)) throw new HttpProblem(400, 'Bad Request: No valid session ID provided');
      return openSession(req, res, body, principal);
    }
    const session = sessions.get(sessionId);
    // A session belongs to the agent that opened it: another credential does not find it.
    if (!session || session.principal !== principal) {
      sendRpcError(res, 404, 'Session not found', -32001);
      return;
    }
    await serve(session, req, res, body);
  }

  /** A 2026-07-28 request (it carries the per-request `_meta` envelope): the stateless handler answers it. */
  async function serveModern(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    if (!isJsonContentType(header(req, 'content-type'))) throw new HttpProblem(415, 'Unsupported Media Type: Content-Type must be application/json');
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
    });
    await modernNode(req, res, body);
  }

  async function openSession(req: IncomingMessage, res: ServerResponse, body: unknown, principal: string | undefined): Promise<void> {
    const server = createGatewayServer(gateway, serverOptions);
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, session);
        logger.debug(`Session ${id} opened${principal ? ` for agent ${principal}` : ''}`);
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
      },
    });
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id !== undefined && sessions.get(id) === session) sessions.delete(id);
    };
    const session: Session = { transport, server, principal, lastSeen: Date.now(), open: 0 };
    await server.connect(transport);
    await serve(session, req, res, body);
    // An initialize the transport refused leaves no session behind.
    if (transport.sessionId === undefined) await server.close().catch(() => undefined);
  }

  async function serve(session: Session, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    session.open += 1;
    session.lastSeen = Date.now();
    res.once('close', () => {
      session.open -= 1;
      session.lastSeen = Date.now();
    });
    await session.transport.handleRequest(req, res, body);
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    resourceUrl,
    port,
    markReady: () => {
      if (!stopping) ready = true;
    },
    sessionCount: () => sessions.size,
    inFlightCount: () => inFlight,
    close: () => {
      closing ??= (async () => {
        stopping = true;
        ready = false;
        clearInterval(sweep);
        const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        const open = [...sessions.values()];
        sessions.clear();
        await Promise.allSettled([...open.map((s) => s.server.close()), modern.close()]);
        httpServer.closeIdleConnections();
        const cut = setTimeout(() => httpServer.closeAllConnections(), CONNECTION_GRACE_MS);
        cut.unref();
        await closed;
        clearTimeout(cut);
      })();
      return closing;
    },
  };
}

function listen(server: HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new GatewayError('CONFIG_INVALID', `Cannot listen on ${hostForUrl(host)}:${port}: ${error.code ?? error.message}`, { path: 'http.port' }, { cause: error }),
      );
    };
    server.once('error', onError);
    server.listen(port, host.replace(/^\[(.*)\]$/, '$1'), () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * The Host header values accepted: the bound address and the localhost names with the port,
 * `publicUrl`'s host, and `http.allowedHosts` (`name` for any port, `name:port` exactly; `*`: any).
 */
function allowedHosts(settings: HttpServeSettings, port: number): { matches: (host: string | undefined) => boolean; exact: Set<string> } {
  const exact = new Set<string>();
  const anyPort = new Set<string>();
  const names = ['localhost', '127.0.0.1', '[::1]'];
  if (!isWildcardHost(settings.host)) names.push(hostForUrl(settings.host).toLowerCase());
  for (const name of names) {
    exact.add(`${name}:${port}`);
    if (port === 80) exact.add(name);
  }
  if (settings.publicUrl !== undefined) exact.add(new URL(settings.publicUrl).host.toLowerCase());
  let any = false;
  for (const entry of settings.allowedHosts.map((h) => h.toLowerCase())) {
    if (entry === '*') any = true;
    else if (/:\d+$/.test(entry) && !/^[^[]*:.*:/.test(entry)) exact.add(entry);
    else anyPort.add(entry);
  }
  const matches = (host: string | undefined): boolean => {
    if (any) return true;
    if (host === undefined || host === '') return false;
    const h = host.toLowerCase();
    return exact.has(h) || anyPort.has(h.replace(/:\d+$/, ''));
  };
  return { matches, exact };
}

/** Origins accepted: the gateway's own (http/https on an allowed host), and `http.allowedOrigins` (`*`: any). */
function allowedOrigins(settings: HttpServeSettings, hosts: Set<string>): (origin: string) => boolean {
  const allowed = new Set<string>();
  for (const host of hosts) {
    allowed.add(`http://${host}`);
    allowed.add(`https://${host}`);
  }
  if (settings.publicUrl !== undefined) allowed.add(new URL(settings.publicUrl).origin.toLowerCase());
  const configured = settings.allowedOrigins.map((o) => o.toLowerCase().replace(/\/+$/, ''));
  const any = configured.includes('*');
  for (const origin of configured) allowed.add(origin);
  return (origin) => any || allowed.has(origin.toLowerCase());
}

function addCorsHeaders(res: ServerResponse, origin: string): void {
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Vary', 'Origin');
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID');
  res.setHeader('Access-Control-Expose-Headers', 'Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const TOO_LARGE = Symbol('too large');

/** How much of a too-large body is read and dropped (so the client gets to read the 413) before the connection is cut. */
const DRAIN_FACTOR = 8;

/**
 * The POST body as JSON; 400 when it is not JSON. Past `limit` bytes: 413, answered here. The rest
 * of the body is then read and dropped, up to `DRAIN_FACTOR × limit`: a client still sending would
 * otherwise meet a reset (EPIPE) instead of the answer. Beyond that the connection is cut.
 */
function readJsonBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<unknown> {
  const drainLimit = limit * DRAIN_FACTOR;
  let received = 0;
  const tooLarge = (): typeof TOO_LARGE => {
    sendRpcError(res, 413, `Request body larger than ${limit} bytes`);
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > drainLimit) req.socket.destroy();
    });
    req.resume();
    return TOO_LARGE;
  };
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    if (declared > drainLimit) {
      // Not worth reading: answer and close (the client may see a reset before it reads this).
      res.setHeader('Connection', 'close');
      sendRpcError(res, 413, `Request body larger than ${limit} bytes`);
      return Promise.resolve(TOO_LARGE);
    }
    return Promise.resolve(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      received += chunk.length;
      if (received > limit) {
        over = true;
        chunks.length = 0;
        resolve(tooLarge());
      } else chunks.push(chunk);
    });
    req.once('end', () => {
      if (over) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        reject(new HttpProblem(400, 'Parse error: Invalid JSON'));
      }
    });
    req.once('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A JSON-RPC error body, as the SDK transport answers its own HTTP-level refusals. */
function sendRpcError(res: ServerResponse, status: number, message: string, code?: number): void {
  const rpcCode = code ?? (message.startsWith('Parse error') ? -32700 : -32000);
  sendJson(res, status, { jsonrpc: '2.0', error: { code: rpcCode, message }, id: null });
}
