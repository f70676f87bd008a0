/**
 * The servers file (`.mcp.json`, or VS Code's `servers` form) → `ServerSpec[]`: read, parse
 * (JSONC), expand `${VAR}` in the entries, validate against what the plugins registered,
 * normalise.
 */
import { dirname, resolve } from 'node:path';
import { ErrorCodes, GatewayError } from '../errors.js';
import type { ServerSpec } from '../types.js';
import { readText, isPlainObject, type Env } from './discovery.js';
import { expandVariables } from './expand.js';
import { appendJsonPath, configInvalidFromZod, parseJsonText, readableZodErrorMap } from './format.js';
import { ConfigRegistry } from './registry.js';
import { SERVER_ENTRY_KEYS, mcpConfigFileSchema, normalizeTransport, type ServerEntry } from './schema.js';

/** Result of loading a servers file. */
export interface LoadedServers {
  /** In file order; disabled servers included (`enabled: false`). */
  servers: ServerSpec[];
  /** Non-fatal findings, each `<file>: <json path>: <what>`. */
  warnings: string[];
}

/**
 * Loads a servers file (`.mcp.json`): read, parse, expand `${VAR}`, validate,
 * normalise to `ServerSpec`s.
 *
 * A missing variable in a *disabled* entry is a warning, not an error: people
 * disable a server precisely when they lack its credentials.
 *
 * @throws GatewayError CONFIG_NOT_FOUND (no such file), CONFIG_INVALID (unreadable,
 *   bad JSON with line:column, schema violation with JSON path),
 *   CONFIG_MISSING_VARIABLE (unset variable without default)
 */
export function loadServers(file: string, env: Env, registry?: ConfigRegistry): LoadedServers {
  return parseServers(readText(file, 'servers file'), file, env, registry);
}

/**
 * {@link loadServers} on text already read (`file` is used for messages and relative `cwd`s).
 * `auth` and `tokenStore` are validated against `registry` (what the plugins registered; by
 * default only `auth: "none"` and any store name).
 */
export function parseServers(text: string, file: string, env: Env, registry: ConfigRegistry = new ConfigRegistry()): LoadedServers {
  const warnings: string[] = [];
  const expanded = new Map<string, string[]>();
  const raw = expandServerEntries(parseJsonText(text, file), env, file, warnings, expanded);
  const parsed = mcpConfigFileSchema(registry).safeParse(raw, { error: readableZodErrorMap });
  if (!parsed.success) throw configInvalidFromZod(file, parsed.error.issues);
  const key = parsed.data.mcpServers !== undefined ? 'mcpServers' : 'servers';
  const entries = parsed.data[key] ?? {};
  const baseDir = dirname(file);
  const servers = Object.entries(entries).map(([name, entry]) => {
    const path = appendJsonPath(`$.${key}`, name);
    warnings.push(...entryWarnings(entry, file, path));
    return toServerSpec(name, entry, baseDir, expanded.get(name), registry);
  });
  return { servers, warnings };
}

/**
 * Expands variables inside the server entries only: other top-level keys belong
 * to other clients (VS Code's `inputs`) and are none of our business.
 */
