/**
 * Hot reload: which servers a new config adds, changes or removes, a watcher
 * that reloads the config files when they change on disk, and the plugin that
 * shows in the status when each file was loaded and why a change was not.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Gateway } from './gateway.js';
import { isGatewayError } from './errors.js';
import type { GatewayHooks } from './hooks.js';
import type { SecretRedactor } from './logger.js';
import type { GatewayConfig, ServerName, ServerSpec } from './types.js';

/** How a new server list differs from the running one, by name and deep equality of the spec. */
export interface ServerDiff {
  readonly added: readonly ServerName[];
  readonly changed: readonly ServerName[];
  readonly removed: readonly ServerName[];
  readonly unchanged: readonly ServerName[];
}

export function diffServers(previous: readonly ServerSpec[], next: readonly ServerSpec[]): ServerDiff {
  const before = new Map(previous.map((s) => [s.name, s]));
  const names = new Set(next.map((s) => s.name));
  const added: ServerName[] = [];
  const changed: ServerName[] = [];
  const unchanged: ServerName[] = [];
  for (const spec of next) {
    const old = before.get(spec.name);
    if (!old) added.push(spec.name);
    else if (isDeepStrictEqual(old, spec)) unchanged.push(spec.name);
    else changed.push(spec.name);
  }
  const removed = previous.filter((s) => !names.has(s.name)).map((s) => s.name);
  return { added, changed, removed, unchanged };
}

/** One config file as `get_gateway_status` shows it. */
export interface FileReloadStatus {
  readonly file: string;
  /** ISO time of the last successful load (start-up or reload). */
  readonly loadedAt: string;
  /** Why the file's current content is not in use (cleared by the next successful reload). */
  readonly lastError?: string;
  readonly lastErrorAt?: string;
}

/** The reload section of `get_gateway_status`: per config file, when it was last loaded and why its current content is not in use. */
export interface ReloadStatus {
  readonly config?: FileReloadStatus;
  readonly rules?: FileReloadStatus;
}

/** The part of the gateway the reload status plugin uses (a `Gateway` satisfies it). */
export interface ReloadStatusHost {
  readonly hooks: GatewayHooks;
  readonly redactor: SecretRedactor;
}

/**
 * Adds `reload` to the status: for the servers file and the rules file, when each was last
 * loaded (`configApplied`) and, after a reload that did not happen (`reloadFailed`), the error —
 * on the file it names (`details.file`), else on the servers file. Redacted; an agent reading the
 * status is not shown an error that names a server hidden from it.
 */
export class ReloadStatusPlugin {
  readonly name = 'ReloadStatusPlugin';
  private state: ReloadStatus = {};
  private sources: GatewayConfig['sources'] = {};
  private readonly appliedAt = Date.now();

  /** The current section (for the operator). */
  get status(): ReloadStatus {
    return this.state;
  }

  apply(gateway: ReloadStatusHost): void {
    const { hooks, redactor } = gateway;
    hooks.configApplied.tap(this.name, (config) => {
      const at = new Date().toISOString();
      const entry = (file: string | undefined) => (file === undefined ? undefined : { file, loadedAt: at });
      const configFile = entry(config.sources.config);
      const rulesFile = entry(config.sources.rules);
      this.sources = config.sources;
      this.state = { ...(configFile && { config: configFile }), ...(rulesFile && { rules: rulesFile }) };
    });
    hooks.reloadFailed.tap(this.name, (error) => {
      const file = isGatewayError(error) && typeof error.details.file === 'string' ? error.details.file : undefined;
      const kind = file !== undefined && file === this.state.rules?.file ? 'rules' : 'config';
      const current = this.state[kind] ?? { file: file ?? this.sources[kind] ?? '(none)', loadedAt: new Date(this.appliedAt).toISOString() };
      const message = redactor.redactString(error instanceof Error ? error.message : String(error));
      const next = { ...this.state, [kind]: { ...current, lastError: message, lastErrorAt: new Date().toISOString() } };
      // The servers file loads before the rules file: a rules error means the servers file was fine this time.
      if (kind === 'rules' && next.config) next.config = { file: next.config.file, loadedAt: next.config.loadedAt };
      this.state = next;
    });
    hooks.status.tap(this.name, (status, { agent, namesHidden }) => {
      if (agent === undefined) return { ...status, reload: this.state };
      const reload = Object.fromEntries(
        Object.entries(this.state).map(([kind, file]: [string, FileReloadStatus]) => [
          kind,
          file.lastError !== undefined && namesHidden(file.lastError)
            ? { ...file, lastError: 'the last change could not be loaded (the details name what this agent may not see)' }
            : file,
        ]),
      );
      return { ...status, reload };
    });
  }
}

