/**
 * Which files may be read: a project folder's gateway files only while the trust store
 * (./trust.ts) records them with their current contents; paths given by flag or variable, the
 * user's folder and an explicit servers file's folder by construction.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ErrorCodes, GatewayError } from '../errors.js';
import { CONFIG_FILES, explicitPath, explicitSettingsPath, isFile, readBytes, userConfigDir, type Env } from './discovery.js';
import { SETTINGS_SEARCH_PLACES, packageJsonHasSettings } from './settings.js';
import { hashContent, readTrustStore, writeTrustStore, type TrustedFolder } from './trust.js';

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
export interface TrustContext {
  /** The project folder (the working folder). */
  readonly cwd: string;
  readonly userDir: string;
  /** Folders whose files need no record: the user's folder and an explicit servers file's folder. */
  readonly trustedDirs: ReadonlySet<string>;
  /** Files named by a flag or variable. */
  readonly explicit: ReadonlySet<string>;
}

/** What {@link trustContext} needs of the load options. */
export interface TrustOptions {
  readonly configPath?: string | undefined;
  readonly rulesPath?: string | undefined;
  readonly settingsPath?: string | undefined;
  readonly cwd: string;
  readonly env: Env;
  readonly home: string;
}

export function trustContext(opts: TrustOptions): TrustContext {
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

export function trustedByConstruction(file: string, ctx: TrustContext): boolean {
  return ctx.explicit.has(file) || ctx.trustedDirs.has(dirname(file)) || (ctx.trustedDirs.has(ctx.cwd) && inProject(file, ctx.cwd));
}

/**
 * Refuses a file that is not trusted as read: a project file must match the hash the
 * trust store holds for it now. Checked on the very bytes that are then parsed (and
 * before a JS file is imported), at start and at every reload.
 */
export function checkTrusted(file: string, bytes: Uint8Array, ctx: TrustContext): void {
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
export function readTrusted(file: string, what: string, ctx: TrustContext): string {
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
