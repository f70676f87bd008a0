import { parseArgs } from 'node:util';

export const USAGE = `Usage: agent-mcp-gateway [command] [options]

Commands:
  serve                 Serve the gateway to an MCP client (default)
  init [--force]        Write template config and rules to ~/.config/agent-mcp-gateway/
                        (or to the paths given by --config and --rules)
  validate              Check the config and rules files; exit 0 when valid, 1 otherwise
  servers [--json]      Every configured server: transport, auth, state, tool count, last error
                        (connects them all, in parallel; never opens a browser); exit 3 when an
                        enabled server is not ready (error, auth_required, no answer)
  tools <server> [--agent ID] [--json]
                        The server's tools this agent may use
  call <server> <tool> [--args JSON] [--agent ID] [--json]
                        Call one tool, with the policy applied; exit 1 when the tool reports an error
  auth login <server> [--no-browser | --device]
                        Sign in to an OAuth server: opens BROWSER (or the system browser), prints the
                        URL and waits; --no-browser only prints the URL and waits; --device prints a
                        code to enter on any device (RFC 8628, when the server offers it) and waits
  auth logout <server> | auth logout --all
                        Revoke the tokens at the authorization server (RFC 7009, when it offers it),
                        then delete them
  auth status [--json]  Per server: logged in or not, expiry, scopes, token store and folder
  auth migrate --to keychain|fs [--force]
                        Move every stored login and secret into that store; each source entry is
                        removed only after its copy reads back the same
  secret set <name>     Save a secret for \${secret:<name>} in .mcp.json header/env values; the value
                        is read from stdin or a hidden prompt, never from the command line
  secret list [--json]  The names of the stored secrets (never their values)
  secret delete <name>  Delete a secret
  trust [folder]        Trust a project folder's gateway files (.mcp.json, rules, settings; default:
                        the working folder): records each file's SHA-256 in
                        ~/.config/agent-mcp-gateway/trusted.json. Until then, and again after any
                        of them changes, the gateway does not read them
  trust --list          The trusted folders, and whether their files still match
  trust --revoke [folder]
                        Forget a trusted folder

Options:
  --config <path>       Servers file (.mcp.json); else GATEWAY_MCP_CONFIG, ./.mcp.json and
                        ./config/.mcp.json (only in a trusted folder), ~/.config/agent-mcp-gateway/.mcp.json.
  --settings <path>     Settings file (.agent-mcp-gatewayrc.json, …), used alone; else GATEWAY_SETTINGS,
                        else the first found next to the servers file, in the trusted working folder
                        (./, ./config/), in ~/.config/agent-mcp-gateway/. GATEWAY_* variables override it
  --rules <path>        Policy rules file (.mcp-gateway-rules.json); same discovery, GATEWAY_RULES
  --debug               Add the get_gateway_status tool (also GATEWAY_DEBUG=1)
  --transport <kind>    serve: stdio (default) or http (Streamable HTTP on /mcp; also GATEWAY_TRANSPORT)
  --host <host>         serve over http: the address to listen on (default 127.0.0.1; GATEWAY_HOST)
  --port <port>         serve over http: the port (default 8080, 0 for a free one; GATEWAY_PORT)
  --allow-unauthenticated
                        serve over http: allow a non-loopback address without any agent credential
  --force               init: overwrite existing files
  --json                servers, tools, call, auth status: machine-readable output on stdout
  --agent <id>          tools, call: act as this agent of the rules (else the fallback agent)
  --args <json>         call: the tool's arguments, a JSON object (default {})
  --no-browser          auth login: do not open a browser, only print the URL
  --device              auth login: the device authorization grant, for a machine without a browser
  --all                 auth logout: every stored login
  --to <store>          auth migrate: keychain or fs
  --list                trust: list the trusted folders
  --revoke              trust: forget the folder
  --store <store>       secret: fs, keychain or auto (default: the tokenStore setting, GATEWAY_TOKEN_STORE)
  -v, --version         Print the version
  -h, --help            Print this help

Environment: GATEWAY_MCP_CONFIG, GATEWAY_RULES, GATEWAY_SETTINGS, GATEWAY_DEFAULT_AGENT, GATEWAY_DEBUG,
GATEWAY_LOG_LEVEL (error|warn|info|debug), GATEWAY_INIT_STRATEGY (eager|lazy),
GATEWAY_TOKEN_STORE (fs|keychain|auto), GATEWAY_TOKEN_DIR, GATEWAY_CACHE_DIR, GATEWAY_TRANSPORT, GATEWAY_HOST, GATEWAY_PORT, GATEWAY_OAUTH_CALLBACK_PORT, BROWSER (a command run with the login URL;
none: only print it).
Exit codes: 0 ok, 1 runtime or config error, 2 usage error, 3 (servers) a server is not ready.`;

