import process from 'node:process';
import { McpServer, ProtocolErrorCode, inputRequired, inputResponse } from '@modelcontextprotocol/server';
import { z } from 'zod';

/** Version reported in the demo server's `serverInfo`. */
export const DEMO_SERVER_VERSION = '0.1.0';

export interface DemoServerOptions {
  /** `serverInfo.name` reported to clients. Default `demo`. */
  name?: string;
  /**
   * Where diagnostic lines (such as `sleep aborted`) go. Default: a line on
   * `process.stderr`, which stdio clients can watch.
   */
  log?: (line: string) => void;
  /**
   * What the `crash` tool does with its exit code. Default `process.exit`, which
   * is only right when the server runs in its own process.
   */
  exit?: (code: number) => void;
  /**
   * `ttlMs` of the 2026-07-28 `tools/list` results (a cache hint; 2025-era answers carry none).
   * Default: the SDK's, `0` (immediately stale).
   */
  toolsTtlMs?: number;
}

/** Names of the tools registered by {@link createDemoServer} (not counting `extra_<n>` tools added at runtime). */
export const DEMO_TOOL_NAMES = [
  'echo',
  'add',
  'sleep',
  'fail',
  'throw',
  'large',
  'progress',
  'crash',
  'env',
  'pid',
  'add_tool',
  'ask',
  'sample',
] as const;

const LARGE_PATTERN = 'abcdefghijklmnopqrstuvwxyz0123456789';

function text(value: string): { content: [{ type: 'text'; text: string }] } {
  return { content: [{ type: 'text', text: value }] };
}

/**
 * Waits `ms` milliseconds, or until `signal` aborts. Resolves `true` when the
 * full time elapsed and `false` when it was cut short.
 */
function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `McpServer` turns every exception thrown by a tool callback, even a
 * `ProtocolError` (except code UrlElicitationRequired), into an `isError: true` result. To let a tool answer with a real
 * JSON-RPC error, the tool records the error here (keyed by the request's
 * `ctx` object, which the SDK hands unchanged from the `tools/call` handler
 * to the tool callback) and the wrapped `tools/call` handler rethrows it.
 */
const protocolErrors = new WeakMap<object, Error>();

/**
 * An error the SDK's Protocol turns into a JSON-RPC error response with this
 * exact `code` and `message`.
 */
function jsonRpcError(code: number, message: string): Error & { code: number } {
  return Object.assign(new Error(message), { code });
}

type RequestHandler = (request: unknown, ctx: object) => unknown;

function surfaceProtocolErrors(mcp: McpServer): void {
  const server = mcp.server;
  const register = server.setRequestHandler.bind(server) as (method: string, handler: RequestHandler) => void;
  const patched = (method: string, handler: RequestHandler): void => {
    if (method !== 'tools/call') {
      register(method, handler);
      return;
    }
    register(method, async (request, ctx) => {
      const result = await handler(request, ctx);
      const error = protocolErrors.get(ctx);
      if (error) {
        protocolErrors.delete(ctx);
        throw error;
      }
      return result;
    });
  };
  (server as unknown as { setRequestHandler: typeof patched }).setRequestHandler = patched;
}

/**
 * Creates an MCP server with deterministic demo tools for exercising clients
 * and gateways (timeouts, cancellation, progress, errors, crashes, large
 * payloads, environment pass-through and `tools/list_changed`).
 *
 * The server is not connected; connect it to a transport yourself (the
 * `mcp-test-stdio-server` bin connects it to stdio).
 *
 * Note: by default the `crash` tool calls `process.exit`, so only call it when
 * the server runs in its own process (or pass `exit`).
 */
