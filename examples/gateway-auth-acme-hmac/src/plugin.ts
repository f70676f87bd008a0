import { serverStoreKey, type AuthChallenge, type ConfigRegistry, type Gateway, type GatewayPlugin, type ResolveContext, type ServerSpec } from '@agent-mcp-gateway/core';
import { ACME_HMAC_TYPE, AcmeHmacAuthSchema, AcmeHmacOptionsSchema, acmeErrors, type AcmeHmacOptionsInput } from './config.js';
import { ACME_HMAC_SCHEME, type SigningKey } from './signature.js';
import { AcmeHmacStrategy, verifiedKeyOf } from './strategy.js';

/**
 * Signs requests to Acme servers (HMAC-SHA256 over method, path and timestamp).
 *
 * - `register`: the auth type `acme-hmac` with its strict schema, `secret` marked.
 * - `authFor.for('acme-hmac')`: a server whose entry says `"auth": {"type": "acme-hmac", …}` is
 *   signed with that entry's key.
 * - `resolveAuth` (stage 0, after the built-in plugins): a server that configures no `auth` is
 *   signed with the key the options give for its origin when its 401 carries an `Acme-HMAC`
 *   challenge — and from the start once `auth login` has verified that key. A challenge for an
 *   origin without a key is AUTH_FAILED `acme_hmac_no_key`.
 *
 * Options (`"plugins": [["@acme/agent-mcp-gateway-auth-hmac", {"keys": {"https://mcp.acme.example": {"keyId": "k1", "secret": "${ACME_SECRET}"}}}]]`):
 * their schema is declared as `optionsSchema`, so the gateway expands `${VAR}`, validates them
 * (a mistake is CONFIG_INVALID naming the settings file and JSON path) and registers their secrets
 * with the redactor before calling the constructor.
 */
export class AcmeHmacPlugin implements GatewayPlugin {
  /** The schema of the options: the gateway validates and expands them with it, and blanks its `secret()` fields. */
  static readonly optionsSchema = AcmeHmacOptionsSchema;

  readonly name = 'AcmeHmacPlugin';
  private readonly keys: ReadonlyMap<string, SigningKey>;
  /** One strategy per server spec: a repeated challenge finds the same one (and the kernel stops retrying). */
  private readonly strategies = new WeakMap<ServerSpec, AcmeHmacStrategy>();

  /**
   * @param options validated by the gateway when it loads the plugin from the settings; parsed
   *   again here (cheap, and it fills the defaults) for an embedder constructing it directly,
   *   who expands and redacts with core's `parsePluginOptions(AcmeHmacPlugin.optionsSchema, …)`.
   */
  constructor(options: AcmeHmacOptionsInput = {}) {
    this.keys = new Map(Object.entries(AcmeHmacOptionsSchema.parse(options).keys));
  }

  register(registry: ConfigRegistry): void {
    registry.registerAuthType({ type: ACME_HMAC_TYPE, schema: AcmeHmacAuthSchema, plugin: this.name });
  }

  apply(gateway: Gateway): void {
    gateway.hooks.authFor.for(ACME_HMAC_TYPE).tap(this.name, (spec, _challenge, ctx) => {
      const { keyId, secret } = AcmeHmacAuthSchema.parse(spec.auth); // validated at load: this only types it
      return this.strategyFor(gateway, spec, { keyId, secret }, ctx);
    });

    gateway.hooks.resolveAuth.tapPromise(this.name, async (spec, challenge, ctx) => {
      if (spec.auth !== undefined || spec.url === undefined || hasAuthorizationHeader(spec)) return undefined;
      const origin = new URL(spec.url).origin;
      const key = this.keys.get(origin);
      if (challenge === null) return key && (await this.verified(gateway, spec, spec.url, key, ctx)) ? this.strategyFor(gateway, spec, key, ctx) : undefined;
      if (!isAcmeChallenge(challenge)) return undefined;
      if (!key) throw acmeErrors.noKey(spec.name, origin);
      return this.strategyFor(gateway, spec, key, ctx);
    });
  }

  private strategyFor(gateway: Gateway, spec: ServerSpec, key: SigningKey, ctx: ResolveContext): AcmeHmacStrategy {
    if (spec.url === undefined) throw acmeErrors.notHttp(spec.name);
    const existing = this.strategies.get(spec);
    if (existing) return existing;
    const strategy = new AcmeHmacStrategy({ name: spec.name, url: spec.url }, key, {
      tokenStore: () => gateway.hooks.resolveTokenStore.promise(spec, ctx),
      redact: (value) => gateway.redactor.add(value),
    });
    this.strategies.set(spec, strategy);
    return strategy;
  }

  /** Whether `auth login` verified this key for this server (a store that cannot be read: not verified). */
  private async verified(gateway: Gateway, spec: ServerSpec, url: string, key: SigningKey, ctx: ResolveContext): Promise<boolean> {
    const store = await gateway.hooks.resolveTokenStore.promise(spec, ctx);
    const stored = await store?.get(serverStoreKey(url)).catch(() => undefined);
    return verifiedKeyOf(stored)?.keyId === key.keyId;
  }
}

function isAcmeChallenge(challenge: AuthChallenge): boolean {
  return challenge.scheme.toLowerCase() === ACME_HMAC_SCHEME.toLowerCase();
}

/** A configured `Authorization` header is the entry's own credential: this plugin stays out of its way. */
function hasAuthorizationHeader(spec: ServerSpec): boolean {
  return Object.keys(spec.headers).some((name) => name.toLowerCase() === 'authorization');
}
