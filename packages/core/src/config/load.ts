/**
 * Finding and loading the gateway's three inputs:
 * - the servers file (`.mcp.json`) → `ServerSpec[]`,
 * - the rules file (`.mcp-gateway-rules.json`) → `RulesFile`,
 * - the settings (cosmiconfig `agent-mcp-gateway` + GATEWAY_* variables) → `GatewaySettings`.
 *
 * Every failure is a GatewayError (CONFIG_NOT_FOUND, CONFIG_INVALID,
 * CONFIG_MISSING_VARIABLE) whose message already names the file and JSON path,
 * with the same two in `details.file` / `details.path`.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import type { z } from 'zod';
import { ErrorCodes, GatewayError, isGatewayError } from '../errors.js';
import { RulesFileSchema, type RulesFile } from '../policy/rules.js';
import type { AuthConfig, GatewayConfig, ServerSpec } from '../types.js';
import { expandVariables } from './expand.js';
import { appendJsonPath, configInvalidFromZod, parseJsonText, readableZodErrorMap } from './format.js';
import {
  GatewaySettingsSchema,
  HttpServeSettingsSchema,
  McpConfigFileSchema,
  SERVER_ENTRY_KEYS,
  normalizeTransport,
  type GatewaySettings,
  type ServerEntry,
} from './schema.js';

/** Environment as the loaders read it (`process.env` fits). */
export type Env = Readonly<Record<string, string | undefined>>;

// ---------------------------------------------------------------------------
// Discovery

/** Which file to look for. */
export type ConfigFileKind = 'config' | 'rules';

/** File names, variables and flags of each kind. */
export const CONFIG_FILES = {
  config: { fileName: '.mcp.json', envVar: 'GATEWAY_MCP_CONFIG', flag: '--config', what: 'servers file' },
  rules: { fileName: '.mcp-gateway-rules.json', envVar: 'GATEWAY_RULES', flag: '--rules', what: 'rules file' },
} as const;

/** The user-level folder, under the home directory. */
export const USER_CONFIG_DIR = join('.config', 'agent-mcp-gateway');

export interface FindFileOptions {
  /** `--config` / `--rules` value. */
  flag?: string | undefined;
  env: Env;
  cwd: string;
  home: string;
}

