import { mkdtemp, rm } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, GatewayError } from '../src/errors.js';
import { expandVariables } from '../src/config/expand.js';
import { parseJsonc } from '../src/config/format.js';
import { loadServers, parseServers } from '../src/config/load.js';

let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'amg-config-prop-'));
  file = join(dir, '.mcp.json');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const CONFIG_CODES: readonly string[] = [ErrorCodes.CONFIG_INVALID, ErrorCodes.CONFIG_MISSING_VARIABLE];

/** Runs `fn`; anything thrown must be a config GatewayError naming `where`. */
function onlyConfigErrors(fn: () => unknown, where: string): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    expect(CONFIG_CODES).toContain(error.code);
    expect(error.details.file).toBe(where);
    expect(error.message).toContain(where);
    expect(typeof error.details.path).toBe('string');
  }
}

/** Variable names, some of which the generated environments define. */
const varName = fc.constantFrom('A', 'B', 'TOKEN', 'EMPTY', 'UNSET', 'constructor', '__proto__', '_x1');
const envArb = fc.dictionary(fc.oneof(varName, fc.string()), fc.option(fc.string(), { nil: undefined }));

/** Strings rich in `${…}` references, well-formed or not. */
const templateString = fc
  .array(
    fc.oneof(
      fc.string(),
      varName.map((n) => `\${${n}}`),
      fc.tuple(varName, fc.string()).map(([n, d]) => `\${${n}:-${d}}`),
      fc.constantFrom('$', '${', '}', '$${A}', '${secret:X}', '${input:y}', '${A-B}', '${}'),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join(''));

/** A JSON value with template strings in it. */
const jsonWithTemplates = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    templateString,
    fc.jsonValue({ maxDepth: 1 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Server entries that are near-valid: known keys with good or arbitrary values. */
const entryArb = fc.record(
  {
    command: fc.oneof(fc.constant('node'), templateString, fc.anything()),
    args: fc.oneof(fc.array(templateString, { maxLength: 3 }), fc.anything()),
    env: fc.oneof(fc.dictionary(fc.string(), templateString, { maxKeys: 3 }), fc.anything()),
    cwd: fc.oneof(fc.constant('sub'), fc.anything()),
    url: fc.oneof(fc.constantFrom('https://h/mcp', 'http://127.0.0.1:1/sse', 'ftp://x', '${URL:-https://d/mcp}'), fc.anything()),
    type: fc.oneof(fc.constantFrom('stdio', 'http', 'streamable-http', 'sse', 'ws'), fc.anything()),
    transport: fc.oneof(fc.constantFrom('stdio', 'http', 'streamable-http', 'sse'), fc.anything()),
    headers: fc.oneof(fc.dictionary(fc.string(), templateString, { maxKeys: 3 }), fc.anything()),
    auth: fc.oneof(
      fc.constantFrom('none', 'headers', 'oauth', 'basic'),
      fc.record({ type: fc.constantFrom('oauth', 'client_credentials', 'x'), clientId: fc.anything() }, { requiredKeys: ['type'] }),
      fc.anything(),
    ),
    enabled: fc.oneof(fc.boolean(), fc.anything()),
    timeoutMs: fc.oneof(fc.integer(), fc.double(), fc.anything()),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
);

const serversDoc = fc.record(
  {
    mcpServers: fc.oneof(fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('gh', 'a.b', 'x-y')), entryArb, { maxKeys: 3 }), fc.anything()),
    servers: fc.dictionary(fc.string(), entryArb, { maxKeys: 2 }),
    inputs: fc.anything(),
  },
  { requiredKeys: [] },
);

describe('loadServers never throws anything but a config GatewayError', () => {
  const check = (text: string, env: Record<string, string | undefined>) => {
    writeFileSync(file, text);
    onlyConfigErrors(() => loadServers(file, env), file);
  };

  it('on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), envArb, check), { numRuns: 300 });
  });

  it('on arbitrary JSON text', () => {
    fc.assert(fc.property(fc.json(), envArb, check), { numRuns: 300 });
  });

  it('on arbitrary values, JSON.stringify-ed', () => {
    fc.assert(
      fc.property(fc.anything(), envArb, (value, env) => check(JSON.stringify(value) ?? '', env)),
      { numRuns: 300 },
    );
  });

  it('on near-valid server files', () => {
    fc.assert(
      fc.property(serversDoc, envArb, (doc, env) => onlyConfigErrors(() => parseServers(JSON.stringify(doc), file, env), file)),
      { numRuns: 500 },
    );
  });
});

describe('expandVariables', () => {
  it('never throws anything but a GatewayError, on any JSON value and environment', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), jsonWithTemplates, fc.anything()), envArb, (value, env) => {
        try {
          expandVariables(value, env, file);
        } catch (error) {
          if (!(error instanceof GatewayError)) throw error;
          expect(error.code).toBe(ErrorCodes.CONFIG_MISSING_VARIABLE);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the shape: same keys, same array lengths, non-strings untouched', () => {
    const sameShape = (a: unknown, b: unknown): void => {
      if (typeof a === 'string') return expect(typeof b).toBe('string');
      if (a === null || typeof a !== 'object') return expect(b).toBe(a);
      if (Array.isArray(a)) {
        expect(Array.isArray(b)).toBe(true);
        expect((b as unknown[]).length).toBe(a.length);
        a.forEach((item, i) => sameShape(item, (b as unknown[])[i]));
        return;
      }
      expect(Object.keys(b as object)).toEqual(Object.keys(a));
      for (const [k, v] of Object.entries(a)) sameShape(v, (b as Record<string, unknown>)[k]);
    };
    fc.assert(
      fc.property(jsonWithTemplates, envArb, (value, env) => {
        sameShape(value, expandVariables(value, env, file, '$', { onMissing: () => {} }));
      }),
      { numRuns: 300 },
    );
  });

  it('leaves strings without "${" unchanged, and is the identity when nothing is defined with a default', () => {
    fc.assert(
      fc.property(fc.string(), envArb, (text, env) => {
        fc.pre(!text.includes('${'));
        expect(expandVariables(text, env, file)).toBe(text);
      }),
    );
  });

  it('expands ${NAME:-default} to the value when set and non-empty, else to the default', () => {
    fc.assert(
      fc.property(fc.option(fc.string(), { nil: undefined }), fc.string().filter((d) => !d.includes('}')), (value, fallback) => {
        const out = expandVariables(`<\${V:-${fallback}}>`, { V: value }, file);
        expect(out).toBe(`<${value === undefined || value === '' ? fallback : value}>`);
      }),
    );
  });
});

