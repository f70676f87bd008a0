#!/usr/bin/env node
/**
 * `mcp-test-stdio-server`: the demo MCP server (see ./demo-server.ts) on stdio.
 *
 *   mcp-test-stdio-server [--name <serverInfo.name>]     (default name: demo)
 *
 * Environment:
 *   TEST_SERVER_STDERR_LINES=N    write N junk lines to stderr before serving (chatty child).
 *   TEST_SERVER_REQUIRE_ENV=NAME  exit with code 3 and a stderr message if env var NAME is unset or empty.
 *
 * stdout carries only JSON-RPC; all logging goes to stderr. Exits with code 0 when stdin closes.
 */
import process from 'node:process';
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import { createDemoServer } from './demo-server.js';

const EXIT_MISSING_ENV = 3;

function serverName(): string {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { name: { type: 'string' } },
    strict: false,
    allowPositionals: true,
  });
  return typeof values.name === 'string' && values.name !== '' ? values.name : 'demo';
}

function writeJunkLines(name: string, count: number): void {
  let chunk = '';
  for (let i = 1; i <= count; i++) {
    chunk += `[${name}] junk stderr line ${i}/${count}: lorem ipsum dolor sit amet\n`;
    if (chunk.length >= 64 * 1024) {
      process.stderr.write(chunk);
      chunk = '';
    }
  }
  if (chunk) process.stderr.write(chunk);
}

async function main(): Promise<void> {
  const name = serverName();

  const required = process.env.TEST_SERVER_REQUIRE_ENV;
  if (required && !process.env[required]) {
    process.stderr.write(`[${name}] required environment variable ${required} is not set\n`);
    // Exit naturally (stdin is never read) so the stderr message is flushed.
    process.exitCode = EXIT_MISSING_ENV;
    return;
  }

  const lines = Number.parseInt(process.env.TEST_SERVER_STDERR_LINES ?? '', 10);
  if (Number.isFinite(lines) && lines > 0) writeJunkLines(name, lines);

  const server = createDemoServer({ name });
  const transport = new StdioServerTransport();

  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    // Pending work (e.g. a long sleep) must not keep the process alive once the client is gone.
    void server.close().finally(() => process.exit(0));
  };
  process.stdin.once('end', shutdown);
  process.stdin.once('close', shutdown);
  transport.onerror = (error) => {
    process.stderr.write(`[${name}] transport error: ${error.message}\n`);
  };

  await server.connect(transport);
  process.stderr.write(`[${name}] demo MCP server listening on stdio (pid ${process.pid})\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`mcp-test-stdio-server: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
