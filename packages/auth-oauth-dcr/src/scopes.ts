import type { AuthChallenge } from '@agent-mcp-gateway/core';
import type { ConfiguredAuth } from './context.js';
import type { Discovery, Session } from './session.js';

/** Step-up re-authorizations (403 insufficient_scope) allowed before giving up. */
const MAX_STEP_UPS = 2;

/**
 * The scope a grant asks for: configured, else the 401 challenge's, else the resource's
 * `scopes_supported`, else none; plus what 403 `insufficient_scope` challenges asked for since
 * the last login (step-up, a bounded number of times). A re-authorization asks for the union of
 * what was requested and granted before and what is challenged now (SEP-2350), so a step-up
 * never loses a scope an earlier one won.
 */
export class ScopeRequest {
  private readonly extra = new Set<string>();
  /** What earlier grants asked for, and what the tokens in use were granted. */
  private readonly previous = new Set<string>();
  private stepUps = 0;

  constructor(
    private readonly auth: ConfiguredAuth | undefined,
    private readonly discovery: Discovery,
  ) {}

  for(session: Session): string | undefined {
    const configured = this.auth && 'scopes' in this.auth ? this.auth.scopes?.join(' ') : undefined;
    const base = configured || this.discovery.challenge?.scope || session.info.scopesSupported?.join(' ') || '';
    const all = new Set([...base.split(' ').filter(Boolean), ...this.previous, ...this.extra]);
    for (const scope of all) this.previous.add(scope); // asked for now: part of every later re-authorization
    return all.size ? [...all].join(' ') : undefined;
  }

  /** Step-ups made so far. */
  get made(): number {
    return this.stepUps;
  }

  /**
   * A 403: its scopes are asked for from now on, with `granted` (the scope of the tokens it refused) kept.
   * False when it is not `insufficient_scope`, or too many step-ups were made.
   */
  stepUp(challenge: AuthChallenge, granted?: string): boolean {
    if (challenge.error !== 'insufficient_scope' || this.stepUps >= MAX_STEP_UPS) return false;
    this.stepUps++;
    for (const scope of granted?.split(' ') ?? []) if (scope) this.previous.add(scope);
    for (const scope of challenge.scope?.split(' ') ?? []) if (scope) this.extra.add(scope);
    return true;
  }

  /** A login granted what was asked: the step-up scopes are in its tokens now. */
  granted(): void {
    this.extra.clear();
  }
}
