/**
 * The MCP SDK reports some protocol decisions only with `console.warn("[mcp-sdk] …")` — a tool it
 * excludes from a 2026-07-28 `tools/list` because its `x-mcp-header` declaration is invalid
 * (SEP-2243), a deprecated option. Written straight to stderr they bypass the gateway's log level,
 * format and redactor, and do not say which server they are about. {@link routeSdkWarnings} sends them
 * to a logger instead: the logger of the downstream being talked to when the warning comes from
 * work run inside {@link withSdkWarningsTo}, the fallback otherwise.
 */
import { format } from 'node:util';
import type { Logger } from './logger.js';
import { ScopedStorage } from './scoped-storage.js';

const SDK_PREFIX = '[mcp-sdk] ';
const scope = new ScopedStorage<Logger>();

/** Runs `fn` so that SDK warnings raised by it (and what it awaits) go to `logger`. */
export function withSdkWarningsTo<T>(logger: Logger, fn: () => Promise<T>): Promise<T> {
  return scope.run(logger, fn);
}

/** The loggers of {@link routeSdkWarnings} calls not undone yet; the newest one takes unattributed warnings. */
const fallbacks: Logger[] = [];
let original: typeof console.warn | undefined;

function routed(...args: unknown[]): void {
  const line = format(...args);
  const target = line.startsWith(SDK_PREFIX) ? (scope.getStore() ?? fallbacks.at(-1)) : undefined;
  if (target === undefined) return original?.apply(console, args);
  target.warn(`SDK: ${line.slice(SDK_PREFIX.length)}`);
}

/**
 * Routes the SDK's `[mcp-sdk] …` warnings of this process into loggers (see the module comment);
 * other `console.warn` output is left alone. For an application's entry point, not for a library:
 * it replaces the process's `console.warn` (once, however often it is called). Returns the function
 * that takes `fallback` back out, and restores `console.warn` when no routing is left.
 */
export function routeSdkWarnings(fallback: Logger): () => void {
  if (original === undefined) {
    original = console.warn;
    console.warn = routed;
  }
  fallbacks.push(fallback);
  return () => {
    const at = fallbacks.lastIndexOf(fallback);
    if (at >= 0) fallbacks.splice(at, 1);
    if (fallbacks.length > 0 || original === undefined) return;
    if (console.warn === routed) console.warn = original;
    original = undefined;
  };
}
