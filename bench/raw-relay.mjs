#!/usr/bin/env node
// @ts-check
/* global console */
/**
 * The floor of any stdio gateway: one extra process hop with the least JSON
 * work that still speaks MCP — newline-delimited JSON-RPC parsed and written
 * by hand, no SDK, no validation. It answers `initialize` and `tools/list`
 * itself and turns `execute_tool` into the downstream `tools/call` (ids mapped).
 * A reference for the benchmark only, not a usable server.
 *
 *   node bench/raw-relay.mjs <command> [args…]
 */
import { spawn } from 'node:child_process';
import process from 'node:process';
import { createInterface } from 'node:readline';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: raw-relay.mjs <command> [args…]');
  process.exit(2);
}
const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'ignore'] });
const toChild = /** @type {import('node:stream').Writable} */ (child.stdin);
/** @type {Map<number, (message: any) => void>} */
const pending = new Map();
let nextId = 1;
/** @param {string} method @param {unknown} params @returns {Promise<any>} */
const request = (method, params) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    toChild.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
  });
createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on('line', (line) => {
  const message = JSON.parse(line);
  const resolve = pending.get(message.id);
  if (resolve) {
    pending.delete(message.id);
    resolve(message);
  }
});
await request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw-relay', version: '0' } });
toChild.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);

/** @param {unknown} id @param {unknown} result */
const answer = (id, result) => process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id, result })}\n`);
const tools = [{ name: 'execute_tool', inputSchema: { type: 'object', properties: { tool: { type: 'string' }, args: { type: 'object' } } } }];
createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return; // notifications
  if (m.method === 'initialize') {
    answer(m.id, { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'raw-relay', version: '0' } });
  } else if (m.method === 'tools/list') {
    answer(m.id, { tools });
  } else if (m.method === 'tools/call') {
    const { tool, args: toolArgs } = m.params.arguments;
    void request('tools/call', { name: tool, arguments: toolArgs ?? {} }).then((reply) =>
      process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id: m.id, ...(reply.error ? { error: reply.error } : { result: reply.result }) })}\n`),
    );
  } else {
    process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'Method not found' } })}\n`);
  }
}).on('close', () => {
  toChild.end();
  process.exit(0);
});
