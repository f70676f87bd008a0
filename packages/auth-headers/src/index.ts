/**
 * @agent-mcp-gateway/auth-headers — static credentials: configured HTTP
 * headers (personal access tokens, API keys) and stdio env API keys.
 *
 * ```ts
 * const gateway = new Gateway({ config, plugins: [new HttpTransportPlugin(), new HeadersAuthPlugin()] });
 * ```
 */
export { HeadersAuthPlugin } from './plugin.js';
export { StaticCredentialsStrategy } from './strategy.js';
export type { SecretSource } from './strategy.js';
