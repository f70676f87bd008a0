import { homedir } from 'node:os';
import { loadGatewayConfig, type GatewayConfig } from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';

/** Loads config, rules and settings the way every command does (flags, env, discovery). */
export function loadConfigFor(args: CliArgs, env: NodeJS.ProcessEnv = process.env): Promise<GatewayConfig> {
  return loadGatewayConfig({
    ...(args.config !== undefined && { configPath: args.config }),
    ...(args.rules !== undefined && { rulesPath: args.rules }),
    cwd: process.cwd(),
    env: withServeFlags(args, env),
    home: env.HOME ?? homedir(),
  });
}

/**
 * `--transport`, `--host` and `--port` win over their GATEWAY_* variables, which win over the
 * settings file: the flags are applied as those variables (same validation, same precedence).
 */
function withServeFlags(args: CliArgs, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (args.transport === undefined && args.host === undefined && args.port === undefined) return env;
  return {
    ...env,
    ...(args.transport !== undefined && { GATEWAY_TRANSPORT: args.transport }),
    ...(args.host !== undefined && { GATEWAY_HOST: args.host }),
    ...(args.port !== undefined && { GATEWAY_PORT: String(args.port) }),
  };
}
