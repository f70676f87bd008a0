/**
 * @agent-mcp-gateway/auth-oauth-dcr — OAuth 2.1 for MCP downstream servers, as
 * the MCP authorization spec (2025-11-25) asks of a client.
 *
 * ```ts
 * const gateway = new Gateway({ config, plugins: [new HttpTransportPlugin(), new OAuthPlugin(), new HeadersAuthPlugin()] });
 * ```
 */
export { OAuthPlugin, type OAuthPluginOptions } from './plugin.js';
export { OAuthStrategy, type OAuthStrategyOptions } from './strategy.js';
export { discoverAuthorizationServer, discoverResource, type ResourceInfo } from './discovery.js';
export { startCallbackServer, type CallbackServer } from './callback.js';
export { openBrowser } from './browser.js';
