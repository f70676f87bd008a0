/**
 * Readable config errors: zod issues and JSON syntax errors turned into lines
 * of the form `<file>: <json path>: <what was expected / what is wrong>` (or
 * `<file>:<line>:<column>: …` for text that does not parse); and the JSONC parsing
 * of config files.
 *
 * Nothing here ever prints a configured *value*: config files hold tokens and
 * API keys, and error messages end up in logs and terminals. Messages describe
 * types, allowed options and positions only.
 */
import { createScanner, findNodeAtOffset, parseTree, printParseErrorCode, type Node, type ParseError, type ParseOptions } from 'jsonc-parser';
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
  const problem = { path, message: issue.message };
  if (issue.code === 'unrecognized_keys') unknownKeyProblems.add(problem);
  out.push(problem);
}

/** Problems that name unknown keys (zod lists them after the object's other findings). */
const unknownKeyProblems = new WeakSet<ConfigProblem>();

/**
 * Flattens zod issues (unions resolved to their most relevant branch) into path + message pairs.
 * An object's unknown key comes before its other findings (zod reports it last): `keyID` written
 * for `keyId` is reported as the unknown `"keyID"` first, then `keyId` missing — the typo is the
 * likelier cause, and `details.path` names the first finding.
 */
export function zodProblems(issues: readonly Issue[], basePath: readonly PropertyKey[] = []): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) flattenIssue(issue, basePath, out);
  return unknownKeysFirst(out);
}

/** Moves each unknown-key problem before the first other problem inside the same object. */
function unknownKeysFirst(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const pending = problems.filter((p) => unknownKeyProblems.has(p));
  if (pending.length === 0) return [...problems];
  const within = (inner: ConfigProblem, object: ConfigProblem) =>
    inner.path.length > object.path.length && object.path.every((key, i) => inner.path[i] === key);
  const out: ConfigProblem[] = [];
  const placed = new Set<ConfigProblem>();
  for (const problem of problems) {
    if (placed.has(problem)) continue;
    for (const unknown of pending) {
      if (!placed.has(unknown) && !unknownKeyProblems.has(problem) && within(problem, unknown)) {
        out.push(unknown);
        placed.add(unknown);
      }
    }
    out.push(problem);
    placed.add(problem);
  }
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
// JSONC text: JSON with comments and trailing commas, as VS Code writes `.vscode/mcp.json`

/** Where a JSON text first goes wrong. `offset` counts UTF-16 code units; line and column are 1-based. */
export interface JsonSyntaxProblem {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly reason: string;
}

/** The outcome of {@link parseJsonc}: the value, or where and why the text is not JSONC. */
export type JsoncResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problem: JsonSyntaxProblem };

/**
 * Objects and arrays nested deeper than this are refused with a syntax problem:
 * the parser recurses, and a stack overflow would surface as a RangeError rather
 * than a config error. No real config comes close.
 */
export const MAX_JSONC_NESTING = 1000;

/**
 * 1-based line and column of an offset. A line ends at `\n`, `\r\n` or a lone `\r`,
 * as in VS Code and jsonc-parser; the column counts UTF-16 code units.
 */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 10 || (code === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function describeChar(c: string): string {
  if (c === '\n' || c === '\r') return 'a line break';
  const code = c.charCodeAt(0);
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code < 0x20 || code === 0x7f) return `control character ${hex}`;
  if (code > 0x7f && /\s/.test(c)) return `space character ${hex}`;
  return JSON.stringify(c);
}

/** What is at `offset`, by one character at most (never a slice of the file: it may hold a secret). */
function found(text: string, offset: number): string {
  return offset >= text.length ? 'the end of the file' : describeChar(text[offset]!);
}

const LITERALS = ['true', 'false', 'null'] as const;

const PARSE_OPTIONS: ParseOptions = { disallowComments: false, allowTrailingComma: true, allowEmptyContent: false };

