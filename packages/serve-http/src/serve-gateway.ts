/**
 * The few-lines path for an embedder: check the settings, listen, start the gateway, take requests.
 */
import type { Gateway, Logger } from '@agent-mcp-gateway/core';
import type { z } from 'zod';
import { rulesHaveApiKeys } from './http-auth.js';
import { checkHttpServeSettings, startHttpServer, type GatewayHttpServer } from './http-serve.js';
import { HttpServeSettingsSchema, httpServeSettingsOf } from './settings.js';

/** HTTP serving settings as written (every field optional; the defaults of {@link HttpServeSettingsSchema} fill in the rest). */
export type HttpServeSettingsInput = z.input<typeof HttpServeSettingsSchema>;

/** Options of {@link serveGateway}. */
export interface ServeGatewayOptions {
  /**
   * Listener settings: `host` (default `127.0.0.1`), `port` (default `8080`; `0` picks a free port),
   * `publicUrl`, `allowedHosts`, `allowedOrigins`, `maxBodyBytes`, `publicMetrics`,
   * `allowUnauthenticated`, `auth` (JWT access tokens). Default: the `http` section of the gateway config's settings,
   * else all defaults.
   */
  readonly settings?: HttpServeSettingsInput;
  /** Adds `get_gateway_status` to every session's MCP server. Default `false`. */
  readonly debug?: boolean;
  /**
   * Serve a non-loopback address without any agent credential (a proxy in front authenticates callers).
   * Default: `settings.allowUnauthenticated`.
   */
  readonly allowUnauthenticated?: boolean;
  /** Default: the gateway's own logger. */
  readonly logger?: Logger;
}

/**
 * Serves `gateway` over Streamable HTTP on `/mcp` and returns once it takes requests.
 *
 * In order: refuses unsafe settings ({@link checkHttpServeSettings}: no credential on a non-loopback
 * address, a JWT audience that cannot be known), starts listening (`/health` answers, `/ready` is 503),
 * starts the gateway (`gateway.start({connect: false})` — it must not have been started), marks the
 * listener ready, then connects the servers in the background (`initStrategy: eager`). When the
 * gateway fails to start, the listener is closed and the error thrown.
 *
 * Agents authenticate with the API keys of the gateway's rules (`agents.<id>.api_keys`, hashed with
 * {@link hashApiKey}) or, with `settings.auth`, with JWT access tokens; the agent a credential names is
 * the only one its caller may act for. Without any credential the listener serves loopback only.
 *
 * Closing is the caller's: `await server.close()` (stop taking requests), then `await gateway.close()`.
 *
 * @throws GatewayError `CONFIG_INVALID` for unsafe settings or an address that cannot be bound;
 *   whatever `gateway.start()` throws (e.g. `PLUGIN_ERROR`).
 */
export async function serveGateway(gateway: Gateway, options: ServeGatewayOptions = {}): Promise<GatewayHttpServer> {
  const settings = HttpServeSettingsSchema.parse(options.settings ?? httpServeSettingsOf(gateway.config.settings) ?? {});
  const allowUnauthenticated = options.allowUnauthenticated ?? settings.allowUnauthenticated;
  checkHttpServeSettings({ settings, hasApiKeys: rulesHaveApiKeys(gateway.config.rules), allowUnauthenticated });
  const server = await startHttpServer({
    gateway,
    settings,
    debug: options.debug ?? false,
    allowUnauthenticated,
    logger: options.logger ?? gateway.logger,
  });
  try {
    await gateway.start({ connect: false });
  } catch (error) {
    await server.close();
    throw error;
  }
  server.markReady();
  gateway.connectAll();
  return server;
}
