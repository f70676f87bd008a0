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
 *
 * This module puts the parts together: ./discovery.ts (where files are), ./servers-file.ts,
 * ./rules-file.ts, ./settings.ts (two phases: core keys, then plugins' sections),
 * ./project-trust.ts (which files may be read), ./plugins.ts (plugin specifiers).
 */
import { dirname, join } from 'node:path';
import { ErrorCodes, GatewayError } from '../errors.js';
import type { GatewayConfig } from '../types.js';
import { explicitSettingsPath, findFile, isFile, searchLocations, type Env } from './discovery.js';
import {
  checkTrusted,
  projectFiles,
  projectTrust,
  readTrusted,
  trustContext,
  trustedByConstruction,
  type ProjectTrust,
  type TrustContext,
} from './project-trust.js';
import { parseRules } from './rules-file.js';
import type { ConfigRegistry } from './registry.js';
import { parseServers } from './servers-file.js';
import { loadSettingsFile, settingsFileIn, type LoadedSettings, type RegistryOption } from './settings.js';
import { trustStorePath } from './trust.js';

// The modules this one composes, re-exported: `load.ts` stays the one entry point of config loading.
export * from './discovery.js';
export * from './project-trust.js';
export * from './rules-file.js';
export * from './servers-file.js';
export * from './settings.js';

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
  /** What the plugins registered: see {@link RegistryOption}. */
  registry?: RegistryOption;
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
