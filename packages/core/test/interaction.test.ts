/**
 * The kernel's interactive calls with a real (in-process, 2025-11-25) demo server: `callTool` with
 * `interact`, the policy once per call, one settled outcome; a parked call that nobody answers is
 * cancelled at its deadline and settles as TIMEOUT, and a late answer finds nothing. Plus the
 * SEP-1034 defaults and the state codec.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryTransport } from '@modelcontextprotocol/server';
import { createDemoServer } from '@agent-mcp-gateway/testing';
import {
  Gateway,
  GatewayError,
  GatewaySettingsSchema,
  InteractionStateCodec,
  applyElicitationDefaults,
  argumentsDigest,
  interactionNotFound,
  silentLogger,
  type CallOutcome,
  type GatewayPlugin,
  type ServerSpec,
} from '../src/index.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

/** A gateway with one in-process demo server `demo` (2025-11-25), counting beforeToolCall runs and settled outcomes. */
async function gatewayWithDemo(): Promise<{ gateway: Gateway; before: () => number; settled: CallOutcome[]; nextSettled: () => Promise<CallOutcome> }> {
  let before = 0;
  const settled: CallOutcome[] = [];
  const waiting: ((o: CallOutcome) => void)[] = [];
  const plugin: GatewayPlugin = {
    name: 'test',
    apply(gateway) {
      gateway.hooks.resolveTransport.tapPromise('test', async () => ({
        kind: 'memory',
        create: async () => {
          const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
          await createDemoServer({ log: () => undefined }).connect(serverSide);
          return clientSide;
        },
      }));
      gateway.hooks.beforeToolCall.tap('test', (call) => {
        before += 1;
        return call;
      });
      gateway.hooks.callSettled.tap('test', (outcome) => {
        settled.push(outcome);
        waiting.shift()?.(outcome);
      });
    },
  };
  const spec: ServerSpec = { name: 'demo', transport: 'stdio', args: [], env: {}, headers: {}, secretValues: [], enabled: true };
  const gateway = new Gateway({
    config: { servers: [spec], settings: GatewaySettingsSchema.parse({ initStrategy: 'lazy' }), sources: {}, warnings: [] },
    plugins: [plugin],
    logger: silentLogger,
  });
  gateways.push(gateway);
  await gateway.start();
  return { gateway, before: () => before, settled, nextSettled: () => new Promise((resolve) => waiting.push(resolve)) };
}

const text = (result: { content: unknown }) => (result.content as { text?: string }[])[0]?.text;

