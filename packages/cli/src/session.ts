import { OAuthPlugin } from '@agent-mcp-gateway/auth-oauth-dcr';
import {
  Gateway,
  createLogger,
  errors,
  type GatewayConfig,
  type ResolveContext,
  type ServerSpec,
  type TokenStore,
} from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { childAncestry } from './ancestry.js';
import { loadConfigFor } from './context.js';
import { cliRedactor } from './output.js';
import { defaultPlugins, loadPlugins } from './plugins.js';

export interface SessionOptions {
  /** Let an OAuth login open a browser (`auth login`); otherwise BROWSER=none: never. */
  readonly browser?: boolean;
  /** How long a browser login may take. */
  readonly loginTimeoutMs?: number;
}

/** A gateway for one command typed by a person: the same plugins as `serve`, nothing connected yet. */
export interface Session {
  readonly gateway: Gateway;
  readonly config: GatewayConfig;
  readonly oauth: OAuthPlugin;
  /** For the plugins' resolve calls; aborted by `close()`. */
  readonly ctx: ResolveContext;
  /** The configured server `name`, or SERVER_NOT_FOUND. */
  spec(name: string): ServerSpec;
  /** The token store the plugins choose for `spec` (default: the first remote server); undefined when none answers. */
  tokenStore(spec?: ServerSpec): Promise<TokenStore | undefined>;
  close(): Promise<void>;
}

/**
 * Loads config, rules and plugins as `serve` does and starts the gateway
 * without connecting anything. Logs stay quiet (errors only) unless
 * GATEWAY_LOG_LEVEL asks for more: the command's own output says what happened.
 */
export async function openSession(args: CliArgs, options: SessionOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<Session> {
  const config = await loadConfigFor(args, env);
  const settings = config.settings;
  const redactor = cliRedactor;
  const logger = createLogger({ level: env.GATEWAY_LOG_LEVEL ? settings.logLevel : 'error', format: settings.logFormat, redactor });
  const oauthEnv = options.browser === true ? env : { ...env, BROWSER: 'none' };
  const plugins = [
    ...defaultPlugins({
      oauth: { env: oauthEnv, ...(options.loginTimeoutMs !== undefined && { loginTimeoutMs: options.loginTimeoutMs }) },
      stdio: { env: childAncestry(config.sources.config, env) },
    }),
    ...(await loadPlugins(settings.plugins, process.cwd())),
  ];
  const oauth = plugins.find((p): p is OAuthPlugin => p instanceof OAuthPlugin) as OAuthPlugin;
  const gateway = new Gateway({ config, plugins, logger, redactor });
  await gateway.start({ connect: false });
  const abort = new AbortController();
  const ctx: ResolveContext = { logger: gateway.logger, signal: abort.signal };
  const specs = gateway.config.servers;
  return {
    gateway,
    config: gateway.config,
    oauth,
    ctx,
    spec: (name) => {
      const spec = specs.find((s) => s.name === name);
      if (!spec) throw errors.serverNotFound(name);
      return spec;
    },
    tokenStore: async (spec) => gateway.hooks.resolveTokenStore.promise(spec ?? specs.find((s) => s.url) ?? placeholderSpec, ctx),
    close: async () => {
      abort.abort();
      await gateway.close();
      await logger.close();
    },
  };
}

/** Asks the store plugins for "the" store when no remote server is configured (`auth status`, `auth logout --all`). */
const placeholderSpec: ServerSpec = {
  name: 'agent-mcp-gateway',
  transport: 'http',
  url: 'https://localhost/',
  args: [],
  env: {},
  headers: {},
  enabled: true,
  secretValues: [],
};
