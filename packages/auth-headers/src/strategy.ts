import { hasSecretReference, resolveSecretReferences, type AuthRequest, type AuthStatus, type AuthStrategy, type ServerSpec } from '@agent-mcp-gateway/core';

/** Where `${secret:NAME}` references are read from (the server's token store, in practice). */
export interface SecretSource {
  /**
   * The value of secret `name`. Throws a coded error (AUTH_FAILED, SERVER_UNAVAILABLE)
   * naming the secret — never its value — when it is missing or cannot be read.
   * Every value it returns is already registered with the log redactor.
   */
  lookup(name: string): Promise<string>;
}

type Values = Readonly<Record<string, string>>;

/**
 * Credentials written in the server's entry: its headers (HTTP) or its env
 * (stdio), sent as they are — except `${secret:NAME}` references, which are read
 * from the token store at connect time (headers: once, then kept; env: at every
 * start of the child) and never written anywhere. It cannot answer a challenge
 * with something new, save a secret that changed in the store since it was read:
 * a refused configured credential is reported, never replaced behind the user's back.
 */
export class StaticCredentialsStrategy implements AuthStrategy {
  readonly kind = 'headers';
  private refused: string | undefined;
  private resolvedHeaders: Promise<Values> | undefined;
  private lastHeaders: Values | undefined;

  constructor(
    private readonly spec: ServerSpec,
    private readonly secrets?: SecretSource,
  ) {}

  // The same headers for every request: static credentials sign nothing.
  async headers(_request?: AuthRequest): Promise<Record<string, string>> {
    if (!needsSecrets(this.spec.headers)) return { ...this.spec.headers };
    this.resolvedHeaders ??= this.resolve(this.spec.headers).then(
      (values) => (this.lastHeaders = values),
      (error: unknown) => {
        this.resolvedHeaders = undefined; // the next request tries again (the secret may be set by then)
        throw error;
      },
    );
    return { ...(await this.resolvedHeaders) };
  }

  async env(): Promise<Record<string, string>> {
    return { ...(await this.resolve(this.spec.env)) };
  }

  async onChallenge(): Promise<'retry' | 'fail'> {
    // A secret replaced in the store (`secret set`) since it was read: try the new value once.
    if (this.lastHeaders && needsSecrets(this.spec.headers)) {
      const before = this.lastHeaders;
      this.resolvedHeaders = undefined;
      const now = await this.headers().catch(() => undefined);
      if (now && Object.entries(now).some(([name, value]) => before[name] !== value)) return 'retry';
    }
    this.refused = 'configured credential rejected';
    return 'fail';
  }

  status(): AuthStatus {
    return this.refused ? { kind: this.kind, state: 'failed', detail: this.refused } : { kind: this.kind, state: 'ok' };
  }

  private async resolve(values: Values): Promise<Values> {
    if (!needsSecrets(values)) return values;
    const secrets = this.secrets;
    if (!secrets) throw new Error(`server '${this.spec.name}' refers to \${secret:…} values but no secret source was given`);
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(values)) out[name] = await resolveSecretReferences(value, (secret) => secrets.lookup(secret));
    return out;
  }
}

function needsSecrets(values: Values): boolean {
  return Object.values(values).some(hasSecretReference);
}
