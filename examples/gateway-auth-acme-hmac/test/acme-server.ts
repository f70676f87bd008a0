/**
 * An Acme MCP server for tests: Streamable HTTP (stateless) on `/mcp` of 127.0.0.1, the demo tools
 * of @agent-mcp-gateway/testing, and every request checked for an Acme-HMAC signature — computed
 * here with node:crypto, independently of the plugin's code. An unsigned or badly signed request
 * gets 401 with `WWW-Authenticate: Acme-HMAC realm="acme"`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { createDemoServer, listenOnLoopback } from '@agent-mcp-gateway/testing';

/** Why a request was let in or not. */
export type Verdict = 'ok' | 'unsigned' | 'malformed' | 'unknown_key' | 'stale' | 'bad_signature';

export interface AcmeRequest {
  readonly method: string;
  readonly path: string;
  readonly keyId: string | undefined;
  readonly verdict: Verdict;
}

export interface AcmeServer {
  /** The MCP endpoint: `http://127.0.0.1:<port>/mcp`. */
  readonly url: string;
  readonly origin: string;
  /** Every request, in order, with its verdict. */
  readonly requests: AcmeRequest[];
  close(): Promise<void>;
}

export interface AcmeServerOptions {
  /** The keys it accepts: key id → secret. */
  readonly keys: Readonly<Record<string, string>>;
  /** How far a request's timestamp may be from the server's clock. Default 300 s. */
  readonly maxSkewSeconds?: number;
}

const AUTHORIZATION = /^Acme-HMAC\s+keyId="([^"]*)",\s*ts="(\d+)",\s*sig="([0-9a-f]{64})"$/;

export async function startAcmeServer(options: AcmeServerOptions): Promise<AcmeServer> {
  const requests: AcmeRequest[] = [];
  const maxSkew = options.maxSkewSeconds ?? 300;

  const check = (req: IncomingMessage): { keyId: string | undefined; verdict: Verdict } => {
    const header = req.headers.authorization;
    if (header === undefined) return { keyId: undefined, verdict: 'unsigned' };
    const match = AUTHORIZATION.exec(header);
    if (!match) return { keyId: undefined, verdict: 'malformed' };
    const [, keyId = '', ts = '', sig = ''] = match;
    const secret = options.keys[keyId];
    if (secret === undefined || !Object.hasOwn(options.keys, keyId)) return { keyId, verdict: 'unknown_key' };
    if (Math.abs(Date.now() / 1000 - Number(ts)) > maxSkew) return { keyId, verdict: 'stale' };
    const expected = createHmac('sha256', secret).update(`${req.method ?? ''}\n${req.url ?? ''}\n${ts}`).digest();
    return { keyId, verdict: timingSafeEqual(expected, Buffer.from(sig, 'hex')) ? 'ok' : 'bad_signature' };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const { keyId, verdict } = check(req);
    requests.push({ method: req.method ?? '', path, keyId, verdict });
    if (path !== '/mcp') return void res.writeHead(404).end();
    if (verdict !== 'ok') {
      res.writeHead(401, { 'www-authenticate': 'Acme-HMAC realm="acme"', 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: `unauthorized: ${verdict}` }, id: null }));
    }
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    // Stateless: a server and a transport per request.
    const mcp = createDemoServer({ name: 'acme', log: () => undefined, exit: () => undefined });
    const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString('utf8')));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const port = await listenOnLoopback(server);
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/mcp`,
    origin,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
