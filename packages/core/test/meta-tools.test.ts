import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryTransport } from '@modelcontextprotocol/server';
import type { McpServer } from '@modelcontextprotocol/server';
import { Client } from '@modelcontextprotocol/client';
import { createDemoServer, DEMO_TOOL_NAMES } from '@agent-mcp-gateway/testing';
import {
  Gateway,
  MetricsPlugin,
  PolicyPlugin,
  ReloadStatusPlugin,
  GatewaySettingsSchema,
  createGatewayServer,
  silentLogger,
  type CallToolResult,
  type GatewayConfig,
  type GatewayPlugin,
  type GatewaySettingsInput,
  type RulesFile,
  type ServerSpec,
  type TransportFactory,
} from '../src/index.js';

// In-process downstreams (real McpServers over linked in-memory pairs), given to the
// gateway by a third-party transport plugin; the agent side is a real SDK Client.

function demo(): McpServer {
  return createDemoServer({ log: () => undefined });
}

function memoryFactory(build: () => McpServer = demo): TransportFactory {
  return {
    kind: 'memory',
    create: async () => {
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await build().connect(serverSide);
      return clientSide;
    },
  };
}

const memoryTransport: GatewayPlugin = {
  name: 'memory-transport',
  apply: (g) => g.hooks.resolveTransport.tapPromise('memory-transport', async () => memoryFactory()),
};

function spec(name: string, extra: Partial<ServerSpec> = {}): ServerSpec {
  return { name, transport: 'stdio', args: [], env: {}, headers: {}, secretValues: [], enabled: true, ...extra };
}

function config(servers: ServerSpec[], settings: GatewaySettingsInput = {}, rules?: RulesFile): GatewayConfig {
  return { servers, settings: GatewaySettingsSchema.parse(settings), sources: {}, warnings: [], ...(rules && { rules }) };
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

/** A started gateway, its agent-facing server, and an SDK client connected to it. */
async function connect(cfg: GatewayConfig, options: { debug?: boolean } = {}): Promise<{ gateway: Gateway; client: Client }> {
  const gateway = new Gateway({ config: cfg, plugins: [new PolicyPlugin(), new ReloadStatusPlugin(), new MetricsPlugin(), memoryTransport], logger: silentLogger });
  await gateway.start();
  const server = createGatewayServer(gateway, options);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'meta-tools-test', version: '1.0.0' });
  await client.connect(clientSide);
  cleanups.push(async () => {
    await client.close();
    await server.close();
    await gateway.close();
  });
  return { gateway, client };
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function text(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

function errorOf(result: CallToolResult): { code: string; message: string } & Record<string, unknown> {
  expect(result.isError).toBe(true);
  const error = (result.structuredContent as { error?: { code: string; message: string } } | undefined)?.error;
  expect(error).toBeDefined();
  return error!;
}

const LAZY = { initStrategy: 'lazy' } as const;

describe('meta-tools: tools/list', () => {
  it('lists list_servers, get_server_tools and execute_tool; debug adds get_gateway_status', async () => {
    const { client } = await connect(config([spec('demo')], LAZY));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['list_servers', 'get_server_tools', 'execute_tool']);
    for (const tool of tools) {
      expect(tool.description).toBeTruthy();
      expect(tool.inputSchema.type).toBe('object');
    }
    const execute = tools.find((t) => t.name === 'execute_tool')!;
    expect(execute.inputSchema.required).toEqual(expect.arrayContaining(['server', 'tool']));

    const debug = await connect(config([spec('demo')], LAZY), { debug: true });
    expect((await debug.client.listTools()).tools.map((t) => t.name)).toEqual([
      'list_servers',
      'get_server_tools',
      'execute_tool',
      'get_gateway_status',
    ]);
  });
});

