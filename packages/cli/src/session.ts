import { CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, LATEST_PROTOCOL_VERSION, PROTOCOL_VERSION_META_KEY } from '@modelcontextprotocol/client';
import {
  GATEWAY_VERSION,
  Gateway,
  createLogger,
  errors,
  routeSdkWarnings,
  parseWwwAuthenticate,
  selectAuth,
  type AuthChallenge,
  type AuthStrategy,
  type GatewayConfig,
  type ResolveContext,
  type ServerSpec,
  type TokenStore,
} from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { childAncestry } from './ancestry.js';
import { loadConfigFor } from './context.js';
import { cliRedactor } from './output.js';
import { defaultPlugins } from './default-plugins.js';
import { eraVerdictsFor } from './era-verdicts.js';

export interface SessionOptions {
  /** Let an OAuth login open a browser (`auth login`); otherwise BROWSER=none: never. */
  readonly browser?: boolean;
  /** How long a browser login may take. */
  readonly loginTimeoutMs?: number;
}

/** A gateway for one command typed by a person: the same plugins as `serve` but the audit log, nothing connected yet. */
export interface Session {
  readonly gateway: Gateway;
  readonly config: GatewayConfig;
  /** For the plugins' resolve calls; aborted by `close()`. */
  readonly ctx: ResolveContext;
  /** The configured server `name`, or SERVER_NOT_FOUND. */
  spec(name: string): ServerSpec;
  /**
   * The strategy the gateway would start `spec` with (its auth type's plugin, else the
   * `resolveAuth` chain), without a network request; undefined when none answers. With `probe`,
   * a remote server nobody answers for is then asked once, without credentials, and the
   * challenge of its 401 decides — as when the gateway connects.
   */
  strategy(spec: ServerSpec, options?: { probe?: boolean }): Promise<AuthStrategy | undefined>;
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
  const unrouteSdkWarnings = routeSdkWarnings(logger);
  const oauthEnv = options.browser === true ? env : { ...env, BROWSER: 'none' };
  const plugins = [
    ...defaultPlugins({
      oauth: { env: oauthEnv, ...(options.loginTimeoutMs !== undefined && { loginTimeoutMs: options.loginTimeoutMs }) },
      stdio: { env: childAncestry(config.sources.config, env) },
      // A command typed by a person is not an agent's call: no audit log (as `serve` has).
      audit: false,
    }),
    ...config.thirdPartyPlugins,
  ];
  const gateway = new Gateway({ config, plugins, logger, redactor, eraVerdicts: eraVerdictsFor(env, logger) });
  await gateway.start({ connect: false });
  const abort = new AbortController();
  const ctx: ResolveContext = { logger: gateway.logger, signal: abort.signal };
  const specs = gateway.config.servers;
  return {
    gateway,
    config: gateway.config,
    ctx,
    spec: (name) => {
      const spec = specs.find((s) => s.name === name);
      if (!spec) throw errors.serverNotFound(name);
      return spec;
    },
    strategy: async (spec, { probe = false } = {}) => {
      const chosen = await selectAuth(gateway.hooks, spec, null, ctx);
      if (chosen || !probe || spec.url === undefined) return chosen;
      const challenge = await probeChallenge(spec, abort.signal);
      return challenge ? selectAuth(gateway.hooks, spec, challenge, ctx) : undefined;
    },
    tokenStore: async (spec) => gateway.hooks.resolveTokenStore.promise(spec ?? specs.find((s) => s.url) ?? placeholderSpec, ctx),
    close: async () => {
      abort.abort();
      await gateway.close();
      unrouteSdkWarnings();
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

/** How long the unauthenticated probe of `auth login` may take. */
const PROBE_TIMEOUT_MS = 15_000;

/** The revision of the `server/discover` probe (a 2026-only server may validate the request before it authenticates). */
const MODERN_PROTOCOL_VERSION = '2026-07-28';

/**
 * Asks a remote server, without credentials, what it wants: the challenge of a 401 (or 403), or
 * undefined when it answers without one. A Streamable HTTP server gets a 2026-07-28 `server/discover`
 * POST (headers and `_meta` envelope), then, when that drew no challenge, a 2025 `initialize` POST: a
 * server may check the request's era before its credentials, so the era it speaks must be asked. An
 * SSE server gets a GET. Redirects are not followed.
 */
async function probeChallenge(spec: ServerSpec, signal: AbortSignal): Promise<AuthChallenge | undefined> {
  const clientInfo = { name: 'agent-mcp-gateway', version: GATEWAY_VERSION };
  if (spec.transport === 'sse') return challengeOf(await probe(spec, signal, 'GET', { accept: 'text/event-stream' }));
  const json = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const discover = {
    jsonrpc: '2.0',
    id: 0,
    method: 'server/discover',
    params: {
      _meta: {
        [PROTOCOL_VERSION_META_KEY]: MODERN_PROTOCOL_VERSION,
        [CLIENT_INFO_META_KEY]: clientInfo,
        [CLIENT_CAPABILITIES_META_KEY]: {},
      },
    },
  };
  const modern = await probe(spec, signal, 'POST', { ...json, 'mcp-protocol-version': MODERN_PROTOCOL_VERSION, 'mcp-method': 'server/discover' }, discover);
  const found = challengeOf(modern);
  if (found) return found;
  const initialize = {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo },
  };
  return challengeOf(await probe(spec, signal, 'POST', json, initialize));
}

/** One unauthenticated request to the server's URL; its body is dropped. */
async function probe(spec: ServerSpec, signal: AbortSignal, method: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(spec.url as string, {
      method,
      headers,
      ...(body !== undefined && { body: JSON.stringify(body) }),
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]),
    });
  } catch (error) {
    throw errors.serverUnavailable(spec.name, `cannot reach ${spec.name}: ${error instanceof Error ? error.message : String(error)}`);
  }
  await response.body?.cancel().catch(() => undefined);
  return response;
}

function challengeOf(response: Response): AuthChallenge | undefined {
  if (response.status !== 401 && response.status !== 403) return undefined;
  return parseWwwAuthenticate(response.headers.get('www-authenticate'), response.status);
}