function expandServerEntries(doc: unknown, env: Env, file: string, warnings: string[], expanded: Map<string, string[]>): unknown {
  if (!isPlainObject(doc)) return doc;
  const out: Record<string, unknown> = Object.fromEntries(Object.entries(doc));
  for (const key of ['mcpServers', 'servers'] as const) {
    const servers = doc[key];
    if (!isPlainObject(servers)) continue;
    out[key] = Object.fromEntries(
      Object.entries(servers).map(([name, entry]) => {
        const path = appendJsonPath(`$.${key}`, name);
        // Schema validation would drop this key without a word (it is an object's prototype slot).
        if (name === '__proto__') {
          throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${file}: ${path}: "__proto__" cannot be a server name`, { file, path });
        }
        const disabled = isPlainObject(entry) && entry.enabled === false;
        const onMissing = disabled
          ? (variable: string, at: string) =>
              warnings.push(`${file}: ${at}: environment variable ${variable} is not set; left unexpanded because server '${name}' is disabled`)
          : undefined;
        // Whatever came from the environment may be a credential (an API key in `args`, a token in a URL).
        const values: string[] = [];
        expanded.set(name, values);
        const onExpanded = (_variable: string, value: string) => values.push(value);
        return [name, expandVariables(entry, env, file, path, onMissing ? { onMissing, onExpanded } : { onExpanded })];
      }),
    );
  }
  return out;
}

const KNOWN_ENTRY_KEYS: ReadonlySet<string> = new Set(SERVER_ENTRY_KEYS);
const STDIO_ONLY_KEYS = ['args', 'env', 'cwd'] as const;

/** Warnings for one valid entry: unknown keys, and keys its transport ignores. */
function entryWarnings(entry: ServerEntry, file: string, path: string): string[] {
  const warnings: string[] = [];
  // The entry schema is loose: unknown keys survive validation, so they are listed here.
  for (const key of Object.keys(entry)) {
    if (!KNOWN_ENTRY_KEYS.has(key)) warnings.push(`${file}: ${appendJsonPath(path, key)}: unknown key "${key}" is ignored`);
  }
  if (entry.url !== undefined) {
    for (const key of STDIO_ONLY_KEYS) {
      if (entry[key] !== undefined) warnings.push(`${file}: ${appendJsonPath(path, key)}: ignored for a remote (url) server`);
    }
  } else if (entry.headers !== undefined) {
    warnings.push(`${file}: ${appendJsonPath(path, 'headers')}: ignored for a local (command) server`);
  }
  // `${secret:NAME}` is resolved in header and env values only (by the auth strategy, at connect time).
  for (const [key, value] of Object.entries(entry)) {
    if (key === 'headers' || key === 'env') continue;
    if (JSON.stringify(value ?? null).includes('${secret:')) {
      warnings.push(`${file}: ${appendJsonPath(path, key)}: \${secret:…} is only resolved in "headers" and "env" values; here it stays as written`);
    }
  }
  return warnings;
}

/**
 * A validated entry → the kernel's `ServerSpec`. Fields that the transport does
 * not use are dropped (and were warned about), so a plugin never acts on them.
 * A relative `cwd` is resolved against the config file's folder, like every
 * other path written in a file. `expandedValues` (what `${VAR}`s put in the
 * entry) join the secrets, as do the `auth` fields its plugin's schema marks `secret()`: the
 * redactor blanks them wherever they appear.
 */
export function toServerSpec(
  name: string,
  entry: ServerEntry,
  baseDir: string,
  expandedValues: readonly string[] = [],
  registry: ConfigRegistry = new ConfigRegistry(),
): ServerSpec {
  const declared = entry.type ?? entry.transport;
  const transport = declared !== undefined ? normalizeTransport(declared) : entry.command !== undefined ? 'stdio' : 'http';
  const stdio = transport === 'stdio';
  const env = stdio ? { ...entry.env } : {};
  const headers = stdio ? {} : { ...entry.headers };
  const auth = entry.auth;
  const secrets = [...Object.values(env), ...Object.values(headers), ...expandedValues, ...registry.authSecrets(auth)];
  return {
    name,
    transport,
    ...(entry.description !== undefined && { description: entry.description }),
    ...(stdio && entry.command !== undefined && { command: entry.command }),
    args: stdio ? [...(entry.args ?? [])] : [],
    env,
    ...(stdio && entry.cwd !== undefined && { cwd: resolve(baseDir, entry.cwd) }),
    ...(!stdio && entry.url !== undefined && { url: entry.url }),
    headers,
    ...(auth !== undefined && { auth }),
    enabled: entry.enabled,
    ...(entry.timeoutMs !== undefined && { timeoutMs: entry.timeoutMs }),
    ...(entry.tokenStore !== undefined && { tokenStore: entry.tokenStore }),
    ...(entry.protocol !== undefined && { protocol: entry.protocol }),
    // Empty strings would match everywhere in a redactor; they hide nothing anyway.
    secretValues: [...new Set(secrets.filter((s) => s !== ''))],
  };
}
