import { homedir } from 'node:os';
import { loadGatewayConfig, type GatewayConfig } from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';

/** Loads config, rules and settings the way every command does (flags, env, discovery). */
export function loadConfigFor(args: CliArgs, env: NodeJS.ProcessEnv = process.env): Promise<GatewayConfig> {
  return loadGatewayConfig({
    ...(args.config !== undefined && { configPath: args.config }),
    ...(args.rules !== undefined && { rulesPath: args.rules }),
    cwd: process.cwd(),
    env,
    home: env.HOME ?? homedir(),
  });
}