describe('meta-tools: calls', () => {
  it('list_servers → get_server_tools → execute_tool, end to end', async () => {
    const { client } = await connect(config([spec('demo', { description: 'the demo server' })], LAZY));

    const servers = await call(client, 'list_servers', {});
    expect(servers.isError).toBeFalsy();
    expect(servers.structuredContent).toEqual({ servers: [{ name: 'demo', description: 'the demo server' }] });
    expect(JSON.parse(text(servers))).toEqual(servers.structuredContent);

    const meta = await call(client, 'list_servers', { include_metadata: true });
    expect(meta.structuredContent).toEqual({
      servers: [{ name: 'demo', description: 'the demo server', transport: 'stdio', auth: 'none', state: 'idle' }],
    });

    const listed = await call(client, 'get_server_tools', { server: 'demo' });
    const body = listed.structuredContent as { tools: { name: string }[]; total_available: number; returned: number };
    expect(body.tools.map((t) => t.name)).toEqual([...DEMO_TOOL_NAMES]);
    expect(body.total_available).toBe(DEMO_TOOL_NAMES.length);

    const filtered = await call(client, 'get_server_tools', { server: 'demo', pattern: 'e*' });
    expect((filtered.structuredContent as { tools: { name: string }[] }).tools.map((t) => t.name)).toEqual(['echo', 'env']);

    const echoed = await call(client, 'execute_tool', { server: 'demo', tool: 'echo', args: { text: 'through the gateway' } });
    expect(echoed.isError).toBeFalsy();
    expect(text(echoed)).toBe('through the gateway');
    expect(echoed.structuredContent).toEqual({ text: 'through the gateway' });
  });

  it('invalid arguments → an INVALID_ARGUMENTS tool result with isError and structuredContent.error.code', async () => {
    const { client } = await connect(config([spec('demo')], LAZY));
    for (const [name, args] of [
      ['execute_tool', {}],
      ['execute_tool', { server: 'demo', tool: '' }],
      ['execute_tool', { server: 'demo', tool: 'echo', args: 'not an object' }],
      ['execute_tool', { server: 'demo', tool: 'echo', timeout_ms: -5 }],
      ['get_server_tools', { server: 42 }],
      ['list_servers', { include_metadata: 'yes' }],
    ] as const) {
      const result = await call(client, name, args);
      const error = errorOf(result);
      expect(error.code, `${name} ${JSON.stringify(args)}`).toBe('INVALID_ARGUMENTS');
      expect(text(result)).toMatch(/^INVALID_ARGUMENTS: Invalid arguments for /);
    }
    const missing = errorOf(await call(client, 'execute_tool', { tool: 'echo' }));
    expect(missing.message).toContain('server');
  });

  it('gateway errors come back as coded tool results', async () => {
    const rules: RulesFile = { agents: { reader: { allow: { servers: ['demo'], tools: { demo: ['echo'] } } } } };
    const { client } = await connect(config([spec('demo')], LAZY, rules));

    const notFound = errorOf(await call(client, 'execute_tool', { agent_id: 'reader', server: 'ghost', tool: 'echo' }));
    expect(notFound).toMatchObject({ code: 'SERVER_NOT_FOUND', server: 'ghost' });

    const denied = errorOf(await call(client, 'execute_tool', { agent_id: 'reader', server: 'demo', tool: 'add', args: { a: 1, b: 2 } }));
    expect(denied).toMatchObject({ code: 'DENIED_BY_POLICY', agent: 'reader', server: 'demo', tool: 'add' });

    const badAgent = errorOf(await call(client, 'list_servers', { agent_id: 'stranger' }));
    expect(badAgent.code).toBe('INVALID_AGENT_ID');

    const visible = await call(client, 'get_server_tools', { agent_id: 'reader', server: 'demo' });
    expect((visible.structuredContent as { tools: { name: string }[] }).tools.map((t) => t.name)).toEqual(['echo']);

    const unknownMeta = errorOf(await call(client, 'no_such_meta_tool', {}));
    expect(unknownMeta.code).toBe('TOOL_NOT_FOUND');
  });

  it('a tool error result of the downstream is passed through as it is, not as a gateway error', async () => {
    const { client } = await connect(config([spec('demo')], LAZY));
    const result = await call(client, 'execute_tool', { server: 'demo', tool: 'fail', args: { message: 'tool-level failure' } });
    expect(result.isError).toBe(true);
    expect(text(result)).toBe('tool-level failure');
    expect(result.structuredContent).toBeUndefined();
  });

  it('an error message holding a registered secret is redacted in the result', async () => {
    const secret = 'sk-live-0123456789abcdef';
    const { gateway, client } = await connect(config([spec('demo', { env: { API_KEY: secret }, secretValues: [secret] })], LAZY));
    // The downstream echoes the secret back in a JSON-RPC error: DOWNSTREAM_ERROR with the secret in its message.
    const result = await call(client, 'execute_tool', {
      server: 'demo',
      tool: 'throw',
      args: { message: `upstream refused key ${secret}` },
    });
    const error = errorOf(result);
    expect(error.code).toBe('DOWNSTREAM_ERROR');
    expect(error.message).toContain('upstream refused key [REDACTED]');
    expect(text(result)).toContain('DOWNSTREAM_ERROR: ');
    expect(text(result)).toContain('[REDACTED]');
    expect(JSON.stringify(result)).not.toContain(secret);

    // A secret registered at run time (e.g. a token from a login) is redacted too.
    gateway.redactor.add('runtime-token-value');
    const later = await call(client, 'execute_tool', {
      server: 'demo',
      tool: 'throw',
      args: { message: 'bad runtime-token-value' },
    });
    expect(JSON.stringify(later)).not.toContain('runtime-token-value');
  });

  it('get_gateway_status (debug) reports servers and the resolved agent', async () => {
    const { client } = await connect(config([spec('demo'), spec('off', { enabled: false })], LAZY), { debug: true });
    const status = await call(client, 'get_gateway_status', {});
    expect(status.isError).toBeFalsy();
    expect(status.structuredContent).toMatchObject({
      initStrategy: 'lazy',
      agent: 'default',
      policy: { rulesLoaded: false },
      servers: [
        { name: 'demo', state: 'idle' },
        { name: 'off', state: 'disabled' },
      ],
    });
  });
});