export type Command = 'serve' | 'init' | 'validate' | 'servers' | 'tools' | 'call' | 'auth' | 'secret' | 'trust';
const COMMANDS: readonly Command[] = ['serve', 'init', 'validate', 'servers', 'tools', 'call', 'auth', 'secret', 'trust'];

export interface CliArgs {
  readonly command: Command;
  /** The words after the command: `tools <server>`, `call <server> <tool>`, `auth <login|logout|status> [server]`. */
  readonly operands: readonly string[];
  readonly config?: string;
  readonly rules?: string;
  /** `--settings`: the settings file, used alone (it must exist). */
  readonly settings?: string;
  readonly debug: boolean;
  readonly force: boolean;
  readonly help: boolean;
  readonly version: boolean;
  readonly json: boolean;
  readonly agent?: string;
  /** `call --args`: parsed, always an object. */
  readonly toolArgs?: Record<string, unknown>;
  readonly noBrowser: boolean;
  /** `auth login --device`: the device authorization grant (RFC 8628). */
  readonly device: boolean;
  readonly all: boolean;
  /** `auth migrate --to`. */
  readonly to?: 'keychain' | 'fs';
  /** `secret --store`: which token store (default: the setting). */
  readonly store?: 'fs' | 'keychain' | 'auto';
  /** `serve --transport`: overrides the `transport` setting (and GATEWAY_TRANSPORT). */
  readonly transport?: 'stdio' | 'http';
  /** `serve --host`: overrides `http.host` (and GATEWAY_HOST). */
  readonly host?: string;
  /** `serve --port`: overrides `http.port` (and GATEWAY_PORT); 0 picks a free port. */
  readonly port?: number;
  /** `serve --allow-unauthenticated`: HTTP serving on a non-loopback address without credentials. */
  readonly allowUnauthenticated: boolean;
  /** `trust --list`. */
  readonly list: boolean;
  /** `trust --revoke`. */
  readonly revoke: boolean;
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
        settings: { type: 'string' },
        debug: { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
        json: { type: 'boolean', default: false },
        agent: { type: 'string' },
        args: { type: 'string' },
        'no-browser': { type: 'boolean', default: false },
        device: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
        to: { type: 'string' },
        store: { type: 'string' },
        transport: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'allow-unauthenticated': { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        revoke: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const [first, ...rest] = parsed.positionals;
  const command = (first ?? 'serve') as Command;
  if (!COMMANDS.includes(command)) throw new UsageError(`Unknown command '${first}'`);
  const v = parsed.values;
  if (!(v.help || v.version)) checkOperands(command, rest, v.all === true);
  if (v.list === true && v.revoke === true) throw new UsageError("'trust' takes --list or --revoke, not both");
  if (v.to !== undefined && v.to !== 'keychain' && v.to !== 'fs') throw new UsageError(`--to must be keychain or fs, not '${v.to}'`);
  if (v.store !== undefined && v.store !== 'fs' && v.store !== 'keychain' && v.store !== 'auto') {
    throw new UsageError(`--store must be fs, keychain or auto, not '${v.store}'`);
  }
  if (v.transport !== undefined && v.transport !== 'stdio' && v.transport !== 'http') {
    throw new UsageError(`--transport must be stdio or http, not '${v.transport}'`);
  }
  if (v.host !== undefined && v.host.trim() === '') throw new UsageError('--host needs an address, e.g. 127.0.0.1');
  const port = v.port === undefined ? undefined : /^\d{1,5}$/.test(v.port) ? Number(v.port) : NaN;
  if (port !== undefined && !(port <= 65535)) throw new UsageError(`--port must be a port number from 0 to 65535, not '${v.port}'`);
  if (command === 'auth' && rest[0] === 'migrate' && v.to === undefined && !(v.help || v.version)) throw new UsageError("'auth migrate' needs --to keychain or --to fs");
  return {
    command,
    operands: rest,
    ...(v.config !== undefined && { config: v.config }),
    ...(v.rules !== undefined && { rules: v.rules }),
    ...(v.settings !== undefined && { settings: v.settings }),
    debug: v.debug === true,
    force: v.force === true,
    help: v.help === true,
    version: v.version === true,
    json: v.json === true,
    ...(v.agent !== undefined && { agent: v.agent }),
    ...(v.args !== undefined && { toolArgs: parseToolArgs(v.args) }),
    noBrowser: v['no-browser'] === true,
    device: v.device === true,
    all: v.all === true,
    ...(v.to !== undefined && { to: v.to as 'keychain' | 'fs' }),
    ...(v.store !== undefined && { store: v.store as 'fs' | 'keychain' | 'auto' }),
    ...(v.transport !== undefined && { transport: v.transport as 'stdio' | 'http' }),
    ...(v.host !== undefined && { host: v.host.trim() }),
    ...(port !== undefined && { port }),
    allowUnauthenticated: v['allow-unauthenticated'] === true,
    list: v.list === true,
    revoke: v.revoke === true,
  };
}

const AUTH_ACTIONS = ['login', 'logout', 'status', 'migrate'];
const SECRET_ACTIONS = ['set', 'list', 'delete'];

/** How many words each command takes after its name. */
function checkOperands(command: Command, operands: readonly string[], all: boolean): void {
  const expect = (names: readonly string[]) => {
    if (operands.length < names.length) throw new UsageError(`'${command}' needs ${names.slice(operands.length).map((n) => `<${n}>`).join(' ')}`);
    if (operands.length > names.length) throw new UsageError(`Unexpected argument '${operands[names.length]}'`);
  };
  switch (command) {
    case 'tools':
      return expect(['server']);
    case 'call':
      return expect(['server', 'tool']);
    case 'auth': {
      const action = operands[0];
      if (action === undefined) throw new UsageError(`'auth' needs one of: ${AUTH_ACTIONS.join(', ')}`);
      if (!AUTH_ACTIONS.includes(action)) throw new UsageError(`Unknown auth command '${action}'`);
      if (action === 'status' || action === 'migrate') return expect(['action']);
      if (action === 'logout' && all) {
        if (operands.length > 1) throw new UsageError(`'auth logout' takes a server or --all, not both`);
        return;
      }
      return expect(['action', 'server']);
    }
    case 'secret': {
      const action = operands[0];
      if (action === undefined) throw new UsageError(`'secret' needs one of: ${SECRET_ACTIONS.join(', ')}`);
      if (!SECRET_ACTIONS.includes(action)) throw new UsageError(`Unknown secret command '${action}'`);
      // `secret set <name>`: a value after the name is refused — it would sit in the shell history.
      return expect(action === 'list' ? ['action'] : ['action', 'name']);
    }
    case 'trust':
      if (operands.length > 1) throw new UsageError(`Unexpected argument '${operands[1]}'`);
      return;
    default:
      return expect([]);
  }
}

function parseToolArgs(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--args is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError('--args must be a JSON object, e.g. {"text": "hi"}');
  return value as Record<string, unknown>;
}
