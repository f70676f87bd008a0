import {
  GATEWAY_VERSION,
  errors,
  isGatewayError,
  isValidSecretName,
  resolveSecretReferences,
  secretStoreKey,
  serverStoreKey,
  type AuthChallenge,
  type AuthDescription,
  type AuthRequest,
  type AuthStatus,
  type AuthStrategy,
  type LoginFlow,
  type LogoutResult,
  type StoredAuth,
  type TokenStore,
} from '@agent-mcp-gateway/core';
import { ACME_HMAC_TYPE, acmeErrors } from './config.js';
import { authorization, type SigningKey } from './signature.js';

/** Where a verified key is remembered inside a server's store entry (`discovery` is the open part of a `StoredAuth`). */
export const VERIFIED_RECORD = 'acme-hmac';

/** What `auth login` remembers: which key the server accepted, and when (epoch seconds). */
export interface VerifiedKey {
  readonly keyId: string;
  readonly verifiedAt: number;
}

/** What a strategy needs from the gateway it runs in. */
export interface StrategyContext {
  /** The server's token store (`resolveTokenStore`), or undefined when no store plugin answers. */
  tokenStore(): Promise<TokenStore | undefined>;
  /** Registers a value with the log redactor (a secret read from the store). */
  redact(value: string): void;
  /** The clock, in milliseconds (tests move it). */
  now?(): number;
  /** Bounds the verification request of `login`. */
  readonly timeoutMs?: number;
}

/** A remote server, by name and URL. */
export interface SignedServer {
  readonly name: string;
  readonly url: string;
}

/** The verification of `login` may take this long. */
const VERIFY_TIMEOUT_MS = 15_000;

/**
 * Signs every request to one server with one key (see `signature.ts`). Its `login` checks the key
 * against the server — one signed `initialize` must be accepted — and remembers that it was, in
 * the server's token store entry; `describe` reads that back (`auth status`); `logout` forgets it.
 * The key itself is configuration and is never stored.
 */
export class AcmeHmacStrategy implements AuthStrategy {
  readonly kind = ACME_HMAC_TYPE;
  private secretValue: Promise<string> | undefined;

  constructor(
    private readonly server: SignedServer,
    private readonly key: SigningKey,
    private readonly context: StrategyContext,
  ) {}

  get keyId(): string {
    return this.key.keyId;
  }

  async headers({ method, url }: AuthRequest): Promise<Record<string, string>> {
    const secret = await this.secret();
    return { authorization: authorization({ keyId: this.key.keyId, secret }, method, url, Math.floor(this.now() / 1000)) };
  }

  /** A signed request was refused: the key or the clock is wrong, and signing again would not help. */
  async onChallenge(_challenge: AuthChallenge): Promise<'retry' | 'fail'> {
    this.secretValue = undefined; // a `${secret:NAME}` replaced meanwhile is read again on the next connection
    return 'fail';
  }

  status(): AuthStatus {
    return { kind: this.kind, state: 'ok', detail: `signing with key ${this.key.keyId}` };
  }

  /**
   * `auth login`: one signed `initialize` request, which the server must accept; then the key id
   * and the time are remembered in the server's store entry. Rejects (before any flow is
   * returned) with AUTH_FAILED `acme_hmac_key_rejected` when the server refuses the signature.
   */
  async login(): Promise<LoginFlow> {
    const status = await this.probe();
    if (status === 401 || status === 403) throw acmeErrors.keyRejected(this.server.name, this.key.keyId, status);
    if (status < 200 || status > 299) throw errors.serverUnavailable(this.server.name, `it answered HTTP ${status} to a signed initialize request`);
    await this.remember();
    // Nothing for the person to open: no `url`, so `auth login` prints no browser instructions.
    return { done: Promise.resolve() };
  }

  /** `auth logout`: forgets that the key was verified. Nothing is revoked: the key is configuration. */
  async logout(): Promise<LogoutResult> {
    const store = await this.context.tokenStore();
    const revoked = `nothing revoked (key ${this.key.keyId} is configured, not issued by a login)`;
    if (!store) return { revoked, deleted: false };
    const key = serverStoreKey(this.server.url);
    const location = store.locationOf?.(key);
    return store.withLock(key, async () => {
      const stored = await store.get(key);
      if (!stored?.discovery?.[VERIFIED_RECORD]) return { revoked, deleted: false };
      const { [VERIFIED_RECORD]: _forgotten, ...discovery } = stored.discovery;
      const rest: StoredAuth = { ...stored, discovery };
      if (Object.keys(discovery).length === 0) delete rest.discovery;
      if (rest.tokens || rest.client || rest.discovery) await store.set(key, rest);
      else await store.delete(key);
      return { revoked, deleted: true, ...(location !== undefined && { location }) };
    });
  }

