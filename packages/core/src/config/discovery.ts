/**
 * Where the gateway's files are: the user's folder, the places searched for the servers and rules
 * files, and the paths a flag or variable names (`--config`, `--rules`, `--settings` and their
 * GATEWAY_* variables) — plus reading a file with errors that name it.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ErrorCodes, GatewayError } from '../errors.js';

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

export function isFile(path: string): boolean {
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
export function explicitPath(kind: ConfigFileKind, opts: FindFileOptions): { path: string; source: string } | undefined {
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

/** The variable naming the settings file (as `--settings` does; the flag wins). */
export const SETTINGS_FILE_ENV_VAR = 'GATEWAY_SETTINGS';

/** The settings file `--settings` or GATEWAY_SETTINGS names (not checked), and which of the two named it. */
export function explicitSettingsPath(opts: { settingsPath?: string | undefined; env: Env; cwd: string; home: string }): { path: string; source: string } | undefined {
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

// ---------------------------------------------------------------------------
// Reading files

export function readBytes(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new GatewayError(ErrorCodes.CONFIG_NOT_FOUND, `${file}: ${what} not found`, { file }, { cause: error });
    const why = code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? 'read error');
    throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${file}: cannot read the ${what}: ${why}`, { file, path: '$' }, { cause: error });
  }
}

export function readText(file: string, what: string): string {
  return readBytes(file, what).toString('utf8');
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
