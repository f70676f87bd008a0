import { setMaxListeners } from 'node:events';
import { AuthChallengeError, hasSecretReference, parseWwwAuthenticate, type AuthChallenge, type AuthStrategy, type Logger } from '@agent-mcp-gateway/core';
import type { FetchLike } from '@modelcontextprotocol/client';

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

/**
 * The configured headers the transport sends on its own: not the credential headers, and not
 * a header holding a `${secret:NAME}` reference (a credential too: the headers strategy reads
 * the secret and sends it; the reference itself never goes on the wire).
 */
export function withoutCredentialHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name, value]) => !CREDENTIAL_HEADERS.has(name.toLowerCase()) && !hasSecretReference(value)),
  );
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
    // The strategy sees the request it authorizes (a signing strategy signs method and URL).
    const request = { method: (init?.method ?? 'GET').toUpperCase(), url: String(url), ...(init?.signal && { signal: init.signal }) };
    for (const [name, value] of Object.entries(await auth.headers(request))) headers.set(name, value);
    const link = linkSignal(init?.signal ?? undefined);
    try {
      const response = await fetchImpl(url, { ...init, headers, signal: link.signal });
      // The strategy sees every answer's status and headers (a DPoP nonce rides on any of them, RFC 9449 §8.2).
      auth.observe?.(response, request);
      return link.release(response);
    } catch (error) {
      link.unlink();
      throw error;
    }
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

/**
 * The SDK passes one connection-wide signal to every request, and Node's fetch
 * keeps a listener on it per request until garbage collection: thousands of
 * calls leak listeners (MaxListenersExceededWarning) and memory. Each request
 * gets its own signal instead, linked to the connection's one until its body
 * is done — so closing the connection still aborts open streams.
 */
const raised = new WeakSet<AbortSignal>();

function linkSignal(parent: AbortSignal | undefined): { signal: AbortSignal | undefined; release(response: Response): Response; unlink(): void } {
  if (!parent) return { signal: undefined, release: (r) => r, unlink: () => undefined };
  if (!raised.has(parent)) {
    // One listener per request in flight is expected here (and removed when it ends): no warning at 11.
    setMaxListeners(0, parent);
    raised.add(parent);
  }
  const controller = new AbortController();
  const forward = () => controller.abort(parent.reason);
  const unlink = () => parent.removeEventListener('abort', forward);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', forward, { once: true });
  return {
    signal: controller.signal,
    unlink,
    release(response) {
      if (!response.body) {
        unlink();
        return response;
      }
      // The link ends when the body is read to its end, fails, or is cancelled.
      const reader = response.body.getReader();
      const tracked = new ReadableStream<Uint8Array>({
        async pull(c) {
          const { done, value } = await reader.read().catch((error: unknown) => {
            unlink();
            throw error;
          });
          if (done) {
            unlink();
            c.close();
          } else c.enqueue(value);
        },
        cancel(reason) {
          unlink();
          return reader.cancel(reason);
        },
      });
      return new Response(tracked, { status: response.status, statusText: response.statusText, headers: response.headers });
    },
  };
}
