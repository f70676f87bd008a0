import { connect } from 'node:net';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startCallbackServer, type CallbackServer } from '../src/callback.js';
import { rejectionOf, within } from './helpers.js';

const started: CallbackServer[] = [];
afterEach(() => {
  for (const server of started.splice(0)) server.close();
});

async function callback(options: { expectedState?: string; timeoutMs?: number; port?: number } = {}): Promise<CallbackServer> {
  const server = await startCallbackServer({ expectedState: options.expectedState ?? 'the-state', timeoutMs: options.timeoutMs ?? 10_000, ...(options.port !== undefined && { port: options.port }) });
  started.push(server);
  return server;
}

/** Whether `promise` has settled by now (it is given every pending microtask to do so). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

/** Resolves with 'connected' or the error code of a TCP connection attempt to host:port. */
function tcpProbe(host: string, port: number): Promise<string> {
  return within(
    new Promise<string>((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    }),
    `TCP ${host}:${port}`,
  );
}

describe('startCallbackServer', () => {
  it('answers a wrong state with 400 and ignores it; the right state gets the success page and settles the result', async () => {
    const cb = await callback();
    expect(cb.redirectUri).toBe(`http://127.0.0.1:${cb.port}/callback`);

    const wrong = await fetch(`${cb.redirectUri}?code=evil&state=not-ours`);
    expect(wrong.status).toBe(400);
    await wrong.text();
    expect(await settled(cb.result)).toBe(false);

    const forged = await fetch(`${cb.redirectUri}?error=access_denied&state=not-ours`);
    expect(forged.status).toBe(400);
    await forged.text();
    expect(await settled(cb.result)).toBe(false);

    const other = await fetch(`http://127.0.0.1:${cb.port}/elsewhere?code=c&state=the-state`);
    expect(other.status).toBe(404);
    await other.text();
    expect(await settled(cb.result)).toBe(false);

    const right = await fetch(`${cb.redirectUri}?code=the-code&state=the-state&iss=${encodeURIComponent('http://127.0.0.1:1')}`);
    expect(right.status).toBe(200);
    expect(right.headers.get('content-type')).toMatch(/text\/html/);
    expect(await right.text()).toContain('Authentication successful — you can close this window');
    const url = await within(cb.result, 'callback result');
    expect(url.origin).toBe(`http://127.0.0.1:${cb.port}`);
    expect(url.pathname).toBe('/callback');
    expect(url.searchParams.get('code')).toBe('the-code');
    expect(url.searchParams.get('state')).toBe('the-state');
    expect(url.searchParams.get('iss')).toBe('http://127.0.0.1:1');
  });

  it('is one-shot: after the callback it stops listening', async () => {
    const cb = await callback();
    const first = await fetch(`${cb.redirectUri}?code=c&state=the-state`);
    await first.text();
    await within(cb.result, 'callback result');
    expect(await tcpProbe('127.0.0.1', cb.port)).toBe('ECONNREFUSED');
  });

  it('error=access_denied: the failure page, and the result resolves with the error URL', async () => {
    const cb = await callback();
    const response = await fetch(`${cb.redirectUri}?error=access_denied&error_description=${encodeURIComponent('<b>no</b> thanks')}&state=the-state`);
    const body = await response.text();
    expect(response.status).toBe(400);
    expect(body).toContain('Authentication failed');
    expect(body).toContain('access_denied');
    expect(body).toContain('&#60;b&#62;no&#60;/b&#62; thanks'); // the AS's text is escaped
    expect(body).not.toContain('Authentication successful');
    const url = await within(cb.result, 'callback result');
    expect(url.searchParams.get('error')).toBe('access_denied');
    expect(url.searchParams.has('code')).toBe(false);
  });

  it('times out: the result rejects and the server stops listening', async () => {
    const cb = await callback({ timeoutMs: 100 });
    const error = await rejectionOf(within(cb.result, 'callback timeout', 5_000));
    expect(error.message).toMatch(/no browser login arrived/);
    expect(await tcpProbe('127.0.0.1', cb.port)).toBe('ECONNREFUSED');
  });

  it('close() cancels a waiting login: the result rejects', async () => {
    const cb = await callback();
    cb.close();
    expect((await rejectionOf(within(cb.result, 'cancelled result'))).message).toMatch(/cancelled/);
  });

  it('listens on 127.0.0.1 only (not on another loopback address, not on ::1)', async () => {
    const cb = await callback();
    expect(await tcpProbe('127.0.0.1', cb.port)).toBe('connected');
    // Linux routes all of 127/8 to lo: a server bound to 0.0.0.0 would accept these.
    expect(await tcpProbe('127.0.0.2', cb.port)).not.toBe('connected');
    expect(await tcpProbe('::1', cb.port)).not.toBe('connected');
  });

  it('uses a fixed port when given one', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const cb = await callback({ port });
    expect(cb.port).toBe(port);
    expect(cb.redirectUri).toBe(`http://127.0.0.1:${port}/callback`);
  });
});
