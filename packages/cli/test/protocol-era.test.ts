/**
 * The era verdict cache over HTTP, in process: a real gateway with the CLI's plugins, real HTTP
 * downstreams on 127.0.0.1. A reload that replaces a server's connection reuses the verdict of the
 * first connect (no `server/discover`); a verdict the server no longer honours is dropped and the
 * era negotiated again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway, GatewaySettingsSchema, parseServers, type GatewayConfig } from '@agent-mcp-gateway/core';
import { startHttpMcpServer, type HttpMcpServer, type HttpMcpServerEra } from '@agent-mcp-gateway/testing';
import { defaultPlugins } from '../src/default-plugins.js';
import { capturingLogger } from '../../core/test/ops-fixtures.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn().catch(() => undefined);
});

function configOf(servers: Record<string, unknown>): GatewayConfig {
  const { servers: specs } = parseServers(JSON.stringify({ mcpServers: servers }), '/virtual/.mcp.json', {});
  return { servers: specs, settings: GatewaySettingsSchema.parse({ connectTimeoutMs: 10_000 }), sources: {}, warnings: [] };
}

async function http(era: HttpMcpServerEra, port?: number, toolsTtlMs?: number): Promise<HttpMcpServer> {
  const server = await startHttpMcpServer({ name: 'remote', era, ...(port !== undefined && { port }), ...(toolsTtlMs !== undefined && { toolsTtlMs }) });
  cleanups.push(() => server.close());
  return server;
}

async function started(url: string) {
  const log = capturingLogger();
  const gateway = new Gateway({ config: configOf({ remote: { url, description: 'v1' } }), plugins: defaultPlugins({ audit: false }), logger: log.logger });
  cleanups.unshift(() => gateway.close());
  await gateway.start({ connect: false });
  return { gateway, log };
}

/** A reload that changes only the description: the server's connection is replaced. */
async function replaceConnection(gateway: Gateway, url: string, description: string): Promise<void> {
  const diff = await gateway.applyConfig(configOf({ remote: { url, description } }));
  expect(diff.changed).toEqual(['remote']);
}

const count = (s: HttpMcpServer, method: string) => s.requests.filter((r) => r.rpcMethod === method).length;
const protocolOf = (gateway: Gateway) => gateway.listServers('anyone').find((s) => s.name === 'remote')?.protocol;

describe('the era verdict cache (HTTP)', () => {
  it('a replaced connection to a 2026-only server adopts the first verdict: no second server/discover', async () => {
    const server = await http('2026');
    const { gateway, log } = await started(server.url);
    expect((await gateway.listTools('anyone', 'remote')).map((t) => t.name)).toContain('echo');
    expect(count(server, 'server/discover')).toBe(1);
    expect(protocolOf(gateway)).toBe('2026-07-28');

    await replaceConnection(gateway, server.url, 'v2');
    expect((await gateway.listTools('anyone', 'remote')).map((t) => t.name)).toContain('echo');
    expect(count(server, 'tools/list')).toBe(2);
    expect(count(server, 'server/discover')).toBe(1);
    expect(protocolOf(gateway)).toBe('2026-07-28');
    await log.waitFor(/Connected \(\d+ tools, auth: none\); protocol 2026-07-28 \(modern verdict reused\)/, { from: 0 });
  });

  it('a stale modern verdict (the server went back to 2025) is dropped and the era negotiated again', async () => {
    const modern = await http('2026');
    const { gateway, log } = await started(modern.url);
    await gateway.listTools('anyone', 'remote');
    expect(protocolOf(gateway)).toBe('2026-07-28');
    await modern.close();

    const legacy = await http('2025', modern.port);
    await replaceConnection(gateway, legacy.url, 'v2');
    const result = await gateway.callTool({ agent: 'anyone', server: 'remote', tool: 'echo', args: { text: 'hi' } });
    expect(result.isError).not.toBe(true);
    expect(protocolOf(gateway)).toBe('2025-11-25');
    await log.waitFor(/Connecting as a modern server failed .*; negotiating the protocol again/, { from: 0 });
    // the adopted verdict's first request was refused; then the probe, then the 2025 handshake
    expect(legacy.requests.map((r) => r.rpcMethod).filter(Boolean).slice(0, 3)).toEqual(['tools/list', 'server/discover', 'initialize']);
  });

  it('a stale legacy verdict (the server now speaks 2026 only) is dropped and the era negotiated again', async () => {
    const legacy = await http('2025');
    const { gateway, log } = await started(legacy.url);
    await gateway.listTools('anyone', 'remote');
    expect(protocolOf(gateway)).toBe('2025-11-25');
    await legacy.close();

    const modern = await http('2026', legacy.port);
    await replaceConnection(gateway, modern.url, 'v2');
    const result = await gateway.callTool({ agent: 'anyone', server: 'remote', tool: 'echo', args: { text: 'hi' } });
    expect(result.isError).not.toBe(true);
    expect(protocolOf(gateway)).toBe('2026-07-28');
    await log.waitFor(/Connecting as a legacy server failed .*; negotiating the protocol again/, { from: 0 });
    // the legacy verdict went straight to initialize (refused), then the probe found 2026-07-28
    const methods = modern.requests.map((r) => r.rpcMethod).filter(Boolean);
    expect(methods[0]).toBe('initialize');
    expect(methods).toContain('server/discover');
  });
});

describe('the tool list cache honours ttlMs', () => {
  it('a 2026-07-28 listing is fresh for its ttlMs; without one (0) it is listed again each time; a 2025 one until list_changed', async () => {
    const noTtl = await http('2026');
    const longTtl = await http('2026', undefined, 60_000);
    const legacy = await http('2025');
    for (const server of [noTtl, longTtl, legacy]) {
      const { gateway } = await started(server.url);
      for (let i = 0; i < 3; i++) expect((await gateway.listTools('anyone', 'remote')).map((t) => t.name)).toContain('echo');
    }
    expect(count(noTtl, 'tools/list')).toBe(3);
    expect(count(longTtl, 'tools/list')).toBe(1);
    expect(count(legacy, 'tools/list')).toBe(1);
  });
});
