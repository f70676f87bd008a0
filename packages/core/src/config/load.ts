/**
 * Finding and loading the gateway's three inputs:
 * - the servers file (`.mcp.json`) → `ServerSpec[]`,
 * - the rules file (`.mcp-gateway-rules.json`) → `RulesFile`,
 * - the settings (`agent-mcp-gateway` rc/config files + GATEWAY_* variables) → `GatewaySettings`.
 *
 * Files are read only from places the user trusts: paths given by flag or variable,
 * the user's folder (`~/.config/agent-mcp-gateway/`), the folder of an explicit servers
 * file, and a project folder (the working folder) only while the trust store records
 * its gateway files with their current contents (./trust.ts). Settings come from the
 * file `--settings` / GATEWAY_SETTINGS names, else the first found next to the servers
 * file in use, in the trusted project folder, in the user's folder — never from an
 * arbitrary working folder. A project's files that are not trusted are reported, never
 * read as config.
 *
 * Every failure is a GatewayError (CONFIG_NOT_FOUND, CONFIG_INVALID,
 * CONFIG_MISSING_VARIABLE, PLUGIN_ERROR) whose message already names the file and
 * JSON path, with the same two in `details.file` / `details.path`.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultLoaders, type Loader } from 'cosmiconfig';
import type { z } from 'zod';
import { ErrorCodes, GatewayError, isGatewayError } from '../errors.js';
import { RulesFileSchema, type RulesFile } from '../policy/rules.js';
import type { GatewayConfig, ServerSpec } from '../types.js';
import { expandVariables } from './expand.js';
import { appendJsonPath, configInvalidFromZod, formatJsonPath, parseJsonText, readableZodErrorMap } from './format.js';
import { resolvePlugin } from './plugins.js';
import { ConfigRegistry, type SettingsSectionRegistration } from './registry.js';
import {
  GatewaySettingsSchema,
  SERVER_ENTRY_KEYS,
  mcpConfigFileSchema,
  normalizeTransport,
  type GatewaySettings,
  type ServerEntry,
} from './schema.js';
import { hashContent, readTrustStore, trustStorePath, writeTrustStore, type TrustedFolder } from './trust.js';

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

/** The user's folder, `<home>/.config/agent-mcp-gateway`. */
export function userConfigDir(home: string): string {
  return resolve(home, USER_CONFIG_DIR);
}

