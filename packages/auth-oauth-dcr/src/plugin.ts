import {
  MemoryTokenStore,
  serverStoreKey,
  type AuthChallenge,
  type AuthStrategy,
  type ConfigRegistry,
  type Gateway,
  type GatewayPlugin,
  type ResolveContext,
  type ServerSpec,
  type TokenStore,
} from '@agent-mcp-gateway/core';
import { OAUTH_AUTH_TYPES, authOf } from './config.js';
import type { FetchFn } from './discovery.js';
import { credentialsOf } from './tokens.js';
// The strategy (openid-client, oauth4webapi) is loaded on the first server that needs OAuth:
// a gateway without OAuth servers does not pay for it in memory or start-up time.
import type { OAuthStrategy } from './strategy.js';

export interface OAuthPluginOptions {
  /** Where `BROWSER` and `GATEWAY_OAUTH_CALLBACK_PORT` are read (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** How long a browser login may take (default 5 minutes). */
  readonly loginTimeoutMs?: number;
  /** Name the gateway registers under at authorization servers. */
  readonly clientName?: string;
  readonly fetch?: FetchFn;
}

/**
 * Registers the auth types `oauth` (shorthand `"oauth"`), `client_credentials` and
 * `enterprise_managed` with their schemas (config.ts), answers them through `authFor`, and brings
 * OAuth in through the `resolveAuth` chain for servers that set no `auth`:
 * - before connecting, for servers that have tokens stored from an earlier login (no 401 round trip on every start);
 * - on a 401 with a Bearer challenge, for any remote server that does not configure its own
 *   `Authorization` header (that header disables OAuth for the server, and says so in the log).
 * One strategy per server, so a repeated challenge finds the same one (and the kernel stops).
 */
export class OAuthPlugin implements GatewayPlugin {
  readonly name = 'OAuthPlugin';
  private readonly strategies = new Map<string, OAuthStrategy>();
  private readonly announced = new Set<string>();
  private gateway: Gateway | undefined;

  constructor(private readonly options: OAuthPluginOptions = {}) {}

  register(registry: ConfigRegistry): void {
    for (const [type, schema] of Object.entries(OAUTH_AUTH_TYPES)) registry.registerAuthType({ type, schema, plugin: this.name });
  }

  apply(gateway: Gateway): void {
    this.gateway = gateway;
    // A pending login must not keep a loopback port (and the process) alive after the gateway closes.
    gateway.hooks.shutdown.tap(this.name, () => {
      for (const strategy of this.strategies.values()) strategy.close();
    });
    const resolve = (spec: ServerSpec, challenge: AuthChallenge | null, ctx: ResolveContext) => this.resolve(gateway, spec, challenge, ctx);
    gateway.hooks.resolveAuth.tapPromise(this.name, resolve);
    for (const type of Object.keys(OAUTH_AUTH_TYPES)) gateway.hooks.authFor.for(type).tapPromise(this.name, resolve);
  }

  private async resolve(gateway: Gateway, spec: ServerSpec, challenge: AuthChallenge | null, ctx: ResolveContext): Promise<AuthStrategy | undefined> {
    if (spec.transport === 'stdio' || !spec.url || spec.auth === 'none' || spec.auth === 'headers') return undefined;
    if (hasAuthorizationHeader(spec)) {
      if (!this.announced.has(spec.name)) {
        this.announced.add(spec.name);
        ctx.logger.info(`OAuth disabled for ${spec.name}: a configured Authorization header is used`);
      }
      return undefined;
    }
    if (challenge === null) {
      if (spec.auth !== undefined) return this.strategyFor(spec, ctx);
      const store = await this.storeFor(spec, ctx);
      const stored = await store.get(serverStoreKey(spec.url)).catch(() => undefined);
      for (const secret of credentialsOf(stored)) gateway.redactor.add(secret);
      return stored?.tokens ? this.strategyFor(spec, ctx, store) : undefined;
    }
    if (!isBearerChallenge(challenge)) return undefined;
    const strategy = await this.strategyFor(spec, ctx);
    strategy.noteChallenge(challenge);
    return strategy;
  }

  /** The strategy of a server, made on first need (the CLI's `auth login` uses it too). */
  async strategyFor(spec: ServerSpec, ctx: ResolveContext, store?: TokenStore): Promise<OAuthStrategy> {
    const id = strategyId(spec);
    const existing = this.strategies.get(id);
    if (existing) return existing;
    const env = this.options.env ?? process.env;
    const auth = authOf(spec);
    const forced = typeof auth === 'object' && auth.type === 'oauth' ? auth : undefined;
    const envPort = Number(env.GATEWAY_OAUTH_CALLBACK_PORT);
    const callbackPort = forced?.callbackPort ?? (Number.isInteger(envPort) && envPort > 0 ? envPort : undefined);
    const { OAuthStrategy } = await import('./strategy.js');
    const strategy = new OAuthStrategy({
      spec,
      store: store ?? (await this.storeFor(spec, ctx)),
      logger: ctx.logger,
      env,
      ...(callbackPort !== undefined && { callbackPort }),
      loginTimeoutMs: this.options.loginTimeoutMs ?? 300_000,
      clientName: this.options.clientName ?? 'agent-mcp-gateway',
      ...(this.options.fetch && { fetch: this.options.fetch }),
      onAuthEvent: (event) => this.gateway?.hooks.authEvent.call(event),
      // Tokens and client secrets, issued or loaded, join the gateway's redactor as `${VAR}` values do.
      ...(this.gateway && { addSecret: (value: string) => this.gateway?.redactor.add(value) }),
    });
    this.strategies.set(id, this.strategies.get(id) ?? strategy);
    return this.strategies.get(id) as OAuthStrategy;
  }

  private async storeFor(spec: ServerSpec, ctx: ResolveContext): Promise<TokenStore> {
    const store = await this.gateway?.hooks.resolveTokenStore.promise(spec, ctx);
    if (store) return store;
    if (!this.announced.has(`store:${spec.name}`)) {
      this.announced.add(`store:${spec.name}`);
      ctx.logger.warn(`No token store plugin answered for ${spec.name}: OAuth tokens are kept in memory only`);
    }
    return (this.memory ??= new MemoryTokenStore());
  }

  private memory: MemoryTokenStore | undefined;
}

/** One strategy per server as configured: a reload that changes its URL or `auth` gets a new one (the tokens stay in the store). */
function strategyId(spec: ServerSpec): string {
  return JSON.stringify([spec.name, spec.url, spec.auth ?? null]);
}

function hasAuthorizationHeader(spec: ServerSpec): boolean {
  return Object.keys(spec.headers).some((name) => name.toLowerCase() === 'authorization');
}

/**
 * A 401 that asks for an OAuth access token: the Bearer scheme, or DPoP (RFC 9449 §7.1: a DPoP-bound one)
 * (a 401 without any challenge is read as one too, as the 2025-03-26 spec did).
 */
function isBearerChallenge(challenge: AuthChallenge): boolean {
  const scheme = challenge.scheme.toLowerCase();
  return challenge.status === 401 && (scheme === '' || scheme === 'bearer' || scheme === 'dpop');
}
