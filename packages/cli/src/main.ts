import { GATEWAY_VERSION, isGatewayError } from '@agent-mcp-gateway/core';
import { USAGE, UsageError, parseCliArgs } from './args.js';
import { runAuth } from './auth.js';
import { runInit } from './init.js';
import { runMigrate } from './migrate.js';
import { printable } from './output.js';
import { runSecret } from './secret.js';
import { runServe } from './serve.js';
import { runServers } from './servers.js';
import { runCall, runTools } from './tools.js';
import { runTrust } from './trust.js';
import { runValidate } from './validate.js';

/** Runs the command line; resolves to the exit code (0 ok, 1 error, 2 usage). */
export async function main(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseCliArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`agent-mcp-gateway: ${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`${GATEWAY_VERSION}\n`);
    return 0;
  }
  try {
    switch (args.command) {
      case 'serve':
        return await runServe(args);
      case 'init':
        return await runInit(args);
      case 'validate':
        return await runValidate(args);
      case 'servers':
        return await runServers(args);
      case 'tools':
        return await runTools(args);
      case 'call':
        return await runCall(args);
      case 'auth':
        return args.operands[0] === 'migrate' ? await runMigrate(args) : await runAuth(args);
      case 'secret':
        return await runSecret(args);
      case 'trust':
        return await runTrust(args);
    }
  } catch (error) {
    if (isGatewayError(error)) {
      process.stderr.write(`agent-mcp-gateway: ${error.code}: ${printable(error.message)}\n`);
      return 1;
    }
    throw error;
  }
}
