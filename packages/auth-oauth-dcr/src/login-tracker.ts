import type * as client from 'openid-client';
import { isGatewayError } from '@agent-mcp-gateway/core';
import { InFlight, type PendingLogin, type StrategyContext } from './context.js';
import { authFailure, describeFailure } from './failures.js';

/** Makes a prepared login visible until its `grant` settles, its tokens then saved like every login's. */
export type Track = <T extends Omit<PendingLogin, 'done'>>(login: T, grant: Promise<client.TokenEndpointResponse>) => T & PendingLogin;

/**
 * The logins of one server: at most one pending (one callback server, one registration, one
 * browser, whoever asks), concurrent callers sharing the one being prepared; the last failure, for
 * `status()`, until tokens arrive.
 */
export class LoginTracker {
  private pendingLogin: PendingLogin | undefined;
  private readonly starting = new InFlight<PendingLogin>();
  private lastFailure: string | undefined;

  constructor(
    private readonly ctx: StrategyContext,
    /** Saves and uses a login's tokens (the coordinator's: token cache, scopes, audit). */
    private readonly save: (response: client.TokenEndpointResponse) => Promise<void>,
    /** Called when a login becomes pending or ends (the status changed). */
    private readonly changed: () => void,
  ) {}

  /** The login waiting for its user, if any. */
  get pending(): PendingLogin | undefined {
    return this.pendingLogin;
  }

  /** The last failure, until tokens arrive. */
  get failure(): string | undefined {
    return this.lastFailure;
  }

  /** Tokens arrived (any grant): nothing has failed any more. */
  recovered(): void {
    this.lastFailure = undefined;
  }

  /** The login pending or being prepared, if any (an unprepared one that fails is none). */
  async inProgress(): Promise<PendingLogin | undefined> {
    return this.pendingLogin ?? (await this.starting.current?.catch(() => undefined));
  }

  /** Starts a login with `prepare` unless one is pending; resolves once the URL to open is known. */
  begin(prepare: (track: Track) => Promise<PendingLogin>): Promise<PendingLogin> {
    if (this.pendingLogin) return Promise.resolve(this.pendingLogin);
    return this.starting.run(async () => {
      try {
        const login = await prepare(this.track);
        this.pendingLogin = login;
        this.changed();
        return login;
      } catch (error) {
        this.lastFailure = describeFailure(error);
        this.ctx.event('failure', this.lastFailure);
        throw isGatewayError(error) ? error : authFailure(this.ctx.name, describeFailure(error), error);
      }
    });
  }

  /** Cancels the pending login (its callback server stops listening, its polling stops). */
  cancel(): void {
    this.pendingLogin?.cancel();
  }

  private readonly track: Track = (login, grant) => {
    const done = this.settle(grant).finally(() => {
      this.pendingLogin = undefined;
      this.changed();
    });
    done.catch(() => undefined);
    return { ...login, done };
  };

  private async settle(grant: Promise<client.TokenEndpointResponse>): Promise<void> {
    try {
      await this.save(await grant);
    } catch (error) {
      this.lastFailure = `login failed: ${describeFailure(error)}`;
      this.ctx.event('failure', this.lastFailure);
      this.ctx.logger.warn(`OAuth login for ${this.ctx.name} failed: ${describeFailure(error)}`);
      // `done` rejects with a coded error (the LoginFlow contract); what openid-client threw keeps a catalogued reason it wraps.
      throw isGatewayError(error) ? error : authFailure(this.ctx.name, describeFailure(error), error);
    }
  }
}