export interface FindFileOptions {
  /** `--config` / `--rules` value. */
  flag?: string | undefined;
  env: Env;
  cwd: string;
  home: string;
  /**
   * May the project folder's files (`./<name>`, `./config/<name>`) be found? Default true
   * (plain discovery); the loaders pass the project folder's trust.
   */
  projectTrusted?: boolean;
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

/**
 * The places searched after the flag and the variable, in order (absolute paths): the
 * project folder's two (used only when it is trusted), then the user's folder.
 */
export function searchLocations(kind: ConfigFileKind, opts: { cwd: string; home: string }): string[] {
  const { fileName } = CONFIG_FILES[kind];
  return [resolve(opts.cwd, fileName), resolve(opts.cwd, 'config', fileName), resolve(userConfigDir(opts.home), fileName)];
}

/** The path a flag or variable names (not checked), and which of the two named it. */
function explicitPath(kind: ConfigFileKind, opts: FindFileOptions): { path: string; source: string } | undefined {
  const spec = CONFIG_FILES[kind];
  const explicit: Array<[string | undefined, string]> = [
    [opts.flag, spec.flag],
    [opts.env[spec.envVar], spec.envVar],
  ];
  for (const [value, source] of explicit) {
    if (value === undefined || value === '') continue;
    return { path: resolveUserPath(value, opts.cwd, opts.home), source };
  }
  return undefined;
}

/**
 * Finds the servers or rules file. Order: the flag, `GATEWAY_MCP_CONFIG` /
 * `GATEWAY_RULES`, `./<name>`, `./config/<name>` (those two only when
 * `projectTrusted`), `~/.config/agent-mcp-gateway/<name>` (name `.mcp.json` or
 * `.mcp-gateway-rules.json`).
 *
 * A path given by flag or variable must exist: a typo there is an error, not a
 * silent fall-through to some other file. An empty variable counts as unset.
 *
 * @returns the absolute path, or `undefined` when no candidate exists
 * @throws GatewayError CONFIG_NOT_FOUND when the flag or variable names a missing file
 */
export function findFile(kind: ConfigFileKind, opts: FindFileOptions): string | undefined {
  const explicit = explicitPath(kind, opts);
  if (explicit !== undefined) {
    if (!isFile(explicit.path)) {
      const { what } = CONFIG_FILES[kind];
      throw new GatewayError(ErrorCodes.CONFIG_NOT_FOUND, `${explicit.path}: ${what} not found (given by ${explicit.source})`, { file: explicit.path });
    }
    return explicit.path;
  }
  const user = userConfigDir(opts.home);
  return searchLocations(kind, opts)
    .filter((file) => opts.projectTrusted !== false || dirname(file) === user)
    .find(isFile);
}

// ---------------------------------------------------------------------------
// Reading files

function readBytes(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new GatewayError(ErrorCodes.CONFIG_NOT_FOUND, `${file}: ${what} not found`, { file }, { cause: error });
    const why = code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? 'read error');
    throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${file}: cannot read the ${what}: ${why}`, { file, path: '$' }, { cause: error });
  }
}

function readText(file: string, what: string): string {
  return readBytes(file, what).toString('utf8');
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

/** The settings' module name (also the `package.json` key). */
export const SETTINGS_MODULE = 'agent-mcp-gateway';

/**
 * The settings file names looked for in a folder, first match wins. TypeScript
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
  /** The folder the settings file is looked for in — one the caller trusts (no walking up). */
  cwd: string;
  env: Env;
  /** For `~/` in paths; defaults to the OS home directory. */
  home?: string;
  /** What the plugins registered (settings sections, token stores); default: core's vocabulary alone. */
  registry?: LoadGatewayConfigOptions['registry'];
}

export interface LoadedSettings {
  settings: GatewaySettings;
  /** Absolute path of the settings file, when one was found. */
  file?: string;
}

/** Our JSON loader, so rc/package.json syntax errors read like `.mcp.json` ones. */
const jsonLoader: Loader = (filepath, content) => parseJsonText(content, filepath);

/**
 * Our JS loader: a plain `import()` (cosmiconfig's own falls back to `require()`,
 * which on Node >= 20.19 replaces a plain SyntaxError with a confusing require(esm)
 * error). The mtime query makes a changed file load afresh (hot reload) instead of
 * coming from the ES module cache.
 */
const jsLoader: Loader = async (filepath) => {
  const url = pathToFileURL(filepath);
  url.searchParams.set('mtime', String(statSync(filepath).mtimeMs));
  const module = (await import(url.href)) as { default?: unknown };
  return module.default;
};

/**
 * Loaders by extension (`''`: the extensionless `.agent-mcp-gatewayrc`, YAML). The
 * files are parsed here rather than by a cosmiconfig explorer: an explorer also reads
 * "meta config" (`.config/config.*`, a `cosmiconfig` key in package.json) from the
 * working folder, and follows `$import` to files nobody trusted.
 */
const SETTINGS_LOADERS: Readonly<Record<string, Loader>> = {
  '.json': jsonLoader,
  '.yaml': defaultLoaders['.yaml'],
  '.yml': defaultLoaders['.yaml'],
  '': defaultLoaders['.yaml'],
  '.js': jsLoader,
  '.mjs': jsLoader,
  '.cjs': jsLoader,
};

/** A package.json holds settings when it has our key (or cannot be parsed: then loading it says why). */
function packageJsonHasSettings(file: string): boolean {
  try {
    const doc: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return isPlainObject(doc) && Object.hasOwn(doc, SETTINGS_MODULE);
  } catch {
    return true;
  }
}

/** The settings file of a folder (first of {@link SETTINGS_SEARCH_PLACES} that exists), if any. */
export function settingsFileIn(dir: string): string | undefined {
  for (const name of SETTINGS_SEARCH_PLACES) {
    const file = join(dir, name);
    if (!isFile(file)) continue;
    if (name === 'package.json' && !packageJsonHasSettings(file)) continue;
    return file;
  }
  return undefined;
}

/** Parses a settings file's content with the loader of its extension; `{}` when empty. */
async function parseSettingsFile(file: string, text: string): Promise<unknown> {
  if (text.trim() === '') return {};
  const loader = SETTINGS_LOADERS[extname(file)] ?? jsonLoader;
  let loaded: unknown;
  try {
    loaded = await loader(file, text);
  } catch (error) {
    if (isGatewayError(error)) throw error;
    // The YAML loader prefixes parser messages with "YAML Error in <file>:" on a line of its own.
    const lines = (error instanceof Error ? error.message : String(error)).split('\n').map((l) => l.trim()).filter(Boolean);
    const why = lines[0] !== undefined && / Error in /.test(lines[0]) ? lines[1] : lines[0];
    throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${file}: cannot load the settings: ${why ?? 'unknown error'}`, { file, path: '$' }, { cause: error });
  }
  if (basename(file) === 'package.json') loaded = isPlainObject(loaded) ? loaded[SETTINGS_MODULE] : undefined;
  return loaded ?? {};
}

/**
 * Settings after the first of the two phases: core's keys validated (the plugin list among
 * them), the other top-level keys kept as written — sections, checked once the plugins
 * registered theirs ({@link completeSettings}).
 */
interface SettingsDraft {
  /** Core's keys, paths resolved, GATEWAY_* variables applied; `sections` still empty. */
  readonly settings: GatewaySettings;
  /** The file's other top-level keys, as written. */
  readonly rawSections: Readonly<Record<string, unknown>>;
  readonly file?: string;
  /** The JSON path of the settings inside the file (`agent-mcp-gateway` in a package.json). */
  readonly base: readonly PropertyKey[];
}

