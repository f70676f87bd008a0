import { defineError, errors, type ErrorTemplate, type GatewayErrorDetails } from '@agent-mcp-gateway/core';

/**
 * The plugin's entries in the gateway's error catalogue: a stable `reason` under a core code, so
 * callers and tests match `code` + `details.reason`, never the prose. Small on purpose: the index
 * exports it without loading the OAuth implementation.
 */

/**
 * The details of the plugin's errors: core's, plus `oauthError`, the OAuth `error` code the
 * authorization server answered — only when it is one of the registered values (RFC 6749, 7591,
 * 8628, 8693, 8707, 9449, OpenID Connect), so that what travels to the agent is a known word,
 * never the server's free text (its `error_description` never does).
 */
export interface OAuthErrorDetails extends GatewayErrorDetails {
  oauthError?: string;
}

/**
 * The OAuth `error` codes of the IANA "OAuth Extensions Error" registry and the RFCs that define
 * them; anything else an authorization server says is not carried in details.
 */
const REGISTERED_OAUTH_ERRORS: ReadonlySet<string> = new Set([
  // RFC 6749 §4.1.2.1, §5.2
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'unsupported_response_type',
  'invalid_scope',
  'access_denied',
  'server_error',
  'temporarily_unavailable',
  // RFC 6750, RFC 7009
  'invalid_token',
  'insufficient_scope',
  'unsupported_token_type',
  // RFC 7591
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_software_statement',
  'unapproved_software_statement',
  // RFC 8628
  'authorization_pending',
  'slow_down',
  'expired_token',
  // RFC 8693, RFC 8707
  'invalid_target',
  // RFC 9396, RFC 9449
  'invalid_authorization_details',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  // OpenID Connect Core §3.1.2.6
  'interaction_required',
  'login_required',
  'account_selection_required',
  'consent_required',
  'invalid_request_uri',
  'invalid_request_object',
  'request_not_supported',
  'request_uri_not_supported',
  'registration_not_supported',
]);

/** `code` when it is a registered OAuth error code (see {@link OAuthErrorDetails}), else undefined. */
export function registeredOAuthError(code: unknown): string | undefined {
  return typeof code === 'string' && REGISTERED_OAUTH_ERRORS.has(code) ? code : undefined;
}

/** An AUTH_FAILED of the catalogue: `(server, why, oauthError?)`, worded as every AUTH_FAILED is. */
export type OAuthFailure = ErrorTemplate<[server: string, why: string, oauthError?: string]>;

function authFailedBecause(reason: string): OAuthFailure {
  return defineError({
    code: 'AUTH_FAILED',
    reason,
    message: (server: string, why: string, _oauthError?: string) => errors.authFailed(server, why).message,
    details: (server: string, _why: string, oauthError?: string): OAuthErrorDetails => {
      const registered = registeredOAuthError(oauthError);
      return { server, ...(registered !== undefined && { oauthError: registered }) };
    },
  });
}

/**
 * AUTH_FAILED, `reason: 'egress_refused'`: a URL the OAuth client was to request or open is not
 * allowed (or not a URL); nothing was sent. Worded as every AUTH_FAILED is.
 */
export const egressRefused = defineError({
  code: 'AUTH_FAILED',
  reason: 'egress_refused',
  message: (server: string, why: string) => errors.authFailed(server, why).message,
  details: (server: string) => ({ server }),
});

// ---- discovery -----------------------------------------------------------------

/** `resource_mismatch`: the protected resource metadata names a resource that does not cover the server's URL (RFC 9728 §3.3). */
export const resourceMismatch = authFailedBecause('resource_mismatch');
/** `metadata_not_found`: no authorization server metadata at any well-known URL of the issuer (RFC 8414). */
export const metadataNotFound = authFailedBecause('metadata_not_found');
/** `issuer_mismatch`: the metadata document names another issuer than the one asked for (RFC 8414 §3.3): never tolerated. */
export const issuerMismatch = authFailedBecause('issuer_mismatch');
/** `metadata_invalid`: the authorization server metadata is malformed (not JSON, an endpoint that is not a URL, …). */
export const metadataInvalid = authFailedBecause('metadata_invalid');
/** `pkce_unsupported`: the authorization server does not advertise PKCE with S256. */
export const pkceUnsupported = authFailedBecause('pkce_unsupported');
/** `endpoint_missing`: the metadata names no endpoint the grant needs (the token endpoint; the authorization endpoint for a browser login). */
export const endpointMissing = authFailedBecause('endpoint_missing');

