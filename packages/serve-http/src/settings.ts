/**
 * The `http` section of the gateway settings: this package's own, registered through the
 * `ConfigRegistry` ({@link registerHttpServeSettings}) — core knows none of it. With it
 * registered, `transport: "http"` (or GATEWAY_TRANSPORT=http) selects serving over HTTP, and
 * GATEWAY_HOST / GATEWAY_PORT override `http.host` / `http.port`.
 */
import {
  HttpUrlSchema,
  NonEmptyString,
  isSecureOrLoopbackUrl,
  z,
  type ConfigRegistry,
  type GatewayPlugin,
  type GatewaySettings,
} from '@agent-mcp-gateway/core';

/** The settings section's name: `"http": {…}` in the settings file; also the `transport` value that selects it. */
export const HTTP_SETTINGS_SECTION = 'http';

/** Where the gateway listens when it serves over HTTP. */
export const DEFAULT_HTTP_HOST = '127.0.0.1';
export const DEFAULT_HTTP_PORT = 8080;

/** Largest request body the HTTP listener reads (larger: 413). */
export const DEFAULT_HTTP_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** https, or http on a loopback host (local development and tests). */
const SecureUrlSchema = HttpUrlSchema.refine((value) => isSecureOrLoopbackUrl(new URL(value)), 'must use https (plain http only on a loopback host)');

/**
 * Callers authenticated with JWT access tokens of an authorization server: the gateway is
 * a protected resource (RFC 9728 metadata, served next to `/mcp`).
 */
export const HttpAuthSettingsSchema = z.strictObject({
  /** The authorization server's issuer; its JWKS is discovered from its metadata (RFC 8414, then OpenID Connect). */
  issuer: SecureUrlSchema,
  /** The JWKS URL, when discovery is not wanted. */
  jwksUri: SecureUrlSchema.optional(),
  /** The `aud` a token must carry. Default: the gateway's own resource URL (`<publicUrl or http://host:port>/mcp`). */
  audience: NonEmptyString.optional(),
  /** The claim naming the agent (an agent id of the rules). Default `sub`. */
  agentClaim: NonEmptyString.default('sub'),
  /** Scopes every token must carry (else 403 `insufficient_scope`); announced as `scopes_supported`. */
  scopes: z.array(NonEmptyString).optional(),
});

export type HttpAuthSettings = z.infer<typeof HttpAuthSettingsSchema>;

/** The HTTP listener (used when `transport` is `http`). Port 0 picks a free port. */
export const HttpServeSettingsSchema = z.strictObject({
  host: NonEmptyString.default(DEFAULT_HTTP_HOST),
  port: z.number().int().min(0).max(65535).default(DEFAULT_HTTP_PORT),
  /**
   * The origin clients reach the gateway at (behind a proxy or load balancer), e.g.
   * `https://gateway.example.com`: its resource URL is `<publicUrl>/mcp`, and its host is an allowed `Host`.
   */
  publicUrl: HttpUrlSchema.refine((value) => {
    const url = new URL(value);
    return url.pathname === '/' && url.search === '' && url.hash === '';
  }, 'expected an origin only, e.g. https://gateway.example.com (the MCP endpoint is always /mcp)').optional(),
  /**
   * More `Host` header values to accept (`name` for any port, or `name:port`), besides the bound
   * address and localhost. `"*"` switches the Host check off (e.g. behind a load balancer, with credentials).
   */
  allowedHosts: z.array(NonEmptyString).default([]),
  /** `Origin` header values to accept (e.g. `https://app.example.com`), besides none and the gateway's own. */
  allowedOrigins: z.array(NonEmptyString).default([]),
  /** Largest request body, in bytes; larger ones get 413. */
  maxBodyBytes: z.number().int().positive().default(DEFAULT_HTTP_MAX_BODY_BYTES),
  /** Serve `/metrics` without credentials (default: the same credentials as `/mcp`). */
  publicMetrics: z.boolean().default(false),
  /** Serve without any credential on a non-loopback address (also `--allow-unauthenticated`). */
  allowUnauthenticated: z.boolean().default(false),
  /** JWT access tokens from an authorization server (besides or instead of the rules' `api_keys`). */
  auth: HttpAuthSettingsSchema.optional(),
  /**
   * The key (at least 32 characters; better from GATEWAY_STATE_KEY than in a file) that seals the
   * state 2026-07-28 agents carry between the rounds of an interactive call. Every instance behind
   * one address needs the same one; unset, each process makes its own, and a round that reaches
   * another process is refused.
   */
  stateKey: z.string().min(32, 'must be at least 32 characters (e.g. 32 random bytes, base64url)').optional(),
});

export type HttpServeSettings = z.infer<typeof HttpServeSettingsSchema>;

/** The variables that override the section's fields (over the settings file). */
export const HTTP_SETTINGS_ENV_VARS = {
  GATEWAY_HOST: { key: 'host' },
  GATEWAY_STATE_KEY: { key: 'stateKey' },
  GATEWAY_PORT: {
    key: 'port',
    parse: (text: string): number => {
      const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
      if (!(port <= 65535)) throw new Error('expected a port number from 0 to 65535');
      return port;
    },
  },
} as const;

const PLUGIN_NAME = 'HttpServePlugin';

/**
 * Registers the `http` settings section (its schema and variables) and the `transport: "http"`
 * value it serves under.
 */
export function registerHttpServeSettings(registry: ConfigRegistry): ConfigRegistry {
  return registry.registerSettingsSection({
    name: HTTP_SETTINGS_SECTION,
    schema: HttpServeSettingsSchema,
    plugin: PLUGIN_NAME,
    env: HTTP_SETTINGS_ENV_VARS,
    serves: true,
  });
}

/**
 * The plugin an embedder (and the CLI) lists so that the settings may hold an `http` section:
 * it only registers that section; serving is {@link serveGateway}'s.
 */
export class HttpServePlugin implements GatewayPlugin {
  readonly name = PLUGIN_NAME;
  register(registry: ConfigRegistry): void {
    registerHttpServeSettings(registry);
  }
  apply(): void {}
}

/**
 * The `http` section of loaded settings (validated by the loader against
 * {@link HttpServeSettingsSchema}), or undefined when the settings have none.
 */
export function httpServeSettingsOf(settings: Pick<GatewaySettings, 'sections'>): HttpServeSettings | undefined {
  const section = settings.sections[HTTP_SETTINGS_SECTION];
  return section === undefined ? undefined : HttpServeSettingsSchema.parse(section);
}
