/**
 * Schemas of the gateway's configuration:
 * - the servers file (`.mcp.json`, the format Claude Code, Cursor and VS Code use);
 * - the gateway settings (cosmiconfig `agent-mcp-gateway`).
 *
 * The rules file's schema lives with the policy engine (`policy/rules.ts`).
 * Messages written here are phrased to follow `<file>: <json path>: ` (see format.ts).
 */
import { z } from 'zod';
import { AGENT_ID_PATTERN } from '../policy/rules.js';
import type { AuthConfig, TransportKind } from '../types.js';
import { ConfigRegistry } from './registry.js';
import { isSecureOrLoopbackUrl } from '../urls.js';

// ---------------------------------------------------------------------------
// Servers file

/** Server names: letters, digits, `_`, `.`, `-` (they appear in tool calls and file names). */
export const SERVER_NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;

/** Values accepted in an entry's `type` / `transport`. */
export const TransportTypeSchema = z.enum(['stdio', 'http', 'streamable-http', 'sse']);
export type TransportType = z.infer<typeof TransportTypeSchema>;

/** `streamable-http` is the spec's name for what clients call `http`. */
export function normalizeTransport(type: TransportType): TransportKind {
  return type === 'streamable-http' ? 'http' : type;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** A non-empty string; for plugins' config schemas too, so that their messages read like core's. */
export const NonEmptyString = z.string().min(1);
/** An absolute http(s) URL (the message every URL field of a config gives). */
export const HttpUrlSchema = z.string().refine(isHttpUrl, 'expected an absolute http:// or https:// URL');

// HTTP header names are RFC 9110 tokens; values may not hold CR, LF or NUL.
// fetch() would reject both later, with an error that names neither file nor path.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HeadersSchema = z.record(
  z.string().regex(HEADER_NAME, 'not a valid HTTP header name'),
  z.string().refine((v) => !/[\r\n\0]/.test(v), 'a header value may not contain line breaks or NUL'),
);
// spawn() refuses NUL anywhere and '=' in a variable name.
const EnvSchema = z.record(
  z.string().regex(/^[^=\0]+$/, 'an environment variable name may not be empty or contain "=" or NUL'),
  z.string().refine((v) => !v.includes('\0'), 'an environment value may not contain NUL'),
);

/**
 * Where credentials are kept: a token store name that a store plugin registered
 * (`ConfigRegistry.registerTokenStore`); checked against the registry when the servers file is loaded.
 */
export const TokenStoreNameSchema = NonEmptyString;

/** Keys of a server entry that the gateway reads; anything else draws a warning. */
export const SERVER_ENTRY_KEYS = [
  'command',
  'args',
  'env',
  'cwd',
  'url',
  'type',
  'transport',
  'headers',
  'description',
  'auth',
  'enabled',
  'timeoutMs',
  'tokenStore',
] as const;

/**
 * One entry under `mcpServers` / `servers`, with `auth` and `tokenStore` checked against what
 * the plugins registered. Unknown keys are tolerated (other clients add their own) and
 * reported as warnings by the loader.
 */
export function serverEntrySchema(registry: ConfigRegistry = new ConfigRegistry()) {
  return z
  .looseObject({
    command: NonEmptyString.optional(),
    args: z.array(z.string()).optional(),
    env: EnvSchema.optional(),
    cwd: NonEmptyString.optional(),
    url: HttpUrlSchema.optional(),
    type: TransportTypeSchema.optional(),
    transport: TransportTypeSchema.optional(),
    headers: HeadersSchema.optional(),
    description: z.string().optional(),
    /** A registered auth type: its name (shorthand) or `{type, …}` validated by the registering plugin's schema. */
    auth: (registry.authSchema() as z.ZodType<AuthConfig>).optional(),
    enabled: z.boolean().default(true),
    timeoutMs: z.number().int().positive().optional(),
    /** This server's token store, overriding the `tokenStore` setting. */
    tokenStore: registry.tokenStoreSchema().optional(),
  })
  .superRefine((entry, ctx) => {
    const hasCommand = entry.command !== undefined;
    const hasUrl = entry.url !== undefined;
    if (hasCommand && hasUrl) {
      ctx.addIssue({
        code: 'custom',
        message: 'has both "command" and "url": a server is either local (command) or remote (url), not both',
      });
      return;
    }
    if (!hasCommand && !hasUrl) {
      ctx.addIssue({
        code: 'custom',
        message: 'needs "command" (a local stdio server) or "url" (a remote HTTP or SSE server)',
      });
      return;
    }
    const type = entry.type === undefined ? undefined : normalizeTransport(entry.type);
    const transport = entry.transport === undefined ? undefined : normalizeTransport(entry.transport);
    if (type !== undefined && transport !== undefined && type !== transport) {
      ctx.addIssue({ code: 'custom', path: ['transport'], message: `"${entry.transport}" conflicts with "type": "${entry.type}"` });
      return;
    }
    const declared = entry.type ?? entry.transport;
    const field = entry.type !== undefined ? 'type' : 'transport';
    if (declared === 'stdio' && hasUrl) {
      ctx.addIssue({ code: 'custom', path: [field], message: '"stdio" needs "command", but this entry has "url"' });
    } else if (declared !== undefined && declared !== 'stdio' && hasCommand) {
      ctx.addIssue({ code: 'custom', path: [field], message: `"${declared}" needs "url", but this entry has "command"` });
    }
  });
}

