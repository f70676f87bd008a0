/**
 * A gateway that lists itself as a downstream would start itself without end (each child finds the
 * same servers file and starts another). Every stdio child of a gateway inherits a marker naming the
 * servers files of the gateways above it; a gateway that finds its own file there refuses to serve.
 */
import { realpathSync } from 'node:fs';

/** Set in every stdio child's environment: the servers files of the gateways above it, outermost first (JSON). */
export const ANCESTRY_VAR = 'AGENT_MCP_GATEWAY_ANCESTRY';

/** Gateways may front gateways (another config, another team), but not this deep: that is a loop through other files. */
const MAX_DEPTH = 4;

function chainOf(env: NodeJS.ProcessEnv): string[] {
  try {
    const parsed: unknown = JSON.parse(env[ANCESTRY_VAR] ?? '[]');
    return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    return [];
  }
}

/** The servers file as one name whatever the path used to reach it (symlinks, `..`). */
function identity(configFile: string | undefined): string {
  if (configFile === undefined) return '(no servers file)';
  try {
    return realpathSync(configFile);
  } catch {
    return configFile;
  }
}

/**
 * Why this gateway must not serve, when it was started by a gateway with the same servers file (or
 * too deep in a chain of gateways); undefined when it may.
 */
export function loopRefusal(configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chain = chainOf(env);
  const self = identity(configFile);
  if (chain.includes(self)) {
    return (
      `this gateway was started as a downstream server by a gateway that uses the same servers file (${self}), ` +
      `so it would start itself again without end. Remove the entry that runs agent-mcp-gateway from that file, ` +
      `or give the entry its own --config and --rules.`
    );
  }
  if (chain.length >= MAX_DEPTH) {
    return `this gateway is nested ${chain.length} gateways deep (${chain.join(' → ')}): a loop through several servers files; remove the gateway entries that lead back.`;
  }
  return undefined;
}

/** The marker for this gateway's stdio children. */
export function childAncestry(configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return { [ANCESTRY_VAR]: JSON.stringify([...chainOf(env), identity(configFile)]) };
}