// ---- the client's identity -----------------------------------------------------

/** `registration_unsupported`: no client is configured and the authorization server offers no dynamic client registration. */
export const registrationUnsupported = authFailedBecause('registration_unsupported');
/** `registration_refused`: the registration endpoint refused (or did not answer) the dynamic client registration (RFC 7591). */
export const registrationRefused = authFailedBecause('registration_refused');

// ---- logins with a user --------------------------------------------------------

/** `authorization_refused`: the authorization server refused the login (`access_denied` or another error on the redirect back, or while the device grant polled). */
export const authorizationRefused = authFailedBecause('authorization_refused');
/**
 * `authorization_response_issuer_mismatch`: the redirect back carries an `iss` that is not, character for character,
 * the authorization server's issuer, or none although the server advertises
 * `authorization_response_iss_parameter_supported` (RFC 9207 §2.4, SEP-2468): a mix-up attack is possible, so the code
 * is never exchanged and nothing else in that response (an `error`) is believed.
 */
export const authorizationResponseIssuerMismatch = authFailedBecause('authorization_response_issuer_mismatch');
/** `code_exchange_refused`: the token endpoint refused the authorization code (or did not answer). */
export const codeExchangeRefused = authFailedBecause('code_exchange_refused');
/** `device_unsupported`: the authorization server offers no device authorization endpoint (RFC 8628). */
export const deviceUnsupported = authFailedBecause('device_unsupported');
/** `device_authorization_refused`: the device authorization endpoint refused to issue a code. */
export const deviceAuthorizationRefused = authFailedBecause('device_authorization_refused');
/** `device_code_expired`: the device code expired before the user confirmed (`expired_token`, or its `expires_in` passed). */
export const deviceCodeExpired = authFailedBecause('device_code_expired');
/** `device_grant_refused`: the token endpoint refused the device code with another error than pending, slow down, expiry or denial. */
export const deviceGrantRefused = authFailedBecause('device_grant_refused');

// ---- grants without a user at the moment ---------------------------------------

/** `refresh_failed`: the token refresh failed for another reason than a refused refresh token or client (which is `refresh_refused`). */
export const refreshFailed = authFailedBecause('refresh_failed');
/** `client_credentials_refused`: the token endpoint refused the client credentials grant. */
export const clientCredentialsRefused = authFailedBecause('client_credentials_refused');
/** `idp_refused`: the enterprise IdP refused to exchange the ID token for an ID-JAG (RFC 8693), or answered something else. */
export const idpRefused = authFailedBecause('idp_refused');
/** `id_jag_refused`: the MCP server's authorization server refused the ID-JAG (the RFC 7523 JWT bearer grant). */
export const idJagRefused = authFailedBecause('id_jag_refused');
/** `jwt_bearer_refused`: the token endpoint refused the workload's JWT assertion (RFC 7523 grant, SEP-1933); never retried, no other grant tried. */
export const jwtBearerRefused = authFailedBecause('jwt_bearer_refused');
/** `assertion_unreadable`: the `assertionFile` of a `jwt_bearer` server could not be read, or is empty. */
export const assertionUnreadable = authFailedBecause('assertion_unreadable');

/**
 * AUTH_REQUIRED, `reason: 'refresh_refused'`: the refresh token (or the registered client) was refused
 * (`invalid_grant` / `invalid_client`, in `details.oauthError`); the tokens were dropped and a new login
 * was started, its URL in `details.authorizationUrl` as in every AUTH_REQUIRED of a pending login.
 */
export const refreshRefused = defineError({
  code: 'AUTH_REQUIRED',
  reason: 'refresh_refused',
  message: (server: string, authorizationUrl: string, _oauthError?: string) => errors.authRequired(server, authorizationUrl).message,
  details: (server: string, authorizationUrl: string, oauthError?: string): OAuthErrorDetails => {
    const registered = registeredOAuthError(oauthError);
    return { ...errors.authRequired(server, authorizationUrl).details, ...(registered !== undefined && { oauthError: registered }) };
  },
});
