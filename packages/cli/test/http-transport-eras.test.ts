/**
 * transport-http's HttpDownstreamTransport under a v2 SDK client that negotiates the era: it passes
 * the inner transport's `hasPerRequestStream` on (so a 2026-07-28 request is cancelled by closing its
 * stream, not by a `notifications/cancelled` POST) and still falls back to legacy SSE.
 * Real HTTP servers on 127.0.0.1, a real client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/client';
import { silentLogger } from '@agent-mcp-gateway/core';
import { startHttpMcpServer, type HttpMcpServer, type HttpMcpServerOptions } from '@agent-mcp-gateway/testing';
import { HttpDownstreamTransport } from '@agent-mcp-gateway/transport-http';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn().catch(() => undefined);
});

/** A server whose demo-tool lines the test can wait for. */
async function server(options: HttpMcpServerOptions): Promise<HttpMcpServer & { line(text: string): Promise<void> }> {
  const lines: string[] = [];
  const checks = new Set<() => void>();
  const started = await startHttpMcpServer({
    ...options,
    log: (line) => {
      lines.push(line);
      for (const check of [...checks]) check();
    },
  });
  cleanups.push(() => started.close());
  /** Resolves once the server wrote `text` (bounded: 5 s). */
  const line = (text: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        checks.delete(check);
        reject(new Error(`no line "${text}"; got ${JSON.stringify(lines)}`));
      }, 5_000);
      const check = (): void => {
        if (!lines.includes(text)) return;
        checks.delete(check);
        clearTimeout(timer);
        resolve();
      };
      checks.add(check);
      check();
    });
  return Object.assign(started, { line });
}

async function connect(url: string): Promise<{ client: Client; transport: HttpDownstreamTransport }> {
  const transport = new HttpDownstreamTransport({ url: new URL(url), mode: 'http', fetch, logger: silentLogger });
  const client = new Client({ name: 'test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(transport);
  cleanups.unshift(() => client.close());
  return { client, transport };
}

/** Starts a long `sleep`, waits until the server runs it, aborts it, and waits until the server stopped (`ended`). */
async function cancelSleep(s: Awaited<ReturnType<typeof server>>, client: Client, ended: string): Promise<void> {
  const abort = new AbortController();
  const call = client.callTool({ name: 'sleep', arguments: { ms: 30_000 } }, { signal: abort.signal });
  await s.line('sleep started 30000');
  abort.abort();
  await expect(call).rejects.toThrow();
  await s.line(ended);
}

const posted = (s: HttpMcpServer, method: string) => s.requests.filter((r) => r.rpcMethod === method).length;

describe('HttpDownstreamTransport and the protocol era', () => {
  it('2026-07-28: has a per-request stream, and a cancelled call closes its stream (no notifications/cancelled)', async () => {
    const s = await server({ era: '2026' });
    const { client, transport } = await connect(s.url);
    expect(client.getProtocolEra()).toBe('modern');
    expect(transport.hasPerRequestStream).toBe(true);
    // the server's handler stops because its request's stream closed
    await cancelSleep(s, client, 'sleep interrupted: connection closed');
    expect(posted(s, 'notifications/cancelled')).toBe(0);
  });

  it('2025-11-25: the same transport cancels with notifications/cancelled, as the 2025 spec has it', async () => {
    const s = await server({ era: '2025' });
    const { client } = await connect(s.url);
    expect(client.getProtocolEra()).toBe('legacy');
    await cancelSleep(s, client, 'sleep aborted');
    expect(posted(s, 'notifications/cancelled')).toBe(1);
  });

  it('a legacy SSE-only server: the probe and initialize are refused, the SSE transport takes over', async () => {
    const s = await server({ mode: 'sse' });
    const { client, transport } = await connect(s.url);
    expect(client.getProtocolEra()).toBe('legacy');
    expect(transport.protocol).toBe('sse');
    expect(transport.hasPerRequestStream).toBeUndefined();
    expect(await client.callTool({ name: 'echo', arguments: { text: 'over sse' } })).toMatchObject({ content: [{ type: 'text', text: 'over sse' }] });
  });
});
