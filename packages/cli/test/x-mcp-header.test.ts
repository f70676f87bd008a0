/**
 * SEP-2243 toward a 2026-07-28 downstream, in process: a real gateway with the CLI's plugins and a
 * real SDK server (2026-07-28 only) on 127.0.0.1. A tool parameter declared with `x-mcp-header` is
 * sent as an `Mcp-Param-*` header on `execute_tool`; a tool whose mapping is invalid is left out of
 * the tool list, and the gateway's log (not the console) names the server and the tool.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { McpServer, createMcpHandler, fromJsonSchema } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { Gateway, GatewaySettingsSchema, parseServers, routeSdkWarnings, type GatewayConfig } from '@agent-mcp-gateway/core';
import { defaultPlugins } from '../src/default-plugins.js';
import { capturingLogger } from '../../core/test/ops-fixtures.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await Promise.resolve(fn()).catch(() => undefined);
});

/** A 2026-07-28-only server: `regional` maps `region` to a header; `broken` declares a header on an array. */
async function startServer(): Promise<{ url: string; headers: Record<string, string | undefined>[] }> {
  const headers: Record<string, string | undefined>[] = [];
  const build = (): McpServer => {
    const server = new McpServer({ name: 'regions', version: '1.0.0' }, { capabilities: { tools: {} } });
    const regionalSchema = {
      type: 'object',
      properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, query: { type: 'string' } },
      required: ['region'],
    } as const;
    server.registerTool('regional', { inputSchema: fromJsonSchema<{ region: string; query?: string }>(regionalSchema) }, async (args, ctx) => ({
      content: [{ type: 'text', text: `${args.region}|${ctx.http?.req?.headers.get('mcp-param-region') ?? 'no header'}` }],
    }));
    const brokenSchema = { type: 'object', properties: { tags: { type: 'array', items: { type: 'string' }, 'x-mcp-header': 'Tags' } } } as const;
    server.registerTool('broken', { inputSchema: fromJsonSchema(brokenSchema) }, async () => ({ content: [{ type: 'text', text: 'broken ran' }] }));
    return server;
  };
  const handler = toNodeHandler(createMcpHandler(build, { legacy: 'reject' }));
  const http: Server = createServer((req, res) => {
    headers.push({ method: req.headers['mcp-method'] as string | undefined, region: req.headers['mcp-param-region'] as string | undefined });
    void handler(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => http.close(resolve)));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, headers };
}

function configOf(url: string): GatewayConfig {
  const { servers } = parseServers(JSON.stringify({ mcpServers: { regions: { url } } }), '/virtual/.mcp.json', {});
  return { servers, settings: GatewaySettingsSchema.parse({ connectTimeoutMs: 10_000 }), sources: {}, warnings: [] };
}

describe('x-mcp-header (SEP-2243) toward a 2026-07-28 downstream', () => {
  it('maps a declared parameter to its Mcp-Param header; leaves out a tool with an invalid mapping and logs it for the server', async () => {
    const server = await startServer();
    const log = capturingLogger();
    cleanups.push(routeSdkWarnings(log.logger));
    const gateway = new Gateway({ config: configOf(server.url), plugins: defaultPlugins({ audit: false }), logger: log.logger });
    cleanups.unshift(() => gateway.close());
    await gateway.start({ connect: false });

    expect((await gateway.listTools('anyone', 'regions')).map((t) => t.name)).toEqual(['regional']);
    const line = await log.waitFor(/WARN \[regions\] SDK: excluding tool 'broken' from tools\/list: invalid x-mcp-header declaration/, { from: 0 });
    expect(line).toContain('primitive-typed');

    const result = await gateway.callTool({ agent: 'anyone', server: 'regions', tool: 'regional', args: { region: 'eu-west', query: 'q' } });
    expect(result.isError).not.toBe(true);
    expect(result.content).toEqual([{ type: 'text', text: 'eu-west|eu-west' }]);
    expect(server.headers.filter((h) => h.method === 'tools/call')).toEqual([{ method: 'tools/call', region: 'eu-west' }]);

    // Not plain visible ASCII: sent as the base64 sentinel, which the server decodes and finds equal to the body.
    const zurich = await gateway.callTool({ agent: 'anyone', server: 'regions', tool: 'regional', args: { region: 'Zürich' } });
    expect(zurich.isError).not.toBe(true);
    expect(server.headers.filter((h) => h.method === 'tools/call').at(-1)?.region).toBe(`=?base64?${Buffer.from('Zürich').toString('base64')}?=`);

    // The left-out tool cannot be called through the gateway either.
    const refused = await gateway.callTool({ agent: 'anyone', server: 'regions', tool: 'broken', args: { tags: ['a'] } }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: 'TOOL_NOT_FOUND' });
    expect(server.headers.filter((h) => h.method === 'tools/call')).toHaveLength(2);
  });
});
