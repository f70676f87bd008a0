/**
 * The protocol era toward downstreams, through the CLI (a real gateway process): 2026-07-28 where the
 * server speaks it, 2025-11-25 otherwise, over HTTP and stdio; the per-server `protocol` override;
 * the legacy SSE fallback; the verdict of the first connect reused on the next (no probe).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  startAuthorizationServer,
  startHttpMcpServer,
  startProtectedMcpServer,
  testBrowserCommand,
  type HttpMcpServer,
} from '@agent-mcp-gateway/testing';
import { closeAfterEach, demoServer, errorOf, json, runCli, tempDir, writeConfig, type RunningGateway } from './harness.js';

const { later, gateway } = closeAfterEach();

type Listed = { servers: { name: string; transport: string; state: string; protocol?: string }[] };

async function protocols(g: RunningGateway): Promise<Record<string, string | undefined>> {
  const listed = json<Listed>(await g.call('list_servers', { include_metadata: true }));
  return Object.fromEntries(listed.servers.map((s) => [s.name, s.protocol]));
}

async function echo(g: RunningGateway, server: string, text = `via ${server}`): Promise<void> {
  expect(json(await g.call('execute_tool', { server, tool: 'echo', args: { text } }))).toEqual({ text });
}

/** The JSON-RPC methods the server received on its MCP endpoint, in order, with their HTTP status. */
const rpc = (s: HttpMcpServer) => s.requests.filter((r) => r.rpcMethod !== undefined).map((r) => `${r.rpcMethod} ${r.status}`);

/** A stdio demo server of this era that appends its pid to `log` at every start. */
function stdioServer(name: string, era: '2025' | '2026' | 'both', log: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = demoServer(name, extra) as { args: string[] };
  return { ...base, args: [...base.args, '--era', era], env: { TEST_SERVER_START_LOG: log } };
}

async function starts(log: string): Promise<number> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).length;
}