/** Core's own top-level settings keys (`sections` is the loader's, never written in a file). */
const CORE_SETTINGS_KEYS: readonly string[] = Object.keys(GatewaySettingsSchema.shape).filter((key) => key !== 'sections');

/**
 * Phase one of loading a settings file: validates core's keys, resolves their relative paths
 * (`tokenDir`, `auditLog`, plugin paths and package names) against the file's own folder, then
 * applies the GATEWAY_* variables (a relative path in a variable is against `cwd`). Other
 * top-level keys are kept for phase two. `check` sees the file's bytes before anything of it is
 * parsed or imported.
 */
async function readSettingsDraft(
  file: string | undefined,
  opts: { cwd: string; env: Env; home: string; check?: (file: string, bytes: Buffer) => void },
): Promise<SettingsDraft> {
  let settings: GatewaySettings;
  let rawSections: Record<string, unknown> = {};
  // Inside package.json the settings sit under their key; say so in paths.
  const base = file !== undefined && basename(file) === 'package.json' ? [SETTINGS_MODULE] : [];
  if (file !== undefined) {
    const bytes = readBytes(file, 'settings file');
    opts.check?.(file, bytes);
    const raw = await parseSettingsFile(file, bytes.toString('utf8'));
    let core: unknown = raw;
    if (isPlainObject(raw)) {
      const entries = Object.entries(raw);
      core = Object.fromEntries(entries.filter(([key]) => CORE_SETTINGS_KEYS.includes(key)));
      rawSections = Object.fromEntries(entries.filter(([key]) => !CORE_SETTINGS_KEYS.includes(key)));
    }
    const parsed = GatewaySettingsSchema.safeParse(core, { error: readableZodErrorMap });
    if (!parsed.success) throw configInvalidFromZod(file, parsed.error.issues, base);
    settings = resolveSettingsPaths(parsed.data, file, opts.home);
  } else {
    settings = GatewaySettingsSchema.parse({});
  }
  settings = applyEnvOverrides(settings, opts.env);
  return {
    settings: {
      ...settings,
      ...(settings.tokenDir !== undefined && { tokenDir: resolveUserPath(settings.tokenDir, opts.cwd, opts.home) }),
      ...(settings.auditLog !== undefined && { auditLog: resolveUserPath(settings.auditLog, opts.cwd, opts.home) }),
    },
    rawSections,
    ...(file !== undefined && { file }),
    base,
  };
}

/** Variables core reads itself: no section may claim one. */
const CORE_ENV_VARS: ReadonlySet<string> = new Set([
  ...Object.keys(CONFIG_FILES).map((kind) => CONFIG_FILES[kind as ConfigFileKind].envVar),
  'GATEWAY_SETTINGS',
  'GATEWAY_TRANSPORT',
]);

/**
 * Phase two, once the plugins registered: each top-level key that is not core's must be a
 * registered section, validated by its plugin's schema (its variables applied over the file);
 * `transport` must name a registered way of serving, `tokenStore` a registered store.
 *
 * @throws GatewayError CONFIG_INVALID naming the file and JSON path, or the variable;
 *   PLUGIN_ERROR for a section that takes a core setting's name or variable
 */
function completeSettings(draft: SettingsDraft, registry: ConfigRegistry, env: Env): GatewaySettings {
  const { file, base } = draft;
  const where = file ?? 'settings';
  const sections = registry.settingsSections();
  for (const section of sections) {
    const taken = CORE_SETTINGS_KEYS.includes(section.name) || section.name === 'sections' ? `the name "${section.name}"` : undefined;
    const variable = Object.keys(section.env ?? {}).find((v) => CORE_ENV_VARS.has(v) || Object.hasOwn(SETTINGS_ENV_VARS, v));
    if (taken !== undefined || variable !== undefined) {
      throw new GatewayError(ErrorCodes.PLUGIN_ERROR, `Plugin '${section.plugin}' registers settings section "${section.name}" with ${taken ?? `variable ${variable}`}, which core's settings use`, {
        reason: 'register_failed',
      });
    }
  }
  const unknown = Object.keys(draft.rawSections).filter((key) => registry.settingsSection(key) === undefined);
  if (unknown.length > 0) {
    const path = formatJsonPath(base);
    const names = sections.map((s) => s.name);
    const registered = names.length > 0 ? `sections registered by plugins: ${names.join(', ')}` : 'no plugin registered a settings section';
    throw new GatewayError(
      ErrorCodes.CONFIG_INVALID,
      `${where}: ${path}: unknown ${unknown.length === 1 ? 'key' : 'keys'} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (allowed: ${CORE_SETTINGS_KEYS.join(', ')}; ${registered})`,
      { ...(file !== undefined && { file }), path, reason: 'unknown_setting' },
    );
  }
  const values: Record<string, unknown> = {};
  for (const section of sections) {
    const value = sectionValue(section, draft, env);
    if (value !== undefined) values[section.name] = value;
  }
  const settings: GatewaySettings = { ...draft.settings, sections: values };
  checkTransportSetting(settings, registry, draft, env);
  checkTokenStoreSetting(settings, registry, file, env);
  return settings;
}

