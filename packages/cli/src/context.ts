import { homedir } from 'node:os';
import { dirname } from 'node:path';
import {
  loadGatewayConfig,
  loadSettingsFor,
  reloadGatewayConfig,
  type ConfigWatchOptions,
  type GatewayConfig,
  type LoadGatewayConfigOptions,
  type LoadedGatewayConfig,
  type LoadedSettings,
  type GatewayPlugin,
} from '@agent-mcp-gateway/core';
// The settings vocabulary only: the server itself (the SDK's Node adapter, jose) loads when `serve` serves HTTP.
import { HttpServePlugin } from '@agent-mcp-gateway/serve-http/settings';
import type { CliArgs } from './args.js';
import { defaultPlugins } from './default-plugins.js';
import { configRegistryOf, loadPlugins, type PluginOrigin } from './plugins.js';

/**
 * Plugins that only register settings vocabulary, for `serve`'s own use: the `http` section
 * (and `transport: "http"`) of @agent-mcp-gateway/serve-http.
 */
const SETTINGS_PLUGINS: readonly GatewayPlugin[] = [new HttpServePlugin()];

/** A config as the CLI loads it: with the third-party plugins its settings name, loaded (and registered) once. */
export interface CliConfig extends LoadedGatewayConfig {
  readonly thirdPartyPlugins: readonly GatewayPlugin[];
}

/** Flags, env, the working folder and the home folder, as every command loads its files. */
function loadOptions(args: Pick<CliArgs, 'config' | 'rules' | 'settings' | 'transport' | 'host' | 'port'>, env: NodeJS.ProcessEnv): LoadGatewayConfigOptions {
  return {
    ...(args.config !== undefined && { configPath: args.config }),
    ...(args.rules !== undefined && { rulesPath: args.rules }),
    ...(args.settings !== undefined && { settingsPath: args.settings }),
    cwd: process.cwd(),
    env: withServeFlags(args, env),
    home: env.HOME ?? homedir(),
  };
}

/**
 * Loads config, rules and settings the way every command does (flags, env, trusted
 * places), in this order: settings; the plugins they name, loaded; every plugin's
 * `register` (built-in ones first); the servers file, validated against what they
 * registered; the rules. A working folder whose gateway files are not trusted is reported
 * on stderr, one line per file: `serve` logs the same lines as warnings, and `validate`
 * prints its warnings itself.
 */
export async function loadConfigFor(args: CliArgs, env: NodeJS.ProcessEnv = process.env): Promise<CliConfig> {
  let thirdPartyPlugins: readonly GatewayPlugin[] = [];
  const registry = async (settings: LoadedSettings['settings'], settingsFile: string | undefined) => {
    thirdPartyPlugins = await loadPlugins(settings.plugins, pluginOrigin(settingsFile, env));
    // Registration only declares: the built-in plugins' instances here are not the ones that run.
    return configRegistryOf([...defaultPlugins(), ...SETTINGS_PLUGINS, ...thirdPartyPlugins]);
  };
  const config = await loadGatewayConfig({ ...loadOptions(args, env), registry });
  if (args.command !== 'serve' && args.command !== 'validate') reportUntrusted(config.untrusted);
  return { ...config, thirdPartyPlugins };
}

/**
 * What hot reload needs (`watchConfig`): read again exactly the files `config` came from
 * (a vanished or invalid one fails the reload and the running config stays), and watch
 * those files — and the trust store, when a project's files are among them.
 */
export function reloadOptionsFor(
  args: CliArgs,
  config: GatewayConfig & Partial<Pick<LoadedGatewayConfig, 'watch' | 'registry'>>,
  env: NodeJS.ProcessEnv = process.env,
): ConfigWatchOptions {
  const sources = config.sources;
  // The plugins stay those of the start: a reload validates against what they registered then.
  const options = { ...loadOptions(args, env), registry: config.registry };
  return { load: () => reloadGatewayConfig(sources, options), ...(config.watch !== undefined && { files: config.watch }) };
}

/** The settings alone, for commands that need no servers file (`secret`, `auth migrate`). */
export async function loadSettingsOnly(env: NodeJS.ProcessEnv = process.env, args: Pick<CliArgs, 'config' | 'settings'> = {}): Promise<LoadedSettings> {
  // The `tokenStore` setting is checked against the stores the plugins register, as for every other command.
  const registry = async (settings: LoadedSettings['settings'], settingsFile: string | undefined) =>
    configRegistryOf([...defaultPlugins(), ...SETTINGS_PLUGINS, ...(await loadPlugins(settings.plugins, pluginOrigin(settingsFile, env)))]);
  const loaded = await loadSettingsFor({ ...loadOptions(args, env), registry });
  reportUntrusted(loaded.untrusted);
  return loaded;
}

/** Plugins resolve from the settings file's folder (the loader already made them absolute), never the working folder. */
function pluginOrigin(settingsFile: string | undefined, env: NodeJS.ProcessEnv): PluginOrigin {
  return { settingsFile, dir: settingsFile !== undefined ? dirname(settingsFile) : process.cwd(), home: env.HOME ?? homedir(), env };
}

function reportUntrusted(lines: readonly string[]): void {
  for (const line of lines) process.stderr.write(`agent-mcp-gateway: warning: ${line}\n`);
}

/**
 * `--transport`, `--host` and `--port` win over their GATEWAY_* variables, which win over the
 * settings file: the flags are applied as those variables (same validation, same precedence;
 * GATEWAY_HOST and GATEWAY_PORT are the variables serve-http's `http` section declares).
 */
function withServeFlags(args: Pick<CliArgs, 'transport' | 'host' | 'port'>, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (args.transport === undefined && args.host === undefined && args.port === undefined) return env;
  return {
    ...env,
    ...(args.transport !== undefined && { GATEWAY_TRANSPORT: args.transport }),
    ...(args.host !== undefined && { GATEWAY_HOST: args.host }),
    ...(args.port !== undefined && { GATEWAY_PORT: String(args.port) }),
  };
}