describe('the protocol era toward each downstream', () => {
  it('is 2026-07-28 where the server speaks it and 2025-11-25 otherwise, over HTTP and stdio; tools work on each', async () => {
    const modern = later(await startHttpMcpServer({ name: 'h2026', era: '2026' }));
    const legacy = later(await startHttpMcpServer({ name: 'h2025' }));
    const both = later(await startHttpMcpServer({ name: 'hboth', era: 'both' }));
    const sseOnly = later(await startHttpMcpServer({ name: 'hsse', mode: 'sse' }));
    const dir = await tempDir();
    const g = await gateway({
      servers: {
        h2026: { url: modern.url },
        h2025: { url: legacy.url },
        hboth: { url: both.url },
        hsse: { url: sseOnly.url },
        s2026: stdioServer('s2026', '2026', join(dir, 's2026.log')),
        s2025: stdioServer('s2025', '2025', join(dir, 's2025.log')),
        sboth: stdioServer('sboth', 'both', join(dir, 'sboth.log')),
      },
    });
    for (const server of ['h2026', 'h2025', 'hboth', 'hsse', 's2026', 's2025', 'sboth']) await echo(g, server);
    expect(await protocols(g)).toEqual({
      h2026: '2026-07-28',
      h2025: '2025-11-25',
      hboth: '2026-07-28',
      // the legacy SSE server (a v1 SDK copy) answers initialize with its own latest version
      hsse: expect.stringMatching(/^20(24|25)-/) as unknown as string,
      s2026: '2026-07-28',
      s2025: '2025-11-25',
      sboth: '2026-07-28',
    });
    // what went over the wire: the probe, then either 2026 requests or the 2025 handshake
    expect(rpc(modern)).toEqual(['server/discover 200', 'tools/list 200', 'tools/call 200']);
    expect(rpc(both)).toEqual(['server/discover 200', 'tools/list 200', 'tools/call 200']);
    expect(rpc(legacy).slice(0, 3)).toEqual(['server/discover 400', 'initialize 200', 'notifications/initialized 202']);
    expect(rpc(legacy)).not.toContain('server/discover 200');
    // 2026 requests carry the per-request headers
    const call = modern.requests.find((r) => r.rpcMethod === 'tools/call');
    expect(call?.headers).toMatchObject({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
    // legacy SSE still works: the probe and initialize POSTs are refused (405), the SSE stream takes over
    expect(sseOnly.requests.filter((r) => r.method === 'POST' && r.path === '/mcp').map((r) => r.status)).toEqual([405, 405]);
    expect(sseOnly.requests.some((r) => r.method === 'GET' && r.status === 200)).toBe(true);
    await g.waitForStderr(/\[hsse\] Streamable HTTP refused \(405\); falling back to legacy SSE/);
    // stdio: the SDK probes in a sibling process, so the first connect starts each server twice
    for (const name of ['s2026', 's2025', 'sboth']) expect(await starts(join(dir, `${name}.log`))).toBe(2);
  });

  it('reuses the verdict of the first connect: a reconnect starts no probe', async () => {
    const dir = await tempDir();
    const modernLog = join(dir, 'modern.log');
    const legacyLog = join(dir, 'legacy.log');
    const legacyHttp = later(await startHttpMcpServer({ name: 'h2025' }));
    const g = await gateway({
      servers: {
        modern: stdioServer('modern', '2026', modernLog),
        legacy: stdioServer('legacy', '2025', legacyLog),
        h2025: { url: legacyHttp.url },
      },
    });
    for (const server of ['modern', 'legacy', 'h2025']) await echo(g, server);
    expect(await starts(modernLog)).toBe(2);
    expect(await starts(legacyLog)).toBe(2);
    expect(rpc(legacyHttp).filter((m) => m.startsWith('server/discover'))).toHaveLength(1);

    // the stdio servers exit; the next call reconnects: one start each, no sibling probe
    for (const server of ['modern', 'legacy']) {
      expect(errorOf(await g.call('execute_tool', { server, tool: 'crash', args: {} })).code).toBe('SERVER_UNAVAILABLE');
      await echo(g, server, 'again');
    }
    expect(await starts(modernLog)).toBe(3);
    expect(await starts(legacyLog)).toBe(3);
    // the HTTP server forgets its sessions: the gateway re-initialises without probing again
    legacyHttp.expireSessions();
    await echo(g, 'h2025', 'again');
    expect(rpc(legacyHttp).filter((m) => m.startsWith('server/discover'))).toHaveLength(1);
    expect(rpc(legacyHttp).filter((m) => m.startsWith('initialize'))).toHaveLength(2);
    expect(await protocols(g)).toEqual({ modern: '2026-07-28', legacy: '2025-11-25', h2025: '2025-11-25' });
    await g.waitForStderr(/\[modern\] Connected \(\d+ tools, auth: \w+\); protocol 2026-07-28 \(modern verdict reused\)/);
  });

  it('`protocol` in the entry pins the era: no probe, and a server that cannot speak it fails loudly', async () => {
    const dir = await tempDir();
    const bothHttp = later(await startHttpMcpServer({ name: 'pinned-old', era: 'both' }));
    const modernHttp = later(await startHttpMcpServer({ name: 'pinned-new', era: 'both' }));
    const legacyHttp = later(await startHttpMcpServer({ name: 'wrong-pin' }));
    const log = join(dir, 'stdio.log');
    const g = await gateway({
      servers: {
        'pinned-old': { url: bothHttp.url, protocol: '2025-11-25' },
        'pinned-new': { url: modernHttp.url, protocol: '2026-07-28' },
        'pinned-stdio': { ...stdioServer('pinned-stdio', 'both', log), protocol: '2025-11-25' },
        'wrong-pin': { url: legacyHttp.url, protocol: '2026-07-28' },
      },
    });
    for (const server of ['pinned-old', 'pinned-new', 'pinned-stdio']) await echo(g, server);
    expect(rpc(bothHttp).some((m) => m.startsWith('server/discover'))).toBe(false);
    expect(rpc(bothHttp)[0]).toBe('initialize 200');
    expect(rpc(modernHttp)[0]).toBe('server/discover 200');
    expect(await starts(log)).toBe(1); // pinned: no sibling probe
    const failed = errorOf(await g.call('execute_tool', { server: 'wrong-pin', tool: 'echo', args: { text: 'x' } }));
    expect(failed).toMatchObject({ code: 'SERVER_UNAVAILABLE', server: 'wrong-pin' });
    expect(rpc(legacyHttp).some((m) => m.startsWith('initialize'))).toBe(false);
    const listed = await protocols(g);
    expect(listed).toMatchObject({ 'pinned-old': '2025-11-25', 'pinned-new': '2026-07-28', 'pinned-stdio': '2025-11-25' });
    expect(listed['wrong-pin']).toBeUndefined();
  });

  it('an OAuth-protected 2026-only server: the 401 on the probe starts our login, then the calls speak 2026-07-28', async () => {
    const as = later(await startAuthorizationServer());
    const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion', era: '2026' }));
    const g = await gateway({
      servers: { notion: { url: notion.url } },
      env: { BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: await tempDir(), GATEWAY_INIT_STRATEGY: 'lazy' },
    });
    const pending = errorOf(await g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text: 'first' } }));
    expect(pending).toMatchObject({ code: 'AUTH_REQUIRED', server: 'notion' });
    // the very first request was the era probe, refused for want of a token
    expect(rpc(notion)[0]).toBe('server/discover 401');
    await g.waitForStderr(/Tokens cached for notion/);
    await echo(g, 'notion', 'after login');
    expect(await protocols(g)).toEqual({ notion: '2026-07-28' });
    const authorized = notion.requests.filter((r) => r.path === '/mcp' && r.status === 200);
    expect(authorized.map((r) => r.rpcMethod)).toEqual(expect.arrayContaining(['server/discover', 'tools/call']));
    expect(authorized.every((r) => r.headers.authorization?.startsWith('Bearer ') === true)).toBe(true);
    expect(rpc(notion).some((m) => m.startsWith('initialize'))).toBe(false);
  });

  it('`auth login` against a 2026-only server that checks the era before credentials: the server/discover probe draws the 401', async () => {
    const as = later(await startAuthorizationServer());
    const notion = later(
      await startProtectedMcpServer({ authorizationServer: as, name: 'notion', era: '2026', rejectLegacyBeforeAuth: true }),
    );
    // such a server answers an unauthenticated 2025 initialize with the wrong-era error, not a challenge
    const initialize = await fetch(notion.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    expect(initialize.status).toBe(400);
    expect(initialize.headers.get('www-authenticate')).toBeNull();

    const { config } = await writeConfig({ notion: { url: notion.url } });
    const home = await tempDir();
    const env = { HOME: home, GATEWAY_TOKEN_DIR: join(home, 'tokens'), BROWSER: testBrowserCommand() };
    const login = await runCli(['auth', 'login', 'notion', '--config', config], { env });
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    expect(login.stdout).toMatch(/^Logged in to notion;/m);
    expect(rpc(notion)[1]).toBe('server/discover 401');
  });
});