/** One section: the file's value with its variables over it, validated by the plugin's schema; undefined when neither sets it. */
function sectionValue(section: SettingsSectionRegistration, draft: SettingsDraft, env: Env): unknown {
  const raw = draft.rawSections[section.name];
  const fromEnv = new Map<string, { variable: string; text: string; value: unknown }>();
  for (const [variable, spec] of Object.entries(section.env ?? {})) {
    const text = env[variable]?.trim();
    if (text === undefined || text === '') continue;
    let value: unknown;
    try {
      value = spec.parse ? spec.parse(text) : text;
    } catch (error) {
      throw envError(variable, text, error instanceof Error ? error.message : String(error));
    }
    fromEnv.set(spec.key, { variable, text, value });
  }
  if (raw === undefined && fromEnv.size === 0) return undefined;
  const written = raw ?? {};
  const input = isPlainObject(written) ? { ...written, ...Object.fromEntries([...fromEnv].map(([key, v]) => [key, v.value])) } : written;
  const parsed = section.schema.safeParse(input, { error: readableZodErrorMap });
  if (parsed.success) return parsed.data;
  const byVariable = parsed.error.issues.find((issue) => fromEnv.has(String(issue.path[0])));
  if (byVariable !== undefined) {
    const { variable, text } = fromEnv.get(String(byVariable.path[0]))!;
    throw envError(variable, text, byVariable.message);
  }
  throw configInvalidFromZod(draft.file ?? 'settings', parsed.error.issues, [...draft.base, section.name]);
}

