/**
 * Where a plugin named in the settings is: resolved as Node's ESM `import` resolves it (export
 * conditions `node`, `import`), from the settings file's folder — never from the working folder
 * when a settings file exists. `import-meta-resolve` does the resolution: Node 20's own
 * `import.meta.resolve(specifier, parent)` takes a parent only behind a flag, and
 * `createRequire().resolve` applies the `require` condition, so it cannot find a package that
 * exports only `"import"`.
 *
 * A specifier is one of:
 * - a package name (`acme-plugin`, `@acme/plugin`, `@acme/plugin/sub`): looked up in the folder's
 *   `node_modules` and up, through the package's `exports` (or `main`);
 * - a path (`./p.mjs`, `../p`, `~/p.mjs`, `/abs/p.mjs`, a `file:` URL): relative to the folder;
 *   a file is used as it is, a folder through its package.json (`exports`, else `main`) or its
 *   `index.js`.
 *
 * Failures are PLUGIN_ERROR with a `details.reason` of the catalogue ({@link pluginErrors}).
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { moduleResolve } from 'import-meta-resolve';
import { ErrorCodes, defineError, type GatewayErrorDetails } from '../errors.js';

/** Where a plugin entry was written: the settings file and the JSON path (`$.plugins[0]`). */
export interface PluginSource {
  readonly file?: string | undefined;
  readonly path?: string | undefined;
}

function sourceDetails(source: PluginSource): GatewayErrorDetails {
  return { ...(source.file !== undefined && { file: source.file }), ...(source.path !== undefined && { path: source.path }) };
}

function at(source: PluginSource): string {
  return source.file !== undefined ? `${source.file}: ${source.path ?? '$.plugins'}: ` : '';
}

/**
 * The plugin failures, each PLUGIN_ERROR with its own `details.reason`; `details.file` and
 * `details.path` name the settings entry when the plugin came from a settings file.
 */
export const pluginErrors = {
  /** Nothing at that package name or path (`reason: "not_found"`). */
  notFound: defineError({
    code: ErrorCodes.PLUGIN_ERROR,
    reason: 'not_found',
    message: (specifier: string, dir: string, why: string, source: PluginSource) => `${at(source)}cannot find plugin '${specifier}' from ${dir}: ${why}`,
    details: (_s: string, _d: string, _w: string, source: PluginSource) => sourceDetails(source),
  }),
  /** A package whose package.json exports nothing importable at that name (`reason: "bad_package"`). */
  badPackage: defineError({
    code: ErrorCodes.PLUGIN_ERROR,
    reason: 'bad_package',
    message: (specifier: string, why: string, source: PluginSource) => `${at(source)}plugin '${specifier}' cannot be imported: ${why}`,
    details: (_s: string, _w: string, source: PluginSource) => sourceDetails(source),
  }),
  /** The module was found but importing it threw (`reason: "load_failed"`). */
  loadFailed: defineError({
    code: ErrorCodes.PLUGIN_ERROR,
    reason: 'load_failed',
    message: (specifier: string, why: string, source: PluginSource) => `${at(source)}cannot load plugin '${specifier}': ${why}`,
    details: (_s: string, _w: string, source: PluginSource) => sourceDetails(source),
  }),
  /** Its default export is neither a plugin, a plugin class nor a factory (`reason: "bad_export"`). */
  badExport: defineError({
    code: ErrorCodes.PLUGIN_ERROR,
    reason: 'bad_export',
    message: (specifier: string, source: PluginSource) =>
      `${at(source)}plugin '${specifier}' must export by default a plugin (an object with name and apply), a plugin class or a factory`,
    details: (_s: string, source: PluginSource) => sourceDetails(source),
  }),
  /** Its `register(registry)` threw (a type registered twice, a schema without a literal `type`; `reason: "register_failed"`). */
  registerFailed: defineError({
    code: ErrorCodes.PLUGIN_ERROR,
    reason: 'register_failed',
    message: (plugin: string, why: string) => `Plugin '${plugin}' failed to register its configuration: ${why}`,
  }),
} as const;

/** The conditions of Node's `import` (what `import()` of the resolved file will see). */
const IMPORT_CONDITIONS = new Set(['node', 'import']);

function statOf(path: string): 'file' | 'dir' | undefined {
  try {
    const stats = statSync(path);
    return stats.isFile() ? 'file' : stats.isDirectory() ? 'dir' : undefined;
  } catch {
    return undefined;
  }
}