/**
 * Parses JSONC — JSON plus `//` and `/* *\/` comments and trailing commas, what VS
 * Code accepts in `.vscode/mcp.json` and its settings — with Microsoft's
 * `jsonc-parser` (the parser VS Code itself uses). Anything else JSON forbids
 * stays an error: single quotes, unquoted keys, control characters in strings, …
 *
 * Objects are plain objects with own properties, as `JSON.parse` makes them: a key
 * `"__proto__"` stays a key rather than replacing the prototype, and the last of
 * duplicate keys wins. A leading BOM is not skipped here (see {@link parseJsonText}).
 *
 * Problems name a line and column and say what is wrong in words of our own: the
 * parser's error codes are mapped here, and no reason quotes more than one
 * character of the text.
 */
export function parseJsonc(text: string): JsoncResult {
  const problem = (offset: number, reason: string): JsoncResult => ({ ok: false, problem: { offset, ...lineColumn(text, offset), reason } });
  const tooDeep = nestingBeyond(text, MAX_JSONC_NESTING);
  if (tooDeep !== undefined) return problem(tooDeep, `nested more than ${MAX_JSONC_NESTING} levels deep`);
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, PARSE_OPTIONS);
  const first = errors[0];
  if (first === undefined) return { ok: true, value: root === undefined ? undefined : nodeValue(root) };
  const { offset, reason } = describeError(text, root, first, errors[1]);
  return problem(offset, reason);
}

/** The offset of the first `{` or `[` opening level `max + 1`, if any (comments and strings skipped). */
function nestingBeyond(text: string, max: number): number | undefined {
  const scanner = createScanner(text, true);
  let depth = 0;
  for (;;) {
    scanner.scan();
    const offset = scanner.getTokenOffset();
    if (offset >= text.length || scanner.getTokenLength() === 0) return undefined;
    // Punctuation tokens are one character; a string token starts with '"', so it never matches.
    const c = text[offset];
    if (c === '{' || c === '[') {
      depth++;
      if (depth > max) return offset;
    } else if (c === '}' || c === ']') {
      depth--;
    }
  }
}

/** A parse tree's value: plain objects (own properties, last duplicate wins) and arrays. */
function nodeValue(node: Node): unknown {
  switch (node.type) {
    case 'object':
      return Object.fromEntries(
        (node.children ?? []).flatMap((property) => {
          const [key, value] = property.children ?? [];
          return key !== undefined && value !== undefined ? [[String(key.value), nodeValue(value)]] : [];
        }),
      );
    case 'array':
      return (node.children ?? []).map(nodeValue);
    default:
      return node.value as unknown;
  }
}

/** The innermost object or array around `offset`, if the partial tree has one. */
function containerAt(root: Node | undefined, offset: number): '{' | '[' | undefined {
  for (let node = root && findNodeAtOffset(root, offset); node; node = node.parent) {
    if (node.type === 'object') return '{';
    if (node.type === 'array') return '[';
  }
  return undefined;
}

/**
 * Inside the string token at `start` (length `length`), the first character
 * `bad` picks out: a line break, a control character, a bad escape. Falls back
 * to the token's start.
 */
function inString(text: string, start: number, length: number, bad: 'break' | 'control' | 'escape' | 'unicode'): number {
  // A string cut short by a line break ends just before it.
  const end = Math.min(text.length, start + length + 1);
  for (let i = start + 1; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x5c) {
      const next = text[i + 1];
      if (next === 'u') {
        if (bad === 'unicode' && !/^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6))) return i;
      } else if (bad === 'escape' && (next === undefined || !'"\\/bfnrt'.includes(next))) {
        return i;
      }
      i++;
      continue;
    }
    if (bad === 'break' && (code === 10 || code === 13)) return i;
    if (bad === 'control' && code < 0x20) return i;
  }
  return start;
}

