/**
 * @agent-mcp-gateway/serve-http — serves a `Gateway` to MCP clients over Streamable HTTP.
 *
 * One `node:http` listener: the MCP endpoint on `/mcp` (one SDK server per session, all over one
 * gateway), per-agent credentials (API keys from the rules, JWT access tokens of an OAuth
 * authorization server), DNS-rebinding protection (Host and Origin checks), a request size limit,
 * `/health`, `/ready`, `/metrics` and RFC 9728 protected-resource metadata.
 *
 * ```ts
 * import { Gateway, MetricsPlugin, PolicyPlugin } from '@agent-mcp-gateway/core';
 * import { StdioTransportPlugin } from '@agent-mcp-gateway/transport-stdio';
 * import { serveGateway } from '@agent-mcp-gateway/serve-http';
 *
 * // config: a GatewayConfig, e.g. from loadGatewayConfig() of @agent-mcp-gateway/core.
 * // PolicyPlugin enforces its rules (a config with rules does not start without it); MetricsPlugin answers /metrics.
 * const gateway = new Gateway({ config, plugins: [new PolicyPlugin(), new MetricsPlugin(), new StdioTransportPlugin()] });
 * const server = await serveGateway(gateway, { settings: { port: 0 } });
 * process.stderr.write(`MCP endpoint: ${server.url}\n`); // stderr: keep stdout free for an MCP stdio channel
 * // …
 * await server.close();
 * await gateway.close();
 * ```
 *
 * @packageDocumentation
 */
export { serveGateway } from './serve-gateway.js';
export type { HttpServeSettingsInput, ServeGatewayOptions } from './serve-gateway.js';
export { MCP_PATH, checkHttpServeSettings, startHttpServer } from './http-serve.js';
export type { GatewayHttpServer, HttpServeOptions } from './http-serve.js';
export { CallerAuth, discoverJwksUri, hashApiKey, rulesHaveApiKeys } from './http-auth.js';
export type { AuthVerdict, CallerAuthOptions } from './http-auth.js';
/**
 * The `http` settings section: this package's own (core knows none of it), registered through the
 * `ConfigRegistry` by {@link HttpServePlugin} / {@link registerHttpServeSettings}.
 */
export {
  DEFAULT_HTTP_HOST,
  DEFAULT_HTTP_MAX_BODY_BYTES,
  DEFAULT_HTTP_PORT,
  HTTP_SETTINGS_ENV_VARS,
  HTTP_SETTINGS_SECTION,
  HttpAuthSettingsSchema,
  HttpServePlugin,
  HttpServeSettingsSchema,
  httpServeSettingsOf,
  registerHttpServeSettings,
} from './settings.js';
export type { HttpAuthSettings, HttpServeSettings } from './settings.js';