/** Is the specifier a path (rather than a package name)? */
export function isPathSpecifier(specifier: string): boolean {
  return (
    specifier.startsWith('./') ||
    specifier.startsWith('../') ||
    specifier === '.' ||
    specifier === '..' ||
    specifier.startsWith('~') ||
    specifier.startsWith('/') ||
    specifier.startsWith('file:') ||
    /^[A-Za-z]:[\\/]/.test(specifier) ||
    specifier.startsWith('.\\') ||
    specifier.startsWith('..\\')
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The absolute file a plugin specifier names, resolved from `dir` (the settings file's folder).
 *
 * @param home for `~/` paths
 * @throws GatewayError PLUGIN_ERROR, reason `not_found` or `bad_package`
 */
export function resolvePlugin(specifier: string, dir: string, home: string, source: PluginSource = {}): string {
  if (isPathSpecifier(specifier)) {
    const path = specifier.startsWith('file:')
      ? fileURLToPath(specifier)
      : specifier === '~' || specifier.startsWith('~/') || specifier.startsWith('~\\')
        ? join(home, specifier.slice(1))
        : resolvePath(dir, specifier);
    const kind = statOf(path);
    if (kind === 'file') return path;
    if (kind === 'dir') return resolveFolder(specifier, path, source);
    throw pluginErrors.notFound(specifier, dir, `no file or folder at ${path}`, source);
  }
  let url: URL;
  try {
    // The parent is a (not necessarily existing) file in the folder: lookups start in its node_modules.
    url = moduleResolve(specifier, pathToFileURL(join(dir, 'settings.js')), IMPORT_CONDITIONS);
  } catch (error) {
    throw resolveError(specifier, dir, error, source);
  }
  if (url.protocol !== 'file:') throw pluginErrors.notFound(specifier, dir, `'${specifier}' is a Node built-in module, not a plugin`, source);
  return fileURLToPath(url);
}

/** A plugin folder: its package.json's `exports` (as an import of its own name), else `main`, else `index.js`. */
function resolveFolder(specifier: string, folder: string, source: PluginSource): string {
  const manifest = join(folder, 'package.json');
  let pkg: { name?: unknown; exports?: unknown; main?: unknown } | undefined;
  if (statOf(manifest) === 'file') {
    try {
      pkg = JSON.parse(readFileSync(manifest, 'utf8')) as typeof pkg;
    } catch (error) {
      throw pluginErrors.badPackage(specifier, `${manifest} is not valid JSON (${messageOf(error)})`, source);
    }
  }
  if (pkg !== undefined && pkg !== null && pkg.exports !== undefined && pkg.exports !== null) {
    if (typeof pkg.name !== 'string' || pkg.name === '') {
      throw pluginErrors.badPackage(specifier, `${manifest} has "exports" but no "name" (a package resolves its exports by its name)`, source);
    }
    try {
      // A package's import of its own name resolves through its `exports` (Node's self-reference).
      return fileURLToPath(moduleResolve(pkg.name, pathToFileURL(manifest), IMPORT_CONDITIONS));
    } catch (error) {
      throw resolveError(specifier, folder, error, source);
    }
  }
  const main = pkg !== undefined && pkg !== null && typeof pkg.main === 'string' && pkg.main !== '' ? pkg.main : undefined;
  const candidates = main !== undefined ? [main, `${main}.js`, join(main, 'index.js')] : ['index.js'];
  for (const candidate of candidates) {
    const file = resolvePath(folder, candidate);
    if (statOf(file) === 'file') return file;
  }
  throw pluginErrors.notFound(
    specifier,
    folder,
    main !== undefined ? `its package.json "main" (${main}) names no file` : 'the folder has neither a package.json with "exports" or "main" nor an index.js',
    source,
  );
}

function resolveError(specifier: string, dir: string, error: unknown, source: PluginSource): Error {
  const code = (error as { code?: unknown }).code;
  // The resolver's messages name the files it looked at; its first line says enough.
  const why = messageOf(error).split('\n')[0] ?? '';
  if (code === 'ERR_MODULE_NOT_FOUND' && why.startsWith('Cannot find package')) {
    return pluginErrors.notFound(specifier, dir, `not installed there (install it in ${dir}, e.g. npm install --prefix ${dir} ${specifier}, or give its path)`, source);
  }
  if (code === 'ERR_MODULE_NOT_FOUND') return pluginErrors.badPackage(specifier, why, source);
  if (code === 'ERR_INVALID_MODULE_SPECIFIER') return pluginErrors.notFound(specifier, dir, why, source);
  return pluginErrors.badPackage(specifier, why, source);
}