export interface ConfigWatchOptions {
  /**
   * Loads the config again. It should read exactly the files in use
   * (`reloadGatewayConfig(config.sources, …)`), not run discovery again: a file that
   * vanished must fail the reload (the running config stays), not fall back to another.
   */
  readonly load: () => Promise<GatewayConfig>;
  /** Files to watch; default: the running config's servers, rules and settings files. */
  readonly files?: readonly string[];
  /** Quiet time after the last change before reloading (editors write in several steps). */
  readonly debounceMs?: number;
}

export interface ConfigWatcher {
  close(): void;
}

/**
 * Watches the config files and applies every valid change to the gateway; an
 * invalid one keeps the running config and is logged and recorded in status.
 * Watches each file's folder, not the file: editors that save by writing a
 * temporary file and renaming it over the original replace the inode a file
 * watch would follow.
 */
export function watchConfig(gateway: Gateway, options: ConfigWatchOptions): ConfigWatcher {
  const logger = gateway.logger;
  const { sources } = gateway.config;
  const files = (options.files ?? [sources.config, sources.rules, sources.settings])
    .filter((f): f is string => f !== undefined)
    .map((f) => resolve(f));
  const debounceMs = options.debounceMs ?? 100;
  const byFolder = new Map<string, Set<string>>();
  for (const file of files) {
    const names = byFolder.get(dirname(file)) ?? new Set<string>();
    names.add(basename(file));
    byFolder.set(dirname(file), names);
  }

  const changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;

  const reload = async (names: string[]): Promise<void> => {
    const what = names.join(', ');
    let loaded = false;
    try {
      const next = await options.load();
      loaded = true;
      const diff = await gateway.applyConfig(next);
      logger.info(`Config reloaded after a change to ${what}: ${describeDiff(diff)}`);
    } catch (error) {
      // applyConfig reports its own refusals (reloadFailed); a load that failed is reported here.
      if (!loaded) gateway.reloadFailed(error);
      const message = gateway.redactor.redactString(error instanceof Error ? error.message : String(error));
      logger.warn(`Config reload after a change to ${what} failed; the previous config stays in use: ${message}`);
    }
  };
  const run = (): void => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    const names = [...changed];
    changed.clear();
    running = reload(names).finally(() => {
      running = undefined;
      if (again) {
        again = false;
        run();
      }
    });
  };

  const watchers: FSWatcher[] = [];
  for (const [folder, names] of byFolder) {
    try {
      const watcher = watch(folder, { persistent: false }, (_event, filename) => {
        const name = filename?.toString();
        if (name !== undefined && !names.has(name)) return;
        changed.add(name ?? folder);
        clearTimeout(timer);
        timer = setTimeout(run, debounceMs);
      });
      watcher.on('error', (error) => logger.warn(`Stopped watching ${folder} for config changes`, { error }));
      watchers.push(watcher);
    } catch (error) {
      logger.warn(`Cannot watch ${folder} for config changes; hot reload is off for ${[...names].join(', ')}`, { error });
    }
  }
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}

function describeDiff(diff: ServerDiff): string {
  const parts = [
    diff.added.length > 0 && `added ${diff.added.join(', ')}`,
    diff.changed.length > 0 && `changed ${diff.changed.join(', ')}`,
    diff.removed.length > 0 && `removed ${diff.removed.join(', ')}`,
  ].filter(Boolean);
  return parts.length > 0 ? `servers ${parts.join('; ')}` : 'no server changed';
}
