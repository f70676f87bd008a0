import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { GatewayError } from '../src/errors.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { globMatch } from '../src/policy/glob.js';
import { RulesFileSchema } from '../src/policy/rules.js';

/** Obviously-correct glob semantics, by code point, for comparison. */
function reference(pattern: readonly string[], value: readonly string[]): boolean {
  const [head, ...rest] = pattern;
  if (head === undefined) return value.length === 0;
  if (head === '*') return reference(rest, value) || (value.length > 0 && reference(pattern, value.slice(1)));
  if (value.length === 0) return false;
  return (head === '?' || head === value[0]) && reference(rest, value.slice(1));
}

/** Any string, including lone surrogates and astral characters. */
const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
);
const alphabet = fc.constantFrom('a', 'b', '*', '?', '.', '[', '(', '\\', '😀');
const small = (maxLength: number) => fc.string({ unit: alphabet, maxLength });
/** A value built to match `pattern` (random runs for `*`, a random char for `?`). */
const instanceOf = (pattern: string) =>
  fc
    .tuple(
      ...Array.from(pattern).map((c) =>
        c === '*' ? fc.string({ unit: alphabet, maxLength: 3 }) : c === '?' ? alphabet : fc.constant(c),
      ),
    )
    .map((parts) => parts.join(''));
/** Pattern and value pairs, about half built to match, so both outcomes are well exercised. */
const patternAndValue = small(8).chain((p) => fc.tuple(fc.constant(p), fc.oneof(instanceOf(p), small(10))));
const literal = fc.string().filter((s) => !s.includes('*') && !s.includes('?'));

describe('globMatch properties', () => {
  it('never throws', () => {
    fc.assert(fc.property(anyString, anyString, (p, v) => typeof globMatch(p, v) === 'boolean'));
  });

  it('"*" matches everything', () => {
    fc.assert(fc.property(anyString, (v) => globMatch('*', v)));
  });

  it('a pattern without wildcards matches exactly itself', () => {
    fc.assert(
      fc.property(literal, literal, (p, v) => {
        expect(globMatch(p, p)).toBe(true);
        expect(globMatch(p, v)).toBe(p === v);
      }),
    );
  });

  it('matches every value built from the pattern', () => {
    fc.assert(fc.property(small(8).chain((p) => fc.tuple(fc.constant(p), instanceOf(p))), ([p, v]) => globMatch(p, v)));
  });

  it('agrees with a reference matcher', () => {
    fc.assert(
      fc.property(patternAndValue, ([p, v]) => {
        expect(globMatch(p, v)).toBe(reference(Array.from(p), Array.from(v)));
      }),
      { numRuns: 2000 },
    );
  });
});

// Names mixing the interesting cases (globs, "*", prototype keys, bad ids) with
// noise; weighted so most generated rules files parse and define agents.
const name = fc.oneof(
  fc.constantFrom('a', 'b', 'default', '*', 'a*', '?', 'x.y', '__proto__', 'constructor', 'toString', '', 'bad id'),
  fc.string({ maxLength: 6 }),
);
const pattern = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'b', '*', 'a*', '?', '*b?', 'x.y', 'constructor'), weight: 25 },
  { arbitrary: fc.string({ minLength: 1, maxLength: 6 }), weight: 20 },
  { arbitrary: fc.constant(''), weight: 1 },
);
const agentId = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'b', 'default', 'x.y', 'constructor'), weight: 6 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9_.-]{1,6}$/), weight: 3 },
  { arbitrary: name, weight: 1 },
);
const list = fc.array(pattern, { maxLength: 4 });
const permissions = fc.record({ servers: list, tools: fc.dictionary(pattern, list, { maxKeys: 3 }) }, { requiredKeys: [] });
const agentRules = fc.record({ description: fc.string(), allow: permissions, deny: permissions }, { requiredKeys: [] });
const rawRules = fc.oneof(
  {
    arbitrary: fc.record(
      {
        agents: fc.dictionary(agentId, agentRules, { maxKeys: 4 }),
        defaults: fc.record({ deny_on_missing_agent: fc.boolean() }, { requiredKeys: [] }),
      },
      { requiredKeys: ['agents'] },
    ),
    weight: 9,
  },
  { arbitrary: fc.anything(), weight: 1 },
);

function onlyGatewayErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
  }
}

describe('PolicyEngine properties', () => {
  it('throws nothing but GatewayError, and tool decisions need the server', () => {
    fc.assert(
      fc.property(rawRules, fc.option(agentId), fc.option(agentId), name, name, (raw, defaultAgent, requested, server, tool) => {
        const parsed = RulesFileSchema.safeParse(raw);
        if (!parsed.success) return;
        const engine = new PolicyEngine(parsed.data, { defaultAgent: defaultAgent ?? undefined });
        onlyGatewayErrors(() => engine.resolveAgent(requested ?? undefined));
        for (const agent of [...engine.agentIds(), requested ?? 'x']) {
          const s = engine.serverDecision(agent, server);
          const t = engine.toolDecision(agent, server, tool);
          expect(typeof s.rule).toBe('string');
          expect(typeof t.rule).toBe('string');
          if (t.allowed) expect(s.allowed).toBe(true);
        }
        engine.warnings([server]);
      }),
      { numRuns: 500 },
    );
  });

  it('a resolved agent is always one defined in the rules', () => {
    fc.assert(
      fc.property(rawRules, fc.option(agentId), fc.option(agentId), (raw, defaultAgent, requested) => {
        const parsed = RulesFileSchema.safeParse(raw);
        if (!parsed.success) return;
        const engine = new PolicyEngine(parsed.data, { defaultAgent: defaultAgent ?? undefined });
        try {
          expect(engine.agentIds()).toContain(engine.resolveAgent(requested ?? undefined));
        } catch (error) {
          expect(error).toBeInstanceOf(GatewayError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a server matched by deny.servers is denied, whatever else allows it', () => {
    fc.assert(
      fc.property(agentRules, pattern, name, (agent, server, tool) => {
        const raw = { agents: { a: { ...agent, deny: { ...agent.deny, servers: [server] } } } };
        const parsed = RulesFileSchema.safeParse(raw);
        fc.pre(parsed.success);
        const engine = new PolicyEngine(parsed.data!);
        expect(engine.serverDecision('a', server).allowed).toBe(false);
        expect(engine.toolDecision('a', server, tool).allowed).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
