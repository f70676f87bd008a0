/**
 * Fixtures of the operations tests (reload, audit, metrics, notifications):
 * in-process downstreams (real McpServers over linked in-memory pairs) handed
 * to the gateway by a transport plugin, a real SDK client on the agent side,
 * and a logger whose lines the test can read.
 */
import { PassThrough } from 'node:stream';
import { InMemoryTransport } from '@modelcontextprotocol/server';
import type { McpServer } from '@modelcontextprotocol/server';
import { Client } from '@modelcontextprotocol/client';
import { createDemoServer } from '@agent-mcp-gateway/testing';
import {
  Gateway,
  GatewaySettingsSchema,
  MetricsPlugin,
  PolicyPlugin,
  ReloadStatusPlugin,
  createGatewayServer,
  createLogger,
  silentLogger,
  type GatewayConfig,
  type GatewayPlugin,
  type GatewaySettingsInput,
  type RulesFile,
  type ServerSpec,
} from '../src/index.js';

export function spec(name: string, extra: Partial<ServerSpec> = {}): ServerSpec {
  return { name, transport: 'stdio', args: [], env: {}, headers: {}, secretValues: [], enabled: true, ...extra };
}

export function config(servers: ServerSpec[], settings: GatewaySettingsInput = {}, rules?: RulesFile): GatewayConfig {
  return { servers, settings: GatewaySettingsSchema.parse(settings), sources: {}, warnings: [], ...(rules && { rules }) };
}

/** Every connection the transport made, per server name, with the McpServer on its far side. */
export class Downstreams {
  readonly connections: { server: string; mcp: McpServer }[] = [];
  lines: string[] = [];

  constructor(private readonly build: (server: string) => McpServer = (server) => createDemoServer({ name: server, log: (l) => this.lines.push(`${server}: ${l}`) })) {}

  count(server: string): number {
    return this.connections.filter((c) => c.server === server).length;
  }

  plugin(): GatewayPlugin {
    return {
      name: 'memory-transport',
      apply: (g) =>
        g.hooks.resolveTransport.tapPromise('memory-transport', async (s) => ({
          kind: 'memory',
          create: async () => {
            const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
            const mcp = this.build(s.name);
            await mcp.connect(serverSide);
            this.connections.push({ server: s.name, mcp });
            return clientSide;
          },
        })),
    };
  }
}

export interface CapturedLog {
  readonly logger: ReturnType<typeof createLogger>;
  lines(): string[];
  /** Resolves with the first line (from now on, or already written after `from`) matching `pattern`; bounded. */
  waitFor(pattern: RegExp, options?: { from?: number; ms?: number }): Promise<string>;
}

/** A debug-level text logger whose lines the test reads. */
export function capturingLogger(): CapturedLog {
  const stream = new PassThrough();
  const all: string[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  stream.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    all.push(...parts);
    for (const w of waiters) w();
  });
  const logger = createLogger({ level: 'debug', stream });
  return {
    logger,
    lines: () => [...all],
    waitFor: (pattern, { from = all.length, ms = 5_000 } = {}) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const line = all.slice(from).find((l) => pattern.test(l));
          if (line === undefined) return false;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(line);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no log line matched ${String(pattern)}; the log has:\n${all.slice(-30).join('\n')}`));
        }, ms);
        if (!check()) waiters.add(check);
      }),
  };
}

export interface Running {
  readonly gateway: Gateway;
  readonly client: Client;
  /** The metrics plugin composed before `plugins`. */
  readonly metrics: MetricsPlugin;
  close(): Promise<void>;
}

/**
 * A started gateway with its agent-facing server and an SDK client connected to it. Its plugins:
 * policy, reload status and metrics (as the CLI composes them), then `plugins`.
 */
export async function startWithClient(
  cfg: GatewayConfig,
  plugins: GatewayPlugin[],
  options: { logger?: ReturnType<typeof createLogger>; debug?: boolean } = {},
): Promise<Running> {
  const logging = options.logger ? { logger: options.logger, redactor: options.logger.redactor } : { logger: silentLogger };
  const metrics = new MetricsPlugin();
  const gateway = new Gateway({ config: cfg, plugins: [new PolicyPlugin(), new ReloadStatusPlugin(), metrics, ...plugins], ...logging });
  await gateway.start();
  const server = createGatewayServer(gateway, { debug: options.debug ?? true });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(clientSide);
  return {
    gateway,
    client,
    metrics,
    close: async () => {
      await client.close();
      await gateway.close();
    },
  };
}

/** Polls `check` every 5 ms until it holds (bounded): for effects in another component that emit no event. */
export async function until(check: () => boolean, label: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