/** `~/x` → `<home>/x`; relative → against `cwd`. Env values are not shell-expanded, so `~` is handled here. */
export function resolveUserPath(path: string, cwd: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/') || path.startsWith('~\\')) return join(home, path.slice(2));
  return isAbsolute(path) ? path : resolve(cwd, path);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The places searched after the flag and the variable, in order (absolute paths). */
export function searchLocations(kind: ConfigFileKind, opts: { cwd: string; home: string }): string[] {
  const { fileName } = CONFIG_FILES[kind];
  return [resolve(opts.cwd, fileName), resolve(opts.home, USER_CONFIG_DIR, fileName), resolve(opts.cwd, 'config', fileName)];
}

/**
 * Finds the servers or rules file. Order: the flag, `GATEWAY_MCP_CONFIG` /
 * `GATEWAY_RULES`, `./<name>`, `~/.config/agent-mcp-gateway/<name>`,
 * `./config/<name>` (name `.mcp.json` or `.mcp-gateway-rules.json`).
 *
 * A path given by flag or variable must exist: a typo there is an error, not a
 * silent fall-through to some other file. An empty variable counts as unset.
 *
 * @returns the absolute path, or `undefined` when no candidate exists
 * @throws GatewayError CONFIG_NOT_FOUND when the flag or variable names a missing file
 */
export function findFile(kind: ConfigFileKind, opts: FindFileOptions): string | undefined {
  const spec = CONFIG_FILES[kind];
  const explicit: Array<[string | undefined, string]> = [
    [opts.flag, spec.flag],
    [opts.env[spec.envVar], spec.envVar],
  ];
  for (const [value, source] of explicit) {
    if (value === undefined || value === '') continue;
    const path = resolveUserPath(value, opts.cwd, opts.home);
    if (!isFile(path)) {
      throw new GatewayError(ErrorCodes.CONFIG_NOT_FOUND, `${path}: ${spec.what} not found (given by ${source})`, { file: path });
    }
    return path;
  }
  return searchLocations(kind, opts).find(isFile);
}

// ---------------------------------------------------------------------------
// Reading JSON files

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new GatewayError(ErrorCodes.CONFIG_NOT_FOUND, `${file}: ${what} not found`, { file }, { cause: error });
    const why = code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? 'read error');
    throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${file}: cannot read the ${what}: ${why}`, { file, path: '$' }, { cause: error });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------
// Servers file

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
export function loadServers(file: string, env: Env): LoadedServers {
  return parseServers(readText(file, 'servers file'), file, env);
}

/** {@link loadServers} on text already read (`file` is used for messages and relative `cwd`s). */
export function parseServers(text: string, file: string, env: Env): LoadedServers {
  const warnings: string[] = [];
  const expanded = new Map<string, string[]>();
  const raw = expandServerEntries(parseJsonText(text, file), env, file, warnings, expanded);
  const parsed = McpConfigFileSchema.safeParse(raw, { error: readableZodErrorMap });
  if (!parsed.success) throw configInvalidFromZod(file, parsed.error.issues);
  const key = parsed.data.mcpServers !== undefined ? 'mcpServers' : 'servers';
  const entries = parsed.data[key] ?? {};
  const baseDir = dirname(file);
  const servers = Object.entries(entries).map(([name, entry]) => {
    const path = appendJsonPath(`$.${key}`, name);
    warnings.push(...entryWarnings(entry, file, path));
    return toServerSpec(name, entry, baseDir, expanded.get(name));
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
 * entry) join the secrets: the redactor blanks them wherever they appear.
 */
export function toServerSpec(name: string, entry: ServerEntry, baseDir: string, expandedValues: readonly string[] = []): ServerSpec {
  const declared = entry.type ?? entry.transport;
  const transport = declared !== undefined ? normalizeTransport(declared) : entry.command !== undefined ? 'stdio' : 'http';
  const stdio = transport === 'stdio';
  const env = stdio ? { ...entry.env } : {};
  const headers = stdio ? {} : { ...entry.headers };
  const auth: AuthConfig | undefined = entry.auth;
  const secrets = [...Object.values(env), ...Object.values(headers), ...expandedValues];
  if (typeof auth === 'object' && auth.clientSecret !== undefined) secrets.push(auth.clientSecret);
  if (typeof auth === 'object' && auth.type === 'client_credentials' && auth.privateKey !== undefined) secrets.push(auth.privateKey);
  if (typeof auth === 'object' && auth.type === 'enterprise_managed') secrets.push(auth.idp.idToken, ...(auth.idp.clientSecret !== undefined ? [auth.idp.clientSecret] : []));
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
    // Empty strings would match everywhere in a redactor; they hide nothing anyway.
    secretValues: [...new Set(secrets.filter((s) => s !== ''))],
  };
}

// ---------------------------------------------------------------------------
// Rules file

/**
 * Loads and validates a rules file (`.mcp-gateway-rules.json`) against `RulesFileSchema`.
 * No variable expansion: rules hold no secrets.
 *
 * @throws GatewayError CONFIG_NOT_FOUND, CONFIG_INVALID (with file and JSON path)
 */
export function loadRules(file: string): RulesFile {
  return parseRules(readText(file, 'rules file'), file);
}

/** {@link loadRules} on text already read. */
export function parseRules(text: string, file: string): RulesFile {
  const parsed = RulesFileSchema.safeParse(parseJsonText(text, file), { error: readableZodErrorMap });
  if (!parsed.success) throw configInvalidFromZod(file, parsed.error.issues);
  return parsed.data;
}

// ---------------------------------------------------------------------------
// Settings

/** cosmiconfig module name (also the `package.json` key). */
export const SETTINGS_MODULE = 'agent-mcp-gateway';

/**
 * Where settings are looked for, in the working directory only. TypeScript
 * configs are left out: loading them needs the `typescript` package at run time.
 */
export const SETTINGS_SEARCH_PLACES = [
  'package.json',
  `.${SETTINGS_MODULE}rc`,
  `.${SETTINGS_MODULE}rc.json`,
  `.${SETTINGS_MODULE}rc.yaml`,
  `.${SETTINGS_MODULE}rc.yml`,
  `${SETTINGS_MODULE}.config.js`,
  `${SETTINGS_MODULE}.config.mjs`,
  `${SETTINGS_MODULE}.config.cjs`,
] as const;

export interface LoadSettingsOptions {
  cwd: string;
  env: Env;
  /** For `~/` in paths; defaults to the OS home directory. */
  home?: string;
}

export interface LoadedSettings {
  settings: GatewaySettings;
  /** Absolute path of the settings file, when one was found. */
  file?: string;
}

/** Our JSON loader for cosmiconfig, so rc/package.json syntax errors read like `.mcp.json` ones. */
const jsonLoader: Loader = (filepath, content) => parseJsonText(content, filepath);

/**
 * Our JS loader: cosmiconfig's own falls back to `require()` when `import()`
 * fails, which on Node >= 20.19 replaces a plain SyntaxError with a confusing
 * require(esm) error. The mtime query makes a changed file load afresh (hot
 * reload) instead of coming from the ES module cache.
 */
const jsLoader: Loader = async (filepath) => {
  const url = pathToFileURL(filepath);
  url.searchParams.set('mtime', String(statSync(filepath).mtimeMs));
  const module = (await import(url.href)) as { default?: unknown };
  return module.default;
};

/**
 * Loads gateway settings: cosmiconfig `agent-mcp-gateway` in `cwd` only (no
 * walking up into parent folders), validated, then overridden by GATEWAY_*
 * variables (see {@link SETTINGS_ENV_VARS}). Relative `tokenDir` / `auditLog`
 * become absolute against `cwd`.
 *
 * @throws GatewayError CONFIG_INVALID naming the file and JSON path, or — for a
 *   bad variable — the variable (then `details.path` is the variable's name and
 *   there is no `details.file`)
 */
export async function loadSettings(opts: LoadSettingsOptions): Promise<LoadedSettings> {
  const home = opts.home ?? homedir();
  const explorer = cosmiconfig(SETTINGS_MODULE, {
    searchStrategy: 'none',
    searchPlaces: [...SETTINGS_SEARCH_PLACES],
    // Hot reload re-reads settings; a cached result would hide the change.
    cache: false,
    loaders: { '.json': jsonLoader, '.js': jsLoader, '.mjs': jsLoader, '.cjs': jsLoader },
  });
  let result: Awaited<ReturnType<typeof explorer.search>>;
  try {
    result = await explorer.search(opts.cwd);
  } catch (error) {
    if (isGatewayError(error)) throw error;
    const file = (error as { filepath?: unknown }).filepath;
    const where = typeof file === 'string' ? file : opts.cwd;
    // cosmiconfig prefixes parser messages with "YAML Error in <file>:" on a line of its own.
    const lines = (error instanceof Error ? error.message : String(error)).split('\n').map((l) => l.trim()).filter(Boolean);
    const why = lines[0] !== undefined && / Error in /.test(lines[0]) ? lines[1] : lines[0];
    throw new GatewayError(
      ErrorCodes.CONFIG_INVALID,
      `${where}: cannot load the settings: ${why ?? 'unknown error'}`,
      { file: where, path: '$' },
      { cause: error },
    );
  }
  const file = result?.filepath;
  const raw: unknown = result === null || result.isEmpty === true || result.config === null || result.config === undefined ? {} : result.config;
  let settings: GatewaySettings;
  if (file !== undefined) {
    // Inside package.json the settings sit under their key; say so in paths.
    const base = basename(file) === 'package.json' ? [SETTINGS_MODULE] : [];
    const parsed = GatewaySettingsSchema.safeParse(raw, { error: readableZodErrorMap });
    if (!parsed.success) throw configInvalidFromZod(file, parsed.error.issues, base);
    settings = parsed.data;
  } else {
    settings = GatewaySettingsSchema.parse({});
  }
  settings = applyEnvOverrides(settings, opts.env);
  return {
    settings: resolveSettingsPaths(settings, opts.cwd, home),
    ...(file !== undefined && { file }),
  };
}

function resolveSettingsPaths(settings: GatewaySettings, cwd: string, home: string): GatewaySettings {
  return {
    ...settings,
    ...(settings.tokenDir !== undefined && { tokenDir: resolveUserPath(settings.tokenDir, cwd, home) }),
    ...(settings.auditLog !== undefined && { auditLog: resolveUserPath(settings.auditLog, cwd, home) }),
  };
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off']);

/** Converts a variable's text to the setting's input type, or says why it cannot. */
type EnvParser = (text: string) => { ok: true; value: unknown } | { ok: false; expected: string };

const asText: EnvParser = (text) => ({ ok: true, value: text });
const asLowerText: EnvParser = (text) => ({ ok: true, value: text.toLowerCase() });
const asBoolean: EnvParser = (text) => {
  const word = text.toLowerCase();
  if (TRUE_WORDS.has(word)) return { ok: true, value: true };
  if (FALSE_WORDS.has(word)) return { ok: true, value: false };
  return { ok: false, expected: '1, true, yes or on (0, false, no or off to turn it off)' };
};
const asPort: EnvParser = (text) => {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  return port <= 65535 ? { ok: true, value: port } : { ok: false, expected: 'a port number from 0 to 65535' };
};

type SettingsKey = keyof typeof GatewaySettingsSchema.shape;

/** GATEWAY_* variables that override settings, and the setting each one sets. */
export const SETTINGS_ENV_VARS = {
  GATEWAY_LOG_LEVEL: 'logLevel',
  GATEWAY_DEBUG: 'debug',
  GATEWAY_INIT_STRATEGY: 'initStrategy',
  GATEWAY_DEFAULT_AGENT: 'defaultAgent',
  GATEWAY_TOKEN_STORE: 'tokenStore',
  GATEWAY_TOKEN_DIR: 'tokenDir',
  GATEWAY_AUDIT_LOG: 'auditLog',
  GATEWAY_TRANSPORT: 'transport',
  GATEWAY_HOST: 'http.host',
  GATEWAY_PORT: 'http.port',
} as const;

const ENV_PARSERS: Record<keyof typeof SETTINGS_ENV_VARS, EnvParser> = {
  GATEWAY_LOG_LEVEL: asLowerText,
  GATEWAY_DEBUG: asBoolean,
  GATEWAY_INIT_STRATEGY: asLowerText,
  GATEWAY_DEFAULT_AGENT: asText,
  GATEWAY_TOKEN_STORE: asLowerText,
  GATEWAY_TOKEN_DIR: asText,
  GATEWAY_AUDIT_LOG: asText,
  GATEWAY_TRANSPORT: asLowerText,
  GATEWAY_HOST: asText,
  GATEWAY_PORT: asPort,
};

function envError(variable: string, text: string, expected: string): GatewayError {
  // These variables carry modes, names and paths, never secrets: echoing the value helps.
  return new GatewayError(
    ErrorCodes.CONFIG_INVALID,
    `environment variable ${variable}=${JSON.stringify(text)}: ${expected}`,
    { path: variable },
  );
}

/** Validates one variable's converted value with the setting's own schema. */
function parseEnvValue(variable: string, text: string, value: unknown, schema: z.ZodType): unknown {
  const parsed = schema.safeParse(value, { error: readableZodErrorMap });
  if (parsed.success) return parsed.data;
  throw envError(variable, text, parsed.error.issues[0]?.message ?? 'invalid value');
}

/**
 * Applies the GATEWAY_* overrides in {@link SETTINGS_ENV_VARS} to validated
 * settings. Empty variables count as unset. `GATEWAY_HOST` / `GATEWAY_PORT` fill
 * `http` (defaults for the other half) but do not by themselves switch the
 * transport: that is `GATEWAY_TRANSPORT=http` (or `transport` in the file).
 *
 * @throws GatewayError CONFIG_INVALID naming the variable
 */
export function applyEnvOverrides(settings: GatewaySettings, env: Env): GatewaySettings {
  const out: Record<string, unknown> = { ...settings };
  const http: Record<string, unknown> = { ...settings.http };
  let httpTouched = false;
  for (const [variable, target] of Object.entries(SETTINGS_ENV_VARS) as Array<[keyof typeof SETTINGS_ENV_VARS, string]>) {
    const text = env[variable]?.trim();
    if (text === undefined || text === '') continue;
    const converted = ENV_PARSERS[variable](text);
    if (!converted.ok) throw envError(variable, text, `expected ${converted.expected}`);
    if (target.startsWith('http.')) {
      const field = target.slice('http.'.length) as keyof typeof HttpServeSettingsSchema.shape;
      http[field] = parseEnvValue(variable, text, converted.value, HttpServeSettingsSchema.shape[field] as z.ZodType);
      httpTouched = true;
    } else {
      const schema = GatewaySettingsSchema.shape[target as SettingsKey] as z.ZodType;
      out[target] = parseEnvValue(variable, text, converted.value, schema);
    }
  }
  if (httpTouched) out.http = HttpServeSettingsSchema.parse(http);
  return out as GatewaySettings;
}

// ---------------------------------------------------------------------------
// Everything together

export interface LoadGatewayConfigOptions {
  /** `--config` */
  configPath?: string | undefined;
  /** `--rules` */
  rulesPath?: string | undefined;
  cwd: string;
  env: Env;
  home: string;
}

/**
 * Finds and loads the servers file (required), the rules file (optional) and
 * the settings. The result's `warnings` hold the servers file's findings
 * (unknown entry keys, ignored fields, unexpanded variables of disabled servers).
 *
 * @throws GatewayError CONFIG_NOT_FOUND (no servers file: the message lists the
 *   places searched), CONFIG_INVALID, CONFIG_MISSING_VARIABLE
 */
export async function loadGatewayConfig(opts: LoadGatewayConfigOptions): Promise<GatewayConfig> {
  const { cwd, env, home } = opts;
  const configFile = findFile('config', { flag: opts.configPath, env, cwd, home });
  if (configFile === undefined) {
    const searched = searchLocations('config', { cwd, home });
    throw new GatewayError(
      ErrorCodes.CONFIG_NOT_FOUND,
      `No servers file (.mcp.json) found. Searched: ${searched.join(', ')}. ` +
        `Pass --config <path>, set GATEWAY_MCP_CONFIG, or run 'agent-mcp-gateway init'.`,
      { file: searched[0] },
    );
  }
  const { servers, warnings } = loadServers(configFile, env);
  const rulesFile = findFile('rules', { flag: opts.rulesPath, env, cwd, home });
  const rules = rulesFile === undefined ? undefined : loadRules(rulesFile);
  const { settings, file: settingsFile } = await loadSettings({ cwd, env, home });
  return {
    servers,
    ...(rules !== undefined && { rules }),
    settings,
    sources: {
      config: configFile,
      ...(rulesFile !== undefined && { rules: rulesFile }),
      ...(settingsFile !== undefined && { settings: settingsFile }),
    },
    warnings,
  };
}
