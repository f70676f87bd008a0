import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CallbackServer {
  /** `http://127.0.0.1:<port>/callback` */
  readonly redirectUri: string;
  readonly port: number;
  /** The full callback URL (with `code`/`state` or `error`), once the browser arrives. */
  readonly result: Promise<URL>;
  close(): void;
}

const SUCCESS_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Authentication successful</title></head>
<body style="font-family: system-ui, sans-serif; margin: 4rem auto; max-width: 32rem; text-align: center">
<h1>Authentication successful — you can close this window</h1>
<p>agent-mcp-gateway has received the authorization and is finishing the login.</p>
<script>setTimeout(() => window.close(), 1500)</script></body></html>`;

const failurePage = (error: string) => `<!doctype html><html><head><meta charset="utf-8"><title>Authentication failed</title></head>
<body style="font-family: system-ui, sans-serif; margin: 4rem auto; max-width: 32rem; text-align: center">
<h1>Authentication failed</h1><p>The authorization server answered: ${escapeHtml(error)}</p>
<p>Retry the call, or run <code>agent-mcp-gateway auth login</code>.</p></body></html>`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A one-shot loopback server on 127.0.0.1 for the authorization response
 * (RFC 8252 §7.3). The first request to `/callback` with the expected `state`
 * settles `result`; requests with another state are answered 400 and ignored
 * (they are not ours). It closes itself after the callback or `timeoutMs`.
 */
export async function startCallbackServer(options: { port?: number; expectedState: string; timeoutMs: number }): Promise<CallbackServer> {
  const server: Server = createServer();
  let settle!: { resolve: (url: URL) => void; reject: (error: Error) => void };
  const result = new Promise<URL>((resolve, reject) => (settle = { resolve, reject }));
  result.catch(() => undefined); // a caller that gave up must not see an unhandled rejection
  let done = false;
  const finish = () => {
    done = true;
    clearTimeout(timer);
    server.close();
    server.closeAllConnections?.();
  };
  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback' || done) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
      return;
    }
    if (url.searchParams.get('state') !== options.expectedState) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('Unexpected state: this login was not started here, or has already finished.');
      return;
    }
    const error = url.searchParams.get('error');
    res.writeHead(error ? 400 : 200, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
    res.end(error ? failurePage(`${error}${url.searchParams.get('error_description') ? `: ${url.searchParams.get('error_description')}` : ''}`) : SUCCESS_PAGE, () => finish());
    settle.resolve(new URL(url.pathname + url.search, `http://127.0.0.1:${port}`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const timer = setTimeout(() => {
    settle.reject(new Error(`no browser login arrived within ${Math.round(options.timeoutMs / 1000)} s`));
    finish();
  }, options.timeoutMs);
  timer.unref();
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    port,
    result,
    close: () => {
      if (done) return;
      settle.reject(new Error('the login was cancelled'));
      finish();
    },
  };
}