export function createDemoServer(options: DemoServerOptions = {}): McpServer {
  const log = options.log ?? ((line: string): void => void process.stderr.write(`${line}\n`));
  const exit = options.exit ?? ((code: number): void => process.exit(code));
  const mcp = new McpServer(
    { name: options.name ?? 'demo', version: DEMO_SERVER_VERSION },
    options.toolsTtlMs === undefined ? undefined : { cacheHints: { 'tools/list': { ttlMs: options.toolsTtlMs } } },
  );
  // Must run before the first registerTool, which installs the tools/call handler.
  surfaceProtocolErrors(mcp);

  mcp.registerTool(
    'echo',
    {
      description: 'Echoes `text` back, as text content and as structuredContent `{ text }`.',
      inputSchema: z.object({ text: z.string().describe('Text to echo back.') }),
      outputSchema: z.object({ text: z.string().describe('The text that was sent.') }),
    },
    ({ text: value }) => ({ ...text(value), structuredContent: { text: value } }),
  );

  mcp.registerTool(
    'add',
    {
      description: 'Adds two numbers and returns the sum as text.',
      inputSchema: z.object({ a: z.number().describe('First addend.'), b: z.number().describe('Second addend.') }),
    },
    ({ a, b }) => text(String(a + b)),
  );

  mcp.registerTool(
    'sleep',
    {
      description:
        'Writes "sleep started <ms>" to stderr, waits `ms` milliseconds, then returns "slept <ms>". If the request is cancelled ' +
        '(notifications/cancelled) it stops waiting at once and writes the line "sleep aborted" to stderr ' +
        '("sleep interrupted: connection closed" if the connection closed instead).',
      inputSchema: z.object({ ms: z.number().int().min(0).describe('How long to wait, in milliseconds.') }),
    },
    async ({ ms }, ctx) => {
      log(`sleep started ${ms}`); // lets a test act while the call is in flight, without guessing a delay
      const completed = await delay(ms, ctx.mcpReq.signal);
      if (!completed) {
        // The SDK also aborts in-flight handlers when the connection closes. By the time this
        // continuation runs the transport is detached, which tells the two cases apart, so
        // "sleep aborted" really means the request was cancelled.
        log(mcp.isConnected() ? 'sleep aborted' : 'sleep interrupted: connection closed');
        // The SDK does not send a response for a cancelled request; this is only for completeness.
        return { ...text('sleep aborted'), isError: true };
      }
      return text(`slept ${ms}`);
    },
  );

  mcp.registerTool(
    'fail',
    {
      description: 'Returns a tool error result (`isError: true`) with `message` as its text.',
      inputSchema: z.object({ message: z.string().optional().describe('Error text. Default "demo failure".') }),
    },
    ({ message }) => ({ ...text(message ?? 'demo failure'), isError: true }),
  );

  mcp.registerTool(
    'throw',
    {
      description:
        'Fails the request itself with a JSON-RPC error (code -32603, InternalError) carrying ' +
        '`message`, instead of returning an isError result.',
      inputSchema: z.object({ message: z.string().optional().describe('Error message. Default "demo protocol error".') }),
    },
    ({ message }, ctx) => {
      const error = jsonRpcError(ProtocolErrorCode.InternalError, message ?? 'demo protocol error');
      protocolErrors.set(ctx, error);
      throw error;
    },
  );

  mcp.registerTool(
    'large',
    {
      description:
        'Returns one text content of exactly `bytes` ASCII characters (a repeating a-z0-9 pattern), ' +
        'so its length in characters equals its length in UTF-8 bytes.',
      inputSchema: z.object({ bytes: z.number().int().min(0).describe('Length of the returned text.') }),
    },
    ({ bytes }) => {
      const repeated = LARGE_PATTERN.repeat(Math.ceil(bytes / LARGE_PATTERN.length));
      return text(repeated.slice(0, bytes));
    },
  );

  mcp.registerTool(
    'progress',
    {
      description:
        'Sends one notifications/progress per step (progress 1..steps, total steps) when the request ' +
        'carries a progressToken, waiting `delayMs` between steps, then returns "done <steps>".',
      inputSchema: z.object({
        steps: z.number().int().min(0).describe('Number of progress notifications to send.'),
        delayMs: z.number().int().min(0).optional().describe('Pause after each step, in milliseconds. Default 0.'),
      }),
    },
    async ({ steps, delayMs }, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (let step = 1; step <= steps; step++) {
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken, progress: step, total: steps, message: `step ${step}/${steps}` },
          });
        }
        if (delayMs && !(await delay(delayMs, ctx.mcpReq.signal))) {
          return { ...text(`aborted after ${step} of ${steps}`), isError: true };
        }
      }
      return text(`done ${steps}`);
    },
  );

  mcp.registerTool(
    'crash',
    {
      description: 'Makes the server process exit immediately with exit code `code` (default 1), without answering.',
      inputSchema: z.object({ code: z.number().int().min(0).max(255).optional().describe('Process exit code. Default 1.') }),
    },
    ({ code }) => {
      exit(code ?? 1);
      // Only reached when `exit` returned (an in-process host); the host normally drops the connection first.
      return { ...text('crashed'), isError: true };
    },
  );

  mcp.registerTool(
    'env',
    {
      description: 'Returns the value of the environment variable `name` in the server process, or "<unset>".',
      inputSchema: z.object({ name: z.string().min(1).describe('Environment variable name.') }),
    },
    ({ name }) => text(process.env[name] ?? '<unset>'),
  );

  mcp.registerTool(
    'pid',
    { description: 'Returns the process id of the server process as text.' },
    () => text(String(process.pid)),
  );

  let added = 0;
  mcp.registerTool(
    'add_tool',
    {
      description:
        'Registers one more tool, extra_<n> (n = 1, 2, ...), which returns its own name; the server then ' +
        'sends notifications/tools/list_changed. Returns the new tool name.',
    },
    () => {
      added += 1;
      const name = `extra_${added}`;
      mcp.registerTool(name, { description: `Tool added at runtime by add_tool; returns "${name}".` }, () => text(name));
      return text(name);
    },
  );

  // Written once for both eras: a 2026-07-28 client gets `input_required`; on a 2025-11-25
  // connection the SDK sends the request to the client and runs the tool again with the answer.
  mcp.registerTool(
    'ask',
    {
      description:
        'Asks the user for a name (form elicitation; the schema\'s default is "anon"). Returns "hello <name>" on ' +
        'accept (the name as answered: an answer without it shows whether defaults were applied), else "answer: <action>".',
      inputSchema: z.object({ message: z.string().optional().describe('The question. Default "Your name?".') }),
    },
    ({ message }, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, 'who');
      if (answer.kind === 'elicit') {
        return text(answer.action === 'accept' ? `hello ${String(answer.content?.name)}` : `answer: ${answer.action}`);
      }
      return inputRequired({
        inputRequests: {
          who: inputRequired.elicit({
            message: message ?? 'Your name?',
            requestedSchema: { type: 'object', properties: { name: { type: 'string', default: 'anon' } } },
          }),
        },
      });
    },
  );

  mcp.registerTool(
    'sample',
    {
      description: 'Asks the client\'s model (sampling) to complete `prompt`; returns "model said: <text>".',
      inputSchema: z.object({ prompt: z.string().describe('The user message.') }),
    },
    ({ prompt }, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, 'llm');
      if (answer.kind === 'sampling') {
        const content = answer.result.content;
        const block = Array.isArray(content) ? content[0] : content;
        return text(`model said: ${block?.type === 'text' ? block.text : '<no text>'}`);
      }
      return inputRequired({
        inputRequests: {
          llm: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 50 }),
        },
      });
    },
  );

  return mcp;
}
