/**
 * Readable config errors: zod issues and JSON syntax errors turned into lines
 * of the form `<file>: <json path>: <what was expected / what is wrong>`.
 *
 * Nothing here ever prints a configured *value*: config files hold tokens and
 * API keys, and error messages end up in logs and terminals. Messages describe
 * types, allowed options and positions only.
 */
import { z } from 'zod';
import { ErrorCodes, GatewayError } from '../errors.js';

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

/** Keys that read well after a dot; anything else is quoted in brackets. */
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** At most this many lines go into one error message; the rest are counted. */
const MAX_ERROR_LINES = 20;

/** Appends one key or index to a JSON path: `$.a` + `b` → `$.a.b`, + `0` → `$.a[0]`. */
export function appendJsonPath(path: string, key: PropertyKey): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (typeof key === 'symbol') return `${path}[${String(key)}]`;
  return PLAIN_KEY.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Formats path segments as `$.mcpServers.github.args[0]` (`$` alone for the root). */
export function formatJsonPath(segments: readonly PropertyKey[], root = '$'): string {
  return segments.reduce<string>((path, key) => appendJsonPath(path, key), root);
}

// ---------------------------------------------------------------------------
// zod issues

const EXPECTED_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'an array',
  tuple: 'an array',
  null: 'null',
};

function expectedName(expected: string): string {
  return EXPECTED_NAMES[expected] ?? expected;
}

/** What the input was, by type only (never its value). */
function receivedName(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  switch (typeof input) {
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(input) ? 'an integer' : Number.isNaN(input) ? 'NaN' : 'a fractional number';
    case 'boolean':
      return input ? 'true' : 'false';
    case 'object':
      return 'an object';
    default:
      return typeof input;
  }
}

function quoteList(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v))).join(', ');
}

function oneOf(values: readonly unknown[]): string {
  return values.length === 1 ? quoteList(values) : `one of ${quoteList(values)}`;
}

function plural(n: number | bigint, word: string): string {
  return `${n} ${word}${n === 1 || n === 1n ? '' : 's'}`;
}

/**
 * A per-parse zod error map (`schema.safeParse(data, { error: readableZodErrorMap })`)
 * that words issues for people. Messages set on a schema itself still win (zod's
 * precedence), so schema authors keep control of their own wording.
 */
