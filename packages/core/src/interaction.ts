import type { CallToolResult, ClientCapabilities, InputRequest, InputRequests, InputRequiredResult, Progress } from '@modelcontextprotocol/client';
import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/client';
import { ErrorCodes, defineError } from './errors.js';

/**
 * A tool call that waits for answers: what the downstream asked (its `inputRequests`, keyed), and
 * what {@link Gateway.continueToolCall} needs to go on. `resume` is plain JSON: a front that serves
 * 2026-07-28 agents seals it into the `requestState` it hands out, and gets it back on the retry.
 */
export interface ToolCallInput {
  readonly inputRequests: InputRequests;
  readonly resume: ToolCallResume;
}

/**
 * Where an interactive call stands between rounds. It carries the call as the kernel ran it
 * (arguments after `beforeToolCall`, so the policy runs once per call, not per round): a front
 * that hands it to an agent must seal it (integrity and confidentiality), never show it.
 */
export interface ToolCallResume {
  readonly agent: string;
  readonly server: string;
  readonly tool: string;
  /** The arguments after `beforeToolCall`. */
  readonly args: Record<string, unknown>;
  /** Wall-clock start of the call and the end of its time budget (ms since the epoch): every round runs inside it. */
  readonly startedAt: number;
  readonly deadline: number;
  /** Rounds answered so far. */
  readonly rounds: number;
  /** A 2026-07-28 downstream: its `requestState` (echoed unchanged) and what it asked (for the schemas' defaults). */
  readonly requestState?: string;
  readonly asked?: InputRequests;
  /** A 2025-11-25 downstream: the id of the call parked in this process, waiting for its answer. */
  readonly parked?: string;
}

/** One round of a tool call: the final result, or a question for the caller. */
export type ToolCallStep = { readonly result: CallToolResult } | { readonly input: ToolCallInput };

/**
 * Answers a round's requests (keyed as asked) in-process: what `Gateway.callTool` calls when the
 * downstream asks something. An elicitation answer is `{ action, content? }`, a sampling answer a
 * `CreateMessageResult`. A key left out counts as declined.
 */
export type InteractFn = (inputRequests: InputRequests, signal: AbortSignal) => Promise<Record<string, unknown>>;

/** More rounds than any interaction needs: a downstream that keeps asking is cut off. */
export const MAX_INTERACTION_ROUNDS = 16;

/** The in-process half of an interaction with a 2025-11-25 downstream is not in this process (another instance, or expired). */
export const interactionNotFound = defineError({
  code: ErrorCodes.DOWNSTREAM_ERROR,
  reason: 'interaction_not_found',
  message: (server: string, tool: string) =>
    `The call of tool '${tool}' on server '${server}' that this answer belongs to is not waiting in this gateway process: it ended (answered, timed out) or runs on another instance. A 2025-11-25 server's questions can only be answered on the instance that asked them: route an agent's requests to one instance (sticky sessions). Call the tool again.`,
  details: (server: string, tool: string) => ({ server, tool }),
});

/** The state an agent echoed belongs to another agent, server, tool or arguments than its retry names. */
export const interactionMismatch = defineError({
  code: ErrorCodes.INVALID_ARGUMENTS,
  reason: 'interaction_mismatch',
  message: (what: string) => `This retry's requestState belongs to another call (its ${what} differs): retry with the same agent, server, tool and arguments, or call afresh`,
});

/**
 * A 2026-07-28 downstream refused to run the tool because it needs to ask the user something this
 * agent's client cannot answer (its `-32021`, translated).
 */
export const clientCapabilityMissing = defineError({
  code: ErrorCodes.DOWNSTREAM_ERROR,
  reason: 'client_capability_missing',
  message: (server: string, tool: string, needs: string) =>
    `Tool '${tool}' on server '${server}' needs to ask the user (${needs}), and this client did not declare that it can answer: use a client with that capability`,
  details: (server: string, tool: string) => ({ server, tool }),
});

/** A downstream that keeps asking. */
export const tooManyRounds = defineError({
  code: ErrorCodes.DOWNSTREAM_ERROR,
  reason: 'too_many_rounds',
  message: (server: string, tool: string) => `Tool '${tool}' on server '${server}' still asked for input after ${MAX_INTERACTION_ROUNDS} rounds`,
  details: (server: string, tool: string) => ({ server, tool }),
});

/**
 * The schema's defaults filled into an accepted form elicitation's content (SEP-1034), for every
 * property the answer left out; in place. The SDK does this for a 2025-11-25 server's requests
 * (its client declares `applyDefaults`); a 2026-07-28 server's, answered through `inputResponses`,
 * come here.
 */
export function applyElicitationDefaults(schema: unknown, data: unknown): void {
  if (!isObject(schema) || !isObject(data)) return;
  if (schema.type === 'object' && isObject(schema.properties)) {
    for (const [key, prop] of Object.entries(schema.properties)) {
      if (data[key] === undefined && isObject(prop) && Object.hasOwn(prop, 'default')) data[key] = prop.default;
      if (data[key] !== undefined) applyElicitationDefaults(prop, data[key]);
    }
  }
  for (const branch of ['anyOf', 'oneOf'] as const) {
    const subs = schema[branch];
    if (Array.isArray(subs)) for (const sub of subs) applyElicitationDefaults(sub, data);
  }
}

