/**
 * @agent-mcp-gateway/auth-oauth-dcr — OAuth 2.1 for MCP downstream servers, as
 * the MCP authorization spec (2025-11-25) asks of a client.
 *
 * ```ts
 * const gateway = new Gateway({ config, plugins: [new HttpTransportPlugin(), new OAuthPlugin(), new HeadersAuthPlugin()] });
 * ```
 */
export { OAuthPlugin, type OAuthPluginOptions } from './plugin.js';
// Types only: the implementation loads on demand (see plugin.ts); discovery and login are its internals.
export type { DeviceLogin, OAuthStrategy, OAuthStrategyOptions, PendingLogin } from './strategy.js';
export type { ResourceInfo } from './discovery.js';
// RFC 7009 revocation for `auth logout`; it loads openid-client on its first call.
export { revokeTokens, type RevokeTokensOptions, type RevokeTokensResult } from './revoke.js';
// Its catalogued errors, for `code` + `details.reason` matching.
export {
  assertionUnreadable,
  authorizationRefused,
  authorizationResponseIssuerMismatch,
  clientCredentialsRefused,
  codeExchangeRefused,
  deviceAuthorizationRefused,
  deviceCodeExpired,
  deviceGrantRefused,
  deviceUnsupported,
  egressRefused,
  endpointMissing,
  idJagRefused,
  idpRefused,
  issuerMismatch,
  jwtBearerRefused,
  metadataInvalid,
  metadataNotFound,
  pkceUnsupported,
  refreshFailed,
  refreshRefused,
  registeredOAuthError,
  registrationRefused,
  registrationUnsupported,
  resourceMismatch,
  type OAuthErrorDetails,
  type OAuthFailure,
} from './errors.js';
