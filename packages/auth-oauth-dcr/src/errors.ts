import { defineError, errors } from '@agent-mcp-gateway/core';

/**
 * The plugin's entries in the gateway's error catalogue: a stable `reason` under a core code, so
 * callers and tests match `code` + `details.reason`, never the prose. Small on purpose: the index
 * exports it without loading the OAuth implementation.
 */

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