/** `transport` names core's `stdio` or a section registered with `serves`. */
function checkTransportSetting(settings: GatewaySettings, registry: ConfigRegistry, draft: SettingsDraft, env: Env): void {
  const names = registry.serveTransports();
  if (names.includes(settings.transport)) return;
  const expected = names.length > 1 ? `expected one of ${names.map((n) => JSON.stringify(n)).join(', ')}` : `expected "stdio" (no plugin registered another way of serving)`;
  const variable = env.GATEWAY_TRANSPORT?.trim();
  if (variable) throw envError('GATEWAY_TRANSPORT', variable, expected);
  const path = formatJsonPath([...draft.base, 'transport']);
  throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${draft.file ?? 'settings'}: ${path}: ${expected}`, { ...(draft.file !== undefined && { file: draft.file }), path });
}

/** Both phases, against `registry` (default: core's vocabulary alone, no section). */
async function loadSettingsFile(
  file: string | undefined,
  opts: { cwd: string; env: Env; home: string; check?: (file: string, bytes: Buffer) => void },
  registry: LoadGatewayConfigOptions['registry'] = undefined,
): Promise<LoadedSettings & { registry: ConfigRegistry }> {
  const draft = await readSettingsDraft(file, opts);
  const composed = await registryFor(registry, draft.settings, draft.file);
  return { settings: completeSettings(draft, composed, opts.env), ...(draft.file !== undefined && { file: draft.file }), registry: composed };
}

/**
 * Loads gateway settings from the folder `cwd` (a folder the caller trusts; no
 * walking up into parent folders): its first settings file of
 * {@link SETTINGS_SEARCH_PLACES}, validated, then overridden by GATEWAY_* variables
 * (see {@link SETTINGS_ENV_VARS}). Relative paths become absolute against the
 * file's folder. The gateway itself reads settings through {@link loadGatewayConfig}
 * / {@link loadSettingsFor}, which choose trusted folders.
 *
 * @throws GatewayError CONFIG_INVALID naming the file and JSON path, or — for a
 *   bad variable — the variable (then `details.path` is the variable's name and
 *   there is no `details.file`); PLUGIN_ERROR for a plugin package not found
 */
export async function loadSettings(opts: LoadSettingsOptions): Promise<LoadedSettings> {
  const home = opts.home ?? homedir();
  const { settings, file } = await loadSettingsFile(settingsFileIn(opts.cwd), { cwd: opts.cwd, env: opts.env, home }, opts.registry);
  return { settings, ...(file !== undefined && { file }) };
}

/**
 * Paths written in a settings file are relative to that file's folder: `tokenDir`,
 * `auditLog`, and plugins — a path (`./x.mjs`, `~/x.mjs`) resolved there, a package
 * name resolved from there (`<folder>/node_modules`, and up), never from the working
 * folder.
 */
function resolveSettingsPaths(settings: GatewaySettings, file: string, home: string): GatewaySettings {
  const dir = dirname(file);
  const plugins = settings.plugins.map((entry, i) => {
    const [specifier, options] = typeof entry === 'string' ? [entry, undefined] : entry;
    const path = formatJsonPath([...(basename(file) === 'package.json' ? [SETTINGS_MODULE] : []), 'plugins', i]);
    const resolved = resolvePlugin(specifier, dir, home, { file, path });
    return options === undefined ? resolved : ([resolved, options] as [string, Record<string, unknown>]);
  });
  return {
    ...settings,
    ...(settings.tokenDir !== undefined && { tokenDir: resolveUserPath(settings.tokenDir, dir, home) }),
    ...(settings.auditLog !== undefined && { auditLog: resolveUserPath(settings.auditLog, dir, home) }),
    plugins,
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
 * settings (core's keys; a plugin's section declares its own variables, applied with
 * the section). Empty variables count as unset.
 *
 * @throws GatewayError CONFIG_INVALID naming the variable
 */
export function applyEnvOverrides(settings: GatewaySettings, env: Env): GatewaySettings {
  const out: Record<string, unknown> = { ...settings };
  for (const [variable, target] of Object.entries(SETTINGS_ENV_VARS) as Array<[keyof typeof SETTINGS_ENV_VARS, SettingsKey]>) {
    const text = env[variable]?.trim();
    if (text === undefined || text === '') continue;
    const converted = ENV_PARSERS[variable](text);
    if (!converted.ok) throw envError(variable, text, `expected ${converted.expected}`);
    out[target] = parseEnvValue(variable, text, converted.value, GatewaySettingsSchema.shape[target] as z.ZodType);
  }
  return out as GatewaySettings;
}

// ---------------------------------------------------------------------------
// Trust: which files may be read

/** The gateway's file names in a project folder and in its `config/` subfolder. */
const PROJECT_FILE_NAMES = [CONFIG_FILES.config.fileName, CONFIG_FILES.rules.fileName, ...SETTINGS_SEARCH_PLACES];

/**
 * The gateway files present in a project folder: `.mcp.json`, `.mcp-gateway-rules.json`
 * and settings files, in the folder and in its `config/` subfolder (a package.json
 * counts only with an `agent-mcp-gateway` key). These are what `trust` records.
 */
export function projectFiles(dir: string): string[] {
  const out: string[] = [];
  for (const folder of [dir, join(dir, 'config')]) {
    for (const name of PROJECT_FILE_NAMES) {
      const file = join(folder, name);
      if (isFile(file) && (name !== 'package.json' || packageJsonHasSettings(file))) out.push(file);
    }
  }
  return out;
}

/** Is `file` one of a project folder's (in it, or in its `config/`)? */
function inProject(file: string, dir: string): boolean {
  const folder = dirname(file);
  return folder === dir || folder === join(dir, 'config');
}

/** Whether a project folder's files may be used, and why not. */
export interface ProjectTrust {
  readonly dir: string;
  /** The folder's gateway files may be read: recorded by `trust` exactly as they are now, or trusted by construction. */
  readonly trusted: boolean;
  /** One line per file at fault, naming it and the fix (empty when trusted or when the folder has no gateway file). */
  readonly problems: readonly string[];
}

/**
 * Judges a project folder against the trust store: trusted when `trustedDirs` holds
 * it (the user's folder, an explicit servers file's folder), else when the store
 * records exactly its present gateway files ({@link projectFiles}) with their
 * current SHA-256 — a changed, added or removed file makes the whole folder untrusted.
 */
export function projectTrust(dir: string, userDir: string, trustedDirs: ReadonlySet<string> = new Set([userDir])): ProjectTrust {
  if (trustedDirs.has(dir)) return { dir, trusted: true, problems: [] };
  const present = projectFiles(dir);
  if (present.length === 0) return { dir, trusted: false, problems: [] };
  const { store, problem } = readTrustStore(userDir);
  const recorded: TrustedFolder | undefined = store.get(dir);
  const fix = `run 'agent-mcp-gateway trust' in ${dir} to use its files (or pass --config)`;
  const problems: string[] = problem !== undefined ? [problem] : [];
  for (const file of present) {
    const rel = relative(dir, file);
    const expected = recorded !== undefined && Object.hasOwn(recorded.files, rel) ? recorded.files[rel] : undefined;
    if (expected === undefined) {
      problems.push(
        recorded === undefined
          ? `${file}: not used: ${dir} is not a trusted folder; ${fix}`
          : `${file}: not used: added since ${dir} was trusted, so none of its files are used; review it, then ${fix}`,
      );
    } else if (expected !== hashContent(readFileSync(file))) {
      problems.push(`${file}: not used: changed since ${dir} was trusted, so none of its files are used; review the change, then ${fix}`);
    }
  }
  for (const rel of Object.keys(recorded?.files ?? {})) {
    const file = join(dir, rel);
    if (!present.includes(file)) problems.push(`${file}: missing since ${dir} was trusted, so none of its files are used; ${fix}`);
  }
  return { dir, trusted: problems.length === 0, problems };
}

/** What decides, for one load or reload, whether a file may be read. */
interface TrustContext {
  /** The project folder (the working folder). */
  readonly cwd: string;
  readonly userDir: string;
  /** Folders whose files need no record: the user's folder and an explicit servers file's folder. */
  readonly trustedDirs: ReadonlySet<string>;
  /** Files named by a flag or variable. */
  readonly explicit: ReadonlySet<string>;
}

function trustContext(opts: LoadGatewayConfigOptions): TrustContext {
  const find = { env: opts.env, cwd: opts.cwd, home: opts.home };
  const config = explicitPath('config', { ...find, flag: opts.configPath });
  const rules = explicitPath('rules', { ...find, flag: opts.rulesPath });
  const settings = explicitSettingsPath(opts);
  const userDir = userConfigDir(opts.home);
  return {
    cwd: resolve(opts.cwd),
    userDir,
    trustedDirs: new Set([userDir, ...(config ? [dirname(config.path)] : [])]),
    explicit: new Set([config?.path, rules?.path, settings?.path].filter((p): p is string => p !== undefined)),
  };
}

function trustedByConstruction(file: string, ctx: TrustContext): boolean {
  return ctx.explicit.has(file) || ctx.trustedDirs.has(dirname(file)) || (ctx.trustedDirs.has(ctx.cwd) && inProject(file, ctx.cwd));
}

/**
 * Refuses a file that is not trusted as read: a project file must match the hash the
 * trust store holds for it now. Checked on the very bytes that are then parsed (and
 * before a JS file is imported), at start and at every reload.
 */
function checkTrusted(file: string, bytes: Uint8Array, ctx: TrustContext): void {
  if (trustedByConstruction(file, ctx)) return;
  const recorded = inProject(file, ctx.cwd) ? readTrustStore(ctx.userDir).store.get(ctx.cwd) : undefined;
  const rel = relative(ctx.cwd, file);
  const expected = recorded !== undefined && Object.hasOwn(recorded.files, rel) ? recorded.files[rel] : undefined;
  if (expected !== undefined && expected === hashContent(bytes)) return;
  throw new GatewayError(
    ErrorCodes.CONFIG_INVALID,
    `${file}: not loaded: ${expected === undefined ? 'not trusted' : 'changed since its folder was trusted'}; review it, then run 'agent-mcp-gateway trust' in ${ctx.cwd}`,
    { file, path: '$' },
  );
}

/** The file's text, once {@link checkTrusted} accepted its bytes. */
function readTrusted(file: string, what: string, ctx: TrustContext): string {
  const bytes = readBytes(file, what);
  checkTrusted(file, bytes, ctx);
  return bytes.toString('utf8');
}

/**
 * `agent-mcp-gateway trust`: records the folder's gateway files ({@link projectFiles})
 * with their SHA-256 in the trust store, replacing what it held for the folder.
 *
 * @returns the files and hashes recorded, and the store's path
 * @throws GatewayError CONFIG_NOT_FOUND when the folder has no gateway file
 */
export function trustFolder(dir: string, home: string): { files: Array<{ file: string; hash: string }>; store: string } {
  const present = projectFiles(dir);
  if (present.length === 0) {
    throw new GatewayError(
      ErrorCodes.CONFIG_NOT_FOUND,
      `${dir}: nothing to trust: no ${PROJECT_FILE_NAMES.filter((n) => n !== 'package.json').join(', ')} (nor in ${join(dir, 'config')})`,
      { file: dir },
    );
  }
  const files = present.map((file) => ({ file, hash: hashContent(readFileSync(file)) }));
  const userDir = userConfigDir(home);
  const store = new Map(readTrustStore(userDir).store);
  store.set(dir, { trustedAt: new Date().toISOString(), files: Object.fromEntries(files.map((f) => [relative(dir, f.file), f.hash])) });
  return { files, store: writeTrustStore(userDir, store) };
}

/** Removes a folder from the trust store; false when it was not in it. */
export function revokeFolder(dir: string, home: string): boolean {
  const userDir = userConfigDir(home);
  const store = new Map(readTrustStore(userDir).store);
  if (!store.delete(dir)) return false;
  writeTrustStore(userDir, store);
  return true;
}

// ---------------------------------------------------------------------------
// Everything together

export interface LoadGatewayConfigOptions {
  /** `--config` */
  configPath?: string | undefined;
  /** `--rules` */
  rulesPath?: string | undefined;
  /** `--settings`: the settings file, used alone (no discovery); it must exist. */
  settingsPath?: string | undefined;
  /** The working folder: the project folder whose files are used only when trusted. */
  cwd: string;
  env: Env;
  home: string;
  /**
   * What the plugins registered (auth types with their schemas, token store names). A function
   * gets the settings — they list the third-party plugins — and is called after they are loaded
   * and before the servers file is validated. Default: core's own vocabulary (`auth: "none"`).
   */
  registry?: ConfigRegistry | ((settings: GatewaySettings, settingsFile: string | undefined) => ConfigRegistry | Promise<ConfigRegistry>) | undefined;
}

/** A config as loaded at start: also what was left out, and what to watch. */
export interface LoadedGatewayConfig extends GatewayConfig {
  /** The registry the servers file was validated against (a reload uses it again). */
  readonly registry: ConfigRegistry;
  /** One line per project file not used because its folder is not trusted (also in `warnings`). */
  readonly untrusted: readonly string[];
  /** The files a change of which reloads this config: those in use, and the trust store when a project's files are among them. */
  readonly watch: readonly string[];
}

/** The files of the discovery: explicit, trusted project, or the user's folder. */
function discover(opts: LoadGatewayConfigOptions): { ctx: TrustContext; project: ProjectTrust; configFile: string | undefined } {
  const ctx = trustContext(opts);
  const project = projectTrust(ctx.cwd, ctx.userDir, ctx.trustedDirs);
  const configFile = findFile('config', { flag: opts.configPath, env: opts.env, cwd: opts.cwd, home: opts.home, projectTrusted: project.trusted });
  return { ctx, project, configFile };
}

/** The variable naming the settings file (as `--settings` does; the flag wins). */
export const SETTINGS_FILE_ENV_VAR = 'GATEWAY_SETTINGS';

/** The settings file `--settings` or GATEWAY_SETTINGS names (not checked), and which of the two named it. */
function explicitSettingsPath(opts: Pick<LoadGatewayConfigOptions, 'settingsPath' | 'env' | 'cwd' | 'home'>): { path: string; source: string } | undefined {
  const explicit: Array<[string | undefined, string]> = [
    [opts.settingsPath, '--settings'],
    [opts.env[SETTINGS_FILE_ENV_VAR], SETTINGS_FILE_ENV_VAR],
  ];
  for (const [value, source] of explicit) {
    if (value === undefined || value === '') continue;
    return { path: resolveUserPath(value, opts.cwd, opts.home), source };
  }
  return undefined;
}

/**
 * Where settings are looked for, in order, first file wins (files are never merged): the folder
 * of the servers file in use (unless that is the user's folder); the project folder and its
 * `config/` when the project is trusted; the user's folder.
 */
function settingsFolders(configFile: string | undefined, ctx: TrustContext, projectTrusted: boolean): string[] {
  return [
    ...new Set([
      ...(configFile !== undefined && dirname(configFile) !== ctx.userDir ? [dirname(configFile)] : []),
      ...(projectTrusted ? [ctx.cwd, join(ctx.cwd, 'config')] : []),
      ctx.userDir,
    ]),
  ];
}

/**
 * The settings file to use: the one `--settings` (else GATEWAY_SETTINGS) names — alone, and it
 * must exist — else the first found in {@link settingsFolders}.
 *
 * @throws GatewayError CONFIG_NOT_FOUND when the flag or variable names no file
 */
function chooseSettingsFile(opts: LoadGatewayConfigOptions, configFile: string | undefined, ctx: TrustContext, projectTrusted: boolean): string | undefined {
  const explicit = explicitSettingsPath(opts);
  if (explicit !== undefined) {
    if (!isFile(explicit.path)) {
      throw new GatewayError(ErrorCodes.CONFIG_NOT_FOUND, `${explicit.path}: settings file not found (given by ${explicit.source})`, { file: explicit.path });
    }
    return explicit.path;
  }
  for (const folder of settingsFolders(configFile, ctx, projectTrusted)) {
    const file = settingsFileIn(folder);
    if (file !== undefined) return file;
  }
  return undefined;
}

/**
 * Finds and loads the servers file (required), the rules file (optional) and the
 * settings, from trusted places only:
 * - servers and rules: the flag, the variable, the working folder's `./<name>` and
 *   `./config/<name>` when that folder is trusted, `~/.config/agent-mcp-gateway/<name>`;
 * - settings: the file `--settings` (else GATEWAY_SETTINGS) names, alone — it must exist;
 *   else the first settings file next to the servers file in use, then in the project
 *   folder (`./`, `./config/`) when it is trusted, then in `~/.config/agent-mcp-gateway/`.
 *   One file is used whole (never merged); GATEWAY_* variables override its values.
 * A working folder with gateway files that is not trusted is reported in `untrusted`
 * (and `warnings`): its files are neither parsed nor imported.
 *
 * @throws GatewayError CONFIG_NOT_FOUND (no servers file: the message lists the
 *   places searched and the untrusted files), CONFIG_INVALID, CONFIG_MISSING_VARIABLE,
 *   PLUGIN_ERROR
 */
export async function loadGatewayConfig(opts: LoadGatewayConfigOptions): Promise<LoadedGatewayConfig> {
  const { cwd, env, home } = opts;
  const { ctx, project, configFile } = discover(opts);
  if (configFile === undefined) {
    const searched = searchLocations('config', { cwd, home });
    const untrusted = project.problems.length > 0 ? ` Not used, because ${project.dir} is not trusted: ${projectFiles(project.dir).join(', ')}.` : '';
    throw new GatewayError(
      ErrorCodes.CONFIG_NOT_FOUND,
      `No servers file (.mcp.json) found. Searched: ${searched.join(', ')} (the working folder's only when trusted).${untrusted} ` +
        `Pass --config <path>, set GATEWAY_MCP_CONFIG, run 'agent-mcp-gateway trust' in a project folder, or run 'agent-mcp-gateway init'.`,
      { file: searched[0] },
    );
  }
  // Settings first: they list the plugins, whose registrations the servers file is validated against.
  const check = (file: string, bytes: Buffer) => checkTrusted(file, bytes, ctx);
  const chosen = chooseSettingsFile(opts, configFile, ctx, project.trusted);
  const { settings, file: settingsFile, registry } = await loadSettingsFile(chosen, { cwd, env, home, check }, opts.registry);
  const { servers, warnings } = parseServers(readTrusted(configFile, 'servers file', ctx), configFile, env, registry);
  const rulesFile = findFile('rules', { flag: opts.rulesPath, env, cwd, home, projectTrusted: project.trusted });
  const rules = rulesFile === undefined ? undefined : parseRules(readTrusted(rulesFile, 'rules file', ctx), rulesFile);
  const used = [configFile, rulesFile, settingsFile].filter((f): f is string => f !== undefined);
  return {
    servers,
    ...(rules !== undefined && { rules }),
    settings,
    sources: {
      config: configFile,
      ...(rulesFile !== undefined && { rules: rulesFile }),
      ...(settingsFile !== undefined && { settings: settingsFile }),
    },
    warnings: [...project.problems, ...warnings],
    untrusted: project.problems,
    registry,
    watch: [...used, ...(used.some((f) => !trustedByConstruction(f, ctx)) ? [trustStorePath(ctx.userDir)] : [])],
  };
}

