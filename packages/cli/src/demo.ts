#!/usr/bin/env node
/**
 * The README's first command (`npm run demo`): starts the built gateway on the
 * bundled examples/ config exactly as an MCP client would (a child process on
 * stdio), then walks through discovery, a policy denial and a tool call.
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { stdioServerPath } from '@agent-mcp-gateway/testing';

const examples = fileURLToPath(new URL('../examples/', import.meta.url));
const bin = fileURLToPath(new URL('./bin.js', import.meta.url));
const out = (line = '') => process.stdout.write(`${line}\n`);

async function call(client: Client, tool: string, args: Record<string, unknown>): Promise<CallToolResult> {
  out(`\n→ ${tool} ${JSON.stringify(args)}`);
  const result = (await client.callTool({ name: tool, arguments: args })) as CallToolResult;
  const text = result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
  out(`${result.isError ? '✗' : '←'} ${text.length > 600 ? `${text.slice(0, 600)}…` : text}`);
  return result;
}

async function demo(): Promise<void> {
  out('agent-mcp-gateway demo: the gateway with examples/.mcp.json and examples/.mcp-gateway-rules.json');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bin, '--config', `${examples}.mcp.json`, '--rules', `${examples}.mcp-gateway-rules.json`],
    env: { PATH: process.env.PATH ?? '', AGENT_MCP_GATEWAY_DEMO_SERVER: stdioServerPath, GATEWAY_LOG_LEVEL: 'warn' },
    stderr: 'inherit',
  });
  const client = new Client({ name: 'demo', version: '1.0.0' });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    out(`Gateway tools: ${tools.map((t) => t.name).join(', ')}`);
    await call(client, 'list_servers', { agent_id: 'researcher', include_metadata: true });
    await call(client, 'get_server_tools', { agent_id: 'researcher', server: 'notes', names: 'echo,add' });
    await call(client, 'execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'add', args: { a: 2, b: 40 } });
    out('\nPolicy: researcher may not crash servers, nor see the admin server:');
    await call(client, 'execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'crash', args: {} });
    await call(client, 'get_server_tools', { agent_id: 'researcher', server: 'admin' });
    out('\nThe ops agent may:');
    await call(client, 'list_servers', { agent_id: 'ops' });
    out('\nDone.');
  } finally {
    await client.close();
  }
}

demo().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
