/**
 * @acme/agent-mcp-gateway-auth-hmac — an example third-party auth plugin for agent-mcp-gateway:
 * every request to an Acme server is signed with HMAC-SHA256 over its method, path and a timestamp.
 *
 * The default export is the plugin class, as the gateway loads a plugin package listed in its
 * settings (`new AcmeHmacPlugin(options)`, the options validated by its static `optionsSchema`).
 */
import { AcmeHmacPlugin } from './plugin.js';

export default AcmeHmacPlugin;
export { AcmeHmacPlugin };
export { ACME_HMAC_TYPE, AcmeHmacAuthSchema, AcmeHmacOptionsSchema, PACKAGE_NAME, acmeErrors } from './config.js';
export type { AcmeHmacAuth, AcmeHmacOptions, AcmeHmacOptionsInput } from './config.js';
export { ACME_HMAC_SCHEME, authorization, signature, stringToSign } from './signature.js';
export type { SigningKey } from './signature.js';
export { AcmeHmacStrategy, VERIFIED_RECORD, verifiedKeyOf } from './strategy.js';
export type { SignedServer, StrategyContext, VerifiedKey } from './strategy.js';
