/**
 * The gateway settings: a settings file (`agent-mcp-gateway` rc/config files, or a package.json
 * key) plus GATEWAY_* variables → `GatewaySettings`, in two phases — core's keys (the plugin list
 * among them) first, then, once the plugins registered, the settings sections they own,
 * `transport` and `tokenStore`.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultLoaders, type Loader } from 'cosmiconfig';
import { z } from 'zod';
import { ErrorCodes, GatewayError, isGatewayError } from '../errors.js';
import { CONFIG_FILES, isFile, isPlainObject, readBytes, resolveUserPath, type ConfigFileKind, type Env } from './discovery.js';
import { expandVariables } from './expand.js';
import { configInvalidFromZod, formatJsonPath, parseJsonText, readableZodErrorMap } from './format.js';
import { resolvePlugin } from './plugins.js';
import { ConfigRegistry, secretValuesOf, type SettingsSectionRegistration } from './registry.js';
import { GatewaySettingsSchema, type GatewaySettings } from './schema.js';

/** The settings' module name (also the `package.json` key). */
export const SETTINGS_MODULE = 'agent-mcp-gateway';

/**
 * What the plugins registered (auth types with their schemas, token store names, settings
 * sections). A function gets core's settings — they list the third-party plugins — and is called
 * after they are read and before the sections and the servers file are validated. Default:
 * core's own vocabulary (`auth: "none"`, no section).
 */
export type RegistryOption =
  | ConfigRegistry
  | ((settings: GatewaySettings, settingsFile: string | undefined) => ConfigRegistry | Promise<ConfigRegistry>)
  | undefined;

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
  registry?: RegistryOption;
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
export function packageJsonHasSettings(file: string): boolean {
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
export async function loadSettingsFile(
  file: string | undefined,
  opts: { cwd: string; env: Env; home: string; check?: (file: string, bytes: Buffer) => void },
  registry: RegistryOption = undefined,
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

export function envError(variable: string, text: string, expected: string): GatewayError {
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

export async function registryFor(option: RegistryOption, settings: GatewaySettings, settingsFile: string | undefined): Promise<ConfigRegistry> {
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

// ---------------------------------------------------------------------------
// A plugin's options (`"plugins": [["<pkg>", {…options…}]]`)

/** Where a plugin's options were written: the settings file and the JSON path of the entry's options (`$.plugins[1][1]`). */
export interface PluginOptionsSource {
  /** The settings file; without one (a library caller's list), messages name `label`. */
  readonly file?: string | undefined;
  /** Path segments of the options inside the file, e.g. `['plugins', 1, 1]` (default: the root). */
  readonly path?: readonly PropertyKey[];
  /** What messages call the options when there is no file, e.g. `plugin 'acme' options`. */
  readonly label?: string;
}

/** Options a plugin's schema accepted, and the values among them that are secrets. */
export interface ParsedPluginOptions<T> {
  /** The schema's output (defaults applied), `${VAR}` expanded; `${secret:NAME}` left as written. */
  readonly options: T;
  /**
   * What the redactor must blank: every value a `${VAR}` put in, and every `secret()`-marked
   * value (a bare `${secret:NAME}` reference excepted — the plugin reads that one from the token store).
   */
  readonly secrets: readonly string[];
}

/** A whole value that is one `${secret:NAME}` reference: a pointer, not the secret. */
const SECRET_REFERENCE = /^\$\{secret:[^}]*\}$/;

/** Whether `value` can validate plugin options: a zod schema (core's `z`). */
export function isOptionsSchema(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value && typeof (value as { safeParse?: unknown }).safeParse === 'function';
}

/**
 * A plugin's options as the framework hands them to its constructor or factory, when the plugin
 * declares their schema (`static optionsSchema`): `${VAR}` and `${VAR:-default}` expanded in every
 * string value (as in server entries), then validated by `schema` (strict objects name a misspelt
 * key), and the secrets collected — what variables put in, and the fields marked `secret()`.
 * `${secret:NAME}` stays as written, as in an `auth` block: the plugin resolves it from the token
 * store when it needs it.
 *
 * @throws GatewayError CONFIG_MISSING_VARIABLE for an unset `${VAR}`; CONFIG_INVALID naming the
 *   settings file and the JSON path (`$.plugins[1][1].keys["https://x"].secret`), never a value
 */
export function parsePluginOptions<T>(schema: z.ZodType<T>, raw: unknown, env: Env, source: PluginOptionsSource = {}): ParsedPluginOptions<T> {
  const segments = source.path ?? [];
  const where = source.file ?? source.label ?? 'plugin options';
  const expandedValues: string[] = [];
  const expanded = expandVariables(raw ?? {}, env, where, formatJsonPath(segments), { onExpanded: (_variable, value) => expandedValues.push(value) });
  const parsed = schema.safeParse(expanded, { error: readableZodErrorMap });
  if (!parsed.success) {
    const error = configInvalidFromZod(where, parsed.error.issues, segments);
    // Without a file, `where` is a label: details name the path alone.
    throw source.file !== undefined ? error : new GatewayError(error.code, error.message, { ...(error.details.path !== undefined && { path: error.details.path }) });
  }
  const marked = secretValuesOf(schema, parsed.data).filter((value) => !SECRET_REFERENCE.test(value));
  const secrets = [...new Set([...expandedValues, ...marked])].filter((value) => value !== '');
  return { options: parsed.data, secrets };
}
