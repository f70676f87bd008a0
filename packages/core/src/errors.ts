/**
 * The catalogue of gateway error codes. Every error the gateway reports to an
 * agent or a user carries one of these codes, or one a plugin added with
 * {@link defineError}; tests and users match on the code (and `details.reason`),
 * never on the prose.
 */
export const ErrorCodes = {
  DENIED_BY_POLICY: 'DENIED_BY_POLICY',
  SERVER_NOT_FOUND: 'SERVER_NOT_FOUND',
  SERVER_UNAVAILABLE: 'SERVER_UNAVAILABLE',
  TOOL_NOT_FOUND: 'TOOL_NOT_FOUND',
  TIMEOUT: 'TIMEOUT',
  INVALID_AGENT_ID: 'INVALID_AGENT_ID',
  FALLBACK_AGENT_NOT_IN_RULES: 'FALLBACK_AGENT_NOT_IN_RULES',
  NO_FALLBACK_CONFIGURED: 'NO_FALLBACK_CONFIGURED',
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  AUTH_FAILED: 'AUTH_FAILED',
  DOWNSTREAM_ERROR: 'DOWNSTREAM_ERROR',
  INVALID_ARGUMENTS: 'INVALID_ARGUMENTS',
  CONFIG_NOT_FOUND: 'CONFIG_NOT_FOUND',
  CONFIG_INVALID: 'CONFIG_INVALID',
  CONFIG_MISSING_VARIABLE: 'CONFIG_MISSING_VARIABLE',
  PLUGIN_ERROR: 'PLUGIN_ERROR',
  NO_TRANSPORT: 'NO_TRANSPORT',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * A code a plugin adds to the catalogue: upper case, prefixed by the plugin's namespace
 * (`HMAC_CLOCK_SKEW`), as fastify's are by `FST_ERR_`.
 */
export type PluginErrorCode = `${Uppercase<string>}_${Uppercase<string>}`;

/** Any code an error carries: one of core's {@link ErrorCodes}, or a plugin's from {@link defineError}. */
export type GatewayErrorCode = ErrorCode | PluginErrorCode;

/** Structured details that travel with an error to the agent (never secrets). */
export interface GatewayErrorDetails {
  server?: string;
  tool?: string;
  rule?: string;
  agent?: string;
  /** The URL a user must open to finish a pending login (AUTH_REQUIRED). */
  authorizationUrl?: string;
  /** Config errors: the file and JSON path at fault. */
  file?: string;
  path?: string;
  /**
   * Why, under the code: a stable snake_case word from the catalogue (`egress_refused` under
   * AUTH_FAILED, `token_dir_unsafe` under CONFIG_INVALID). Agents and tests match code + reason;
   * the message is prose and may change. Never a secret or a value.
   */
  reason?: string;
}

/**
 * Why the policy refused, kept for the audit log and metrics only: an error that hides a server
 * from an agent must not tell that agent, in its code, message or details, that it was a denial.
 */
export interface PolicyDenial {
  readonly agent: string;
  readonly rule: string;
}

/** An error with a stable code from {@link ErrorCodes}. */
export class GatewayError extends Error {
  // string, not the literal: catalogued subclasses (a plugin's) name themselves.
  override readonly name: string = 'GatewayError';
  /** Set when the policy refused (whatever the code says to the agent); never serialised. */
  readonly denial: PolicyDenial | undefined;
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    readonly details: GatewayErrorDetails = {},
    options?: { cause?: unknown; denial?: PolicyDenial },
  ) {
    super(message, options);
    this.denial = options?.denial ?? (code === 'DENIED_BY_POLICY' && details.agent && details.rule ? { agent: details.agent, rule: details.rule } : undefined);
  }

  /** The `structuredContent.error` object of an error tool result. */
  toJSON(): { code: GatewayErrorCode; message: string } & GatewayErrorDetails {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}

/** Message templates: one place for the wording of every coded error. */
export const errors = {
  deniedTool: (agent: string, server: string, tool: string, rule: string) =>
    new GatewayError(ErrorCodes.DENIED_BY_POLICY, `Agent '${agent}' may not use tool '${tool}' on server '${server}' (${rule})`, { agent, server, tool, rule }),
  serverNotFound: (server: string) =>
    new GatewayError(ErrorCodes.SERVER_NOT_FOUND, `No server named '${server}' is configured`, { server }),
  /**
   * A server the agent may not see: answered exactly as one that does not exist, so that names an
   * agent was never shown cannot be probed for. The denial travels on for the audit log only.
   */
  hiddenServer: (agent: string, server: string, rule: string) =>
    new GatewayError(ErrorCodes.SERVER_NOT_FOUND, `No server named '${server}' is configured`, { server }, { denial: { agent, rule } }),
  serverUnavailable: (server: string, reason: string) =>
    new GatewayError(ErrorCodes.SERVER_UNAVAILABLE, `Server '${server}' is unavailable: ${reason}`, { server }),
  toolNotFound: (server: string, tool: string) =>
    new GatewayError(ErrorCodes.TOOL_NOT_FOUND, `Server '${server}' has no tool named '${tool}'`, { server, tool }),
  timeout: (server: string, tool: string, ms: number) =>
    new GatewayError(ErrorCodes.TIMEOUT, `Tool '${tool}' on server '${server}' did not answer within ${ms} ms; the call was cancelled`, { server, tool }),
  invalidAgent: (agent: string, why: string) =>
    new GatewayError(ErrorCodes.INVALID_AGENT_ID, `Invalid agent_id '${agent}': ${why}`, { agent }),
  fallbackNotInRules: (agent: string) =>
    new GatewayError(ErrorCodes.FALLBACK_AGENT_NOT_IN_RULES, `No agent_id was given and the fallback agent '${agent}' (GATEWAY_DEFAULT_AGENT) is not defined in the rules`, { agent }),
  /** `strict`: the rules forbid the fallback (defaults.deny_on_missing_agent), so only an agent_id helps. */
  noFallback: (why: string, strict = false) =>
    new GatewayError(
      ErrorCodes.NO_FALLBACK_CONFIGURED,
      strict
        ? `No agent_id was given and ${why}; pass agent_id`
        : `No agent_id was given and ${why}; pass agent_id, set GATEWAY_DEFAULT_AGENT, or define an agent named 'default'`,
    ),
  authRequired: (server: string, authorizationUrl?: string, challenge?: string) =>
    new GatewayError(
      ErrorCodes.AUTH_REQUIRED,
      authorizationUrl
        ? `Server '${server}' needs a login: open ${authorizationUrl} to sign in, then retry`
        : challenge
          ? `Server '${server}' requires authorization (${challenge}) and no auth plugin can provide it`
          : `Server '${server}' needs a login: run 'agent-mcp-gateway auth login ${server}'`,
      authorizationUrl ? { server, authorizationUrl } : { server },
    ),
  authFailed: (server: string, reason: string) =>
    new GatewayError(ErrorCodes.AUTH_FAILED, `Authentication to server '${server}' failed: ${reason}`, { server }),
  downstream: (server: string, tool: string | undefined, reason: string) =>
    new GatewayError(ErrorCodes.DOWNSTREAM_ERROR, `Server '${server}' returned an error${tool ? ` for tool '${tool}'` : ''}: ${reason}`, tool ? { server, tool } : { server }),
  invalidArguments: (what: string) => new GatewayError(ErrorCodes.INVALID_ARGUMENTS, what),
  internal: (what: string) => new GatewayError(ErrorCodes.INTERNAL_ERROR, `Internal gateway error: ${what}`),
  noTransport: (server: string) =>
    new GatewayError(ErrorCodes.NO_TRANSPORT, `No transport plugin can start server '${server}' (it needs 'command' or 'url')`, { server }),
} as const;

/** One error of the catalogue, as a plugin defines it (see {@link defineError}). */
export interface ErrorDefinition<A extends unknown[]> {
  /**
   * One of core's codes, with a `reason` saying which failure under it this is; or a new code of
   * the plugin's own, prefixed by its namespace (`HMAC_CLOCK_SKEW`).
   */
  readonly code: GatewayErrorCode;
  /** Stable snake_case word under the code (`egress_refused`); required with one of core's codes. */
  readonly reason?: string;
  /** The message template: the prose, from the error's arguments. */
  readonly message: (...args: A) => string;
  /** The details from the same arguments (`server`, `path`…); `reason` is added to them. */
  readonly details?: (...args: A) => GatewayErrorDetails;
}

/** A defined error: call it to make one; `code` + `reason` are what catches and tests match. */
export interface ErrorTemplate<A extends unknown[]> {
  (...args: A): GatewayError;
  readonly code: GatewayErrorCode;
  readonly reason: string | undefined;
  /** The message for these arguments (for a subclass that passes its own `cause`). */
  message(...args: A): string;
  /** The details for these arguments, `reason` included. */
  details(...args: A): GatewayErrorDetails;
  /** Whether `error` is one of these: a GatewayError with this code and reason. */
  is(error: unknown): error is GatewayError;
}

/** One row of {@link errorCatalogue}. */
export interface CatalogueEntry {
  readonly code: GatewayErrorCode;
  readonly reason: string | undefined;
}

const CODE_PATTERN = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;
const REASON_PATTERN = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const CORE_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCodes));
const defined = new Map<string, CatalogueEntry>();

