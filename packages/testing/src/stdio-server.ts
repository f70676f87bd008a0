#!/usr/bin/env node
/**
 * `mcp-test-stdio-server`: the demo MCP server (see ./demo-server.ts) on stdio.
 *
 *   mcp-test-stdio-server [--name <serverInfo.name>] [--era 2025|2026|both]     (defaults: demo, 2025)
 *
 * `--era`: `2025` speaks the 2025 era only (`initialize`); `2026` speaks 2026-07-28 only (the SDK's
 * `serveStdio(…, { legacy: 'reject' })`: a 2025 `initialize` is refused); `both` serves either.
 *
 * Environment:
 *   TEST_SERVER_STDERR_LINES=N    write N junk lines to stderr before serving (chatty child).
 *   TEST_SERVER_REQUIRE_ENV=NAME  exit with code 3 and a stderr message if env var NAME is unset or empty.
 *   TEST_SERVER_START_LOG=FILE    append a line `<pid>` to FILE at each start (tests count spawns, probes included).
 *
 * stdout carries only JSON-RPC; all logging goes to stderr. Exits with code 0 when stdin closes.
 */
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { StdioServerTransport, serveStdio } from '@modelcontextprotocol/server/stdio';
import { createDemoServer } from './demo-server.js';

const EXIT_MISSING_ENV = 3;

type Era = '2025' | '2026' | 'both';

function cliOptions(): { name: string; era: Era } {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { name: { type: 'string' }, era: { type: 'string' } },
    strict: false,
    allowPositionals: true,
  });
  const name = typeof values.name === 'string' && values.name !== '' ? values.name : 'demo';
  const era = values.era ?? '2025';
  if (era !== '2025' && era !== '2026' && era !== 'both') throw new Error(`--era must be 2025, 2026 or both, not ${String(era)}`);
  return { name, era };
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
  const { name, era } = cliOptions();
  const startLog = process.env.TEST_SERVER_START_LOG;
  if (startLog) appendFileSync(startLog, `${process.pid}\n`);

  const required = process.env.TEST_SERVER_REQUIRE_ENV;
  if (required && !process.env[required]) {
    process.stderr.write(`[${name}] required environment variable ${required} is not set\n`);
    // Exit naturally (stdin is never read) so the stderr message is flushed.
    process.exitCode = EXIT_MISSING_ENV;
    return;
  }

  const lines = Number.parseInt(process.env.TEST_SERVER_STDERR_LINES ?? '', 10);
  if (Number.isFinite(lines) && lines > 0) writeJunkLines(name, lines);

  if (era !== '2025') {
    const handle = serveStdio(() => createDemoServer({ name }), {
      legacy: era === '2026' ? 'reject' : 'serve',
      onerror: (error) => process.stderr.write(`[${name}] transport error: ${error.message}\n`),
    });
    let ending = false;
    const end = (): void => {
      if (ending) return;
      ending = true;
      void handle.close().finally(() => process.exit(0));
    };
    process.stdin.once('end', end);
    process.stdin.once('close', end);
    process.stderr.write(`[${name}] demo MCP server (era ${era}) listening on stdio (pid ${process.pid})\n`);
    return;
  }

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
