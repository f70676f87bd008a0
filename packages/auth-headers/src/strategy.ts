import type { AuthStatus, AuthStrategy, ServerSpec } from '@agent-mcp-gateway/core';

/**
 * Credentials written in the server's entry: its headers (HTTP) or its env
 * (stdio), sent as they are. It cannot answer a challenge: a refused
 * configured credential is reported, never replaced behind the user's back.
 */
export class StaticCredentialsStrategy implements AuthStrategy {
  readonly kind = 'headers';
  private refused: string | undefined;

  constructor(private readonly spec: ServerSpec) {}

  async headers(): Promise<Record<string, string>> {
    return { ...this.spec.headers };
  }

  async env(): Promise<Record<string, string>> {
    return { ...this.spec.env };
  }

  async onChallenge(): Promise<'fail'> {
    this.refused = 'configured credential rejected';
    return 'fail';
  }

  status(): AuthStatus {
    return this.refused ? { kind: this.kind, state: 'failed', detail: this.refused } : { kind: this.kind, state: 'ok' };
  }
}
