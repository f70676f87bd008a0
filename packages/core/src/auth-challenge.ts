import type { AuthChallenge } from './types.js';

/**
 * Thrown by a transport when the server refused a request with 401, or 403
 * `insufficient_scope`, and the current strategy could not fix it. The kernel
 * then asks `resolveAuth(spec, challenge)` whether another strategy can.
 */
export class AuthChallengeError extends Error {
  override readonly name = 'AuthChallengeError';
  constructor(readonly challenge: AuthChallenge) {
    super(`HTTP ${challenge.status}${challenge.scheme ? ` (${challenge.scheme} challenge${challenge.error ? `: ${challenge.error}` : ''})` : ''}`);
  }
}

/** Finds an {@link AuthChallengeError} in an error or its `cause` chain. */
export function findAuthChallenge(error: unknown): AuthChallenge | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof AuthChallengeError) return e.challenge;
  }
  return undefined;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;

/**
 * Parses the first challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1):
 * `Bearer realm="x", error="invalid_token", resource_metadata="https://…"`.
 * Never throws; a malformed header yields what could be read.
 */
export function parseWwwAuthenticate(header: string | null | undefined, status: 401 | 403): AuthChallenge {
  const params: Record<string, string> = {};
  const text = (header ?? '').trim();
  const schemeMatch = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*/.exec(text);
  const scheme = schemeMatch?.[1] ?? '';
  let i = schemeMatch?.[0].length ?? 0;
  while (i < text.length) {
    TOKEN.lastIndex = i;
    const key = TOKEN.exec(text);
    if (!key) break;
    i = TOKEN.lastIndex;
    while (text[i] === ' ') i++;
    if (text[i] !== '=') break; // token68 or the next challenge: stop at the first challenge
    i++;
    while (text[i] === ' ') i++;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      i++;
    } else {
      TOKEN.lastIndex = i;
      const v = TOKEN.exec(text);
      value = v?.[0] ?? '';
      i = v ? TOKEN.lastIndex : i;
    }
    params[key[0].toLowerCase()] = value;
    while (text[i] === ' ' || text[i] === ',') i++;
  }
  return {
    status,
    scheme,
    params,
    ...(params.resource_metadata !== undefined && { resourceMetadata: params.resource_metadata }),
    ...(params.scope !== undefined && { scope: params.scope }),
    ...(params.error !== undefined && { error: params.error }),
  };
}
