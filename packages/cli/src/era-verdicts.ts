import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { EraVerdictCache, type Logger } from '@agent-mcp-gateway/core';

/** The file name of the protocol verdicts in the cache folder. */
export const ERA_VERDICTS_FILE = 'era-verdicts.json';

/**
 * The CLI's cache folder: `GATEWAY_CACHE_DIR`, else `~/.cache/agent-mcp-gateway` (where the audit log
 * goes by default too). The verdicts there can be deleted at any time: they only save work.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME ?? homedir();
  const fromEnv = env.GATEWAY_CACHE_DIR?.trim();
  if (fromEnv) return fromEnv.startsWith('~/') ? join(home, fromEnv.slice(2)) : resolve(fromEnv);
  return join(home, '.cache', 'agent-mcp-gateway');
}

/**
 * The protocol era of each downstream, kept across runs (`era-verdicts.json` in {@link cacheDir}): a
 * gateway started again does not probe its servers again — for a stdio server, the probe is one
 * more start of it.
 */
export function eraVerdictsFor(env: NodeJS.ProcessEnv, logger: Logger): EraVerdictCache {
  return new EraVerdictCache({ file: join(cacheDir(env), ERA_VERDICTS_FILE), onWarning: (message) => logger.warn(message) });
}