/**
 * Hot reload: reads again exactly the files a config was loaded from (`sources`) —
 * no discovery, so a file created meanwhile never replaces one in use, and a rules
 * or settings file in use that has vanished is an error, never "no rules". A project
 * file must still match the trust store. `opts` are those of the first load.
 *
 * @throws GatewayError CONFIG_NOT_FOUND (a file in use is gone; `details.file` names
 *   it), CONFIG_INVALID (unreadable, invalid, or no longer trusted), CONFIG_MISSING_VARIABLE
 */
export async function reloadGatewayConfig(sources: GatewayConfig['sources'], opts: LoadGatewayConfigOptions): Promise<GatewayConfig> {
  const { cwd, env, home } = opts;
  const ctx = trustContext(opts);
  if (sources.config === undefined) {
    throw new GatewayError(ErrorCodes.CONFIG_NOT_FOUND, 'This config was not loaded from a servers file: nothing to reload', {});
  }
  const check = (file: string, bytes: Buffer) => checkTrusted(file, bytes, ctx);
  const { settings, registry } = await loadSettingsFile(sources.settings, { cwd, env, home, check }, opts.registry);
  const { servers, warnings } = parseServers(readTrusted(sources.config, 'servers file', ctx), sources.config, env, registry);
  const rules = sources.rules === undefined ? undefined : parseRules(readTrusted(sources.rules, 'rules file', ctx), sources.rules);
  return { servers, ...(rules !== undefined && { rules }), settings, sources: { ...sources }, warnings };
}

