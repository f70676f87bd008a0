/**
 * `AuthStrategy.observe`: the auth fetch shows the strategy every answer (status and headers) before a
 * challenge is handled, so that a DPoP strategy can take a server's nonce from a 401 `use_dpop_nonce`
 * and sign the retry with it. Against a real HTTP server on 127.0.0.1.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type AuthChallenge, type AuthRequest, type AuthResponse, type AuthStrategy } from '@agent-mcp-gateway/core';
import { createAuthFetch } from '../src/auth-fetch.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe('createAuthFetch and AuthStrategy.observe', () => {
  it('shows every answer to the strategy before onChallenge; the retry carries what it learnt', async () => {
    const seen: string[] = [];
    server = createServer((req, res) => {
      seen.push(String(req.headers['x-nonce'] ?? '-'));
      if (req.headers['x-nonce'] !== 'n1') {
        res.writeHead(401, { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n1' }).end();
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'dpop-nonce': 'n2' }).end('ok');
      }
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;

    const events: string[] = [];
    let nonce: string | undefined;
    const auth: AuthStrategy = {
      kind: 'test',
      headers: async (request: AuthRequest): Promise<Record<string, string>> => {
        events.push(`headers ${request.method} ${request.url}`);
        return nonce ? { 'X-Nonce': nonce } : {};
      },
      observe: (response: AuthResponse, request: AuthRequest) => {
        events.push(`observe ${response.status} ${request.method}`);
        nonce = response.headers.get('dpop-nonce') ?? nonce;
      },
      onChallenge: async (challenge: AuthChallenge) => {
        events.push(`challenge ${challenge.scheme} ${challenge.error ?? ''}`);
        return nonce ? 'retry' : 'fail';
      },
      status: () => ({ kind: 'test', state: 'ok' }),
    };
    const fetchWithAuth = createAuthFetch({ baseHeaders: {}, auth, logger: createLogger({ level: 'error', stream: new PassThrough() }) });
    const response = await fetchWithAuth(url, { method: 'POST', body: '{}' });
    expect(await response.text()).toBe('ok');
    expect(events).toEqual([`headers POST ${url}`, 'observe 401 POST', 'challenge DPoP use_dpop_nonce', `headers POST ${url}`, 'observe 200 POST']);
    expect(seen).toEqual(['-', 'n1']);
    expect(nonce).toBe('n2'); // a nonce on a successful answer is seen too (RFC 9449 §8.2)
  });
});
