import { createInterface } from 'node:readline';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import {
  AuditPlugin,
  Gateway,
  SecretRedactor,
  createGatewayServer,
  createLogger,
  routeSdkWarnings,
  watchConfig,
} from '@agent-mcp-gateway/core';
import { HTTP_SETTINGS_SECTION, HttpServeSettingsSchema, httpServeSettingsOf } from '@agent-mcp-gateway/serve-http/settings';
import type { CliArgs } from './args.js';
import { childAncestry, loopRefusal } from './ancestry.js';
import { loadConfigFor, reloadOptionsFor, type CliConfig } from './context.js';
import { defaultPlugins } from './default-plugins.js';
import { eraVerdictsFor } from './era-verdicts.js';

/** Upper bound for shutdown: downstream close is stdin end → SIGTERM → SIGKILL, 2 s apart. */
const SHUTDOWN_LIMIT_MS = 6_000;

/** `serve`: the gateway over stdio (or HTTP, see {@link runHttpServe}). Resolves with the exit code once the client goes away. */
export async function runServe(args: CliArgs): Promise<number> {
  const config = await loadConfigFor(args);
  const settings = config.settings;
  const loop = loopRefusal(config.sources.config);
  if (loop) return refuseToServe(loop, settings.transport === HTTP_SETTINGS_SECTION);
  if (settings.transport === HTTP_SETTINGS_SECTION) return runHttpServe(args, config);
  const { gateway, logger, audit } = await createGateway(config);
  await gateway.start({ connect: false });
  const watcher = watchConfig(gateway, reloadOptionsFor(args, config));

  // Eager servers start once the client is there: a 2025 client when its handshake is done, a 2026
  // client (no handshake) at its first tool request. Never on a timer: a 2026 client's stdio connection
  // may be a probe the client spawned only to ask `server/discover` (the SDK's sibling probe), and on a
  // loaded machine a timer could fire before that probe's one request is read, starting every
  // downstream (and its logins) in a process that is about to be killed.
  let connected = false;
  const connectAll = () => {
    if (connected) return;
    connected = true;
    gateway.connectAll();
  };
  const debug = args.debug || settings.debug;
  // Both eras on one stdio connection: the opening message pins it to a 2025 instance (initialize) or a
  // 2026-07-28 one (a request carrying the per-request envelope); the SDK calls the factory for it.
  const front = serveStdio(
    ({ era }) => {
      if (era === 'modern') return createGatewayServer(gateway, { debug, onToolRequest: () => setImmediate(connectAll) });
      const server = createGatewayServer(gateway, { debug });
      server.oninitialized = connectAll;
      return server;
    },
    { onerror: (error) => logger.debug(`stdio: ${error.message}`) },
  );
  const stop = whenStopped({
    logger,
    closeFront: () => front.close(),
    gateway,
    watcher,
    audit,
  });
  process.stdin.once('end', () => stop.now('stdin closed'));
  process.stdin.once('close', () => stop.now('stdin closed'));
  logger.info(`Gateway ready: ${config.servers.length} servers from ${config.sources.config ?? 'inline config'}, settings ${config.sources.settings ?? 'defaults'}`);
  const code = await stop.done;
  process.stdin.destroy();
  return code;
}

/** How long a refusing gateway waits for its client's first request before it exits all the same. */
const REFUSAL_WAIT_MS = 5_000;

/**
 * A gateway that must not serve (it would start itself without end): says why on stderr and, over
 * stdio, as the error answer to the client's first request — which the parent gateway shows as
 * the server's last error — then exits 1. Nothing is loaded, no child is started.
 */
async function refuseToServe(reason: string, http: boolean): Promise<number> {
  process.stderr.write(`agent-mcp-gateway: refusing to serve: ${reason}\n`);
  if (http) return 1;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, REFUSAL_WAIT_MS).unref();
    const lines = createInterface({ input: process.stdin });
    const done = () => {
      clearTimeout(timer);
      lines.close();
      resolve();
    };
    lines.on('line', (line) => {
      let id: unknown;
      try {
        id = (JSON.parse(line) as { id?: unknown }).id;
      } catch {
        return;
      }
      if (typeof id !== 'string' && typeof id !== 'number') return;
      const answer = { jsonrpc: '2.0', id, error: { code: -32600, message: `agent-mcp-gateway refuses to serve: ${reason}` } };
      process.stdout.write(`${JSON.stringify(answer)}\n`, done);
    });
    lines.on('close', done);
  });
  process.stdin.destroy();
  return 1;
}