async function registryFor(option: LoadGatewayConfigOptions['registry'], settings: GatewaySettings, settingsFile: string | undefined): Promise<ConfigRegistry> {
  if (option === undefined) return new ConfigRegistry();
  return typeof option === 'function' ? option(settings, settingsFile) : option;
}

/**
 * The `tokenStore` setting names a registered store (when store plugins registered any): else
 * CONFIG_INVALID naming the variable that set it, or the settings file and JSON path.
 */
function checkTokenStoreSetting(settings: GatewaySettings, registry: ConfigRegistry, file: string | undefined, env: Env): void {
  const names = registry.tokenStores();
  if (names.length === 0 || names.includes(settings.tokenStore)) return;
  const expected = `expected one of ${names.map((n) => JSON.stringify(n)).join(', ')}`;
  const variable = env.GATEWAY_TOKEN_STORE?.trim();
  if (variable) throw envError('GATEWAY_TOKEN_STORE', variable, expected);
  const path = formatJsonPath(file !== undefined && basename(file) === 'package.json' ? [SETTINGS_MODULE, 'tokenStore'] : ['tokenStore']);
  throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${file ?? 'settings'}: ${path}: ${expected}`, { ...(file !== undefined && { file }), path });
}

/**
 * The settings alone (commands that need no servers file: `secret`, `auth migrate`),
 * chosen as {@link loadGatewayConfig} chooses them, from trusted places only, and completed
 * against `registry` (sections, `transport`, `tokenStore`) as {@link loadGatewayConfig} does.
 */
export async function loadSettingsFor(opts: LoadGatewayConfigOptions): Promise<LoadedSettings & { untrusted: readonly string[] }> {
  const { ctx, project, configFile } = discover(opts);
  const check = (file: string, bytes: Buffer) => checkTrusted(file, bytes, ctx);
  const { settings, file } = await loadSettingsFile(chooseSettingsFile(opts, configFile, ctx, project.trusted), { cwd: opts.cwd, env: opts.env, home: opts.home, check }, opts.registry);
  return { settings, ...(file !== undefined && { file }), untrusted: project.problems };
}
