import { CLIENT_CAPABILITIES_META_KEY, Server, inputRequired, isInputRequiredResult } from '@modelcontextprotocol/server';
import type {
  AuthInfo,
  CallToolRequest,
  Progress,
  CallToolResult,
  ClientCapabilities,
  InputRequest,
  InputRequests,
  InputRequiredResult,
  ServerContext,
  Tool,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { GatewayError, errors } from './errors.js';
import type { Gateway } from './gateway.js';
import { settledAs, type CallOutcome } from './hooks.js';
import { canAnswer, interactionMismatch, relayedCapabilities, unanswered, type ToolCallResume, type ToolCallStep } from './interaction.js';
import { InteractionStateCodec, argumentsDigest } from './interaction-state.js';
import { createLoginElicitation, loginPrompt, waitForLogin } from './login-elicitation.js';
import { compileGlob } from './policy/glob.js';
import { GATEWAY_VERSION } from './version.js';

const agentId = z.string().optional().describe('Your agent id, if you were given one');
const serverName = z.string().min(1).describe('Server name from list_servers');

/** Input schemas of the agent-facing tools: the one source of their JSON Schema and their validation. */
const inputs = {
  list_servers: z.object({
    agent_id: agentId,
    include_metadata: z.boolean().optional().describe('Add transport, auth and state'),
  }),
  get_server_tools: z.object({
    agent_id: agentId,
    server: serverName,
    names: z.string().optional().describe('Comma-separated tool names'),
    pattern: z.string().optional().describe('Glob on tool names (* and ?)'),
    max_schema_tokens: z.number().int().min(1).max(1_000_000).optional().describe('Token budget; stops at the first tool that would exceed it'),
  }),
  execute_tool: z.object({
    agent_id: agentId,
    server: serverName,
    tool: z.string().min(1).describe('Tool name from get_server_tools'),
    args: z.record(z.string(), z.unknown()).optional().describe("Arguments matching the tool's inputSchema"),
    timeout_ms: z.number().int().min(1).max(3_600_000).optional().describe('Call timeout'),
  }),
  get_gateway_status: z.object({ agent_id: agentId }),
};

type MetaToolName = keyof typeof inputs;

const descriptions: Record<MetaToolName, string> = {
  list_servers: 'List the MCP servers you can use through this gateway. Start here.',
  get_server_tools:
    'Get the tool definitions of one server (only those you may use). Filter with names or pattern to save context.',
  execute_tool:
    'Call a tool on a server with args matching its inputSchema from get_server_tools. Returns the tool\'s own result.',
  get_gateway_status: 'Gateway diagnostics: config files, servers and their state, policy.',
};

function toolDefinition(name: MetaToolName): Tool {
  const schema = z.toJSONSchema(inputs[name], { io: 'input' }) as Record<string, unknown>;
  // Every token here is paid by every agent on every turn: drop what says nothing to a model.
  delete schema.$schema;
  delete schema.additionalProperties;
  const args = (schema.properties as Record<string, Record<string, unknown>> | undefined)?.args;
  if (args) {
    delete args.propertyNames;
    delete args.additionalProperties;
  }
  return { name, description: descriptions[name], inputSchema: schema as Tool['inputSchema'] };
}

/** Estimated tokens of a tool definition (≈ 4 characters per token, as most tokenizers on JSON). */
export function estimateTokens(tool: Tool): number {
  return Math.ceil(JSON.stringify(tool).length / 4);
}

export interface GatewayServerOptions {
  /** Adds `get_gateway_status`. */
  readonly debug?: boolean;
  /**
   * Called as a `tools/list` or `tools/call` request arrives, before it is answered: the client is
   * really there (a 2026-07-28 client has no handshake whose end would say so; a `server/discover`
   * probe alone is not a client that stays).
   */
  readonly onToolRequest?: () => void;
  /**
   * Seals the state 2026-07-28 agents carry between the rounds of an interactive call. Every
   * instance behind one address needs the same one (one key). Default: this process's own.
   */
  readonly interactionState?: InteractionStateCodec;
}

let processStateCodec: InteractionStateCodec | undefined;

/** The state codec of this process when none is configured (a random key: rounds must come back to this process). */
export function defaultInteractionState(): InteractionStateCodec {
  processStateCodec ??= new InteractionStateCodec();
  return processStateCodec;
}

/** What a 2026-07-28 agent carries between rounds, sealed: the call it belongs to, and where it stands. */
type SealedState =
  | { readonly kind: 'call'; readonly bind: Binding; readonly resume: ToolCallResume }
  | { readonly kind: 'login'; readonly bind: Binding; readonly server: string; readonly deadline: number };

/** A verified `requestState` whose body does not open (not sealed by this gateway's key). */
const UNREADABLE = 'unreadable';

/** Whose call a state is: checked on every retry, so that a state never serves another agent or call. */
interface Binding {
  readonly agent: string;
  readonly server: string;
  readonly tool: string;
  readonly args: string;
}

/**
 * The MCP server an AI client talks to: the meta-tools over a {@link Gateway}.
 * Connect it to any SDK server transport (stdio, Streamable HTTP).
 */
export function createGatewayServer(gateway: Gateway, options: GatewayServerOptions = {}): Server {
  const names: MetaToolName[] = ['list_servers', 'get_server_tools', 'execute_tool'];
  if (options.debug) names.push('get_gateway_status');
  const tools = names.map(toolDefinition);

  const sealer = options.interactionState ?? defaultInteractionState();
  const server = new Server(
    { name: 'agent-mcp-gateway', version: GATEWAY_VERSION },
    {
      capabilities: { tools: {} },
      requestState: { verify: sealer.verify },
      instructions:
        'Tools of many MCP servers, on demand: list_servers → get_server_tools(server) → execute_tool(server, tool, args).',
    },
  );

  server.setRequestHandler('tools/list', () => {
    options.onToolRequest?.();
    return { tools };
  });
  const loginThroughClient = createLoginElicitation(server, gateway);

  server.setRequestHandler('tools/call', async (request, ctx) => {
    options.onToolRequest?.();
    const started = performance.now();
    let call: CallReport = {};
    const timeoutMs = request.params.arguments?.timeout_ms;
    const limit = typeof timeoutMs === 'number' ? timeoutMs : undefined;
    let result: CallToolResult | InputRequiredResult;
    if (ctx.mcpReq.envelope !== undefined) {
      // 2026-07-28: every round is a request of its own, with the sealed state of the call it continues.
      const raw = ctx.mcpReq.requestState();
      // Verified (MAC, expiry) before the handler ran; one that still does not open is nobody's call.
      const state = raw === undefined ? undefined : ((sealer.open(raw) as SealedState | undefined) ?? UNREADABLE);
      if (state !== UNREADABLE && state?.kind === 'login') await loginAnswered(state, ctx);
      result = await handle(request, ctx, call, state);
      if (isInputRequiredResult(result)) return result; // settles when its last round ends
      // A login prompt is put once per call: after it, AUTH_REQUIRED stands.
      const prompt = state !== UNREADABLE && state?.kind === 'login' ? undefined : await loginThroughModernClient(result as CallToolResult, ctx, call, limit);
      if (prompt) return prompt;
    } else {
      result = await handle(request, ctx, call, undefined);
      // A login the client got its user through (URL elicitation): the call runs once more.
      if (await loginThroughClient(result as CallToolResult, ctx, limit)) {
        call = {};
        result = await handle(request, ctx, call, undefined);
      }
    }
    if (isInputRequiredResult(result)) return result;
    // Every call is reported once, here, as its last run ended: an execute_tool that reached the
    // kernel as the kernel saw it (arguments after beforeToolCall), anything else from the request.
    const hook = gateway.hooks.callSettled;
    if (hook.isUsed()) {
      if (call.kernel) {
        hook.call(call.kernel.outcome, call.kernel.error);
      } else {
        const args = request.params.arguments ?? {};
        const settled = call.error ? settledAs(call.error) : undefined;
        hook.call(
          {
            operation: request.params.name,
            agent: call.agent,
            ...(typeof args.server === 'string' && { server: args.server }),
            ...(typeof args.tool === 'string' && { tool: args.tool }),
            decision: settled?.decision ?? 'ALLOW',
            ...(settled && { errorCode: settled.errorCode }),
            durationMs: performance.now() - started,
            args,
          },
          call.error,
        );
      }
    }
    return result;
  });

  /**
   * URL-mode login for a 2026-07-28 agent: an AUTH_REQUIRED with a pending login becomes an
   * `input_required` with the URL (`elicitUrl`) when the agent can open one. Its retry waits for
   * the login when the user accepted ({@link loginAnswered}) and runs the call again; declined or
   * cancelled, the AUTH_REQUIRED result stands.
   */
  async function loginThroughModernClient(
    result: CallToolResult,
    ctx: ServerContext,
    call: CallReport,
    timeoutMs: number | undefined,
  ): Promise<InputRequiredResult | undefined> {
    const capabilities = envelopeCapabilities(ctx);
    if (!capabilities?.elicitation?.url || call.bind === undefined) return undefined;
    const prompt = loginPrompt(gateway, result, timeoutMs);
    if (!prompt) return undefined;
    gateway.logger.info(`Login for ${prompt.server} sent to the client to open (URL elicitation, input_required)`);
    return inputRequired({
      inputRequests: { login: inputRequired.elicitUrl({ url: prompt.url, message: prompt.message }) },
      requestState: await sealer.seal({ kind: 'login', bind: call.bind(), server: prompt.server, deadline: Date.now() + prompt.limitMs } satisfies SealedState),
    });
  }

  /** The retry after a login prompt: when the user went to sign in, waits (bounded) for the login to end. */
  async function loginAnswered(state: Extract<SealedState, { kind: 'login' }>, ctx: ServerContext): Promise<void> {
    const answer = ctx.mcpReq.inputResponses?.login as { action?: string } | undefined;
    const remaining = state.deadline - Date.now();
    if (answer?.action !== 'accept' || remaining <= 0) return;
    await waitForLogin(gateway, state.server, AbortSignal.any([ctx.mcpReq.signal, AbortSignal.timeout(remaining)]));
  }

  /** A 2025-11-25 agent's answers, asked over its session while the call runs (what it cannot answer is declined). */
  async function askLegacyAgent(extra: ServerContext, capabilities: ClientCapabilities, requests: InputRequests, signal: AbortSignal): Promise<Record<string, unknown>> {
    const answers: Record<string, unknown> = {};
    for (const [key, request] of Object.entries(requests) as [string, InputRequest][]) {
      if (!canAnswer(capabilities, request)) {
        const declined = unanswered(request);
        if (declined) answers[key] = declined;
        continue;
      }
      try {
        answers[key] = await extra.mcpReq.send({ method: request.method, params: request.params } as never, { signal, timeout: MAX_ROUND_MS });
      } catch (error) {
        if (signal.aborted) throw error;
        gateway.logger.info(`The client did not answer ${request.method} (${error instanceof Error ? error.message : String(error)})`);
        const declined = unanswered(request);
        if (declined) answers[key] = declined;
      }
    }
    return answers;
  }

  async function handle(
    request: CallToolRequest,
    extra: ServerContext,
    call: CallReport,
    state: SealedState | typeof UNREADABLE | undefined,
  ): Promise<CallToolResult | InputRequiredResult> {
    const name = request.params.name;
    if (!names.includes(name as MetaToolName)) {
      call.error = errors.toolNotFound('agent-mcp-gateway', name);
      return errorResult(gateway, call.error);
    }
    const parsed = inputs[name as MetaToolName].safeParse(request.params.arguments ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ');
      call.error = errors.invalidArguments(`Invalid arguments for ${name}: ${issues}`);
      return errorResult(gateway, call.error);
    }
    try {
      const args = parsed.data as Record<string, unknown>;
      const agent = gateway.resolveAgent(args.agent_id as string | undefined, authenticatedAgent(extra.http?.authInfo));
      call.agent = agent;
      switch (name as MetaToolName) {
        case 'list_servers':
          return jsonResult({ servers: listServers(gateway, agent, args.include_metadata === true) });
        case 'get_server_tools':
          return jsonResult(await getServerTools(gateway, agent, parsed.data as z.infer<typeof inputs.get_server_tools>));
        case 'execute_tool': {
          const a = parsed.data as z.infer<typeof inputs.execute_tool>;
          const progressToken = extra.mcpReq._meta?.progressToken;
          let forwarded: Promise<unknown> | undefined;
          // What a sealed state is bound to; the arguments' digest only when a state is read or minted (most calls have none).
          let bound: Binding | undefined;
          const bind = (): Binding => (bound ??= { agent, server: a.server, tool: a.tool, args: argumentsDigest(a.args ?? {}) });
          call.bind = bind;
          const request = { agent, server: a.server, tool: a.tool, args: a.args ?? {}, ...(a.timeout_ms && { timeoutMs: a.timeout_ms }) };
          const callOptions = {
            signal: extra.mcpReq.signal,
            settled: (outcome: CallOutcome, error: GatewayError | undefined) => {
              call.kernel = { outcome, error };
            },
            ...(progressToken !== undefined && {
              onprogress: (progress: Progress) => {
                const sent = extra.mcpReq
                  .notify({ method: 'notifications/progress', params: { ...progress, progressToken } })
                  .catch(() => undefined);
                forwarded = forwarded ? forwarded.then(() => sent) : sent;
              },
            }),
          };
          let result: CallToolResult;
          if (extra.mcpReq.envelope !== undefined) {
            // 2026-07-28: a question goes back as `input_required`; its answers come with the retry.
            const capabilities = relayedCapabilities(envelopeCapabilities(extra));
            let step: ToolCallStep;
            if (state === UNREADABLE) throw interactionMismatch('state');
            if (state?.kind === 'call') {
              checkBinding(state.bind, bind());
              step = await gateway.continueToolCall(state.resume, extra.mcpReq.inputResponses ?? {}, { ...callOptions, capabilities });
            } else {
              if (state !== undefined) checkBinding(state.bind, bind());
              step = await gateway.startToolCall(request, { ...callOptions, capabilities });
            }
            // A question the agent's client cannot take is not put to it: declined here, and the call goes on.
            while ('input' in step && !Object.values(step.input.inputRequests).every((r) => canAnswer(capabilities, r as InputRequest))) {
              step = await gateway.continueToolCall(step.input.resume, {}, { ...callOptions, capabilities });
            }
            if ('input' in step) {
              return inputRequired({
                inputRequests: step.input.inputRequests,
                requestState: await sealer.seal({ kind: 'call', bind: bind(), resume: step.input.resume } satisfies SealedState),
              });
            }
            result = step.result;
          } else {
            // 2025-11-25: the questions go to the client over its session while the call runs.
            const capabilities = relayedCapabilities(server.getClientCapabilities());
            result = await gateway.callTool(request, {
              ...callOptions,
              capabilities,
              interact: (requests, signal) => askLegacyAgent(extra, capabilities, requests, signal),
            });
          }
          if (forwarded) {
            // SDK clients handle a response before the notifications read in the same chunk
            // (typescript-sdk#2580), ours towards the downstream included: let late progress in,
            // send it, and leave the client a moment to read it before the response goes out.
            await new Promise((resolve) => setImmediate(resolve));
            await forwarded;
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
          return result;
        }
        case 'get_gateway_status':
          // Only what this agent may see; last errors quote downstream answers, which may echo a
          // credential: redacted like a log line.
          return jsonResult(gateway.redactor.redact({ ...gateway.status(agent), agent }) as Record<string, unknown>);
      }
    } catch (error) {
      call.error = gateway.toGatewayError(error);
      return errorResult(gateway, call.error);
    }
  }
  return server;
}


/**
 * The agent a request's credential proved, as the HTTP serving layer records it: the SDK hands a
 * handler the transport request's `auth` as `ctx.http.authInfo`, and the agent id sits in its
 * `extra.agent`. Undefined over stdio and for unauthenticated HTTP requests.
 */
export function authenticatedAgent(authInfo: AuthInfo | undefined): string | undefined {
  const agent = authInfo?.extra?.agent;
  return typeof agent === 'string' ? agent : undefined;
}

/** The capabilities a 2026-07-28 request says its client has (its `_meta` envelope). */
function envelopeCapabilities(ctx: ServerContext): ClientCapabilities | undefined {
  return (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined;
}

/** A state echoed by a retry must be that call's: the same agent, server, tool and arguments. */
function checkBinding(sealed: Binding, now: Binding): void {
  for (const key of ['agent', 'server', 'tool', 'args'] as const) {
    if (sealed[key] !== now[key]) throw interactionMismatch(key === 'args' ? 'arguments' : key);
  }
}

/** Bound on one question to a 2025-11-25 client (the call's own timeout and cancellation bound it first). */
const MAX_ROUND_MS = 3_600_000;

/** What one run of the handler learnt about a call, for its `callSettled` report. */
interface CallReport {
  agent?: string;
  /** An execute_tool's binding (agent, server, tool, arguments digest), for the state of its rounds; computed on first use. */
  bind?: () => Binding;
  /** The call reached `Gateway.callTool`: its outcome as the kernel settled it. */
  kernel?: { outcome: CallOutcome; error: GatewayError | undefined };
  /** Why it failed, when it did (a denial behind SERVER_NOT_FOUND is reported as one). */
  error?: GatewayError;
}

function listServers(gateway: Gateway, agent: string, metadata: boolean): Record<string, unknown>[] {
  return gateway.listServers(agent).map((s) =>
    metadata
      ? {
          name: s.name,
          description: s.description ?? '',
          transport: s.transport,
          ...(s.command !== undefined && { command: s.command }),
          ...(s.url !== undefined && { url: s.url }),
          auth: s.auth,
          state: s.state,
          ...(s.toolCount !== undefined && { tool_count: s.toolCount }),
          ...(s.protocol !== undefined && { protocol: s.protocol }),
        }
      : { name: s.name, description: s.description ?? '' },
  );
}

async function getServerTools(
  gateway: Gateway,
  agent: string,
  args: z.infer<typeof inputs.get_server_tools>,
): Promise<Record<string, unknown>> {
  let tools = await gateway.listTools(agent, args.server);
  const totalAvailable = tools.length;
  if (args.names !== undefined) {
    const wanted = new Set(args.names.split(',').map((n) => n.trim()).filter(Boolean));
    tools = tools.filter((t) => wanted.has(t.name));
  }
  if (args.pattern !== undefined) {
    const matches = compileGlob(args.pattern);
    tools = tools.filter((t) => matches(t.name));
  }
  let tokensUsed = 0;
  if (args.max_schema_tokens !== undefined) {
    const budgeted: Tool[] = [];
    for (const tool of tools) {
      const cost = estimateTokens(tool);
      if (tokensUsed + cost > args.max_schema_tokens) break;
      tokensUsed += cost;
      budgeted.push(tool);
    }
    tools = budgeted;
  } else {
    for (const tool of tools) tokensUsed += estimateTokens(tool);
  }
  return { tools, server: args.server, total_available: totalAvailable, returned: tools.length, tokens_used: tokensUsed };
}

function jsonResult(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

/** A coded error as a tool result; the text is redacted in case a downstream echoed a secret. */
export function errorResult(gateway: Gateway, error: GatewayError): CallToolResult {
  const message = gateway.redactor.redactString(error.message);
  return {
    isError: true,
    content: [{ type: 'text', text: `${error.code}: ${message}` }],
    structuredContent: { error: { ...error.toJSON(), message } },
  };
}
