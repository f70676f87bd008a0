/**
 * Embedding: a program builds a Gateway with plugins and serves it over HTTP in a few lines, through
 * the package's public API only; an MCP client (the SDK's) calls a tool of a stdio demo server
 * through it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Gateway, GatewaySettingsSchema, MetricsPlugin, PolicyPlugin, parseServers, silentLogger, type GatewayConfig, type RulesFile } from '@agent-mcp-gateway/core';
import { StdioTransportPlugin } from '@agent-mcp-gateway/transport-stdio';
import { stdioServerPath } from '@agent-mcp-gateway/testing';
import { hashApiKey, serveGateway, type GatewayHttpServer } from '../src/index.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

/** One stdio demo server, `notes`, as a `.mcp.json` would list it. */
function configWith(rules?: RulesFile): GatewayConfig {
  const servers = JSON.stringify({ mcpServers: { notes: { command: process.execPath, args: [stdioServerPath, '--name', 'notes'] } } });
  return {
    servers: parseServers(servers, '/embedded/.mcp.json', {}).servers,
    ...(rules && { rules }),
    settings: GatewaySettingsSchema.parse({}),
    sources: {},
    warnings: [],
  };
}

async function connect(server: GatewayHttpServer, apiKey?: string): Promise<Client> {
  const client = new Client({ name: 'embedder-test', version: '1.0.0' });
  const requestInit = apiKey === undefined ? undefined : { headers: { authorization: `Bearer ${apiKey}` } };
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url), requestInit && { requestInit }));
  cleanup.push(() => client.close());
  return client;
}

describe('embedding the gateway behind HTTP', () => {
  it('serves a Gateway with a stdio server in a few lines; a client calls its tool over HTTP', async () => {
    // What an embedder writes:
    const plugins = [new PolicyPlugin(), new MetricsPlugin(), new StdioTransportPlugin()];
    const gateway = new Gateway({ config: configWith(), plugins, logger: silentLogger });
    const server = await serveGateway(gateway, { settings: { port: 0 } });
    cleanup.push(() => gateway.close(), () => server.close());

    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect((await fetch(server.url.replace(/\/mcp$/, '/ready'))).status).toBe(200);
    const client = await connect(server);
    const listed = (await client.callTool({ name: 'list_servers', arguments: {} })) as CallToolResult;
    expect(listed.isError).not.toBe(true);
    const result = (await client.callTool({ name: 'execute_tool', arguments: { server: 'notes', tool: 'echo', args: { text: 'embedded' } } })) as CallToolResult;
    expect(result.isError).not.toBe(true);
    expect(result.structuredContent).toEqual({ text: 'embedded' });
    // /metrics: what the metrics plugin exports on the gateway's metrics hook.
    const metrics = await (await fetch(server.url.replace(/\/mcp$/, '/metrics'))).text();
    expect(metrics).toContain('agent_mcp_gateway_calls_total{agent="default",operation="execute_tool",server="notes"} 1');

    await server.close();
    expect(server.sessionCount()).toBe(0);
  });

  it('with API keys in the rules: a caller acts for the agent its key names, and nothing without one', async () => {
    const key = 'embedder-key-1';
    const rules: RulesFile = { agents: { researcher: { allow: { servers: ['notes'] }, api_keys: [hashApiKey(key)] }, ops: { allow: { servers: ['notes'] } } } };
    const gateway = new Gateway({ config: configWith(rules), plugins: [new PolicyPlugin(), new StdioTransportPlugin()], logger: silentLogger });
    const server = await serveGateway(gateway, { settings: { port: 0 } });
    cleanup.push(() => gateway.close(), () => server.close());

    const refused = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer /);

    const client = await connect(server, key);
    const result = (await client.callTool({ name: 'execute_tool', arguments: { server: 'notes', tool: 'echo', args: { text: 'as researcher' } } })) as CallToolResult;
    expect(result.structuredContent).toEqual({ text: 'as researcher' });
    // the key names researcher: acting for another agent is refused
    const other = (await client.callTool({ name: 'execute_tool', arguments: { agent_id: 'ops', server: 'notes', tool: 'echo', args: { text: 'x' } } })) as CallToolResult;
    expect(other.isError).toBe(true);
  });

  it('fails closed: rules without a plugin that enforces them refuse the start; /metrics without a metrics plugin is 404', async () => {
    const rules: RulesFile = { agents: { ops: { allow: { servers: ['notes'] } } } };
    const unenforced = new Gateway({ config: configWith(rules), plugins: [new StdioTransportPlugin()], logger: silentLogger });
    cleanup.push(() => unenforced.close());
    const refused = serveGateway(unenforced, { settings: { port: 0 } });
    await expect(refused).rejects.toMatchObject({ code: 'PLUGIN_ERROR', details: { reason: 'rules_not_enforced' } });
    expect(unenforced.status().servers).toEqual([]);

    const gateway = new Gateway({ config: configWith(), plugins: [new StdioTransportPlugin()], logger: silentLogger });
    const server = await serveGateway(gateway, { settings: { port: 0 } });
    cleanup.push(() => gateway.close(), () => server.close());
    expect((await fetch(server.url.replace(/\/mcp$/, '/metrics'))).status).toBe(404);
  });

  it('refuses to serve a non-loopback address without credentials, before listening or starting the gateway', async () => {
    const gateway = new Gateway({ config: configWith(), plugins: [new StdioTransportPlugin()], logger: silentLogger });
    cleanup.push(() => gateway.close());
    await expect(serveGateway(gateway, { settings: { host: '0.0.0.0', port: 0 } })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    expect(gateway.status().servers).toEqual([]);
  });
});