/** The gateway with the CLI's plugins, its logger and audit log. Not started. */
async function createGateway(config: CliConfig): Promise<{ gateway: Gateway; logger: ReturnType<typeof createLogger>; audit: AuditPlugin }> {
  const settings = config.settings;
  const redactor = new SecretRedactor();
  const logger = createLogger({ level: settings.logLevel, format: settings.logFormat, redactor });
  // The SDK's own warnings (a tool left out for an invalid x-mcp-header mapping) through this logger: redacted, leveled, per server.
  routeSdkWarnings(logger);
  // Kept to flush it once more after the gateway closed: calls cut short by the close settle after the shutdown hook's flush.
  const audit = new AuditPlugin();
  const plugins = [...defaultPlugins({ stdio: { env: childAncestry(config.sources.config) }, audit }), ...config.thirdPartyPlugins];
  return { gateway: new Gateway({ config, plugins, logger, redactor, eraVerdicts: eraVerdictsFor(process.env, logger) }), logger, audit };
}

/**
 * `serve` with `transport: http`: Streamable HTTP on `/mcp` (@agent-mcp-gateway/serve-http) until SIGINT or
 * SIGTERM. Prints `Gateway listening on <url>` on stderr once it takes requests.
 */
async function runHttpServe(args: CliArgs, config: CliConfig): Promise<number> {
  const settings = config.settings;
  // Loaded only here: a stdio gateway (the common case) never pays for the HTTP server's modules.
  const { checkHttpServeSettings, rulesHaveApiKeys, serveGateway } = await import('@agent-mcp-gateway/serve-http');
  const http = httpServeSettingsOf(settings) ?? HttpServeSettingsSchema.parse({});
  const allowUnauthenticated = args.allowUnauthenticated || http.allowUnauthenticated;
  checkHttpServeSettings({ settings: http, hasApiKeys: rulesHaveApiKeys(config.rules), allowUnauthenticated });
  const { gateway, logger, audit } = await createGateway(config);
  // Listens, starts the gateway, marks the listener ready, connects the servers (a failed start closes the listener).
  const listener = await serveGateway(gateway, { settings: http, debug: args.debug || settings.debug, allowUnauthenticated, logger });
  const watcher = watchConfig(gateway, reloadOptionsFor(args, config));
  const stop = whenStopped({ logger, closeFront: () => listener.close(), gateway, watcher, audit });
  logger.info(`Gateway ready: ${config.servers.length} servers from ${config.sources.config ?? 'inline config'}, settings ${config.sources.settings ?? 'defaults'}`);
  // Always printed (whatever the log level): scripts and tests read the URL from it, e.g. with --port 0.
  process.stderr.write(`Gateway listening on ${listener.url}\n`);
  return stop.done;
}

interface Stoppable {
  readonly logger: ReturnType<typeof createLogger>;
  /** Stops taking requests: the MCP server (stdio) or the HTTP listener. */
  readonly closeFront: () => Promise<unknown>;
  readonly gateway: Gateway;
  readonly watcher: { close(): void };
  readonly audit: AuditPlugin;
}

/**
 * One shutdown for both transports, on SIGINT, SIGTERM or `now(why)`: stop taking requests,
 * close every downstream, flush the audit log (calls cut short by the shutdown settle after the
 * shutdown hook's flush) and the logs — within {@link SHUTDOWN_LIMIT_MS} whatever hangs.
 */
function whenStopped(parts: Stoppable): { done: Promise<number>; now(why: string): void } {
  let now!: (why: string) => void;
  const done = new Promise<number>((resolve) => {
    let stopping = false;
    now = (why) => {
      if (stopping) return;
      stopping = true;
      parts.logger.info(`Shutting down (${why})`);
      parts.watcher.close();
      const limit = setTimeout(() => resolve(0), SHUTDOWN_LIMIT_MS);
      limit.unref();
      void parts
        .closeFront()
        .catch(() => undefined)
        .then(() => parts.gateway.close())
        .then(() => parts.audit.flush())
        .then(() => parts.logger.close())
        .finally(() => {
          clearTimeout(limit);
          resolve(0);
        });
    };
  });
  process.once('SIGINT', () => now('SIGINT'));
  process.once('SIGTERM', () => now('SIGTERM'));
  return { done, now };
}