describe('parseJsonc accepts JSON and JSONC, and locates every error', () => {
  /** JSON text is JSONC: anything JSON.parse accepts parses to the same value; a refusal has an offset inside the text. */
  const agrees = (text: string) => {
    let parsed: { value: unknown } | undefined;
    try {
      parsed = { value: JSON.parse(text) as unknown };
    } catch {
      parsed = undefined;
    }
    const result = parseJsonc(text);
    if (parsed) expect(result).toEqual({ ok: true, value: parsed.value });
    if (!result.ok) {
      expect(result.problem.offset).toBeGreaterThanOrEqual(0);
      expect(result.problem.offset).toBeLessThanOrEqual(text.length);
      expect(result.problem.line).toBeGreaterThanOrEqual(1);
      expect(result.problem.column).toBeGreaterThanOrEqual(1);
      expect(result.problem.reason).not.toBe('');
    }
  };

  it('on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), agrees), { numRuns: 500 });
  });

  it('on JSON text with a few characters inserted, deleted or replaced', () => {
    const edit = fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.constantFrom(...'{}[]:,"\\ 00-+.eE\ntfnu/*\'x'));
    const mutated = fc.tuple(fc.json(), fc.array(edit, { minLength: 1, maxLength: 3 })).map(([json, edits]) =>
      edits.reduce((text, [at, op, ch]) => {
        const i = text.length === 0 ? 0 : at % (text.length + 1);
        if (op === 'insert') return text.slice(0, i) + ch + text.slice(i);
        if (op === 'delete') return text.slice(0, i) + text.slice(i + 1);
        return text.slice(0, i) + ch + text.slice(i + 1);
      }, json),
    );
    fc.assert(fc.property(mutated, agrees), { numRuns: 2000 });
  });

  it.each(['0', '-0', '00', '-', '01', '1.', '.5', '1e', '1e+', '1E-2', '-0.0e0', '[1,,2]', '{"a":1,}', '"\\u12"', '"\\u12g4"', '"\\q"', '"a\tb"', 'nul', 'truex', ' \f1', '/*', '//', '{"a":1}/'])(
    'on %j',
    (text) => agrees(text),
  );

  it('on valid JSON', () => {
    fc.assert(fc.property(fc.json(), agrees), { numRuns: 300 });
  });

  /** Pretty-printed JSON with comments after some lines and a trailing comma before some closing brackets. */
  const commented = fc
    .tuple(
      fc.jsonValue(),
      fc.infiniteStream(fc.constantFrom('', ' // note, with "quotes" and {brackets}', ' /* block */', ' /** doc\n * more */')),
      fc.infiniteStream(fc.boolean()),
    )
    .map(([value, comments, commas]) => {
      const lines = (JSON.stringify(value, null, 2) ?? 'null').split('\n');
      const out = lines.map((line, i) => {
        const closes = /^\s*[\]}]/.test(lines[i + 1] ?? '') && !/[[{]$/.test(line);
        return `${line}${closes && commas.next().value ? ',' : ''}${comments.next().value}`;
      });
      return { value, text: `// generated\n${out.join('\n')}\n/* end */\n` };
    });

  it('on JSON with comments and trailing commas: the same value as the JSON without them', () => {
    fc.assert(
      fc.property(commented, ({ value, text }) => {
        expect(parseJsonc(text)).toEqual({ ok: true, value: JSON.parse(JSON.stringify(value) ?? 'null') as unknown });
      }),
      { numRuns: 300 },
    );
  });
});

