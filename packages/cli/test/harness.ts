import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { afterEach } from 'vitest';
import { stdioServerPath } from '@agent-mcp-gateway/testing';

/** The built CLI, spawned the way an MCP client spawns it. */
export const binPath = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
export { stdioServerPath };

/** A `.mcp.json` entry running the test stdio server. */
export function demoServer(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { command: process.execPath, args: [stdioServerPath, '--name', name], ...extra };
}

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'amg-test-'));
}

/** Writes config (and rules) into a fresh folder; returns the paths. */
export async function writeConfig(
  servers: Record<string, unknown>,
  rules?: unknown,
): Promise<{ dir: string; config: string; rules?: string }> {
  const dir = await tempDir();
  const config = join(dir, '.mcp.json');
  await writeFile(config, JSON.stringify({ mcpServers: servers }, null, 2));
  if (rules === undefined) return { dir, config };
  const rulesPath = join(dir, '.mcp-gateway-rules.json');
  await writeFile(rulesPath, JSON.stringify(rules, null, 2));
  return { dir, config, rules: rulesPath };
}

export interface RunningGateway {
  readonly client: Client;
  readonly transport: StdioClientTransport;
  /** Everything the gateway wrote to stderr so far. */
  stderr(): string;
  /** Resolves when stderr contains `text` (bounded). */
  waitForStderr(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Calls a gateway tool. */
  call(tool: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
  readonly pid: number | null;
}

export interface StartOptions {
  readonly servers: Record<string, unknown>;
  readonly rules?: unknown;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Extra files written into the gateway's working folder (settings, plugins). */
  readonly files?: Record<string, string>;
  /** The test's own MCP client (its capabilities and handlers set); else a plain one. */
  readonly client?: Client;
}

export async function startGateway(options: StartOptions): Promise<RunningGateway> {
  const files = await writeConfig(options.servers, options.rules);
  for (const [name, content] of Object.entries(options.files ?? {})) await writeFile(join(files.dir, name), content);
  return connectGateway({
    args: ['--config', files.config, ...(files.rules ? ['--rules', files.rules] : []), ...(options.args ?? [])],
    env: { HOME: files.dir, ...options.env },
    cwd: files.dir,
    ...(options.client && { client: options.client }),
  });
}

/** Spawns the built CLI with exactly these arguments (none: discovery, as a client does) and connects an MCP client. */
export async function connectGateway(options: {
  readonly args: readonly string[];
  /** Over PATH, which is always passed. */
  readonly env: Record<string, string>;
  readonly cwd: string;
  readonly client?: Client;
}): Promise<RunningGateway> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [binPath, ...options.args],
    env: { PATH: process.env.PATH ?? '', ...options.env },
    cwd: options.cwd,
    stderr: 'pipe',
  });
  let stderr = '';
  const waiters = new Set<() => void>();
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    for (const w of waiters) w();
  });
  const client = options.client ?? new Client({ name: 'e2e', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    transport,
    pid: transport.pid,
    stderr: () => stderr,
    waitForStderr: (text, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const matches = () => (typeof text === 'string' ? stderr.includes(text) : text.test(stderr));
        if (matches()) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`stderr never showed ${String(text)}; it has:\n${stderr.slice(-2000)}`));
        }, timeoutMs);
        const check = () => {
          if (!matches()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      }),
    call: async (tool, toolArgs) => (await client.callTool({ name: tool, arguments: toolArgs })) as CallToolResult,
    close: () => client.close(),
  };
}

/** The structured error of a failed gateway call. */
export function errorOf(result: CallToolResult): { code: string; message: string } & Record<string, unknown> {
  if (!result.isError) throw new Error(`expected an error result, got ${JSON.stringify(result)}`);
  return (result.structuredContent as { error: { code: string; message: string } }).error;
}

export function json<T = Record<string, unknown>>(result: CallToolResult): T {
  if (result.isError) throw new Error(`unexpected error result: ${JSON.stringify(result)}`);
  return result.structuredContent as T;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (bounded). */
export function runCli(args: readonly string[], options: { env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [binPath, ...args], {
      env: { PATH: process.env.PATH ?? '', ...options.env },
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI ${args.join(' ')} did not finish; stderr: ${stderr}`));
    }, 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls (bounded) until `pid` is gone; event-free because another process's exit has no event here. */
export async function waitForExit(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !alive(pid);
}

/**
 * Closes what a test started once it is over: gateways first, then the servers they talked to
 * (so no gateway sees its downstreams vanish mid-shutdown). Call it at a test file's top level.
 */
export function closeAfterEach(): {
  later<T extends { close(): Promise<unknown> }>(thing: T): T;
  gateway(options: StartOptions): Promise<RunningGateway>;
  add(fn: () => Promise<unknown>): void;
} {
  const pending: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of pending.splice(0)) await fn().catch(() => undefined);
  });
  return {
    later(thing) {
      pending.push(() => thing.close());
      return thing;
    },
    async gateway(options) {
      const g = await startGateway(options);
      pending.unshift(() => g.close());
      return g;
    },
    add(fn) {
      pending.push(fn);
    },
  };
}
