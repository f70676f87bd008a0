import { AuthChallengeError, parseWwwAuthenticate, type AuthChallenge, type AuthStrategy, type Logger } from '@agent-mcp-gateway/core';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

export interface AuthFetchOptions {
  /** Configured headers that are not credentials: sent whatever strategy runs. */
  readonly baseHeaders: Readonly<Record<string, string>>;
  readonly auth: AuthStrategy;
  readonly logger: Logger;
  readonly fetch?: FetchLike;
  /** Told of every refusal before it is thrown (some transports wrap the thrown error and lose it). */
  readonly onRefused?: (challenge: AuthChallenge) => void;
}

/** Headers that carry a credential: a strategy owns them, the transport never sends them on its own. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization']);

export function withoutCredentialHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase())));
}

/**
 * A `fetch` for the SDK's client transports that adds the configured headers
 * and the strategy's credentials to every request. On 401 (or 403
 * `insufficient_scope`) it lets the strategy try to fix it and retries once;
 * when it cannot, it throws {@link AuthChallengeError} so that the kernel can
 * ask `resolveAuth` for a strategy that can.
 */
export function createAuthFetch(options: AuthFetchOptions): FetchLike {
  const { baseHeaders, auth } = options;
  const fetchImpl = options.fetch ?? fetch;
  const send = async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(baseHeaders);
    new Headers(init?.headers).forEach((value, name) => headers.set(name, value));
    for (const [name, value] of Object.entries(await auth.headers(init?.signal ?? undefined))) headers.set(name, value);
    return fetchImpl(url, { ...init, headers });
  };
  return async (url, init) => {
    let response = await send(url, init);
    let challenge = challengeOf(response);
    if (!challenge) return response;
    await response.body?.cancel().catch(() => undefined);
    if ((await auth.onChallenge(challenge)) === 'retry') {
      response = await send(url, init);
      challenge = challengeOf(response);
      if (!challenge) return response;
      await response.body?.cancel().catch(() => undefined);
    }
    options.onRefused?.(challenge);
    throw new AuthChallengeError(challenge);
  };
}

function challengeOf(response: Response): AuthChallenge | undefined {
  if (response.status === 401) return parseWwwAuthenticate(response.headers.get('www-authenticate'), 401);
  if (response.status === 403) {
    const challenge = parseWwwAuthenticate(response.headers.get('www-authenticate'), 403);
    if (challenge.error === 'insufficient_scope') return challenge;
  }
  return undefined;
}