export const readableZodErrorMap: z.core.$ZodErrorMap = (issue: RawIssue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `missing (expected ${expectedName(issue.expected)})`
        : `expected ${expectedName(issue.expected)}, got ${receivedName(issue.input)}`;
    case 'invalid_value':
      return `expected ${oneOf(issue.values)}`;
    case 'too_small': {
      const min = issue.minimum;
      if (issue.origin === 'string') return min === 1 ? 'must not be empty' : `must be at least ${plural(min, 'character')} long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at least ${plural(min, 'item')}`;
      return issue.inclusive === false ? `must be greater than ${min}` : `must be at least ${min}`;
    }
    case 'too_big': {
      const max = issue.maximum;
      if (issue.origin === 'string') return `must be at most ${plural(max, 'character')} long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at most ${plural(max, 'item')}`;
      return issue.inclusive === false ? `must be less than ${max}` : `must be at most ${max}`;
    }
    case 'invalid_format':
      if (issue.format === 'regex' && typeof issue.pattern === 'string') return `must match ${issue.pattern}`;
      return issue.format === 'url' ? 'must be a valid URL' : `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'unrecognized_keys': {
      const known = issue.inst instanceof z.ZodObject ? Object.keys(issue.inst.shape) : [];
      const what = `unknown ${issue.keys.length === 1 ? 'key' : 'keys'} ${quoteList(issue.keys)}`;
      return known.length > 0 ? `${what} (allowed: ${known.join(', ')})` : what;
    }
    case 'invalid_union':
      // A discriminated union whose tag matched no option.
      if (Array.isArray(issue.options) && issue.options.length > 0) return `expected ${oneOf(issue.options)}`;
      return undefined;
    case 'invalid_key':
      return 'invalid key';
    default:
      return undefined;
  }
};

/** One readable finding: where and what. */
export interface ConfigProblem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** An issue saying "this whole value has the wrong shape" (as opposed to something deeper). */
function isRootMismatch(issue: Issue): boolean {
  return issue.path.length === 0 && (issue.code === 'invalid_type' || issue.code === 'invalid_value');
}

/** "an object", "one of "a", "b"": what a union branch wanted, when it can be said in a phrase. */
function expectation(issue: Issue): string | undefined {
  if (issue.code === 'invalid_type') return expectedName(issue.expected);
  if (issue.code === 'invalid_value') return oneOf(issue.values);
  return undefined;
}

function flattenIssue(issue: Issue, prefix: readonly PropertyKey[], out: ConfigProblem[]): void {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // Report the branch that got furthest; if every branch failed on the value's
    // shape alone, say what each would have accepted ("a string or an object").
    const deeper = issue.errors.filter((branch) => branch.some((i) => !isRootMismatch(i)));
    if (deeper.length > 0) {
      const best = deeper.reduce((a, b) => (b.length < a.length ? b : a));
      for (const inner of best) flattenIssue(inner, path, out);
      return;
    }
    const wanted = [...new Set(issue.errors.map((branch) => branch[0] && expectation(branch[0])))];
    if (wanted.every((w) => w !== undefined)) {
      out.push({ path, message: `expected ${wanted.join(' or ')}` });
      return;
    }
  }
  if (issue.code === 'invalid_key' && issue.issues.length > 0) {
    for (const inner of issue.issues) out.push({ path, message: `invalid key: ${inner.message}` });
    return;
  }
  out.push({ path, message: issue.message });
}

/** Flattens zod issues (unions resolved to their most relevant branch) into path + message pairs. */
export function zodProblems(issues: readonly Issue[], basePath: readonly PropertyKey[] = []): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) flattenIssue(issue, basePath, out);
  return out;
}

/**
 * Turns zod issues into lines `<file>: <json path>: <message>`, duplicates removed.
 * `basePath` prefixes every path (e.g. `['agent-mcp-gateway']` inside package.json).
 */
export function formatZodIssues(issues: readonly Issue[], file: string, basePath: readonly PropertyKey[] = []): string[] {
  return [...new Set(zodProblems(issues, basePath).map((p) => `${file}: ${formatJsonPath(p.path)}: ${p.message}`))];
}

/** Joins finding lines into one message, capped so a broken file cannot flood a terminal. */
export function joinLines(lines: readonly string[]): string {
  if (lines.length <= MAX_ERROR_LINES) return lines.join('\n');
  return [...lines.slice(0, MAX_ERROR_LINES), `(and ${lines.length - MAX_ERROR_LINES} more problems)`].join('\n');
}

/**
 * A CONFIG_INVALID error for failed validation: the message holds every finding
 * (file and JSON path on each line); `details.path` is the first finding's path.
 */
export function configInvalidFromZod(file: string, issues: readonly Issue[], basePath: readonly PropertyKey[] = []): GatewayError {
  const problems = zodProblems(issues, basePath);
  const lines = [...new Set(problems.map((p) => `${file}: ${formatJsonPath(p.path)}: ${p.message}`))];
  return new GatewayError(ErrorCodes.CONFIG_INVALID, joinLines(lines), {
    file,
    path: formatJsonPath(problems[0]?.path ?? basePath),
  });
}

// ---------------------------------------------------------------------------
// JSON syntax errors

/** Where a JSON text first goes wrong. `offset` counts UTF-16 code units. */
export interface JsonSyntaxProblem {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly reason: string;
}

/** 1-based line and column of an offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

const LITERALS = ['true', 'false', 'null'] as const;

function describeChar(c: string): string {
  if (c === '\n') return 'a line break';
  const code = c.charCodeAt(0);
  if (code < 0x20 || code === 0x7f) return `control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return JSON.stringify(c);
}

/**
 * Finds the first JSON syntax error in `text`, or `undefined` when `JSON.parse`
 * would accept it. We locate errors ourselves because V8's messages are not
 * stable across Node versions, often lack a position, and sometimes quote a
 * slice of the file — which may hold a secret.
 *
 * Iterative (an explicit stack) so deeply nested input cannot overflow the
 * call stack.
 */
