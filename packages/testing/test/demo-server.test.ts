import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client, ProtocolError, ProtocolErrorCode, SdkErrorCode } from '@modelcontextprotocol/client';
import type { JSONRPCMessage, Progress } from '@modelcontextprotocol/client';
import { DEMO_TOOL_NAMES, stdioServerPath } from '../src/index.js';

const WAIT_MS = 5_000;

/** Races `promise` against a timer so no wait in this file is unbounded. */
function within<T>(promise: Promise<T>, label: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Accumulates a stream's text and lets tests wait for a substring to appear. */
class StreamWatcher {
  text = '';
  private waiters: { needle: string; resolve: () => void }[] = [];

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.text += chunk;
      this.waiters = this.waiters.filter((w) => {
        if (!this.text.includes(w.needle)) return true;
        w.resolve();
        return false;
      });
    });
  }

  waitFor(needle: string): Promise<void> {
    if (this.text.includes(needle)) return Promise.resolve();
    return within(new Promise<void>((resolve) => this.waiters.push({ needle, resolve })), `stderr "${needle}"`);
  }
}

const clients: Client[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((client) => client.close()));
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

async function connect(opts: { args?: string[]; env?: Record<string, string> } = {}) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [stdioServerPath, ...(opts.args ?? [])],
    env: { ...getDefaultEnvironment(), ...opts.env },
    stderr: 'pipe',
  });
  const stderr = new StreamWatcher(transport.stderr as Readable);
  const client = new Client({ name: 'demo-server-test', version: '0.0.0' });
  clients.push(client);
  await within(client.connect(transport), 'initialize');
  return { client, transport, stderr };
}

function textOf(result: Awaited<ReturnType<Client['callTool']>>): string {
  const content = result.content as { type: string; text?: string }[];
  expect(content[0]?.type).toBe('text');
  return content[0]?.text ?? '';
}