describe('interactive calls in the kernel', () => {
  it('callTool answers through interact; the policy runs once and the call settles once', async () => {
    const { gateway, before, settled } = await gatewayWithDemo();
    const asked: unknown[] = [];
    const result = await gateway.callTool(
      { agent: 'a', server: 'demo', tool: 'ask', args: { message: 'Name?' } },
      {
        interact: async (requests) => {
          asked.push(requests);
          return Object.fromEntries(Object.keys(requests).map((key) => [key, { action: 'accept', content: {} }]));
        },
      },
    );
    expect(text(result)).toBe('hello anon'); // the schema's default, filled in by the gateway's client
    expect(asked).toEqual([{ input: { method: 'elicitation/create', params: expect.objectContaining({ message: 'Name?' }) } }]);
    expect(before()).toBe(1);
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({ operation: 'execute_tool', server: 'demo', tool: 'ask', decision: 'ALLOW', rounds: 1 });
  });

  it('without interact the question is declined: an elicitation is cancelled, sampling refused', async () => {
    const { gateway } = await gatewayWithDemo();
    expect(text(await gateway.callTool({ agent: 'a', server: 'demo', tool: 'ask', args: {} }))).toBe('answer: cancel');
    const sampled = await gateway.callTool({ agent: 'a', server: 'demo', tool: 'sample', args: { prompt: 'hi' } });
    expect(sampled.isError).toBe(true);
  });

  it("a caller that cannot answer still counts among the calls in flight: a 2025 server's question is never put to another caller", async () => {
    const { gateway } = await gatewayWithDemo();
    const asked: unknown[] = [];
    const interact = async (requests: Record<string, unknown>) => {
      asked.push(requests);
      return Object.fromEntries(Object.keys(requests).map((key) => [key, { action: 'accept', content: { name: 'capable' } }]));
    };
    // Both in flight on one 2025 server: the question of either cannot be told whose it is, so nobody is asked.
    const [silent, capable] = await Promise.all([
      gateway.callTool({ agent: 'a', server: 'demo', tool: 'ask', args: { message: 'from the call that cannot answer' } }),
      gateway.callTool({ agent: 'b', server: 'demo', tool: 'ask', args: { message: 'from the call that can' } }, { interact }),
    ]);
    expect([text(silent), text(capable)]).toEqual(['answer: cancel', 'answer: cancel']);
    expect(asked).toEqual([]);
  });

  it('a parked call nobody answers is cancelled at its deadline and settles as TIMEOUT; the late answer gets interaction_not_found', async () => {
    const { gateway, settled, nextSettled } = await gatewayWithDemo();
    const step = await gateway.startToolCall({ agent: 'a', server: 'demo', tool: 'ask', args: {}, timeoutMs: 300 }, { capabilities: { elicitation: { form: {} } } });
    if (!('input' in step)) throw new Error('expected a question');
    expect(step.input.resume.parked).toEqual(expect.any(String));
    expect(settled).toHaveLength(0); // not over yet
    const outcome = await nextSettled();
    expect(outcome).toMatchObject({ decision: 'ERROR', errorCode: 'TIMEOUT', server: 'demo', tool: 'ask', rounds: 1 });
    const late = await gateway.continueToolCall(step.input.resume, { input: { action: 'accept', content: { name: 'x' } } }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(GatewayError);
    expect(interactionNotFound.is(late)).toBe(true);
    expect(settled).toHaveLength(2); // the late round reports its own refusal
  });

  it('an answer that arrives in time is used, exactly once: a second use of the same state finds nothing', async () => {
    const { gateway, before } = await gatewayWithDemo();
    const step = await gateway.startToolCall({ agent: 'a', server: 'demo', tool: 'ask', args: {} }, { capabilities: { elicitation: { form: {} } } });
    if (!('input' in step)) throw new Error('expected a question');
    const done = await gateway.continueToolCall(step.input.resume, { input: { action: 'accept', content: { name: 'Ada' } } });
    expect('result' in done && text(done.result)).toBe('hello Ada');
    const again = await gateway.continueToolCall(step.input.resume, { input: { action: 'accept', content: {} } }).catch((e: unknown) => e);
    expect(interactionNotFound.is(again)).toBe(true);
    expect(before()).toBe(1);
  });
});

describe('SEP-1034 defaults', () => {
  it('fills every property the answer left out, nested and through anyOf, and keeps what was answered', () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', default: 'John Doe' },
        age: { type: 'integer', default: 30 },
        given: { type: 'string', default: 'unused' },
        none: { type: 'string' },
      },
      anyOf: [{ type: 'object', properties: { verified: { type: 'boolean', default: true } } }],
    };
    const content: Record<string, unknown> = { given: 'kept' };
    applyElicitationDefaults(schema, content);
    expect(content).toEqual({ name: 'John Doe', age: 30, given: 'kept', verified: true });
  });
});

describe('InteractionStateCodec', () => {
  it('seals and opens; another key, a changed byte or a short key are refused', async () => {
    const key = 'k'.repeat(32);
    const codec = new InteractionStateCodec(key);
    const state = await codec.seal({ secret: 'args' });
    expect(state).not.toContain('args'); // encrypted, not only signed
    const ctx = {} as never;
    expect(codec.open(await codec.verify(state, ctx))).toEqual({ secret: 'args' });
    expect(new InteractionStateCodec(key).open(await new InteractionStateCodec(key).verify(state, ctx))).toEqual({ secret: 'args' });
    await expect(new InteractionStateCodec('x'.repeat(32)).verify(state, ctx)).rejects.toThrow();
    await expect(codec.verify(`${state.slice(0, -2)}AA`, ctx)).rejects.toThrow();
    expect(() => new InteractionStateCodec('short')).toThrow(RangeError);
  });

  it('digests arguments independently of key order', () => {
    expect(argumentsDigest({ a: 1, b: { c: 2, d: [1, 2] } })).toBe(argumentsDigest({ b: { d: [1, 2], c: 2 }, a: 1 }));
    expect(argumentsDigest({ a: 1 })).not.toBe(argumentsDigest({ a: 2 }));
  });
});
