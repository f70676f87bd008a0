#!/usr/bin/env node
// @ts-check
/* global console */
/**
 * The reference point of ANCHORS.md: a naive relay — an SDK `Server` on stdio
 * outside, an SDK `Client` to one downstream inside, one `execute_tool` tool —
 * and nothing else (no policy, no hooks, no argument validation, no logging).
 * What any SDK-based gateway pays at least; the gateway's overhead beyond it is ours.
 *
 *   node bench/naive-relay.mjs <command> [args…]
 */
import process from 'node:process';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import { Server } from '@modelcontextprotocol/server';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/client';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: naive-relay.mjs <command> [args…]');
  process.exit(2);
}
const client = new Client({ name: 'naive-relay', version: '0.0.0' });
await client.connect(new StdioClientTransport({ command, args, env: getDefaultEnvironment(), stderr: 'ignore' }));

const server = new Server({ name: 'naive-relay', version: '0.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler('tools/list', () => ({
  tools: [
    {
      name: 'execute_tool',
      description: 'Call a downstream tool',
      inputSchema: { type: 'object', properties: { tool: { type: 'string' }, args: { type: 'object' } }, required: ['tool'] },
    },
  ],
}));
server.setRequestHandler('tools/call', async (request) => {
  const { tool, args: toolArgs } = /** @type {{ tool: string, args?: Record<string, unknown> }} */ (request.params.arguments);
  return /** @type {any} */ (await client.callTool({ name: tool, arguments: toolArgs ?? {} }));
});
const stop = () => void client.close().finally(() => process.exit(0));
process.stdin.once('end', stop);
process.stdin.once('close', stop);
await server.connect(new StdioServerTransport());
