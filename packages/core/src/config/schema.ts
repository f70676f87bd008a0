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
  'protocol',
] as const;

/**
 * An entry's `protocol`: `auto` (default) probes the server with `server/discover` and speaks
 * 2026-07-28 when it can, 2025-11-25 otherwise; a version pins that era (no probe).
 */
export const ProtocolChoiceSchema = z.enum(['auto', '2025-11-25', '2026-07-28']);

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
    /** The protocol era toward this server: `auto` (negotiated), or pinned. */
    protocol: ProtocolChoiceSchema.optional(),
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
    if (declared === 'sse' && entry.protocol === '2026-07-28') {
      ctx.addIssue({ code: 'custom', path: ['protocol'], message: '"2026-07-28" needs Streamable HTTP or stdio: the legacy "sse" transport is 2025-era only' });
    }
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

/**
 * Gateway settings (cosmiconfig `agent-mcp-gateway`), each overridable by a
 * GATEWAY_* variable. Core's keys only: any other top-level key of a settings file must be a
 * section a plugin registered (`ConfigRegistry.registerSettingsSection`), else it is an error
 * listing the known ones — a misspelt key is never a silent default.
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
  /**
   * How the gateway itself is served to its MCP client: `stdio`, or the name of a settings
   * section a serving plugin registered with `serves` (checked once the plugins registered).
   */
  transport: NonEmptyString.default('stdio'),
  /**
   * The sections plugins registered, each validated by its plugin's schema: written
   * as top-level keys of the settings file, gathered here by the loader.
   */
  sections: z.record(z.string(), z.unknown()).default({}),
});

export type GatewaySettings = z.infer<typeof GatewaySettingsSchema>;
/** Settings as written in a file (everything optional). */
export type GatewaySettingsInput = z.input<typeof GatewaySettingsSchema>;
