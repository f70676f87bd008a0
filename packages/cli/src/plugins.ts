import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigRegistry, GatewayError, type GatewayPlugin } from '@agent-mcp-gateway/core';

/**
 * What `plugins` register (auth types with their schemas, token store names), in their order:
 * the vocabulary the servers file is validated against. A plugin whose `register` throws (a type
 * registered twice, a schema without a literal `type`) is a PLUGIN_ERROR naming it.
 */
export function configRegistryOf(plugins: readonly GatewayPlugin[]): ConfigRegistry {
  const registry = new ConfigRegistry();
  for (const plugin of plugins) {
    try {
      plugin.register?.(registry);
    } catch (error) {
      throw new GatewayError('PLUGIN_ERROR', `Plugin '${plugin.name}' failed to register its configuration: ${error instanceof Error ? error.message : String(error)}`, {}, { cause: error });
    }
  }
  return registry;
}

type PluginEntry = string | [string, Record<string, unknown>];

/**
 * Loads third-party plugins named in the settings. The settings loader has already made
 * each one an absolute path, resolved from the settings file's own folder (never from the
 * working folder); a relative path or a package name still found here is resolved from
 * `cwd` (for library callers). A plugin module's default export is a plugin class
 * (`new P(options)`), a factory (`(options) => plugin`), or a plugin object.
 */
export async function loadPlugins(entries: readonly PluginEntry[], cwd: string): Promise<GatewayPlugin[]> {
  const require = createRequire(join(cwd, 'package.json'));
  const plugins: GatewayPlugin[] = [];
  for (const entry of entries) {
    const [specifier, options] = typeof entry === 'string' ? [entry, {}] : entry;
    let mod: { default?: unknown };
    try {
      const resolved = isAbsolute(specifier) ? specifier : specifier.startsWith('.') ? resolve(cwd, specifier) : require.resolve(specifier);
      mod = (await import(pathToFileURL(resolved).href)) as { default?: unknown };
    } catch (error) {
      throw new GatewayError('PLUGIN_ERROR', `Cannot load plugin '${specifier}': ${error instanceof Error ? error.message : String(error)}`);
    }
    plugins.push(instantiate(specifier, mod.default, options));
  }
  return plugins;
}

function instantiate(specifier: string, exported: unknown, options: Record<string, unknown>): GatewayPlugin {
  const isPlugin = (v: unknown): v is GatewayPlugin =>
    typeof v === 'object' && v !== null && typeof (v as GatewayPlugin).apply === 'function' && typeof (v as GatewayPlugin).name === 'string';
  if (isPlugin(exported)) return exported;
  if (typeof exported === 'function') {
    const fn = exported as ((o: unknown) => unknown) & (new (o: unknown) => unknown);
    const made = fn.prototype && typeof fn.prototype.apply === 'function' ? new fn(options) : fn(options);
    if (isPlugin(made)) return made;
  }
  throw new GatewayError('PLUGIN_ERROR', `Plugin '${specifier}' must export by default a plugin, a plugin class or a factory`);
}
