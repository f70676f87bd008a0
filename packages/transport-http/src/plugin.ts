import { isSecureOrLoopbackUrl, type AuthChallenge, type Gateway, type GatewayPlugin, type ServerSpec, type TransportFactory } from '@agent-mcp-gateway/core';
import type { FetchLike } from '@modelcontextprotocol/client';
import { createAuthFetch, withoutCredentialHeaders } from './auth-fetch.js';
import { HttpDownstreamTransport, isSessionExpired } from './fallback-transport.js';

export interface HttpTransportOptions {
  /** The fetch to use (default: the global one). */
  readonly fetch?: FetchLike;
}

/**
 * Answers `resolveTransport` for servers with a `url`: Streamable HTTP (with
 * the legacy SSE fallback) or, for `type: "sse"`, legacy HTTP+SSE.
 */
export class HttpTransportPlugin implements GatewayPlugin {
  readonly name = 'HttpTransportPlugin';
  constructor(private readonly options: HttpTransportOptions = {}) {}

  apply(gateway: Gateway): void {
    gateway.hooks.resolveTransport.tap(this.name, (spec, { logger }) => {
      if ((spec.transport !== 'http' && spec.transport !== 'sse') || !spec.url) return undefined;
      const url = new URL(spec.url);
      if (!isSecureOrLoopbackUrl(url) && hasCredentials(spec)) {
        logger.warn(`Credentials for ${url.host} travel over plain http: use https`);
      }
      return this.factory(spec, url);
    });
  }

  private factory(spec: ServerSpec, url: URL): TransportFactory {
    const baseHeaders = withoutCredentialHeaders(spec.headers);
    return {
      kind: spec.transport,
      isSessionExpired,
      create: async ({ auth, logger }) => {
        let refusal: AuthChallenge | undefined;
        const fetch = createAuthFetch({
          baseHeaders,
          auth,
          logger,
          onRefused: (challenge) => (refusal = challenge),
          ...(this.options.fetch && { fetch: this.options.fetch }),
        });
        const mode = spec.transport === 'sse' ? 'sse' : 'http';
        return new HttpDownstreamTransport({ url, mode, fetch, logger, lastRefusal: () => refusal });
      },
    };
  }
}

function hasCredentials(spec: ServerSpec): boolean {
  return Object.keys(spec.headers).length > 0;
}