  /** `auth status`: whether this key was verified, read from the store only. */
  async describe(): Promise<AuthDescription> {
    const store = await this.context.tokenStore();
    if (!store) return { loggedIn: false, renewable: false, scopes: [] };
    const key = serverStoreKey(this.server.url);
    const location = store.locationOf?.(key);
    const base = { renewable: false, scopes: [], store: store.kind, key, ...(location !== undefined && { location }) };
    try {
      return { ...base, loggedIn: verifiedKeyOf(await store.get(key))?.keyId === this.key.keyId };
    } catch (error) {
      return { ...base, loggedIn: false, problem: error instanceof Error ? error.message : 'unreadable' };
    }
  }

  /** The secret, `${secret:NAME}` read from the token store once per connection. */
  private secret(): Promise<string> {
    if (!this.key.secret.includes('${secret:')) return Promise.resolve(this.key.secret);
    this.secretValue ??= resolveSecretReferences(this.key.secret, (name) => this.lookup(name)).catch((error: unknown) => {
      this.secretValue = undefined;
      throw error;
    });
    return this.secretValue;
  }

  private async lookup(name: string): Promise<string> {
    const fail = (why: string) => acmeErrors.secretUnavailable(this.server.name, why);
    if (!isValidSecretName(name)) throw fail('a ${secret:…} reference has an invalid name');
    let value: string | undefined;
    try {
      const store = await this.context.tokenStore();
      if (!store) throw fail(`secret ${name} cannot be read: no token store plugin answered`);
      value = (await store.get(secretStoreKey(name)))?.secret;
    } catch (error) {
      if (isGatewayError(error)) throw error;
      throw fail(`secret ${name} could not be read: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!value) throw fail(`secret ${name} is not set; set it with 'agent-mcp-gateway secret set ${name}'`);
    this.context.redact(value);
    return value;
  }

  /** One signed `initialize` POST (its session, if the server opened one, is closed again): the status. */
  private async probe(): Promise<number> {
    const url = this.server.url;
    const signal = AbortSignal.timeout(this.context.timeoutMs ?? VERIFY_TIMEOUT_MS);
    const initialize = {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'agent-mcp-gateway', version: GATEWAY_VERSION } },
    };
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { ...(await this.headers({ method: 'POST', url })), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify(initialize),
        redirect: 'manual',
        signal,
      });
    } catch (error) {
      if (isGatewayError(error)) throw error;
      throw errors.serverUnavailable(this.server.name, `cannot reach it: ${error instanceof Error ? error.message : String(error)}`);
    }
    await response.body?.cancel().catch(() => undefined);
    const session = response.headers.get('mcp-session-id');
    if (session) {
      const headers = { ...(await this.headers({ method: 'DELETE', url })), 'mcp-session-id': session };
      await fetch(url, { method: 'DELETE', headers, redirect: 'manual', signal }).then((r) => r.body?.cancel(), () => undefined);
    }
    return response.status;
  }

  private async remember(): Promise<void> {
    const store = await this.context.tokenStore();
    if (!store) return; // verified, but nowhere to remember it: `auth status` will not show it
    const key = serverStoreKey(this.server.url);
    const record: VerifiedKey = { keyId: this.key.keyId, verifiedAt: Math.floor(this.now() / 1000) };
    await store.withLock(key, async () => {
      const stored = (await store.get(key)) ?? {};
      await store.set(key, { ...stored, server: { name: this.server.name, url: this.server.url }, discovery: { ...stored.discovery, [VERIFIED_RECORD]: record } });
    });
  }

  private now(): number {
    return this.context.now?.() ?? Date.now();
  }
}

/** The verified key remembered in a store entry, if any. */
export function verifiedKeyOf(stored: StoredAuth | undefined): VerifiedKey | undefined {
  const record = stored?.discovery?.[VERIFIED_RECORD] as Partial<VerifiedKey> | undefined;
  return typeof record?.keyId === 'string' && typeof record.verifiedAt === 'number' ? { keyId: record.keyId, verifiedAt: record.verifiedAt } : undefined;
}
