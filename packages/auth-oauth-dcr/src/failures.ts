/**
 * How the OAuth client says what failed: one `describe`, and one way to wrap a failure in
 * AUTH_FAILED without losing what the catalogue said it was.
 */
import { GatewayError, errors, isGatewayError } from '@agent-mcp-gateway/core';
import type { OAuthFailure } from './errors.js';
import { oauthErrorCode } from './tokens.js';

/** The first GatewayError in `error`'s cause chain: openid-client and oauth4webapi wrap what a fetch throws. */
export function gatewayErrorIn(error: unknown): GatewayError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    if (isGatewayError(current)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The message of a coded refusal inside an openid-client / oauth4webapi error, if any. */
export function gatewayReason(error: unknown): string | undefined {
  return gatewayErrorIn(error)?.message;
}

/** A failure in a message: the OAuth error code (`invalid_grant: …`), and a coded refusal's own words rather than "something went wrong". */
export function describeFailure(error: unknown): string {
  if (isGatewayError(error)) return error.message;
  const code = oauthErrorCode(error);
  const message = gatewayReason(error) ?? (error instanceof Error ? error.message : String(error));
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/**
 * AUTH_FAILED for `server`, worded as every AUTH_FAILED is (`why` after "failed: ") — except that a
 * catalogued failure underneath keeps its identity: when `cause` is, or wraps, a GatewayError with a
 * `details.reason`, the new error has that error's code and reason (and its other details), so an
 * egress refusal met during a refresh is still AUTH_FAILED/`egress_refused`, and an unreachable
 * keychain met while saving tokens still SERVER_UNAVAILABLE/`keychain_unavailable`. Otherwise it is
 * `as` (the step's own catalogued failure, `client_credentials_refused`…), with the OAuth error code
 * of `cause` in `details.oauthError` when it is a registered one; without `as`, a plain AUTH_FAILED.
 * `cause` is kept.
 */
export function authFailure(server: string, why: string, cause: unknown, as?: OAuthFailure): GatewayError {
  const plain = errors.authFailed(server, why);
  const inner = gatewayErrorIn(cause);
  if (inner?.details.reason !== undefined) return new GatewayError(inner.code, plain.message, { ...inner.details, server }, { cause });
  if (as) return new GatewayError(as.code, as.message(server, why), as.details(server, why, oauthErrorCode(cause)), { cause });
  return new GatewayError(plain.code, plain.message, plain.details, { cause });
}
