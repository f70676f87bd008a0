import { parseArgs } from 'node:util';

export const USAGE = `Usage: agent-mcp-gateway [command] [options]

Commands:
  serve                 Serve the gateway to an MCP client (default)
  init [--force]        Write template config and rules to ~/.config/agent-mcp-gateway/
  validate              Check the config and rules files; exit 0 when valid, 1 otherwise

Options:
  --config <path>       Servers file (.mcp.json); else GATEWAY_MCP_CONFIG, ./.mcp.json,
                        ~/.config/agent-mcp-gateway/.mcp.json, ./config/.mcp.json
  --rules <path>        Policy rules file (.mcp-gateway-rules.json); same discovery, GATEWAY_RULES
  --debug               Add the get_gateway_status tool (also GATEWAY_DEBUG=1)
  --force               init: overwrite existing files
  -v, --version         Print the version
  -h, --help            Print this help

Environment: GATEWAY_MCP_CONFIG, GATEWAY_RULES, GATEWAY_DEFAULT_AGENT, GATEWAY_DEBUG,
GATEWAY_LOG_LEVEL (error|warn|info|debug), GATEWAY_INIT_STRATEGY (eager|lazy).
Exit codes: 0 ok, 1 runtime or config error, 2 usage error.`;

export type Command = 'serve' | 'init' | 'validate';
const COMMANDS: readonly Command[] = ['serve', 'init', 'validate'];

export interface CliArgs {
  readonly command: Command;
  readonly config?: string;
  readonly rules?: string;
  readonly debug: boolean;
  readonly force: boolean;
  readonly help: boolean;
  readonly version: boolean;
}

/** A wrong command line: exit 2 with the usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseCliArgs(argv: readonly string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        rules: { type: 'string' },
        debug: { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const [first, ...rest] = parsed.positionals;
  const command = (first ?? 'serve') as Command;
  if (!COMMANDS.includes(command)) throw new UsageError(`Unknown command '${first}'`);
  if (rest.length > 0) throw new UsageError(`Unexpected argument '${rest[0]}'`);
  const v = parsed.values;
  return {
    command,
    ...(v.config !== undefined && { config: v.config }),
    ...(v.rules !== undefined && { rules: v.rules }),
    debug: v.debug === true,
    force: v.force === true,
    help: v.help === true,
    version: v.version === true,
  };
}
