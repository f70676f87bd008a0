import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ConfigRegistry,
  GatewayError,
  SecretRedactor,
  errorCatalogue,
  isGatewayError,
  isOptionsSchema,
  parsePluginOptions,
  pluginErrors,
  resolvePlugin,
  type GatewayPlugin,
  type PluginSource,
} from '@agent-mcp-gateway/core';

/**
 * What `plugins` register (auth types with their schemas, token store names, settings sections),
 * in their order: the vocabulary the config is validated against. A plugin whose `register`
 * throws (a type registered twice, a schema without a literal `type`) is a PLUGIN_ERROR
 * (`reason: "register_failed"`) naming it.
 */
export function configRegistryOf(plugins: readonly GatewayPlugin[]): ConfigRegistry {
  const registry = new ConfigRegistry();
  for (const plugin of plugins) {
    try {
      plugin.register?.(registry);
    } catch (error) {
      const failure = pluginErrors.registerFailed(plugin.name, error instanceof Error ? error.message : String(error));
      throw Object.assign(failure, { cause: error });
    }
  }
  return registry;
}

type PluginEntry = string | [string, Record<string, unknown>];

/** Where the plugin entries came from: the settings file (errors name it and `$.plugins[i]`), and where bare names resolve. */
export interface PluginOrigin {
  /** The settings file that listed them, if any. */
  readonly settingsFile?: string | undefined;
  /** Where a package name or relative path still found in `entries` resolves from (library callers; default the working folder). */
  readonly dir: string;
  /** For `~/` paths. */
  readonly home: string;
  /** For `${VAR}` in the options of a plugin that declares their schema (default: `process.env`). */
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/**
 * The name of the plugin {@link loadPlugins} puts first when plugins' options hold secrets: its
 * `apply` registers them with `gateway.redactor` before any plugin applies.
 */
export const PLUGIN_OPTION_SECRETS = 'PluginOptionSecrets';

/**
 * Loads the third-party plugins named in the settings. The settings loader has already resolved
 * each one to an absolute file, from the settings file's own folder (never from the working
 * folder), as Node's ESM `import` does; a package name or relative path still found here (a
 * library caller's list) resolves from `origin.dir` the same way. A plugin module's default
 * export is a plugin class (`new P(options)`), a factory (`(options) => plugin`), or a plugin object.
 *
 * A class or factory that declares the schema of its options (`static optionsSchema`, or an
 * `optionsSchema` property of the factory; built with core's `z` and `secret()`) gets them
 * `${VAR}`-expanded and validated ({@link parsePluginOptions}), defaults applied; their secrets
 * (what variables put in, `secret()` fields) are registered with the gateway's redactor by a plugin
 * named {@link PLUGIN_OPTION_SECRETS}, put first in the returned list. Without a schema the options
 * are passed as written.
 *
 * @throws GatewayError PLUGIN_ERROR with `details.reason` `not_found`, `bad_package`,
 *   `load_failed` or `bad_export`, and `details.file` / `details.path` naming the settings entry;
 *   CONFIG_INVALID / CONFIG_MISSING_VARIABLE naming the options' JSON path
 *   (`$.plugins[1][1].keys["https://x"].secret`); the plugin's own error when its constructor or
 *   factory throws a GatewayError of the catalogue with a `reason` (file and path of the entry added)
 */
export async function loadPlugins(entries: readonly PluginEntry[], origin: PluginOrigin): Promise<GatewayPlugin[]> {
  const plugins: GatewayPlugin[] = [];
  const secrets: string[] = [];
  const base = origin.settingsFile !== undefined && basename(origin.settingsFile) === 'package.json' ? ['agent-mcp-gateway'] : [];
  for (const [index, entry] of entries.entries()) {
    const [specifier, options] = typeof entry === 'string' ? [entry, {}] : entry;
    const segments = [...base, 'plugins', index];
    const source: PluginSource = origin.settingsFile !== undefined ? { file: origin.settingsFile, path: jsonPath(segments) } : {};
    const file = resolvePlugin(specifier, origin.dir, origin.home, source);
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (error) {
      throw Object.assign(pluginErrors.loadFailed(specifier, error instanceof Error ? error.message : String(error), source), { cause: error });
    }
    const made = instantiate(specifier, mod.default, options, source, {
      env: origin.env ?? process.env,
      settingsFile: origin.settingsFile,
      optionsPath: [...segments, 1],
      secrets,
    });
    plugins.push(made);
  }
  return secrets.length > 0 ? [optionSecretsPlugin(secrets), ...plugins] : plugins;
}

/** `$.plugins[1]`, `$.agent-mcp-gateway.plugins[0]`. */
function jsonPath(segments: readonly (string | number)[]): string {
  return segments.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : `${out}.${key}`), '$');
}

