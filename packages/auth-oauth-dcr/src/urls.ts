import { errors } from '@agent-mcp-gateway/core';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopback(url: URL | string): boolean {
  return LOOPBACK_HOSTS.has(new URL(url).hostname);
}

/**
 * Every OAuth endpoint must be https, except on a loopback host (local
 * development and tests). Anything else is refused before a request is sent.
 */
export function requireSecureUrl(server: string, url: string, what: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw errors.authFailed(server, `${what} is not a valid URL`);
  }
  if (parsed.protocol === 'https:' || (parsed.protocol === 'http:' && isLoopback(parsed))) return parsed;
  throw errors.authFailed(server, `${what} ${parsed.origin} must use https`);
}
