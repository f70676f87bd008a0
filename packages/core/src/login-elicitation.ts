import { randomUUID } from 'node:crypto';
import type { CallToolResult, Server, ServerContext } from '@modelcontextprotocol/server';
import { ErrorCodes } from './errors.js';
import type { Gateway } from './gateway.js';


/** Tells whether a gateway tool call that ended in `result` should run again because a login just ended. */
export type LoginElicitation = (result: CallToolResult, extra: ServerContext, timeoutMs?: number) => Promise<boolean>;

/**
 * URL-mode elicitation (MCP 2025-11-25) for downstream logins. When a call ends
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
    const error = (result.structuredContent as { error?: { code?: string; server?: string; authorizationUrl?: string } } | undefined)?.error;
    if (!result.isError || error?.code !== ErrorCodes.AUTH_REQUIRED || !error.server || !error.authorizationUrl) return Promise.resolve(false);
    if (!server.getClientCapabilities()?.elicitation?.url) return Promise.resolve(false);
    const downstream = gateway.server(error.server);
    // Only the login the kernel knows is pending: a downstream tool's own result could imitate this error.
    const login = downstream?.authStatus();
    if (!downstream || login?.state !== 'login_pending' || login.authorizationUrl !== error.authorizationUrl) return Promise.resolve(false);
    const url = login.authorizationUrl;
    let outcome = inProgress.get(url);
    if (!outcome) {
      const limit = timeoutMs ?? downstream.spec.timeoutMs ?? gateway.config.settings.callTimeoutMs;
      outcome = elicit(server, gateway, downstream.name, url, extra, limit).finally(() => inProgress.delete(url));
      inProgress.set(url, outcome);
    }
    return outcome;
  };
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
      { mode: 'url', elicitationId, url, message: `The MCP server '${name}' behind agent-mcp-gateway needs you to sign in.` },
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
