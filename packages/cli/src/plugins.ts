import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigRegistry, pluginErrors, resolvePlugin, type GatewayPlugin, type PluginSource } from '@agent-mcp-gateway/core';

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
}

/**
 * Loads the third-party plugins named in the settings. The settings loader has already resolved
 * each one to an absolute file, from the settings file's own folder (never from the working
 * folder), as Node's ESM `import` does; a package name or relative path still found here (a
 * library caller's list) resolves from `origin.dir` the same way. A plugin module's default
 * export is a plugin class (`new P(options)`), a factory (`(options) => plugin`), or a plugin object.
 *
 * @throws GatewayError PLUGIN_ERROR with `details.reason` `not_found`, `bad_package`,
 *   `load_failed` or `bad_export`, and `details.file` / `details.path` naming the settings entry
 */
export async function loadPlugins(entries: readonly PluginEntry[], origin: PluginOrigin): Promise<GatewayPlugin[]> {
  const plugins: GatewayPlugin[] = [];
  for (const [index, entry] of entries.entries()) {
    const [specifier, options] = typeof entry === 'string' ? [entry, {}] : entry;
    const source: PluginSource = origin.settingsFile !== undefined ? { file: origin.settingsFile, path: pluginPath(origin.settingsFile, index) } : {};
    const file = resolvePlugin(specifier, origin.dir, origin.home, source);
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (error) {
      throw Object.assign(pluginErrors.loadFailed(specifier, error instanceof Error ? error.message : String(error), source), { cause: error });
    }
    plugins.push(instantiate(specifier, mod.default, options, source));
  }
  return plugins;
}

function pluginPath(settingsFile: string, index: number): string {
  return basename(settingsFile) === 'package.json' ? `$.agent-mcp-gateway.plugins[${index}]` : `$.plugins[${index}]`;
}

function instantiate(specifier: string, exported: unknown, options: Record<string, unknown>, source: PluginSource): GatewayPlugin {
  const isPlugin = (v: unknown): v is GatewayPlugin =>
    typeof v === 'object' && v !== null && typeof (v as GatewayPlugin).apply === 'function' && typeof (v as GatewayPlugin).name === 'string';
  if (isPlugin(exported)) return exported;
  if (typeof exported === 'function') {
    const fn = exported as ((o: unknown) => unknown) & (new (o: unknown) => unknown);
    let made: unknown;
    try {
      made = fn.prototype && typeof fn.prototype.apply === 'function' ? new fn(options) : fn(options);
    } catch (error) {
      throw Object.assign(pluginErrors.loadFailed(specifier, error instanceof Error ? error.message : String(error), source), { cause: error });
    }
    if (isPlugin(made)) return made;
  }
  throw pluginErrors.badExport(specifier, source);
}