/** The answers with the defaults of what was asked filled in (a copy). */
export function withDefaults(asked: InputRequests | undefined, responses: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, response] of Object.entries(responses)) {
    const request = asked?.[key] as InputRequest | undefined;
    if (
      request?.method === 'elicitation/create' &&
      isObject(response) &&
      response.action === 'accept' &&
      (request.params as { mode?: string }).mode !== 'url'
    ) {
      const content = isObject(response.content) ? { ...response.content } : {};
      applyElicitationDefaults((request.params as { requestedSchema?: unknown }).requestedSchema, content);
      out[key] = { ...response, content };
    } else {
      out[key] = response;
    }
  }
  return out;
}

/** The answer given when a request cannot be put to anyone: an elicitation cancelled; otherwise nothing (declined). */
export function unanswered(request: InputRequest): Record<string, unknown> | undefined {
  return request.method === 'elicitation/create' ? { action: 'cancel' } : undefined;
}

/** A server's request that is put to nobody (`why` not): an elicitation is cancelled, anything else refused. */
export function declined(request: InputRequest, why: string): Record<string, unknown> {
  const answer = unanswered(request);
  if (answer) return answer;
  throw new ProtocolError(ProtocolErrorCode.InvalidRequest, `agent-mcp-gateway could not pass ${request.method} on: ${why}`);
}

/** Whether `capabilities` let the asker put `request` to that client. */
export function canAnswer(capabilities: ClientCapabilities | undefined, request: InputRequest): boolean {
  if (!capabilities) return false;
  if (request.method === 'sampling/createMessage') return capabilities.sampling !== undefined;
  if (request.method === 'roots/list') return capabilities.roots !== undefined;
  const elicitation = capabilities.elicitation;
  if (!elicitation) return false;
  const mode = (request.params as { mode?: string }).mode ?? 'form';
  // An empty elicitation capability means form mode (the spec's backwards compatibility).
  if (mode === 'url') return elicitation.url !== undefined;
  return elicitation.form !== undefined || Object.keys(elicitation).length === 0;
}

/** What of the agent's capabilities the gateway passes on to a downstream (what it can relay). */
export function relayedCapabilities(capabilities: ClientCapabilities | undefined): ClientCapabilities {
  if (!capabilities) return {};
  return {
    ...(capabilities.elicitation && { elicitation: capabilities.elicitation }),
    ...(capabilities.sampling && { sampling: capabilities.sampling }),
  };
}

/**
 * A call to a 2025-11-25 downstream that asked something: its request stays open while the
 * question travels to the agent and back (in this process only).
 */
export class ParkedCall {
  readonly done: Promise<CallToolResult | InputRequiredResult>;
  /** Aborts the downstream call (the agent cancelled a round, or gave up). */
  readonly abort = new AbortController();
  private question: { request: InputRequest; answer: (result: Record<string, unknown> | undefined) => void } | undefined;
  private wake: (() => void) | undefined;
  private settled = false;
  /** The progress callback of the round that waits now. */
  onprogress: ((progress: Progress) => void) | undefined;

  constructor(start: (parked: ParkedCall) => Promise<CallToolResult | InputRequiredResult>) {
    this.done = start(this);
    this.done.then(
      () => this.end(),
      () => this.end(),
    );
  }

  /** The downstream asks (from its client's request handler): resolves with the answer to send back. */
  ask(request: InputRequest, signal: AbortSignal): Promise<Record<string, unknown>> {
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      if (this.settled || this.question) {
        const fallback = unanswered(request);
        if (fallback) resolve(fallback);
        else reject(new Error('no answer'));
        return;
      }
      const answer = (result: Record<string, unknown> | undefined): void => {
        this.question = undefined;
        if (result) resolve(result);
        else reject(new Error(`the agent did not answer ${request.method}`));
      };
      this.question = { request, answer };
      signal.addEventListener('abort', () => this.question?.request === request && answer(unanswered(request)), { once: true });
      this.wake?.();
    });
  }

  /** Gives the open question its answer (undefined: declined). */
  answer(result: Record<string, unknown> | undefined): void {
    this.question?.answer(result ?? unanswered(this.question.request));
  }

  /** The next thing that happens: the call ends, or the downstream asks. */
  async next(): Promise<{ result: CallToolResult | InputRequiredResult } | { request: InputRequest }> {
    for (;;) {
      if (this.question) return { request: this.question.request };
      const woken = new Promise<void>((resolve) => (this.wake = resolve));
      const ended = await Promise.race([this.done.then((result) => ({ result })), woken.then(() => undefined)]);
      this.wake = undefined;
      if (ended) return ended;
    }
  }

  private end(): void {
    this.settled = true;
    const open = this.question;
    if (open) open.answer(unanswered(open.request));
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