/** Our words for the parser's first error (`next` helps tell a bad key from a bad value). */
function describeError(text: string, root: Node | undefined, error: ParseError, next: ParseError | undefined): { offset: number; reason: string } {
  const { offset, length } = error;
  const code = printParseErrorCode(error.error);
  const what = found(text, offset);
  const afterRoot = root !== undefined && offset < text.length && offset >= root.offset + root.length;
  if (afterRoot && (code === 'InvalidSymbol' || code === 'EndOfFileExpected' || code === 'ValueExpected')) {
    return { offset, reason: `unexpected ${what} after the end of the JSON value` };
  }
  switch (code) {
    case 'InvalidSymbol': {
      const nextCode = next === undefined ? undefined : printParseErrorCode(next.error);
      if (text[offset] === "'") return { offset, reason: 'strings and property names must be double-quoted' };
      if (nextCode === 'PropertyNameExpected') return { offset, reason: `expected a double-quoted property name, found ${what}` };
      const rest = text.slice(offset, offset + length);
      if (offset + length >= text.length && rest.length < 5 && LITERALS.some((literal) => literal.startsWith(rest))) {
        return { offset: text.length, reason: 'unexpected end of file' };
      }
      return { offset, reason: `expected a value, found ${what}` };
    }
    case 'ValueExpected':
      if (root === undefined && offset >= text.length && next === undefined) return { offset, reason: 'the file is empty (expected a JSON value)' };
      return { offset, reason: offset >= text.length ? 'unexpected end of file' : `expected a value, found ${what}` };
    case 'PropertyNameExpected':
      return { offset, reason: `expected a double-quoted property name, found ${what}` };
    case 'ColonExpected':
      return { offset, reason: `expected ':' after the property name, found ${what}` };
    case 'CommaExpected': {
      const open = containerAt(root, offset);
      return { offset, reason: open ? `expected ',' or '${open === '{' ? '}' : ']'}', found ${what}` : `expected ',', found ${what}` };
    }
    case 'CloseBraceExpected':
    case 'CloseBracketExpected': {
      const [open, close] = code === 'CloseBraceExpected' ? ['{', '}'] : ['[', ']'];
      if (offset >= text.length) return { offset, reason: `unexpected end of file (a '${open}' is not closed)` };
      return { offset, reason: `expected ',' or '${close}', found ${what}` };
    }
    case 'EndOfFileExpected':
      return { offset, reason: `unexpected ${what} after the end of the JSON value` };
    case 'InvalidNumberFormat':
    case 'UnexpectedEndOfNumber':
      return { offset, reason: 'invalid number (expected a digit)' };
    case 'UnexpectedEndOfComment':
      return { offset, reason: "unterminated comment (a '/*' is not closed)" };
    case 'InvalidCommentToken':
      return { offset, reason: 'invalid comment' };
    case 'UnexpectedEndOfString': {
      const at = inString(text, offset, length, 'break');
      if (at !== offset) return { offset: at, reason: 'a line break inside a string (write it as the escape \\n)' };
      return { offset, reason: 'unterminated string' };
    }
    case 'InvalidCharacter': {
      const at = inString(text, offset, length, 'control');
      return { offset: at, reason: `${found(text, at)} inside a string (write it as an escape such as \\t)` };
    }
    case 'InvalidEscapeCharacter': {
      const at = inString(text, offset, length, 'escape');
      const escaped = text[at + 1] ?? '';
      return { offset: at, reason: /^[!-~]$/.test(escaped) ? `invalid escape \\${escaped}` : 'invalid escape' };
    }
    case 'InvalidUnicode':
      return { offset: inString(text, offset, length, 'unicode'), reason: 'invalid \\u escape (expected 4 hex digits)' };
    default:
      return { offset, reason: `unexpected ${what}` };
  }
}

/**
 * Parses a config file's text as JSONC ({@link parseJsonc}); a leading BOM is ignored.
 * @throws GatewayError CONFIG_INVALID `<file>:<line>:<column>: invalid JSON: <reason>`,
 *   details `{file, path: '$'}` (no JSON path exists for a file that does not parse).
 */
export function parseJsonText(text: string, file: string): unknown {
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const result = parseJsonc(source);
  if (result.ok) return result.value;
  const { line, column, reason } = result.problem;
  throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${file}:${line}:${column}: invalid JSON: ${reason}`, { file, path: '$' });
}
