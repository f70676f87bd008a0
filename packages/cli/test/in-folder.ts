/**
 * The built CLI started the way an MCP client starts it in some project folder: no flags
 * unless given, a working folder and a HOME of the test's choosing (harness.ts's
 * `startGateway` always passes --config and runs in that file's folder).
 */
import { realpath } from 'node:fs/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { binPath, tempDir, type RunningGateway } from './harness.js';

/** A fresh temporary folder, by its real path (what the gateway's `process.cwd()` reports). */
export async function realTempDir(): Promise<string> {
  return realpath(await tempDir());
}

export async function serveIn(options: { cwd: string; home: string; args?: readonly string[]; env?: Record<string, string> }): Promise<RunningGateway> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [binPath, ...(options.args ?? [])],
    env: { PATH: process.env.PATH ?? '', HOME: options.home, ...options.env },
    cwd: options.cwd,
    stderr: 'pipe',
  });
  let stderr = '';
  const waiters = new Set<() => void>();
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    for (const w of waiters) w();
  });
  const client = new Client({ name: 'in-folder', version: '1.0.0' });
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
    call: async (tool, args) => (await client.callTool({ name: tool, arguments: args })) as CallToolResult,
    close: () => client.close(),
  };
}