export type ServerEntry = z.infer<ReturnType<typeof serverEntrySchema>>;

/**
 * A whole servers file. Exactly one of `mcpServers` (Claude Code, Cursor, Claude
 * Desktop) or `servers` (VS Code) is required; other top-level keys (VS Code's
 * `inputs`, `$schema`, …) are tolerated and ignored.
 */
export function mcpConfigFileSchema(registry: ConfigRegistry = new ConfigRegistry()) {
  const servers = z.record(
    z.string().regex(SERVER_NAME_PATTERN, 'server names may only hold letters, digits, "_", "." and "-"'),
    serverEntrySchema(registry),
  );
  return z
  .looseObject({
    mcpServers: servers.optional(),
    servers: servers.optional(),
  })
  .superRefine((file, ctx) => {
    if (file.mcpServers !== undefined && file.servers !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'has both "mcpServers" and "servers": keep one of them' });
    } else if (file.mcpServers === undefined && file.servers === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a "mcpServers" object (or VS Code\'s "servers") listing the servers' });
    }
  });
}

export type McpConfigFile = z.infer<ReturnType<typeof mcpConfigFileSchema>>;

// ---------------------------------------------------------------------------
// Gateway settings

/** Log levels, most to least severe. */
export const LogLevelSchema = z.enum(['error', 'warn', 'info', 'debug']);

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
});

export type HttpServeSettings = z.infer<typeof HttpServeSettingsSchema>;

/**
 * Gateway settings (cosmiconfig `agent-mcp-gateway`), each overridable by a
 * GATEWAY_* variable. Strict: a misspelt key is an error, not a silent default.
 */
export const GatewaySettingsSchema = z.strictObject({
  /** Third-party plugins: a package name, or `[name, options]`. */
  plugins: z
    .array(z.union([z.string().min(1), z.tuple([z.string().min(1), z.record(z.string(), z.unknown())])]))
    .default([]),
  logLevel: LogLevelSchema.default('info'),
  logFormat: z.enum(['text', 'json']).default('text'),
  debug: z.boolean().default(false),
  initStrategy: z.enum(['eager', 'lazy']).default('eager'),
  defaultAgent: z.string().regex(AGENT_ID_PATTERN, 'agent ids may only hold letters, digits, "_", "." and "-"').optional(),
  /** How long a downstream may take to start and answer `initialize`. */
  connectTimeoutMs: z.number().int().positive().default(30_000),
  /** Default `execute_tool` timeout when neither the call nor the server sets one. */
  callTimeoutMs: z.number().int().positive().default(60_000),
  /** A token store name registered by a store plugin (checked once the plugins registered theirs). */
  tokenStore: TokenStoreNameSchema.default('fs'),
  /** Absolute after loading (relative paths are resolved against the working directory). */
  tokenDir: NonEmptyString.optional(),
  /** Absolute after loading (relative paths are resolved against the working directory). */
  auditLog: NonEmptyString.optional(),
  /** Record tool call arguments in the audit log (off: they may hold personal data or secrets). */
  auditArguments: z.boolean().default(false),
  /** How the gateway itself is served to its MCP client. */
  transport: z.enum(['stdio', 'http']).default('stdio'),
  /** Listener settings for `transport: "http"`. */
  http: HttpServeSettingsSchema.optional(),
});

export type GatewaySettings = z.infer<typeof GatewaySettingsSchema>;
/** Settings as written in a file (everything optional). */
export type GatewaySettingsInput = z.input<typeof GatewaySettingsSchema>;