describe('valid server files load faithfully', () => {
  const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/).filter((n) => n !== '__proto__');
  const stdioEntry = fc.record(
    {
      command: fc.string({ minLength: 1 }).filter((s) => !s.includes('${')),
      args: fc.array(fc.string().filter((s) => !s.includes('${')), { maxLength: 3 }),
      env: fc.dictionary(
        fc.string({ minLength: 1 }).filter((k) => !/[=\0]/.test(k) && k !== '__proto__'),
        fc.string().filter((s) => !s.includes('${') && !s.includes('\0')),
        { maxKeys: 3 },
      ),
      enabled: fc.boolean(),
    },
    { requiredKeys: ['command'] },
  );
  const httpEntry = fc.record(
    {
      url: fc.constantFrom('https://example.com/mcp', 'http://127.0.0.1:8080/sse'),
      type: fc.constantFrom('http', 'streamable-http', 'sse'),
      headers: fc.dictionary(
        fc.stringMatching(/^[A-Za-z0-9-]{1,10}$/),
        fc.string().filter((s) => !s.includes('${') && !/[\r\n\0]/.test(s)),
        { maxKeys: 3 },
      ),
    },
    { requiredKeys: ['url'] },
  );

  it('names in order, transports inferred, secret values are the env and header values', () => {
    fc.assert(
      fc.property(fc.dictionary(name, fc.oneof(stdioEntry, httpEntry), { maxKeys: 5 }), fc.boolean(), (entries, vscode) => {
        const doc = vscode ? { servers: entries } : { mcpServers: entries };
        const { servers } = parseServers(JSON.stringify(doc), file, {});
        expect(servers.map((s) => s.name)).toEqual(Object.keys(entries));
        for (const spec of servers) {
          const entry = entries[spec.name] as Record<string, unknown>;
          if ('command' in entry) {
            expect(spec.transport).toBe('stdio');
            expect(spec.enabled).toBe(entry.enabled ?? true);
            expect(spec.env).toEqual(entry.env ?? {});
          } else {
            expect(spec.transport).toBe(entry.type === 'sse' ? 'sse' : 'http');
            expect(spec.headers).toEqual(entry.headers ?? {});
          }
          const values = [...Object.values(spec.env), ...Object.values(spec.headers)].filter((v) => v !== '');
          expect(new Set(spec.secretValues)).toEqual(new Set(values));
        }
      }),
      { numRuns: 300 },
    );
  });
});
