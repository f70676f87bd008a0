import type { GatewayError } from '@agent-mcp-gateway/core';

/**
 * A GatewayError by shape (an Error with a string `code` and a `details` object), so that an
 * error from core's sources (a core unit test) counts as one from its build (`instanceof` would not).
 */
function looksLikeGatewayError(value: unknown): value is GatewayError {
  return value instanceof Error && typeof (value as { code?: unknown }).code === 'string' && typeof (value as { details?: unknown }).details === 'object';
}

/**
 * The `GatewayError` `promise` rejects with, for assertions on its code, reason and path.
 * Throws when it resolves, or rejects with anything else (that error, unchanged).
 */
export async function gatewayErrorOf(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    if (looksLikeGatewayError(error)) return error;
    throw error;
  }
  throw new Error('expected a GatewayError');
}
