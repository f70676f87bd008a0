/**
 * The interactive pass-through (a downstream's elicitation and sampling), through the CLI serving
 * over HTTP (a real gateway process): a 2026-07-28-only and a 2025-11-25-only downstream behind
 * one gateway, called by a 2026 agent and by a 2025 agent; the answers go back; the schema's
 * defaults are applied (the agents here never apply them); the state a 2026 agent carries is
 * bound to its call; a 2025 downstream's pending question lives in one process only; an
 * OAuth-protected downstream's login reaches a 2026 agent as a URL to open.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport, withInputRequired } from '@modelcontextprotocol/client';
import type { CallToolResult, ClientCapabilities, InputRequiredResult } from '@modelcontextprotocol/client';
import { CallToolResultSchema } from '@modelcontextprotocol/core';
import { startAuthorizationServer, startHttpMcpServer, startProtectedMcpServer, testBrowserCommand } from '@agent-mcp-gateway/testing';
import { binPath, demoServer, errorOf, startGateway, tempDir, writeConfig } from './harness.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn().catch(() => undefined);
});

interface HttpGateway {
  readonly url: string;
  readonly base: string;
  waitForStderr(pattern: RegExp): Promise<void>;
}

/** The built CLI serving over HTTP on an ephemeral port; resolves once it listens. */
async function startHttpGateway(options: { servers: Record<string, unknown>; env?: Record<string, string>; files?: { dir: string; config: string } }): Promise<HttpGateway> {
  const files = options.files ?? (await writeConfig(options.servers));
  const child = spawn(process.execPath, [binPath, '--config', files.config, '--transport', 'http', '--port', '0'], {
    cwd: files.dir,
    env: { PATH: process.env.PATH ?? '', HOME: files.dir, GATEWAY_TOKEN_DIR: join(files.dir, 'tokens'), ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    for (const w of waiters) w();
  });
  const waitForStderr = (pattern: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stderr never showed ${String(pattern)}:\n${stderr.slice(-3000)}`)), 20_000);
      const check = (): void => {
        if (!pattern.test(stderr)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  await waitForStderr(/Gateway listening on http:\/\/\S+/);
  const url = /Gateway listening on (http:\/\/\S+)/.exec(stderr)?.[1] as string;
  return { url, base: url.replace(/\/mcp$/, ''), waitForStderr };
}

/** What the agents here answer: accept with empty content (the defaults must come from the gateway), and a canned model reply. */
function agentClient(
  era: 'legacy' | 'modern',
  capabilities: ClientCapabilities,
  options: { manual?: boolean; onUrl?: (url: string) => void; silent?: boolean } = {},
): Client {
  const client = new Client(
    { name: `agent-${era}`, version: '1.0.0' },
    {
      capabilities,
      ...(era === 'modern' && { versionNegotiation: { mode: { pin: '2026-07-28' } } }),
      ...(options.manual && { inputRequired: { autoFulfill: false } }),
    },
  );
  if (capabilities.elicitation) {
    client.setRequestHandler('elicitation/create', (request) => {
      if (options.silent) return new Promise<never>(() => undefined); // a user who never answers
      if (request.params.mode === 'url') options.onUrl?.(request.params.url);
      return { action: 'accept', content: {} };
    });
  }
  if (capabilities.sampling) {
    client.setRequestHandler('sampling/createMessage', (request) => {
      const first = request.params.messages[0]?.content;
      const asked = first && !Array.isArray(first) && first.type === 'text' ? first.text : '?';
      return { role: 'assistant', model: 'test-model', content: { type: 'text', text: `echo(${asked})` } };
    });
  }
  return client;
}

async function connect(url: string, client: Client): Promise<Client> {
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  cleanup.unshift(() => client.close());
  return client;
}

const FORM_ONLY: ClientCapabilities = { elicitation: { form: {} }, sampling: {} };

function textOf(result: CallToolResult): string {
  if (result.isError) throw new Error(`unexpected error result: ${JSON.stringify(result)}`);
  const first = result.content[0];
  return first?.type === 'text' ? first.text : '';
}

async function execute(client: Client, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name: 'execute_tool', arguments: args })) as CallToolResult;
}

/** One round of execute_tool by a manual 2026 client: the result or the `input_required`, as it came. */
async function round(client: Client, args: Record<string, unknown>, retry?: { inputResponses: Record<string, unknown>; requestState?: string }) {
  const params = { name: 'execute_tool', arguments: args, ...retry };
  return (await client.request({ method: 'tools/call', params }, withInputRequired(CallToolResultSchema), { allowInputRequired: true })) as
    | CallToolResult
    | InputRequiredResult;
}

function isInputRequired(value: unknown): value is InputRequiredResult {
  return (value as { resultType?: string }).resultType === 'input_required';
}

describe('interactive pass-through', () => {
  it('elicitation and sampling: 2026 and 2025 agents × 2026-only and 2025-only downstreams behind one gateway; defaults applied; one call each in the metrics', async () => {
    const modern = await startHttpMcpServer({ era: '2026', name: 'modern' });
    const legacy = await startHttpMcpServer({ era: '2025', name: 'legacy' });
    cleanup.push(() => modern.close(), () => legacy.close());
    const g = await startHttpGateway({ servers: { modern: { url: modern.url }, legacy: { url: legacy.url } } });
    const agents = {
      a2026: await connect(g.url, agentClient('modern', FORM_ONLY)),
      a2025: await connect(g.url, agentClient('legacy', FORM_ONLY)),
    };
    expect(agents.a2026.getProtocolEra()).toBe('modern');
    expect(agents.a2025.getProtocolEra()).toBe('legacy');

    for (const [name, agent] of Object.entries(agents)) {
      for (const server of ['modern', 'legacy']) {
        // The agent answered accept with no content: "anon" is the schema's default, filled in by the gateway.
        expect(textOf(await execute(agent, { agent_id: name, server, tool: 'ask' })), `${name} → ${server}`).toBe('hello anon');
      }
    }
    // Sampling, across eras both ways.
    expect(textOf(await execute(agents.a2026, { agent_id: 'a2026', server: 'legacy', tool: 'sample', args: { prompt: 'hi' } }))).toBe('model said: echo(hi)');
    expect(textOf(await execute(agents.a2025, { agent_id: 'a2025', server: 'modern', tool: 'sample', args: { prompt: 'yo' } }))).toBe('model said: echo(yo)');

    // The 2026 downstream was asked twice per call (the question, then the retry with the answer); the 2025 one once.
    const calls = (s: typeof modern) => s.requests.filter((r) => r.rpcMethod === 'tools/call').length;
    expect(calls(modern)).toBe(2 * 3);
    expect(calls(legacy)).toBe(3);

    // Each logical call settled once, however many rounds it took.
    const metrics = await (await fetch(`${g.base}/metrics`)).text();
    const count = (agent: string, server: string) =>
      Number(new RegExp(`agent_mcp_gateway_calls_total\\{agent="${agent}",operation="execute_tool",server="${server}"\\} (\\d+)`).exec(metrics)?.[1]);
    expect({ a2026modern: count('a2026', 'modern'), a2026legacy: count('a2026', 'legacy'), a2025modern: count('a2025', 'modern'), a2025legacy: count('a2025', 'legacy') }).toEqual({
      a2026modern: 1,
      a2026legacy: 2,
      a2025modern: 2,
      a2025legacy: 1,
    });
  });

  it('an agent without the capability is not asked: a 2025 downstream gets a cancel, a 2026 one refuses (its -32021 translated)', async () => {
    const modern = await startHttpMcpServer({ era: '2026', name: 'modern' });
    const legacy = await startHttpMcpServer({ era: '2025', name: 'legacy' });
    cleanup.push(() => modern.close(), () => legacy.close());
    const g = await startHttpGateway({ servers: { modern: { url: modern.url }, legacy: { url: legacy.url } } });
    for (const era of ['modern', 'legacy'] as const) {
      const agent = await connect(g.url, agentClient(era, {}));
      expect(textOf(await execute(agent, { server: 'legacy', tool: 'ask' })), `${era} → legacy`).toBe('answer: cancel');
      expect(errorOf(await execute(agent, { server: 'modern', tool: 'ask' })), `${era} → modern`).toMatchObject({
        code: 'DOWNSTREAM_ERROR',
        reason: 'client_capability_missing',
        server: 'modern',
      });
    }
  });

  it('the whole flow is bounded by timeout_ms: a 2025 agent that never answers gets TIMEOUT', async () => {
    const modern = await startHttpMcpServer({ era: '2026', name: 'modern' });
    const legacy = await startHttpMcpServer({ era: '2025', name: 'legacy' });
    cleanup.push(() => modern.close(), () => legacy.close());
    const g = await startHttpGateway({ servers: { modern: { url: modern.url }, legacy: { url: legacy.url } } });
    const agent = await connect(g.url, agentClient('legacy', FORM_ONLY, { silent: true }));
    for (const server of ['modern', 'legacy']) {
      const started = Date.now();
      expect(errorOf(await execute(agent, { server, tool: 'ask', timeout_ms: 1_000 })), server).toMatchObject({ code: 'TIMEOUT', server, tool: 'ask' });
      expect(Date.now() - started).toBeLessThan(8_000);
    }
  });

  it('the state a 2026 agent carries is bound to its agent, server, tool and arguments', async () => {
    const modern = await startHttpMcpServer({ era: '2026', name: 'modern' });
    const legacy = await startHttpMcpServer({ era: '2025', name: 'legacy' });
    cleanup.push(() => modern.close(), () => legacy.close());
    const g = await startHttpGateway({ servers: { modern: { url: modern.url }, legacy: { url: legacy.url } } });
    const client = await connect(g.url, agentClient('modern', FORM_ONLY, { manual: true }));
    for (const server of ['modern', 'legacy']) {
      const args = { agent_id: 'alice', server, tool: 'ask', args: { message: 'Who?' } };
      const first = await round(client, args);
      if (!isInputRequired(first)) throw new Error(`expected input_required, got ${JSON.stringify(first)}`);
      const [key, request] = Object.entries(first.inputRequests ?? {})[0] ?? [];
      expect(request).toMatchObject({ method: 'elicitation/create', params: { message: 'Who?' } });
      const retry = { inputResponses: { [key as string]: { action: 'accept', content: { name: 'Ada' } } }, requestState: first.requestState as string };
      // Another agent, another tool, other arguments: refused, coded.
      for (const [what, other] of [
        ['agent', { ...args, agent_id: 'bob' }],
        ['tool', { ...args, tool: 'echo' }],
        ['arguments', { ...args, args: { message: 'Whom?' } }],
      ] as const) {
        const refused = (await round(client, other, retry)) as CallToolResult;
        expect(errorOf(refused), `${server}: ${what}`).toMatchObject({ code: 'INVALID_ARGUMENTS', reason: 'interaction_mismatch' });
      }
      // A state that was tampered with never reaches the handler.
      await expect(round(client, args, { ...retry, requestState: `${retry.requestState}x` })).rejects.toMatchObject({ code: -32602 });
      // Alice's own retry goes through (her answer, not a default).
      expect(textOf((await round(client, args, retry)) as CallToolResult)).toBe('hello Ada');
    }
  });

  it('a 2025 downstream waits in one process: the round that reaches another instance gets interaction_not_found; a 2026 one continues anywhere', async () => {
    const modern = await startHttpMcpServer({ era: '2026', name: 'modern' });
    const legacy = await startHttpMcpServer({ era: '2025', name: 'legacy' });
    cleanup.push(() => modern.close(), () => legacy.close());
    const files = await writeConfig({ modern: { url: modern.url }, legacy: { url: legacy.url } });
    const env = { GATEWAY_STATE_KEY: randomBytes(32).toString('base64url') };
    const a = await startHttpGateway({ servers: {}, files, env });
    const b = await startHttpGateway({ servers: {}, files, env });
    const onA = await connect(a.url, agentClient('modern', FORM_ONLY, { manual: true }));
    const onB = await connect(b.url, agentClient('modern', FORM_ONLY, { manual: true }));
    for (const server of ['modern', 'legacy']) {
      const args = { server, tool: 'ask' };
      const first = await round(onA, args);
      if (!isInputRequired(first)) throw new Error(`expected input_required, got ${JSON.stringify(first)}`);
      const key = Object.keys(first.inputRequests ?? {})[0] as string;
      const answered = await round(onB, args, { inputResponses: { [key]: { action: 'accept', content: { name: 'Bo' } } }, requestState: first.requestState as string });
      if (server === 'modern') expect(textOf(answered as CallToolResult)).toBe('hello Bo');
      else expect(errorOf(answered as CallToolResult)).toMatchObject({ code: 'DOWNSTREAM_ERROR', reason: 'interaction_not_found', server: 'legacy' });
    }
  });

  it('over stdio too: a 2026 agent and a 2025 agent, each with its own gateway process, through stdio downstreams of both eras', async () => {
    const stdio = (name: string, era: string) => {
      const base = demoServer(name) as { args: string[] };
      return { ...base, args: [...base.args, '--era', era] };
    };
    for (const era of ['modern', 'legacy'] as const) {
      const agent = agentClient(era, FORM_ONLY);
      const g = await startGateway({ servers: { modern: stdio('modern', '2026'), legacy: stdio('legacy', '2025') }, client: agent });
      cleanup.unshift(() => g.close());
      expect(agent.getProtocolEra()).toBe(era);
      for (const server of ['modern', 'legacy']) {
        expect(textOf(await execute(agent, { server, tool: 'ask' })), `${era} → ${server}`).toBe('hello anon');
      }
      expect(textOf(await execute(agent, { server: era === 'modern' ? 'legacy' : 'modern', tool: 'sample', args: { prompt: 'p' } }))).toBe('model said: echo(p)');
    }
  });

  it('an OAuth-protected 2026 downstream: the login reaches a 2026 agent as a URL to open, then the call runs and elicits', async () => {
    const as = await startAuthorizationServer();
    const notion = await startProtectedMcpServer({ authorizationServer: as, name: 'notion', era: '2026' });
    cleanup.push(() => notion.close(), () => as.close());
    const g = await startHttpGateway({
      servers: { notion: { url: notion.url } },
      env: { BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: await tempDir(), GATEWAY_INIT_STRATEGY: 'lazy' },
    });
    const urls: string[] = [];
    const agent = await connect(g.url, agentClient('modern', { elicitation: { form: {}, url: {} } }, { onUrl: (url) => urls.push(url) }));
    // One execute_tool: login (URL elicitation), then the tool's own question, then its result.
    expect(textOf(await execute(agent, { server: 'notion', tool: 'ask', timeout_ms: 30_000 }))).toBe('hello anon');
    expect(urls).toHaveLength(1);
    expect(new URL(urls[0] as string).origin).toBe(new URL(as.issuer).origin);
    await g.waitForStderr(/Tokens cached for notion/);
  });
});
