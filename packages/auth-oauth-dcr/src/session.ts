import type * as oauth from 'oauth4webapi';
import type { AuthChallenge } from '@agent-mcp-gateway/core';
import { InFlight, type StrategyContext } from './context.js';
import {
  discoverAuthorizationServer,
  discoverResource,
  requireEndpoints,
  requireS256,
  requireSecureEndpoints,
  type FetchFn,
  type ResourceInfo,
} from './discovery.js';
import { EgressPolicy, endpointLabeler } from './egress.js';

/** The authorization server side of one server, found once per strategy. */
export interface Session {
  readonly info: ResourceInfo;
  readonly as: oauth.AuthorizationServer;
  /** Plain http allowed: only when the egress policy allows local addresses. */
  readonly insecure: boolean;
  /** Where requests may go (decided by the configured server's address, never by metadata). */
  readonly egress: EgressPolicy;
  /** The fetch every request to the authorization server goes through. */
  readonly fetch: FetchFn;
}

/**
 * Discovery for one server, cached: RFC 9728 protected-resource metadata (guided by the 401
 * challenge that brought OAuth in), RFC 8414 authorization-server metadata, PKCE S256, a token
 * endpoint, and every endpoint checked against the egress policy. Found once; a failed discovery is tried again on
 * the next attempt.
 */
export class Discovery {
  private noted: AuthChallenge | null = null;
  private found: Promise<Session> | undefined;
  /** The authorization server of the last session found: the issuer new tokens are stamped with. */
  private lastIssuer: string | undefined;
  private readonly rediscovering = new InFlight<{ readonly before: string | undefined; readonly session: Session }>();
  /** Egress policies by configured URL: the server's, and the enterprise IdP's. */
  private readonly policies = new Map<string, Promise<EgressPolicy>>();

  constructor(private readonly ctx: Pick<StrategyContext, 'name' | 'url' | 'options'>) {}

  /** The 401 challenge that brought OAuth in: its `resource_metadata` and `scope` guide discovery and the login. */
  noteChallenge(challenge: AuthChallenge): void {
    if (challenge.status === 401) this.noted = challenge;
  }

  get challenge(): AuthChallenge | null {
    return this.noted;
  }

  /** The session, discovered on first need. */
  session(): Promise<Session> {
    this.found ??= (async () => {
      const { name, url } = this.ctx;
      // Decided once, from the configured URL: the challenge and the metadata can name any URL, they decide nothing (SSRF).
      const egress = await this.policyFor(url);
      const info = await discoverResource(name, url, this.noted, egress);
      const as = await discoverAuthorizationServer(name, info.authorizationServer, !info.fromMetadata, egress);
      requireS256(name, as);
      requireEndpoints(name, as, ['token_endpoint']); // every grant uses it
      await requireSecureEndpoints(name, as, egress);
      this.lastIssuer = as.issuer;
      return { info, as, insecure: egress.allowLocal, egress, fetch: egress.fetcher(endpointLabeler(as)) };
    })();
    this.found.catch(() => {
      this.found = undefined; // a failed discovery is retried on the next attempt
    });
    return this.found;
  }

  /** The issuer of the last session found (the authorization server the current grants talk to), if any. */
  get issuer(): string | undefined {
    return this.lastIssuer;
  }

  /**
   * Discovers again (the server refused our token: its protected resource metadata may name another
   * authorization server now, SEP-2352). Resolves with the issuer before and the session now.
   */
  rediscover(): Promise<{ readonly before: string | undefined; readonly session: Session }> {
    return this.rediscovering.run(() => this.discoverAgain()); // concurrent refusals share one rediscovery
  }

  private async discoverAgain(): Promise<{ readonly before: string | undefined; readonly session: Session }> {
    const previous = await this.found?.catch(() => undefined);
    const before = previous?.as.issuer ?? this.lastIssuer;
    this.found = undefined;
    let session: Session;
    try {
      session = await this.session();
    } catch (error) {
      if (!previous) throw error;
      session = previous; // the metadata cannot be read now: nothing says the server moved
    }
    // Metadata found before and none now is a failed read (the 2025-03-26 fallback would name the server's origin), not a move.
    if (previous && previous.info.fromMetadata && !session.info.fromMetadata) session = previous;
    if (session === previous) {
      this.found = Promise.resolve(previous);
      this.lastIssuer = previous.as.issuer;
    }
    return { before, session };
  }

  /**
   * The egress policy of a configured URL — the server's, or a configured IdP's issuer (public https, or local
   * when it is local) — decided once. Never of a URL a remote server named.
   */
  policyFor(configuredUrl: string): Promise<EgressPolicy> {
    let policy = this.policies.get(configuredUrl);
    if (!policy) {
      const { fetch, lookup } = this.ctx.options;
      policy = EgressPolicy.forServer(this.ctx.name, configuredUrl, { ...(fetch && { fetch }), ...(lookup && { lookup }) });
      this.policies.set(configuredUrl, policy);
    }
    return policy;
  }
}
