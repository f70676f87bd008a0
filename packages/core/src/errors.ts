/**
 * The catalogue of gateway error codes. Every error the gateway reports to an
 * agent or a user carries one of these codes; tests and users match on the code,
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
  override readonly name = 'GatewayError';
  /** Set when the policy refused (whatever the code says to the agent); never serialised. */
  readonly denial: PolicyDenial | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: GatewayErrorDetails = {},
    options?: { cause?: unknown; denial?: PolicyDenial },
  ) {
    super(message, options);
    this.denial = options?.denial ?? (code === 'DENIED_BY_POLICY' && details.agent && details.rule ? { agent: details.agent, rule: details.rule } : undefined);
  }

  /** The `structuredContent.error` object of an error tool result. */
  toJSON(): { code: ErrorCode; message: string } & GatewayErrorDetails {
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
