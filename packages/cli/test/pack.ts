/**
 * Packing the workspace packages as npm would publish them, and installing the tarballs into an
 * empty folder (no workspace links): what a user of the published packages gets. Used by the
 * production-install test; reusable by any test that drives installed packages.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository's root folder. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  files?: string[];
  main?: string;
  bin?: string | Record<string, string>;
  exports?: unknown;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

export interface Workspace {
  dir: string;
  manifest: Manifest;
}

/** Every workspace package of the repository, by name. */
export async function workspaces(): Promise<Map<string, Workspace>> {
  const root = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { workspaces: string[] };
  const map = new Map<string, Workspace>();
  for (const folder of root.workspaces) {
    const dir = join(repoRoot, folder);
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest;
    map.set(manifest.name, { dir, manifest });
  }
  return map;
}

/**
 * `names` and every workspace package they depend on at runtime (dependencies, optional and peer
 * dependencies — what a production install needs), transitively.
 */
export async function runtimeClosure(names: readonly string[]): Promise<Workspace[]> {
  const all = await workspaces();
  const seen = new Map<string, Workspace>();
  const visit = (name: string) => {
    const ws = all.get(name);
    if (!ws || seen.has(name)) return;
    seen.set(name, ws);
    const { dependencies = {}, optionalDependencies = {}, peerDependencies = {} } = ws.manifest;
    for (const dep of Object.keys({ ...dependencies, ...optionalDependencies, ...peerDependencies })) visit(dep);
  };
  for (const name of names) {
    if (!all.has(name)) throw new Error(`${name} is no workspace package`);
    visit(name);
  }
  return [...seen.values()];
}

/** The files a manifest points at (main, bin, every exports target), relative to its package folder. */
export function entryPoints(manifest: Manifest): string[] {
  const targets = new Set<string>();
  const walk = (value: unknown) => {
    if (typeof value === 'string') targets.add(value);
    else if (value && typeof value === 'object') for (const v of Object.values(value)) walk(v);
  };
  if (manifest.main) targets.add(manifest.main);
  walk(manifest.bin);
  walk(manifest.exports);
  return [...targets].map((t) => t.replace(/^\.\//, ''));
}

/** Environment for a child npm: the caller's, minus what `npm test` / `npm run` set about this repository. */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase();
    if (lower.startsWith('npm_package_') || lower.startsWith('npm_lifecycle_')) continue;
    if (['npm_config_local_prefix', 'npm_config_workspace', 'npm_config_workspaces', 'npm_config_include_workspace_root', 'init_cwd'].includes(lower)) continue;
    env[key] = value;
  }
  return env;
}

/**
 * Packs `packages` with `npm pack` into `dest`; resolves to the tarballs' paths. Each package's entry
 * points must be built (`npm run build`) — a tarball without them installs but cannot run.
 */
export async function pack(packages: readonly Workspace[], dest: string): Promise<string[]> {
  for (const { dir, manifest } of packages) {
    for (const file of entryPoints(manifest)) {
      if (!existsSync(join(dir, file))) {
        throw new Error(`${manifest.name}: ${relative(repoRoot, join(dir, file))} does not exist; run "npm run build" first`);
      }
    }
  }
  const args = ['pack', '--json', '--ignore-scripts', '--pack-destination', dest];
  for (const { dir } of packages) args.push('--workspace', relative(repoRoot, dir));
  const { stdout } = await run('npm', args, { cwd: repoRoot, env: npmEnv(), timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  const packed = JSON.parse(stdout) as { name: string; filename: string; files: { path: string }[] }[];
  for (const { dir, manifest } of packages) {
    const entry = packed.find((p) => p.name === manifest.name);
    if (!entry) throw new Error(`npm pack made no tarball for ${manifest.name}`);
    const inside = new Set(entry.files.map((f) => f.path));
    const missing = entryPoints(manifest).filter((f) => !inside.has(f));
    if (missing.length > 0) throw new Error(`${manifest.name}'s tarball lacks ${missing.join(', ')} (see "files" in ${relative(repoRoot, dir)}/package.json)`);
  }
  return packed.map((p) => join(dest, p.filename));
}

/**
 * Installs `tarballs` into the empty folder `dir` as a user would (`npm install <tarballs…>`), with
 * `extra` npm arguments (e.g. `--omit=dev`). The npm registry provides the third-party dependencies.
 */
export async function installTarballs(dir: string, tarballs: readonly string[], extra: readonly string[] = []): Promise<void> {
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'installed', private: true }, null, 2));
  const args = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', ...extra, ...tarballs];
  try {
    await run('npm', args, { cwd: dir, env: npmEnv(), timeout: 150_000, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed: ${(error as Error).message}\n${stdout}\n${stderr}`);
  }
}

/** Every package installed under `dir`/node_modules, nested ones included, by name (with scope). */
export async function installedPackages(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  const scan = async (modules: string) => {
    if (!existsSync(modules)) return;
    for (const entry of await readdir(modules, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      if (entry.name.startsWith('@') && entry.isDirectory()) {
        for (const scoped of await readdir(join(modules, entry.name), { withFileTypes: true })) {
          names.add(`${entry.name}/${scoped.name}`);
          await scan(join(modules, entry.name, scoped.name, 'node_modules'));
        }
      } else {
        names.add(entry.name);
        await scan(join(modules, entry.name, 'node_modules'));
      }
    }
  };
  await scan(join(dir, 'node_modules'));
  return names;
}

/**
 * Packs `names` and the workspace packages they need at runtime, and installs the tarballs into
 * the empty folder `dir` (created): what a user gets from `npm install <those packages>`. Resolves
 * to the packed workspaces, in packing order.
 */
export async function packAndInstall(names: readonly string[], dir: string, tarballs: string, extra: readonly string[] = []): Promise<Workspace[]> {
  await mkdir(dir, { recursive: true });
  await mkdir(tarballs, { recursive: true });
  const packages = await runtimeClosure(names);
  await installTarballs(dir, await pack(packages, tarballs), extra);
  return packages;
}

/** An installed package's folder under `dir`/node_modules. */
export function installedDir(dir: string, name: string): string {
  return join(dir, 'node_modules', ...name.split('/'));
}
