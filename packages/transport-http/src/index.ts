/**
 * @agent-mcp-gateway/transport-http — remote downstream MCP servers over
 * Streamable HTTP (with the legacy SSE fallback) or legacy HTTP+SSE.
 *
 * ```ts
 * const gateway = new Gateway({ config, plugins: [new HttpTransportPlugin()] });
 * ```
 */
export { HttpTransportPlugin, type HttpTransportOptions } from './plugin.js';
export { createAuthFetch, withoutCredentialHeaders, CREDENTIAL_HEADERS, type AuthFetchOptions } from './auth-fetch.js';
export { HttpDownstreamTransport, isSessionExpired, type HttpDownstreamTransportOptions } from './fallback-transport.js';