export function locateJsonError(text: string): JsonSyntaxProblem | undefined {
  const at = (offset: number, reason: string): JsonSyntaxProblem => ({ offset, ...lineColumn(text, offset), reason });
  const stack: Array<'{' | '['> = [];
  type Expect = 'value' | 'value-or-close' | 'key' | 'key-or-close' | 'colon' | 'comma-or-close' | 'end';
  let expect: Expect = 'value';
  let i = 0;
  const afterValue = (): Expect => (stack.length > 0 ? 'comma-or-close' : 'end');

  /** Scans a string starting at `i` (a `"`); returns an error or advances `i`. */
  const scanString = (): JsonSyntaxProblem | undefined => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) return at(start, 'unterminated string');
      const code = text.charCodeAt(i);
      if (code === 0x22) {
        i++;
        return undefined;
      }
      if (code < 0x20) return at(i, `${describeChar(text[i]!)} inside a string (write it as an escape such as \\n)`);
      if (code === 0x5c) {
        const next = text[i + 1];
        if (next === undefined) return at(start, 'unterminated string');
        if (next === 'u') {
          if (!/^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6))) return at(i, 'invalid \\u escape (expected 4 hex digits)');
          i += 6;
          continue;
        }
        if (!'"\\/bfnrt'.includes(next)) return at(i, `invalid escape \\${next}`);
        i += 2;
        continue;
      }
      i++;
    }
  };

  /** Scans a number starting at `i`; returns an error or advances `i`. */
  const scanNumber = (): JsonSyntaxProblem | undefined => {
    const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (isDigit(text[i])) while (isDigit(text[i])) i++;
    else return at(i, 'expected a digit after "-"');
    if (text[i] === '.') {
      i++;
      if (!isDigit(text[i])) return at(i, 'expected a digit after the decimal point');
      while (isDigit(text[i])) i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!isDigit(text[i])) return at(i, 'expected a digit in the exponent');
      while (isDigit(text[i])) i++;
    }
    return undefined;
  };

  for (;;) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
    if (i >= text.length) {
      if (expect === 'end') return undefined;
      if (stack.length === 0 && expect === 'value') return at(i, 'the file is empty (expected a JSON value)');
      const open = stack[stack.length - 1];
      return at(i, open ? `unexpected end of file (a '${open}' is not closed)` : 'unexpected end of file');
    }
    const c = text[i]!;
    if (c === '/') return at(i, 'comments are not allowed in JSON');
    switch (expect) {
      case 'end':
        return at(i, `unexpected ${describeChar(c)} after the end of the JSON value`);
      case 'colon':
        if (c !== ':') return at(i, `expected ':' after the property name, found ${describeChar(c)}`);
        i++;
        expect = 'value';
        continue;
      case 'key':
      case 'key-or-close':
        if (c === '}' && expect === 'key-or-close') {
          i++;
          stack.pop();
          expect = afterValue();
          continue;
        }
        if (c === '"') {
          const err = scanString();
          if (err) return err;
          expect = 'colon';
          continue;
        }
        if (c === '}') return at(i, "trailing comma before '}'");
        return at(i, `expected a double-quoted property name, found ${describeChar(c)}`);
      case 'comma-or-close': {
        const open = stack[stack.length - 1]!;
        const close = open === '{' ? '}' : ']';
        if (c === ',') {
          i++;
          expect = open === '{' ? 'key' : 'value';
          continue;
        }
        if (c === close) {
          i++;
          stack.pop();
          expect = afterValue();
          continue;
        }
        return at(i, `expected ',' or '${close}', found ${describeChar(c)}`);
      }
      case 'value':
      case 'value-or-close': {
        if (c === ']' && expect === 'value-or-close') {
          i++;
          stack.pop();
          expect = afterValue();
          continue;
        }
        if (c === '{' || c === '[') {
          stack.push(c);
          i++;
          expect = c === '{' ? 'key-or-close' : 'value-or-close';
          continue;
        }
        let err: JsonSyntaxProblem | undefined;
        if (c === '"') err = scanString();
        else if (c === '-' || (c >= '0' && c <= '9')) err = scanNumber();
        else {
          const literal = LITERALS.find((l) => text.startsWith(l, i));
          if (literal) i += literal.length;
          else {
            const rest = text.slice(i, i + 5);
            const truncated = LITERALS.some((l) => l.startsWith(rest) && i + rest.length >= text.length);
            if (truncated) return at(text.length, 'unexpected end of file');
            if (c === ']' && stack[stack.length - 1] === '[') return at(i, "trailing comma before ']'");
            if (c === "'") return at(i, 'strings must use double quotes');
            return at(i, `expected a value, found ${describeChar(c)}`);
          }
        }
        if (err) return err;
        expect = afterValue();
        continue;
      }
    }
  }
}

/** `JSON.parse` with a CONFIG_INVALID error naming the file, line and column on failure. A leading BOM is ignored. */
export function parseJsonText(text: string, file: string): unknown {
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(source) as unknown;
  } catch {
    const problem = locateJsonError(source);
    const where = problem ? `${problem.line}:${problem.column}` : '1:1';
    const reason = problem?.reason ?? 'not valid JSON';
    // No JSON path exists for a file that does not parse; `$` marks "the document".
    return configSyntaxError(file, where, reason);
  }
}

function configSyntaxError(file: string, where: string, reason: string): never {
  throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${file}:${where}: invalid JSON: ${reason}`, { file, path: '$' });
}
