/**
 * Shared pieces of the auth-oauth-dcr tests: small real HTTP servers that answer
 * what a test tells them (and log every request), a logger whose lines can be
 * awaited, and the gateway wiring (HTTP transport + OAuth + an in-memory store).
 */
import { afterEach } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import {
  Gateway,
  GatewaySettingsSchema,
  createLogger,
  type GatewayConfig,
  type GatewayPlugin,
  type GatewaySettingsInput,
  type Logger,
  type ServerSpec,
  type ServerState,
  type TokenStore,
} from '@agent-mcp-gateway/core';

export const WAIT_MS = 15_000;

/** Races `promise` against a timer so no wait in the tests is unbounded. */
export function within<T>(promise: Promise<T>, label: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What a {@link DocServer} answers on one path. */
export interface Answer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, origin: string) => boolean | void;

/** A node:http server on 127.0.0.1 serving JSON documents by path (404 for anything else), logging every request. */
export interface DocServer {
  readonly origin: string;
  readonly port: number;
  /** `METHOD /path` of every request, oldest first. */
  readonly log: string[];
  /** Paths only, of every request, oldest first. */
  paths(): string[];
  /** What each path answers; change it at will. */
  readonly routes: Map<string, Answer>;
  close(): Promise<void>;
}

export async function startDocServer(handler?: Handler): Promise<DocServer> {
  const routes = new Map<string, Answer>();
  const log: string[] = [];
  let origin = '';
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    log.push(`${req.method} ${path}`);
    if (handler?.(req, res, origin)) return;
    const answer = routes.get(path);
    if (!answer) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      return;
    }
    res
      .writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers })
      .end(answer.body === undefined ? '' : JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;
  return {
    origin,
    port,
    log,
    paths: () => log.map((line) => line.slice(line.indexOf(' ') + 1)),
    routes,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** A logger (createLogger on a PassThrough) whose lines the test can read and await. */
export interface CapturedLogger {
  readonly logger: Logger;
  lines(): string[];
  text(): string;
  /** Resolves with the first line (from line `from` on) matching `pattern`; bounded. */
  waitFor(pattern: RegExp, from?: number, label?: string): Promise<string>;
}

export function captureLogger(): CapturedLogger {
  const stream = new PassThrough();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  stream.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
    for (const wake of [...waiters]) wake();
  });
  const logger = createLogger({ level: 'debug', stream });
  return {
    logger,
    lines: () => [...lines],
    text: () => lines.join('\n'),
    waitFor: (pattern, from = 0, label = String(pattern)) =>
      within(
        new Promise<string>((resolve) => {
          const check = () => {
            const found = lines.slice(from).find((line) => pattern.test(line));
            if (found === undefined) return;
            waiters.delete(check);
            resolve(found);
          };
          waiters.add(check);
          check();
        }),
        `log line ${label}`,
      ),
  };
}

export function httpSpec(name: string, url: string, extra: Partial<ServerSpec> = {}): ServerSpec {
  return { name, transport: 'http', url, args: [], env: {}, headers: {}, secretValues: [], enabled: true, ...extra };
}

export function gatewayConfig(servers: ServerSpec[], settings: GatewaySettingsInput = { initStrategy: 'lazy' }): GatewayConfig {
  return { servers, settings: GatewaySettingsSchema.parse(settings), sources: {}, warnings: [] };
}

/** Answers `resolveTokenStore` with one given store (an in-memory one in these tests). */
export function tokenStorePlugin(store: TokenStore): GatewayPlugin {
  return {
    name: 'test-token-store',
    apply: (gateway) => {
      gateway.hooks.resolveTokenStore.tap('test-token-store', () => store);
    },
  };
}

/** Resolves once `server` reaches `state` (tap this before acting). Bounded. */
export function nextState(gateway: Gateway, server: string, state: ServerState, label = `${server} → ${state}`): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      gateway.hooks.serverStateChanged.tap(`wait-${label}`, (name, s) => {
        if (name === server && s === state) resolve();
      });
    }),
    label,
  );
}

/** The rejection of `promise` (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; details?: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

/** The body of a form POST (`application/x-www-form-urlencoded`), as a token endpoint reads it. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return new URLSearchParams(body);
}

/** Cleanups of the current test, run (bounded) after each test of the file that calls this at its top level. */
export function cleanupsAfterEach(): (() => Promise<unknown>)[] {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    await within(Promise.allSettled(cleanups.splice(0).map((fn) => fn())), 'cleanup');
  });
  return cleanups;
}