/**
 * Adds an error to the catalogue, in the spirit of fastify's `createError(code, template)`: a
 * plugin names its failures once, with a stable code and reason, and throws them from the
 * returned template. Either a `reason` under one of core's codes (preferred: agents already
 * know AUTH_FAILED), or a new code prefixed by the plugin's namespace.
 *
 * @throws Error (at definition, i.e. import) for a malformed code or reason, a core code without a
 *   reason, or a new code without a namespace prefix.
 */
export function defineError<A extends unknown[]>(definition: ErrorDefinition<A>): ErrorTemplate<A> {
  const { code, reason } = definition;
  if (CORE_CODES.has(code)) {
    if (reason === undefined) throw new Error(`defineError: '${code}' is a core code; give a reason under it, or a code of your own`);
  } else if (!CODE_PATTERN.test(code)) {
    throw new Error(`defineError: '${code}' is not a namespaced code (upper case, prefixed by the plugin's namespace, e.g. 'HMAC_CLOCK_SKEW')`);
  }
  if (reason !== undefined && !REASON_PATTERN.test(reason)) throw new Error(`defineError: reason '${reason}' is not snake_case`);
  defined.set(`${code}/${reason ?? ''}`, { code, reason });

  const details = (...args: A): GatewayErrorDetails => ({ ...definition.details?.(...args), ...(reason !== undefined && { reason }) });
  const template = (...args: A) => new GatewayError(code, definition.message(...args), details(...args));
  return Object.assign(template, {
    code,
    reason,
    message: (...args: A) => definition.message(...args),
    details,
    is: (error: unknown): error is GatewayError => isGatewayError(error) && error.code === code && error.details.reason === reason,
  });
}

/** Every code of the catalogue: core's, then each code and reason plugins defined (in the order they were). */
export function errorCatalogue(): CatalogueEntry[] {
  return [...Object.values(ErrorCodes).map((code) => ({ code, reason: undefined })), ...defined.values()];
}