/** Spawns the bin directly (no MCP client) to observe exit codes. */
function spawnRaw(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [stdioServerPath], {
    env: { ...getDefaultEnvironment(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const stderr = new StreamWatcher(child.stderr);
  const exited = within(
    new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
    'child exit',
  );
  return { child, stderr, exited };
}

/** Resolves once a tools/call request has been written to the child's stdin. */
function toolCallSent(transport: StdioClientTransport): Promise<void> {
  return new Promise<void>((resolve) => {
    const send = transport.send.bind(transport);
    transport.send = async (message: JSONRPCMessage) => {
      await send(message);
      if ('method' in message && message.method === 'tools/call') resolve();
    };
  });
}

/**
 * Works around an SDK 1.32 client race (modelcontextprotocol/typescript-sdk#2580): Protocol
 * dispatches notifications in a microtask but responses synchronously, so when progress
 * notifications and the final response arrive in one stdout chunk, the response retires the
 * progress handler first and the notifications are dropped. Delaying each response to the
 * next macrotask lets the already-queued notification handlers run first.
 */
function deliverNotificationsFirst(transport: StdioClientTransport): void {
  const deliver = transport.onmessage;
  if (!deliver) throw new Error('transport is not connected');
  transport.onmessage = (message: JSONRPCMessage) => {
    if ('method' in message) deliver(message);
    else setImmediate(() => deliver(message));
  };
}

describe('stdioServerPath', () => {
  it('points at the compiled server even when imported from source', () => {
    expect(stdioServerPath).toMatch(/[/\\]dist[/\\]stdio-server\.js$/);
    expect(existsSync(stdioServerPath)).toBe(true);
  });
});

describe('demo stdio server', () => {
  it('lists the demo tools with schemas and reports --name', async () => {
    const { client } = await connect({ args: ['--name', 'alpha'] });
    expect(client.getServerVersion()?.name).toBe('alpha');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...DEMO_TOOL_NAMES].sort());
    for (const tool of tools) expect(tool.description).toBeTruthy();
    const echo = tools.find((t) => t.name === 'echo');
    expect(echo?.inputSchema.properties).toHaveProperty('text');
    expect(echo?.outputSchema?.properties).toHaveProperty('text');
    expect(tools.find((t) => t.name === 'add')?.inputSchema.required).toEqual(['a', 'b']);
  });

  it('echo returns text and structuredContent; add sums', async () => {
    const { client } = await connect();
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'héllo' } });
    expect(textOf(echo)).toBe('héllo');
    expect(echo.structuredContent).toEqual({ text: 'héllo' });
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 40.5 } }))).toBe('42.5');
  });

  it('fail returns isError, throw fails with a JSON-RPC error', async () => {
    const { client } = await connect();
    const fail = await client.callTool({ name: 'fail', arguments: { message: 'nope' } });
    expect(fail.isError).toBe(true);
    expect(textOf(fail)).toBe('nope');

    const thrown = client.callTool({ name: 'throw', arguments: { message: 'kaboom' } });
    await expect(thrown).rejects.toBeInstanceOf(ProtocolError);
    await expect(thrown).rejects.toMatchObject({ code: ProtocolErrorCode.InternalError, message: 'kaboom' });
    // The server is still usable afterwards.
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } }))).toBe('2');
  });

  it('large returns exactly the requested length', async () => {
    const { client } = await connect();
    for (const bytes of [0, 1, 1_000_003]) {
      const text = textOf(await client.callTool({ name: 'large', arguments: { bytes } }));
      expect(text.length).toBe(bytes);
    }
  });

  it('progress sends one notification per step', async () => {
    const { client, transport } = await connect();
    deliverNotificationsFirst(transport);
    const seen: Progress[] = [];
    const result = await client.callTool({ name: 'progress', arguments: { steps: 3, delayMs: 1 } }, {
      onprogress: (p) => seen.push(p),
    });
    expect(textOf(result)).toBe('done 3');
    expect(seen.map((p) => [p.progress, p.total])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
  });

  it('sleep stops and logs "sleep aborted" when the request is cancelled', async () => {
    const { client, transport, stderr } = await connect();
    // Abort only once the tools/call request has been written, so the server sees request then cancellation.
    const sent = toolCallSent(transport);
    const controller = new AbortController();
    const call = client.callTool({ name: 'sleep', arguments: { ms: 60_000 } }, {
      signal: controller.signal,
    });
    const rejected = expect(call).rejects.toThrow();
    await within(sent, 'tools/call to be sent');
    controller.abort('test cancels');
    await rejected;
    await stderr.waitFor('sleep aborted');

    // An uncancelled sleep completes normally.
    expect(textOf(await client.callTool({ name: 'sleep', arguments: { ms: 5 } }))).toBe('slept 5');
  });

  it('sleep interrupted by the connection closing is not reported as "sleep aborted"', async () => {
    const { client, transport, stderr } = await connect();
    const sent = toolCallSent(transport);
    const call = client.callTool({ name: 'sleep', arguments: { ms: 60_000 } });
    const rejected = expect(call).rejects.toMatchObject({ code: SdkErrorCode.ConnectionClosed });
    await within(sent, 'tools/call to be sent');
    await within(client.close(), 'client close');
    await rejected;
    await stderr.waitFor('sleep interrupted: connection closed');
    expect(stderr.text).not.toContain('sleep aborted');
  });

  it('crash makes the pending call reject', async () => {
    const { client } = await connect();
    const call = client.callTool({ name: 'crash', arguments: { code: 7 } }, { timeout: WAIT_MS });
    await expect(call).rejects.toMatchObject({ code: SdkErrorCode.ConnectionClosed });
  });

  it('add_tool triggers notifications/tools/list_changed', async () => {
    const { client } = await connect();
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
    const changed = new Promise<void>((resolve) =>
      client.setNotificationHandler('notifications/tools/list_changed', () => resolve()),
    );
    expect(textOf(await client.callTool({ name: 'add_tool', arguments: {} }))).toBe('extra_1');
    await within(changed, 'tools/list_changed');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('extra_1');
    expect(textOf(await client.callTool({ name: 'extra_1', arguments: {} }))).toBe('extra_1');
  });

  it('env and pid report on the child process', async () => {
    const { client, transport } = await connect({ env: { DEMO_SECRET: 's3cret' } });
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'DEMO_SECRET' } }))).toBe('s3cret');
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'DEMO_NOT_SET_ANYWHERE' } }))).toBe('<unset>');
    expect(textOf(await client.callTool({ name: 'pid', arguments: {} }))).toBe(String(transport.pid));
  });

  it('writes TEST_SERVER_STDERR_LINES junk lines at start', async () => {
    const { stderr } = await connect({ env: { TEST_SERVER_STDERR_LINES: '500' } });
    await stderr.waitFor('junk stderr line 500/500');
    expect(stderr.text.match(/junk stderr line/g)).toHaveLength(500);
  });
});

describe('demo stdio server process', () => {
  it('exits 3 with a message when TEST_SERVER_REQUIRE_ENV names an unset variable', async () => {
    const { stderr, exited } = spawnRaw({ TEST_SERVER_REQUIRE_ENV: 'DEMO_API_KEY' });
    expect(await exited).toBe(3);
    expect(stderr.text).toContain('DEMO_API_KEY');
  });

  it('starts when the required variable is set, and exits 0 when stdin closes', async () => {
    const { child, stderr, exited } = spawnRaw({ TEST_SERVER_REQUIRE_ENV: 'DEMO_API_KEY', DEMO_API_KEY: 'k' });
    await stderr.waitFor('listening on stdio');
    child.stdin?.end();
    expect(await exited).toBe(0);
  });

  it('crash exits with the requested code without answering', async () => {
    const { child, exited } = spawnRaw();
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const send = (message: object) => child.stdin?.write(`${JSON.stringify(message)}\n`);
    send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
    });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'crash', arguments: { code: 7 } } });
    expect(await exited).toBe(7);
    expect(stdout).toContain('"id":1');
    expect(stdout).not.toContain('"id":2');
  });
});
