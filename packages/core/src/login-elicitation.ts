import { randomUUID } from 'node:crypto';
import type { CallToolResult, Server, ServerContext } from '@modelcontextprotocol/server';
import { ErrorCodes } from './errors.js';
import type { Gateway } from './gateway.js';


/** Tells whether a gateway tool call that ended in `result` should run again because a login just ended. */
export type LoginElicitation = (result: CallToolResult, extra: ServerContext, timeoutMs?: number) => Promise<boolean>;

/**
 * URL-mode elicitation (MCP 2025-11-25) for downstream logins (a 2026-07-28 client gets the
 * same prompt as an `input_required` result: see {@link loginPrompt} and meta-tools). When a call ends
 * in AUTH_REQUIRED with a login URL and the client declared `elicitation.url`,
 * the URL goes to the client as an `elicitation/create` request in URL mode, so
 * the user — not the model — is asked to open it, wherever the gateway runs.
 * An accept only means the user agreed to go (the spec's words), so the call
 * then waits for the login itself to end, bounded by the call's timeout and the
 * client's cancellation, sends `notifications/elicitation/complete`, and runs
 * once more. Declined, cancelled, unanswered or not done in time: the
 * AUTH_REQUIRED result stands, the login stays pending, a later call succeeds.
 *
 * The request path rather than the -32042 error (URLElicitationRequiredError):
 * the same call can succeed, and every failure stays a tool result.
 *
 * Calls that meet the same pending login share one elicitation.
 */
export function createLoginElicitation(server: Server, gateway: Gateway): LoginElicitation {
  const inProgress = new Map<string, Promise<boolean>>();
  return (result, extra, timeoutMs) => {
    if (!server.getClientCapabilities()?.elicitation?.url) return Promise.resolve(false);
    const prompt = loginPrompt(gateway, result, timeoutMs);
    if (!prompt) return Promise.resolve(false);
    let outcome = inProgress.get(prompt.url);
    if (!outcome) {
      outcome = elicit(server, gateway, prompt.server, prompt.url, extra, prompt.limitMs).finally(() => inProgress.delete(prompt.url));
      inProgress.set(prompt.url, outcome);
    }
    return outcome;
  };
}

/** The login a call's AUTH_REQUIRED result asks the user for: the URL to open and the call's time limit. */
export interface LoginPrompt {
  readonly server: string;
  readonly url: string;
  readonly message: string;
  readonly limitMs: number;
}

/**
 * The login to put to the user when a gateway tool call ended in AUTH_REQUIRED with a login URL the
 * kernel knows is pending (a downstream tool's own result could imitate the error); else undefined.
 * Both eras use it: 2025-11-25 as an `elicitation/create` request, 2026-07-28 as `input_required`.
 */
export function loginPrompt(gateway: Gateway, result: CallToolResult, timeoutMs?: number): LoginPrompt | undefined {
  const error = (result.structuredContent as { error?: { code?: string; server?: string; authorizationUrl?: string } } | undefined)?.error;
  if (!result.isError || error?.code !== ErrorCodes.AUTH_REQUIRED || !error.server || !error.authorizationUrl) return undefined;
  const downstream = gateway.server(error.server);
  const login = downstream?.authStatus();
  if (!downstream || login?.state !== 'login_pending' || login.authorizationUrl !== error.authorizationUrl) return undefined;
  return {
    server: downstream.name,
    url: login.authorizationUrl,
    message: loginMessage(downstream.name),
    limitMs: timeoutMs ?? downstream.spec.timeoutMs ?? gateway.config.settings.callTimeoutMs,
  };
}

/** Waits until the pending login of `server` ends or `signal` aborts; never throws. */
export async function waitForLogin(gateway: Gateway, server: string, signal: AbortSignal): Promise<void> {
  try {
    const status = await gateway.server(server)?.loginSettled(signal);
    gateway.logger.info(`Login for ${server} ended (${status?.state ?? 'unknown'}); running the call again`);
  } catch {
    gateway.logger.info(`Login for ${server} through the client: not done in time`);
  }
}

function loginMessage(server: string): string {
  return `The MCP server '${server}' behind agent-mcp-gateway needs you to sign in.`;
}

async function elicit(
  server: Server,
  gateway: Gateway,
  name: string,
  url: string,
  extra: ServerContext,
  limitMs: number,
): Promise<boolean> {
  const logger = gateway.logger;
  const signal = AbortSignal.any([extra.mcpReq.signal, AbortSignal.timeout(limitMs)]);
  const elicitationId = randomUUID();
  const related = { relatedRequestId: extra.mcpReq.id };
  try {
    logger.info(`Login for ${name} sent to the client to open (URL elicitation)`);
    const answer = await server.elicitInput(
      { mode: 'url', elicitationId, url, message: loginMessage(name) },
      { ...related, signal, timeout: limitMs },
    );
    if (answer.action !== 'accept') {
      logger.info(`The client answered '${answer.action}' to the login for ${name}; the call reports AUTH_REQUIRED`);
      return false;
    }
    const status = await gateway.server(name)?.loginSettled(signal);
    await server.createElicitationCompletionNotifier(elicitationId, related)().catch(() => undefined);
    logger.info(`Login for ${name} ended (${status?.state ?? 'unknown'}); running the call again`);
    return true;
  } catch (error) {
    logger.info(`Login for ${name} through the client: no answer or no login in time (${error instanceof Error ? error.message : String(error)})`);
    return false;
  }
}