/** Registers the options' secrets with the gateway's redactor, before the plugins apply. */
function optionSecretsPlugin(secrets: readonly string[]): GatewayPlugin {
  return {
    name: PLUGIN_OPTION_SECRETS,
    apply(gateway) {
      for (const value of secrets) gateway.redactor.add(value);
    },
  };
}

interface OptionsContext {
  readonly env: NodeJS.ProcessEnv;
  readonly settingsFile: string | undefined;
  readonly optionsPath: readonly (string | number)[];
  /** Collects the secrets of every plugin's options. */
  readonly secrets: string[];
}

function instantiate(specifier: string, exported: unknown, options: Record<string, unknown>, source: PluginSource, context: OptionsContext): GatewayPlugin {
  const isPlugin = (v: unknown): v is GatewayPlugin =>
    typeof v === 'object' && v !== null && typeof (v as GatewayPlugin).apply === 'function' && typeof (v as GatewayPlugin).name === 'string';
  if (isPlugin(exported)) return exported;
  if (typeof exported === 'function') {
    const fn = exported as ((o: unknown) => unknown) & (new (o: unknown) => unknown) & { optionsSchema?: unknown };
    let input: unknown = options;
    const schema = fn.optionsSchema;
    if (schema !== undefined) {
      if (!isOptionsSchema(schema)) throw pluginErrors.loadFailed(specifier, 'its optionsSchema is not a zod schema (build it with the z that @agent-mcp-gateway/core exports)', source);
      const parsed = parsePluginOptions(schema, options, context.env, {
        file: context.settingsFile,
        path: context.optionsPath,
        label: `plugin '${specifier}' options`,
      });
      input = parsed.options;
      context.secrets.push(...parsed.secrets);
    }
    let made: unknown;
    try {
      made = fn.prototype && typeof fn.prototype.apply === 'function' ? new fn(input) : fn(input);
    } catch (error) {
      throw constructionError(specifier, error, source, context.secrets);
    }
    if (isPlugin(made)) return made;
  }
  throw pluginErrors.badExport(specifier, source);
}

/**
 * What a constructor or factory threw, as the loader reports it (option secrets blanked): a
 * GatewayError whose code and `reason` are in the catalogue keeps them (with the entry's file and
 * path), so callers and tests match the plugin's own reason; anything else is `load_failed`.
 */
function constructionError(specifier: string, error: unknown, source: PluginSource, secrets: readonly string[]): GatewayError {
  const redactor = new SecretRedactor();
  for (const value of secrets) redactor.add(value);
  const why = redactor.redactString(error instanceof Error ? error.message : String(error));
  const reason = isGatewayError(error) ? error.details.reason : undefined;
  if (isGatewayError(error) && reason !== undefined && errorCatalogue().some((entry) => entry.code === error.code && entry.reason === reason)) {
    const at = source.file !== undefined ? `${source.file}: ${source.path ?? '$.plugins'}: ` : '';
    return new GatewayError(error.code, `${at}plugin '${specifier}': ${why}`, { ...error.details, ...source }, { cause: error });
  }
  return Object.assign(pluginErrors.loadFailed(specifier, why, source), { cause: error });
}
