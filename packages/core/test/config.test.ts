import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, GatewayError } from '../src/errors.js';
import { expandVariables } from '../src/config/expand.js';
import { MAX_JSONC_NESTING, formatJsonPath, parseJsonc, parseJsonText } from '../src/config/format.js';
import {
  applyEnvOverrides,
  findFile,
  loadGatewayConfig,
  loadRules,
  loadServers,
  loadSettings,
  loadSettingsFor,
  parseServers,
  projectTrust,
  reloadGatewayConfig,
  revokeFolder,
  trustFolder,
} from '../src/config/load.js';
import { readTrustStore, trustStorePath } from '../src/config/trust.js';
import { GatewaySettingsSchema } from '../src/config/schema.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'amg-config-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(path: string, content: unknown): Promise<string> {
  const file = join(dir, path);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

/** Runs `fn`, expects a GatewayError, returns it. */
function caught(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error('expected a GatewayError, nothing was thrown');
}

async function caughtAsync(fn: () => Promise<unknown>): Promise<GatewayError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error('expected a GatewayError, nothing was thrown');
}

const FILE = '/cfg/.mcp.json';
const servers = (entries: Record<string, unknown>) => JSON.stringify({ mcpServers: entries });

describe('loadServers: normalisation', () => {
  it('produces ServerSpecs in file order, with defaults and inferred transports', async () => {
    const file = await write('.mcp.json', {
      mcpServers: {
        local: { command: 'node', args: ['server.js'], env: { API_KEY: 'k-123', EMPTY: '' }, description: 'a local one' },
        remote: { url: 'https://example.com/mcp', headers: { Authorization: 'Bearer t0ken' }, timeoutMs: 5000 },
        legacy: { type: 'sse', url: 'http://127.0.0.1:9000/sse', enabled: false },
        bare: { command: 'srv' },
      },
    });
    const { servers: specs, warnings } = loadServers(file, {});
    expect(warnings).toEqual([]);
    expect(specs.map((s) => s.name)).toEqual(['local', 'remote', 'legacy', 'bare']);
    expect(specs[0]).toEqual({
      name: 'local',
      transport: 'stdio',
      description: 'a local one',
      command: 'node',
      args: ['server.js'],
      env: { API_KEY: 'k-123', EMPTY: '' },
      headers: {},
      enabled: true,
      secretValues: ['k-123'],
    });
    expect(specs[1]).toEqual({
      name: 'remote',
      transport: 'http',
      url: 'https://example.com/mcp',
      args: [],
      env: {},
      headers: { Authorization: 'Bearer t0ken' },
      enabled: true,
      timeoutMs: 5000,
      secretValues: ['Bearer t0ken'],
    });
    expect(specs[2]).toMatchObject({ transport: 'sse', enabled: false });
    expect(specs.every((s) => s.protocol === undefined)).toBe(true);
    expect(specs[3]).toMatchObject({ transport: 'stdio', args: [], env: {}, headers: {}, secretValues: [] });
  });

  it('keeps a per-server `protocol` (auto, or a pinned era) without a warning', () => {
    const { servers: specs, warnings } = parseServers(
      servers({ a: { url: 'https://h/mcp', protocol: '2026-07-28' }, b: { command: 'x', protocol: '2025-11-25' }, c: { command: 'y', protocol: 'auto' } }),
      FILE,
      {},
    );
    expect(warnings).toEqual([]);
    expect(specs.map((s) => s.protocol)).toEqual(['2026-07-28', '2025-11-25', 'auto']);
  });

  it("reads VS Code's `servers` key and tolerates other top-level keys", () => {
    const text = JSON.stringify({
      inputs: [{ type: 'promptString', id: 'token', description: 'uses ${input:token}' }],
      servers: { gh: { type: 'http', url: 'https://api.example.com/mcp' } },
    });
    const { servers: specs } = parseServers(text, FILE, {});
    expect(specs).toHaveLength(1);
    expect(specs[0]).toMatchObject({ name: 'gh', transport: 'http' });
  });

  it('loads a .vscode/mcp.json as VS Code writes it: comments, trailing commas, `inputs`', async () => {
    const file = await write(
      '.vscode/mcp.json',
      [
        '// MCP servers for this workspace',
        '{',
        '  "inputs": [',
        '    { "type": "promptString", "id": "token", "description": "API token", "password": true, },',
        '  ],',
        '  "servers": {',
        '    /* a local server */',
        '    "memory": { "type": "stdio", "command": "npx", "args": ["-y", "server-memory",], },',
        '    "gh": { "type": "http", "url": "https://api.example.com/mcp", "headers": { "Authorization": "Bearer ${GH_TOKEN}" } }, // remote',
        '  },',
        '}',
        '',
      ].join('\n'),
    );
    const { servers: specs, warnings } = loadServers(file, { GH_TOKEN: 't0ken' });
    expect(warnings).toEqual([]);
    expect(specs.map((s) => [s.name, s.transport])).toEqual([
      ['memory', 'stdio'],
      ['gh', 'http'],
    ]);
    expect(specs[0]).toMatchObject({ command: 'npx', args: ['-y', 'server-memory'] });
    expect(specs[1]).toMatchObject({ headers: { Authorization: 'Bearer t0ken' } });
  });

  it('a syntax error in a commented file names line and column, never the text around it', async () => {
    const file = await write('.vscode/mcp.json', '{\n  // token below\n  "servers": {\n    "gh": { "url": "https://h/mcp", "headers": { "X": "sk-live-abcdef" } ]\n  },\n}\n');
    const error = caught(() => loadServers(file, {}));
    expect(error).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file, path: '$' } });
    expect(error.message).toBe(`${file}:4:74: invalid JSON: expected ',' or '}', found "]"`);
  });

  it('refuses a VS Code ${input:…} variable in a server entry: the gateway cannot prompt for it', () => {
    const text = '{"servers": {"gh": {"url": "https://h/mcp", "headers": {"Authorization": "Bearer ${input:token}"}}}}';
    const error = caught(() => parseServers(text, FILE, {}));
    expect(error.code).toBe(ErrorCodes.CONFIG_MISSING_VARIABLE);
    expect(error.message).toContain(`${FILE}: $.servers.gh.headers.Authorization: \${input:token} is a VS Code input`);
    expect(error.details).toEqual({ file: FILE, path: '$.servers.gh.headers.Authorization' });
    // In a disabled entry it stays as written, like a missing variable there.
    const disabled = '{"servers": {"gh": {"url": "https://h/mcp", "enabled": false, "headers": {"A": "${input:token}"}}}}';
    expect(parseServers(disabled, FILE, {}).servers[0]).toMatchObject({ enabled: false, headers: { A: '${input:token}' } });
  });

  it.each([
    [{ command: 'x' }, 'stdio'],
    [{ url: 'https://h/mcp' }, 'http'],
    [{ url: 'https://h/mcp', type: 'streamable-http' }, 'http'],
    [{ url: 'https://h/mcp', transport: 'streamable-http' }, 'http'],
    [{ url: 'https://h/sse', transport: 'sse' }, 'sse'],
    [{ url: 'https://h/sse', type: 'sse', transport: 'sse' }, 'sse'],
    [{ command: 'x', type: 'stdio' }, 'stdio'],
    [{ url: 'https://h/mcp', type: 'http', transport: 'streamable-http' }, 'http'],
  ])('infers or normalises the transport of %j as %s', (entry, transport) => {
    expect(parseServers(servers({ s: entry }), FILE, {}).servers[0]?.transport).toBe(transport);
  });

  it('warns about unknown keys and fields the transport ignores, and drops those fields', () => {
    const { servers: specs, warnings } = parseServers(
      servers({
        a: { command: 'x', envFile: '.env', headers: { 'X-Key': 'v' } },
        b: { url: 'https://h/mcp', args: ['--nope'], env: { K: 'v' } },
      }),
      FILE,
      {},
    );
    expect(warnings).toEqual([
      `${FILE}: $.mcpServers.a.envFile: unknown key "envFile" is ignored`,
      `${FILE}: $.mcpServers.a.headers: ignored for a local (command) server`,
      `${FILE}: $.mcpServers.b.args: ignored for a remote (url) server`,
      `${FILE}: $.mcpServers.b.env: ignored for a remote (url) server`,
    ]);
    expect(specs[0]?.headers).toEqual({});
    expect(specs[1]).toMatchObject({ args: [], env: {} });
    expect(specs[1]?.secretValues).toEqual([]);
  });

  it('resolves a relative cwd against the config file folder', () => {
    const { servers: specs } = parseServers(servers({ a: { command: 'x', cwd: 'sub/dir' } }), '/proj/.mcp.json', {});
    expect(specs[0]?.cwd).toBe('/proj/sub/dir');
  });

  // `auth` blocks and their secrets: registry.test.ts (core) and the plugins' own config tests.

  it('accepts an empty server list', () => {
    expect(parseServers('{"mcpServers": {}}', FILE, {})).toEqual({ servers: [], warnings: [] });
  });

  it('ignores a leading byte order mark', () => {
    expect(parseServers(`\uFEFF${servers({ a: { command: 'x' } })}`, FILE, {}).servers).toHaveLength(1);
  });
});

describe('loadServers: errors name the file and the JSON path', () => {
  it('missing file → CONFIG_NOT_FOUND', () => {
    const file = join(dir, 'nope.json');
    const error = caught(() => loadServers(file, {}));
    expect(error.code).toBe(ErrorCodes.CONFIG_NOT_FOUND);
    expect(error.message).toContain(file);
    expect(error.details.file).toBe(file);
  });

  it('a directory → CONFIG_INVALID', () => {
    const error = caught(() => loadServers(dir, {}));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(dir);
  });

  it.each([
    ['{\n  "mcpServers": {\n    "a": { "command": "x" "args": [] }\n  }\n}', '3:27', "expected ',' or '}'"],
    ['{"mcpServers": {"a": {"command": "x"}}', '1:39', "a '{' is not closed"],
    ['', '1:1', 'empty'],
    ['// nothing but a comment\n', '2:1', 'empty'],
    ['{"mcpServers": {}} x', '1:20', 'after the end'],
    ['{\n  /* servers\n  "mcpServers": {}\n}', '2:3', "a '/*' is not closed"],
    ["{'mcpServers': {}}", '1:2', 'double-quoted'],
    ['{mcpServers: {}}', '1:2', 'double-quoted property name'],
    ['{"a": [1, 2,,]}', '1:13', 'expected a value'],
    ['{"a": "x\ny"}', '1:9', 'line break inside a string'],
    ['{\r\n  "a": tru\r\n}', '2:8', 'expected a value'],
  ])('bad JSON %j → CONFIG_INVALID at line:column', (text, where, reason) => {
    const error = caught(() => parseServers(text, FILE, {}));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${FILE}:${where}: invalid JSON`);
    expect(error.message).toContain(reason);
    expect(error.details).toEqual({ file: FILE, path: '$' });
  });

  it('never quotes file content in a JSON syntax error', () => {
    const error = caught(() => parseServers('{"mcpServers": {"a": {"headers": {"X": "sk-live-abcdef"} ] }}', FILE, {}));
    expect(error.message).not.toContain('sk-live');
  });

  it.each<[string, unknown, string, string]>([
    ['a top-level array', [], '$', 'expected an object, got an array'],
    ['neither servers key', { other: {} }, '$', '"mcpServers"'],
    ['both servers keys', { mcpServers: {}, servers: {} }, '$', 'both "mcpServers" and "servers"'],
    ['mcpServers as an array', { mcpServers: [] }, '$.mcpServers', 'expected an object, got an array'],
    ['an entry that is not an object', { mcpServers: { a: 'node' } }, '$.mcpServers.a', 'expected an object, got a string'],
    ['command and url', { mcpServers: { a: { command: 'x', url: 'https://h' } } }, '$.mcpServers.a', 'both "command" and "url"'],
    ['neither command nor url', { mcpServers: { a: { args: [] } } }, '$.mcpServers.a', 'needs "command"'],
    ['a bad server name', { mcpServers: { 'my server': { command: 'x' } } }, '$.mcpServers["my server"]', 'server names may only hold'],
    ['an empty server name', { mcpServers: { '': { command: 'x' } } }, '$.mcpServers[""]', 'server names'],
    ['an empty command', { mcpServers: { a: { command: '' } } }, '$.mcpServers.a.command', 'must not be empty'],
    ['args not an array', { mcpServers: { a: { command: 'x', args: '--flag' } } }, '$.mcpServers.a.args', 'expected an array, got a string'],
    ['a non-string arg', { mcpServers: { a: { command: 'x', args: ['ok', 3] } } }, '$.mcpServers.a.args[1]', 'expected a string, got an integer'],
    ['a non-string env value', { mcpServers: { a: { command: 'x', env: { PORT: 3000 } } } }, '$.mcpServers.a.env.PORT', 'expected a string'],
    ['an ftp url', { mcpServers: { a: { url: 'ftp://h/x' } } }, '$.mcpServers.a.url', 'http:// or https://'],
    ['a relative url', { mcpServers: { a: { url: '/mcp' } } }, '$.mcpServers.a.url', 'http:// or https://'],
    ['an unknown type', { mcpServers: { a: { url: 'https://h', type: 'websocket' } } }, '$.mcpServers.a.type', 'expected one of "stdio", "http", "streamable-http", "sse"'],
    ['stdio with a url', { mcpServers: { a: { url: 'https://h', type: 'stdio' } } }, '$.mcpServers.a.type', '"stdio" needs "command"'],
    ['http with a command', { mcpServers: { a: { command: 'x', transport: 'http' } } }, '$.mcpServers.a.transport', '"http" needs "url"'],
    ['type and transport disagree', { mcpServers: { a: { url: 'https://h', type: 'http', transport: 'sse' } } }, '$.mcpServers.a.transport', 'conflicts with "type"'],
    ['a negative timeout', { mcpServers: { a: { command: 'x', timeoutMs: -1 } } }, '$.mcpServers.a.timeoutMs', 'must be greater than 0'],
    ['a fractional timeout', { mcpServers: { a: { command: 'x', timeoutMs: 1.5 } } }, '$.mcpServers.a.timeoutMs', 'expected an integer'],
    ['enabled as a string', { mcpServers: { a: { command: 'x', enabled: 'no' } } }, '$.mcpServers.a.enabled', 'expected true or false, got a string'],
    ['a bad header name', { mcpServers: { a: { url: 'https://h', headers: { 'Bad Header': 'v' } } } }, '$.mcpServers.a.headers["Bad Header"]', 'not a valid HTTP header name'],
    ['a header value with a line break', { mcpServers: { a: { url: 'https://h', headers: { 'X-Key': 'a\r\nb' } } } }, '$.mcpServers.a.headers.X-Key', 'line breaks'],
    ['an unknown protocol', { mcpServers: { a: { url: 'https://h', protocol: '2025-06-18' } } }, '$.mcpServers.a.protocol', 'expected one of "auto", "2025-11-25", "2026-07-28"'],
    ['protocol not a string', { mcpServers: { a: { command: 'x', protocol: 2026 } } }, '$.mcpServers.a.protocol', 'expected one of'],
    ['2026-07-28 over legacy SSE', { mcpServers: { a: { url: 'https://h', type: 'sse', protocol: '2026-07-28' } } }, '$.mcpServers.a.protocol', 'legacy "sse" transport is 2025-era only'],
  ])('%s → CONFIG_INVALID at %s', (_what, doc, path, expected) => {
    const error = caught(() => parseServers(JSON.stringify(doc), FILE, {}));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${FILE}: ${path}: `);
    expect(error.message).toContain(expected);
    expect(error.details).toEqual({ file: FILE, path });
  });

  it('reports every problem, one line each, without echoing values', () => {
    const doc = {
      mcpServers: {
        a: { command: 'x', args: [1], headers: { Authorization: 'Bearer very-secret-value' }, timeoutMs: 'soon' },
        b: { url: 'gopher://very-secret-host' },
      },
    };
    const error = caught(() => parseServers(JSON.stringify(doc), FILE, {}));
    expect(error.message.split('\n')).toEqual([
      `${FILE}: $.mcpServers.a.args[0]: expected a string, got an integer`,
      `${FILE}: $.mcpServers.a.timeoutMs: expected a number, got a string`,
      `${FILE}: $.mcpServers.b.url: expected an absolute http:// or https:// URL`,
    ]);
    expect(error.message).not.toContain('secret');
  });

  it('a missing variable → CONFIG_MISSING_VARIABLE naming it, the file and the JSON path', async () => {
    const file = await write('.mcp.json', {
      mcpServers: { github: { url: 'https://api.github.com/mcp', headers: { Authorization: 'Bearer ${GITHUB_TOKEN}' } } },
    });
    const error = caught(() => loadServers(file, {}));
    expect(error.code).toBe(ErrorCodes.CONFIG_MISSING_VARIABLE);
    expect(error.message).toContain('GITHUB_TOKEN');
    expect(error.message).toContain(`${file}: $.mcpServers.github.headers.Authorization`);
    expect(error.details).toEqual({ file, path: '$.mcpServers.github.headers.Authorization' });
  });
});

describe('loadServers: variables', () => {
  it('expands ${VAR} and ${VAR:-default} in entries; configured values and what variables put in are secrets', () => {
    const text = servers({
      gh: {
        url: '${GH_URL:-https://api.github.com/mcp}',
        headers: { Authorization: 'Bearer ${TOKEN}', 'X-Empty': '${EMPTY}' },
      },
      local: { command: '${NODE:-node}', args: ['${HOME_DIR}/srv.js', '${secret:api-key}'], env: { KEY: '${KEY:-dev-key}' } },
    });
    const { servers: specs } = parseServers(text, FILE, { TOKEN: 'abc123', EMPTY: '', HOME_DIR: '/home/u', KEY: '' });
    expect(specs[0]).toMatchObject({
      url: 'https://api.github.com/mcp',
      headers: { Authorization: 'Bearer abc123', 'X-Empty': '' },
      secretValues: ['Bearer abc123', 'abc123'],
    });
    expect(specs[1]).toMatchObject({
      command: 'node',
      args: ['/home/u/srv.js', '${secret:api-key}'],
      env: { KEY: 'dev-key' },
      // a value taken from the environment may be a key passed in args: it is redacted too
      secretValues: ['dev-key', '/home/u'],
    });
  });

  it('refuses "__proto__" as a server name instead of dropping it silently', () => {
    const text = '{"mcpServers": {"__proto__": {"command": "x"}, "ok": {"command": "y"}}}';
    expect(() => parseServers(text, FILE, {})).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', details: { file: FILE, path: '$.mcpServers.__proto__' } }));
  });

  it('does not expand outside server entries', () => {
    const text = JSON.stringify({ note: '${NOT_SET}', mcpServers: { a: { command: 'x' } } });
    expect(parseServers(text, FILE, {}).servers).toHaveLength(1);
  });

  it('a missing variable in a disabled server is a warning and stays unexpanded', () => {
    const text = servers({ off: { command: 'x', enabled: false, env: { TOKEN: '${OFF_TOKEN}' } } });
    const { servers: specs, warnings } = parseServers(text, FILE, {});
    expect(specs[0]).toMatchObject({ enabled: false, env: { TOKEN: '${OFF_TOKEN}' } });
    expect(warnings).toEqual([
      `${FILE}: $.mcpServers.off.env.TOKEN: environment variable OFF_TOKEN is not set; left unexpanded because server 'off' is disabled`,
    ]);
  });
});

describe('expandVariables', () => {
  const env = { A: 'alpha', EMPTY: '', NUM: '42' };
  const expand = (value: unknown) => expandVariables(value, env, FILE);

  it.each([
    ['${A}', 'alpha'],
    ['x-${A}-y-${NUM}', 'x-alpha-y-42'],
    ['${EMPTY}', ''],
    ['${EMPTY:-d}', 'd'],
    ['${UNSET:-d}', 'd'],
    ['${UNSET:-}', ''],
    ['${A:-d}', 'alpha'],
    ['${UNSET:-a b:c/d}', 'a b:c/d'],
    ['$${A}', '$alpha'],
    ['$A and $ alone', '$A and $ alone'],
    ['${secret:TOKEN}', '${secret:TOKEN}'],
    ['${A-B}', '${A-B}'],
    ['${}', '${}'],
    ['${A', '${A'],
  ])('%j → %j', (input, output) => {
    expect(expand(input)).toBe(output);
  });

  it("refuses VS Code's ${input:id}, naming the id only when it looks like one; tolerated with onMissing", () => {
    expect(caught(() => expand('Bearer ${input:token}'))).toMatchObject({
      code: ErrorCodes.CONFIG_MISSING_VARIABLE,
      message: `${FILE}: $: \${input:token} is a VS Code input variable, which the gateway cannot prompt for (use an environment variable \${NAME} or a stored secret \${secret:NAME})`,
    });
    expect(caught(() => expand('${input:sk live x}')).message).not.toContain('sk live');
    expect(expandVariables('${input:token}', env, FILE, '$', { onMissing: () => {} })).toBe('${input:token}');
  });

  it('walks arrays and objects, leaves keys and non-strings alone, does not mutate the input', () => {
    const input = { '${A}': ['${A}', 1, true, null, { k: '${NUM}' }], n: 3 };
    const copy = structuredClone(input);
    expect(expand(input)).toEqual({ '${A}': ['alpha', 1, true, null, { k: '42' }], n: 3 });
    expect(input).toEqual(copy);
  });

  it('expands in one pass: a value that looks like a reference stays literal', () => {
    expect(expandVariables('${X}', { X: '${A}', A: 'no' }, FILE)).toBe('${A}');
  });

  it('does not take Object.prototype members for variables', () => {
    const error = caught(() => expandVariables('${constructor}', {}, FILE));
    expect(error.code).toBe(ErrorCodes.CONFIG_MISSING_VARIABLE);
    expect(expandVariables('${toString:-d}', {}, FILE)).toBe('d');
  });

  it('keeps a "__proto__" key as data', () => {
    const value = JSON.parse('{"__proto__": {"x": "${A}"}}') as unknown;
    const out = expand(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
  });

  it('names the JSON path of a missing variable, from the given base path', () => {
    const error = caught(() => expandVariables({ args: ['ok', '${NOPE}'] }, env, FILE, '$.mcpServers["my.srv"]'));
    expect(error.code).toBe(ErrorCodes.CONFIG_MISSING_VARIABLE);
    expect(error.details).toEqual({ file: FILE, path: '$.mcpServers["my.srv"].args[1]' });
    expect(error.message).toBe(
      `${FILE}: $.mcpServers["my.srv"].args[1]: environment variable NOPE is not set (write \${NOPE:-default} to give a default)`,
    );
  });

  it('refuses absurdly deep nesting with a config error', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 1000; i++) deep = [deep];
    expect(caught(() => expand(deep)).code).toBe(ErrorCodes.CONFIG_INVALID);
  });
});

describe('format helpers', () => {
  it('formats JSON paths', () => {
    expect(formatJsonPath([])).toBe('$');
    expect(formatJsonPath(['mcpServers', 'my-server', 'args', 0])).toBe('$.mcpServers.my-server.args[0]');
    expect(formatJsonPath(['a', 'b.c', '1x', 'with space'])).toBe('$.a["b.c"]["1x"]["with space"]');
  });

  it('locates JSON errors by line and column', () => {
    const problem = (text: string) => {
      const result = parseJsonc(text);
      return result.ok ? undefined : result.problem;
    };
    expect(problem('{"a": 1}')).toBeUndefined();
    expect(problem('{\n  "a": tru\n}')).toMatchObject({ line: 2, column: 8 });
    expect(problem('{"a": "x\ny"}')).toMatchObject({ line: 1, column: 9 });
    expect(problem('[01]')).toMatchObject({ offset: 2 });
    expect(problem('{"a" 1}')).toMatchObject({ offset: 5, reason: expect.stringContaining("expected ':'") });
    expect(problem('"\\x"')).toMatchObject({ offset: 1, reason: 'invalid escape \\x' });
    expect(problem('{"a": "\\u12g4"}')).toMatchObject({ offset: 7, reason: expect.stringContaining('4 hex digits') });
    expect(problem('{"a": "x\ty"}')).toMatchObject({ offset: 8, reason: expect.stringContaining('U+0009 inside a string') });
    expect(problem('{"a": 1} /* open')).toMatchObject({ line: 1, column: 10, reason: expect.stringContaining("'/*' is not closed") });
    expect(problem('// a\r// b\r\n{"a": ?}')).toMatchObject({ line: 3, column: 7 });
    expect(problem('\u00a01')).toMatchObject({ offset: 0, reason: expect.stringContaining('U+00A0') });
  });

  it('parses JSONC: comments and trailing commas, nothing else beyond JSON', () => {
    const text = '// VS Code style\n{\n  /* block */ "a": [1, 2,], // line\n  "b": {"c": null,},\n}\n';
    expect(parseJsonc(text)).toEqual({ ok: true, value: { a: [1, 2], b: { c: null } } });
    expect(parseJsonc('{"a": "// not a comment, /* nor this */"}')).toEqual({ ok: true, value: { a: '// not a comment, /* nor this */' } });
    for (const bad of ["{'a': 1}", '{a: 1}', '[1,,2]', '{,}', '0x1', '+1', 'NaN', '[.5]', '"a\tb"']) expect(parseJsonc(bad).ok).toBe(false);
  });

  it('makes plain objects like JSON.parse: "__proto__" stays a key, the last duplicate wins', () => {
    const result = parseJsonc('{"__proto__": {"polluted": true}, "a": 1, "a": 2,}');
    expect(result.ok).toBe(true);
    const value = (result as { value: Record<string, unknown> }).value;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__', 'a']);
    expect(value.a).toBe(2);
    expect((value as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('refuses absurd nesting with a syntax error rather than a stack overflow', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const error = caught(() => parseJsonText(deep, FILE));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${FILE}:1:${MAX_JSONC_NESTING + 1}: invalid JSON: nested more than ${MAX_JSONC_NESTING} levels deep`);
    expect(parseJsonc('['.repeat(MAX_JSONC_NESTING) + ']'.repeat(MAX_JSONC_NESTING)).ok).toBe(true);
  });
});

describe('loadRules', () => {
  it('loads a valid rules file', async () => {
    const rules = { agents: { researcher: { allow: { servers: ['github'] } } }, defaults: { deny_on_missing_agent: true } };
    const file = await write('.mcp-gateway-rules.json', rules);
    expect(loadRules(file)).toEqual(rules);
  });

  it('schema errors name the file and JSON path', async () => {
    const file = await write('.mcp-gateway-rules.json', { agents: { 'bad id!': {}, ok: { allow: { servers: [''] } } } });
    const error = caught(() => loadRules(file));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${file}: $.agents["bad id!"]: invalid key: agent ids may only hold`);
    expect(error.message).toContain(`${file}: $.agents.ok.allow.servers[0]: a pattern may not be empty`);
    expect(error.details).toEqual({ file, path: '$.agents["bad id!"]' });
  });

  it('an unknown key is reported with the allowed ones', async () => {
    const file = await write('r.json', { agents: {}, defautls: {} });
    const error = caught(() => loadRules(file));
    expect(error.message).toContain(`${file}: $: unknown key "defautls" (allowed: $schema, agents, defaults)`);
  });

  it('bad JSON and missing files', async () => {
    const file = await write('r.json', '{"agents": }');
    expect(caught(() => loadRules(file))).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file } });
    expect(caught(() => loadRules(join(dir, 'none.json'))).code).toBe(ErrorCodes.CONFIG_NOT_FOUND);
  });
});

describe('findFile: discovery order', () => {
  let cwd: string;
  let home: string;
  beforeEach(async () => {
    cwd = join(dir, 'project');
    home = join(dir, 'home');
    await mkdir(cwd, { recursive: true });
    await mkdir(home, { recursive: true });
  });

  it.each(['config', 'rules'] as const)('%s: flag, variable, ./, ./config/ (when the project is trusted), ~/.config/agent-mcp-gateway/', async (kind) => {
    const name = kind === 'config' ? '.mcp.json' : '.mcp-gateway-rules.json';
    const envVar = kind === 'config' ? 'GATEWAY_MCP_CONFIG' : 'GATEWAY_RULES';
    const flagFile = await write('flag.json', '{}');
    const envFile = await write('env.json', '{}');
    const local = await write(`project/${name}`, '{}');
    const user = await write(`home/.config/agent-mcp-gateway/${name}`, '{}');
    const inConfig = await write(`project/config/${name}`, '{}');
    const env = { [envVar]: envFile };

    expect(findFile(kind, { flag: flagFile, env, cwd, home })).toBe(flagFile);
    expect(findFile(kind, { env, cwd, home })).toBe(envFile);
    expect(findFile(kind, { env: {}, cwd, home })).toBe(local);
    expect(findFile(kind, { env: {}, cwd, home, projectTrusted: false })).toBe(user);
    await rm(local);
    expect(findFile(kind, { env: {}, cwd, home })).toBe(inConfig);
    expect(findFile(kind, { env: {}, cwd, home, projectTrusted: false })).toBe(user);
    await rm(inConfig);
    expect(findFile(kind, { env: {}, cwd, home })).toBe(user);
    await rm(user);
    expect(findFile(kind, { env: {}, cwd, home })).toBeUndefined();
  });

  it('resolves relative and ~ paths from flag and variable', async () => {
    const inCwd = await write('project/custom.json', '{}');
    const inHome = await write('home/mine.json', '{}');
    expect(findFile('config', { flag: 'custom.json', env: {}, cwd, home })).toBe(inCwd);
    expect(findFile('config', { env: { GATEWAY_MCP_CONFIG: '~/mine.json' }, cwd, home })).toBe(inHome);
  });

  it('a flag or variable naming a missing file is CONFIG_NOT_FOUND, not a fall-through', async () => {
    await write('project/.mcp.json', '{}');
    const byFlag = caught(() => findFile('config', { flag: 'missing.json', env: {}, cwd, home }));
    expect(byFlag.code).toBe(ErrorCodes.CONFIG_NOT_FOUND);
    expect(byFlag.message).toContain(join(cwd, 'missing.json'));
    expect(byFlag.message).toContain('--config');
    expect(byFlag.details.file).toBe(join(cwd, 'missing.json'));

    const byEnv = caught(() => findFile('rules', { env: { GATEWAY_RULES: '/nowhere/r.json' }, cwd, home }));
    expect(byEnv.code).toBe(ErrorCodes.CONFIG_NOT_FOUND);
    expect(byEnv.message).toContain('GATEWAY_RULES');

    const aDirectory = caught(() => findFile('config', { flag: cwd, env: {}, cwd, home }));
    expect(aDirectory.code).toBe(ErrorCodes.CONFIG_NOT_FOUND);
  });

  it('an empty variable counts as unset', async () => {
    const local = await write('project/.mcp.json', '{}');
    expect(findFile('config', { env: { GATEWAY_MCP_CONFIG: '' }, cwd, home })).toBe(local);
  });
});

describe('loadSettings', () => {
  it('defaults without a settings file', async () => {
    const { settings, file } = await loadSettings({ cwd: dir, env: {} });
    expect(file).toBeUndefined();
    expect(settings).toEqual(GatewaySettingsSchema.parse({}));
    expect(settings).toMatchObject({ logLevel: 'info', transport: 'stdio', tokenStore: 'fs', plugins: [] });
    expect(settings.sections).toEqual({});
  });

  it('picks up .agent-mcp-gatewayrc.json', async () => {
    const file = await write('.agent-mcp-gatewayrc.json', { logLevel: 'debug', initStrategy: 'lazy', plugins: ['./p.mjs', ['~/q.mjs', { a: 1 }]] });
    await write('p.mjs', 'export default {};\n');
    await write('home/q.mjs', 'export default {};\n');
    const loaded = await loadSettings({ cwd: dir, env: {}, home: join(dir, 'home') });
    expect(loaded.file).toBe(file);
    expect(loaded.settings).toMatchObject({ logLevel: 'debug', initStrategy: 'lazy', plugins: [join(dir, 'p.mjs'), [join(dir, 'home/q.mjs'), { a: 1 }]] });
  });

  it('resolves plugin package names from the folder of the settings file, never elsewhere', async () => {
    await write('node_modules/amg-plugin-x/package.json', { name: 'amg-plugin-x', main: 'main.js' });
    const main = await write('node_modules/amg-plugin-x/main.js', 'module.exports = {};\n');
    const file = await write('.agent-mcp-gatewayrc.json', { plugins: ['amg-plugin-x'] });
    expect((await loadSettings({ cwd: dir, env: {} })).settings.plugins).toEqual([main]);
    await write('.agent-mcp-gatewayrc.json', { plugins: ['amg-plugin-missing'] });
    const error = await caughtAsync(() => loadSettings({ cwd: dir, env: {} }));
    expect(error).toMatchObject({ code: ErrorCodes.PLUGIN_ERROR, details: { reason: 'not_found', file, path: '$.plugins[0]' } });
    expect(error.message).toContain(`cannot find plugin 'amg-plugin-missing' from ${dir}`);
  });

  it('picks up YAML, the package.json key and an ES module config', async () => {
    await write('.agent-mcp-gatewayrc.yaml', 'logFormat: json\ninitStrategy: lazy\n');
    expect((await loadSettings({ cwd: dir, env: {} })).settings).toMatchObject({ logFormat: 'json', initStrategy: 'lazy' });
    await rm(join(dir, '.agent-mcp-gatewayrc.yaml'));

    await write('package.json', { name: 'x', 'agent-mcp-gateway': { tokenStore: 'keychain' } });
    expect((await loadSettings({ cwd: dir, env: {} })).settings.tokenStore).toBe('keychain');
    await rm(join(dir, 'package.json'));

    const mjs = await write('agent-mcp-gateway.config.mjs', "export default { debug: true, defaultAgent: 'dev' };\n");
    const loaded = await loadSettings({ cwd: dir, env: {} });
    expect(loaded.file).toBe(mjs);
    expect(loaded.settings).toMatchObject({ debug: true, defaultAgent: 'dev' });
  });

  it('does not look in parent folders', async () => {
    await write('.agent-mcp-gatewayrc.json', { logLevel: 'debug' });
    const child = join(dir, 'child');
    await mkdir(child);
    const loaded = await loadSettings({ cwd: child, env: {} });
    expect(loaded.file).toBeUndefined();
    expect(loaded.settings.logLevel).toBe('info');
  });

  it('schema errors name the file and JSON path (inside package.json too)', async () => {
    const rc = await write('.agent-mcp-gatewayrc.json', { logLevel: 'loud' });
    const error = await caughtAsync(() => loadSettings({ cwd: dir, env: {} }));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${rc}: $.logLevel: expected one of "error", "warn", "info", "debug"`);
    // A key that is neither core's nor a registered section's (checked once the plugins registered theirs).
    await write('.agent-mcp-gatewayrc.json', { tokenStor: 'fs' });
    const unknown = await caughtAsync(() => loadSettings({ cwd: dir, env: {} }));
    expect(unknown).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file: rc, path: '$', reason: 'unknown_setting' } });
    expect(unknown.message).toContain(`${rc}: $: unknown key "tokenStor" (allowed: plugins, logLevel,`);
    await rm(rc);

    const pkg = await write('package.json', { 'agent-mcp-gateway': { callTimeoutMs: 0 } });
    const inPkg = await caughtAsync(() => loadSettings({ cwd: dir, env: {} }));
    expect(inPkg.message).toContain(`${pkg}: $.agent-mcp-gateway.callTimeoutMs: must be greater than 0`);
    expect(inPkg.details).toEqual({ file: pkg, path: '$.agent-mcp-gateway.callTimeoutMs' });
  });

  it('bad JSON or YAML in a settings file → CONFIG_INVALID with the file', async () => {
    const rc = await write('.agent-mcp-gatewayrc.json', '{"logLevel": }');
    const error = await caughtAsync(() => loadSettings({ cwd: dir, env: {} }));
    expect(error).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file: rc } });
    expect(error.message).toContain(`${rc}:1:14: invalid JSON`);
    await rm(rc);

    const yaml = await write('.agent-mcp-gatewayrc.yaml', 'logLevel: [unclosed\n');
    const yamlError = await caughtAsync(() => loadSettings({ cwd: dir, env: {} }));
    expect(yamlError).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file: yaml } });
    expect(yamlError.message).toContain(yaml);
  });

  it('resolves relative paths against the folder of the settings file and ~ against home', async () => {
    await write('.agent-mcp-gatewayrc.json', { tokenDir: 'tokens', auditLog: '~/audit.log' });
    const { settings } = await loadSettings({ cwd: dir, env: {}, home: '/home/u' });
    expect(settings.tokenDir).toBe(join(dir, 'tokens'));
    expect(settings.auditLog).toBe('/home/u/audit.log');
  });

  it('GATEWAY_* variables override the file', async () => {
    await write('.agent-mcp-gatewayrc.json', { logLevel: 'warn', debug: false });
    const env = {
      GATEWAY_LOG_LEVEL: 'DEBUG',
      GATEWAY_DEBUG: 'yes',
      GATEWAY_INIT_STRATEGY: 'lazy',
      GATEWAY_DEFAULT_AGENT: 'researcher',
      GATEWAY_TOKEN_STORE: 'auto',
      GATEWAY_TOKEN_DIR: '/var/tokens',
      GATEWAY_AUDIT_LOG: 'audit.jsonl',
      GATEWAY_TRANSPORT: 'stdio',
    };
    const { settings } = await loadSettings({ cwd: dir, env });
    expect(settings).toMatchObject({
      logLevel: 'debug',
      debug: true,
      initStrategy: 'lazy',
      defaultAgent: 'researcher',
      tokenStore: 'auto',
      tokenDir: '/var/tokens',
      auditLog: join(dir, 'audit.jsonl'),
      transport: 'stdio',
    });
  });

  it.each([
    ['GATEWAY_DEBUG', '1', { debug: true }],
    ['GATEWAY_DEBUG', 'TRUE', { debug: true }],
    ['GATEWAY_DEBUG', 'no', { debug: false }],
    ['GATEWAY_TRANSPORT', 'stdio', { transport: 'stdio' }],
    ['GATEWAY_LOG_LEVEL', '', { logLevel: 'info' }],
  ])('%s=%j', (variable, value, expected) => {
    expect(applyEnvOverrides(GatewaySettingsSchema.parse({}), { [variable]: value })).toMatchObject(expected);
  });

  it.each([
    ['GATEWAY_LOG_LEVEL', 'verbose', 'expected one of "error", "warn", "info", "debug"'],
    ['GATEWAY_DEBUG', 'maybe', 'expected 1, true, yes or on'],
    ['GATEWAY_INIT_STRATEGY', 'sometimes', 'expected one of "eager", "lazy"'],
    ['GATEWAY_DEFAULT_AGENT', 'no spaces', 'agent ids may only hold'],
    ['GATEWAY_TRANSPORT', 'ws', 'expected "stdio" (no plugin registered another way of serving)'],
  ])('%s=%j → CONFIG_INVALID naming the variable', async (variable, value, expected) => {
    const error = await caughtAsync(() => loadSettings({ cwd: dir, env: { [variable]: value } }));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${variable}=${JSON.stringify(value)}`);
    expect(error.message).toContain(expected);
    expect(error.details).toEqual({ path: variable });
  });
});

describe('loadGatewayConfig', () => {
  let cwd: string;
  let home: string;
  beforeEach(async () => {
    cwd = join(dir, 'project');
    home = join(dir, 'home');
    await mkdir(cwd, { recursive: true });
    await mkdir(home, { recursive: true });
  });

  it('no servers file → CONFIG_NOT_FOUND listing the places searched', async () => {
    const error = await caughtAsync(() => loadGatewayConfig({ cwd, env: {}, home }));
    expect(error.code).toBe(ErrorCodes.CONFIG_NOT_FOUND);
    expect(error.message).toContain(join(cwd, '.mcp.json'));
    expect(error.message).toContain(join(home, '.config/agent-mcp-gateway/.mcp.json'));
    expect(error.message).toContain(join(cwd, 'config/.mcp.json'));
    expect(error.message).toContain('GATEWAY_MCP_CONFIG');
  });

  it('loads servers, rules and settings, with sources and warnings', async () => {
    const config = await write('project/.mcp.json', {
      mcpServers: { gh: { url: 'https://h/mcp', headers: { Authorization: 'Bearer ${T}' }, extra: 1 } },
    });
    const rules = await write('home/.config/agent-mcp-gateway/.mcp-gateway-rules.json', { agents: { default: {} } });
    const settings = await write('project/.agent-mcp-gatewayrc.json', { logLevel: 'warn' });
    trustFolder(cwd, home);
    const loaded = await loadGatewayConfig({ cwd, env: { T: 'tok' }, home });
    expect(loaded.servers).toHaveLength(1);
    expect(loaded.servers[0]?.headers).toEqual({ Authorization: 'Bearer tok' });
    expect(loaded.rules).toEqual({ agents: { default: {} } });
    expect(loaded.settings.logLevel).toBe('warn');
    expect(loaded.sources).toEqual({ config, rules, settings });
    expect(loaded.warnings).toEqual([`${config}: $.mcpServers.gh.extra: unknown key "extra" is ignored`]);
  });

  it('rules are optional; explicit paths win', async () => {
    await write('project/.mcp.json', { mcpServers: {} });
    const other = await write('other.json', { servers: { a: { command: 'x' } } });
    const loaded = await loadGatewayConfig({ configPath: other, cwd, env: {}, home });
    expect(loaded.rules).toBeUndefined();
    expect(loaded.sources).toEqual({ config: other });
    expect(loaded.servers.map((s) => s.name)).toEqual(['a']);
  });

  it('an invalid rules file fails the load with file and path', async () => {
    await write('project/.mcp.json', { mcpServers: {} });
    const rules = await write('project/.mcp-gateway-rules.json', { agents: [] });
    trustFolder(cwd, home);
    const error = await caughtAsync(() => loadGatewayConfig({ cwd, env: {}, home }));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${rules}: $.agents: expected an object, got an array`);
  });

  it('a --rules path that does not exist is CONFIG_NOT_FOUND', async () => {
    await write('project/.mcp.json', { mcpServers: {} });
    trustFolder(cwd, home);
    const error = await caughtAsync(() => loadGatewayConfig({ rulesPath: 'nope.json', cwd, env: {}, home }));
    expect(error.code).toBe(ErrorCodes.CONFIG_NOT_FOUND);
    expect(error.details.file).toBe(join(cwd, 'nope.json'));
  });
});

describe('trust: project files are read only from a trusted folder', () => {
  let cwd: string;
  let home: string;
  let userDir: string;
  /** A settings module that leaves a mark when imported. */
  const marking = (marker: string, settings: Record<string, unknown> = {}) =>
    `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'imported');\nexport default ${JSON.stringify(settings)};\n`;
  beforeEach(async () => {
    cwd = join(dir, 'project');
    home = join(dir, 'home');
    userDir = join(home, '.config', 'agent-mcp-gateway');
    await mkdir(cwd, { recursive: true });
    await mkdir(userDir, { recursive: true });
  });

  it('an untrusted folder: its servers, rules and settings are not read (a JS settings file is never imported); the user folder is, and each project file is reported', async () => {
    const marker = join(dir, 'imported');
    await write('project/.mcp.json', { mcpServers: { evil: { command: 'evil' } } });
    await write('project/.mcp-gateway-rules.json', { agents: { default: { allow: { servers: ['*'] } } } });
    await write('project/agent-mcp-gateway.config.mjs', marking(marker, { tokenDir: './stolen' }));
    await write('project/package.json', { name: 'no-settings-here' });
    const userConfig = await write('home/.config/agent-mcp-gateway/.mcp.json', { mcpServers: { mine: { command: 'mine' } } });
    const userRules = await write('home/.config/agent-mcp-gateway/.mcp-gateway-rules.json', { agents: { default: { allow: { servers: ['mine'] } } } });
    const loaded = await loadGatewayConfig({ cwd, env: {}, home });
    expect(loaded.servers.map((s) => s.name)).toEqual(['mine']);
    expect(loaded.sources).toEqual({ config: userConfig, rules: userRules });
    expect(loaded.settings.tokenDir).toBeUndefined();
    expect(existsSync(marker)).toBe(false);
    const files = ['.mcp.json', '.mcp-gateway-rules.json', 'agent-mcp-gateway.config.mjs'].map((f) => join(cwd, f));
    expect(loaded.untrusted).toHaveLength(3);
    files.forEach((file, i) => expect(loaded.untrusted[i]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not used: .* is not a trusted folder; run 'agent-mcp-gateway trust' in ${cwd}`)));
    expect(loaded.warnings.slice(0, 3)).toEqual(loaded.untrusted);
    // No other servers file: CONFIG_NOT_FOUND names the untrusted ones and the fix.
    await rm(userConfig);
    const error = await caughtAsync(() => loadGatewayConfig({ cwd, env: {}, home }));
    expect(error.code).toBe(ErrorCodes.CONFIG_NOT_FOUND);
    expect(error.message).toContain(`Not used, because ${cwd} is not trusted: ${files.join(', ')}`);
    expect(error.message).toContain("run 'agent-mcp-gateway trust'");
    expect(existsSync(marker)).toBe(false);
  });

  it('trusted: the folder is used; a changed, added or removed file makes it untrusted again; revoking forgets it', async () => {
    const marker = join(dir, 'imported');
    const config = await write('project/.mcp.json', { mcpServers: { proj: { command: 'proj' } } });
    const settings = await write('project/agent-mcp-gateway.config.mjs', marking(marker, { tokenDir: './tokens', plugins: ['./plugin.mjs'] }));
    await write('project/plugin.mjs', 'export default {};\n');
    const recorded = trustFolder(cwd, home);
    expect(recorded.files.map((f) => f.file)).toEqual([config, settings]);
    expect(recorded.store).toBe(trustStorePath(userDir));
    expect((await stat(recorded.store)).mode & 0o777).toBe(0o600);
    expect(readTrustStore(userDir).store.get(cwd)?.files).toEqual({ '.mcp.json': recorded.files[0]?.hash, 'agent-mcp-gateway.config.mjs': recorded.files[1]?.hash });

    const loaded = await loadGatewayConfig({ cwd, env: {}, home });
    expect(loaded.servers.map((s) => s.name)).toEqual(['proj']);
    expect(loaded.sources).toEqual({ config, settings });
    expect(loaded.untrusted).toEqual([]);
    expect(existsSync(marker)).toBe(true);
    // Paths in the settings are relative to the settings file's folder.
    expect(loaded.settings.tokenDir).toBe(join(cwd, 'tokens'));
    expect(loaded.settings.plugins).toEqual([join(cwd, 'plugin.mjs')]);
    // The trust store is watched: `trust` after a change makes a reload pick the file up.
    expect(loaded.watch).toEqual([config, settings, trustStorePath(userDir)]);

    await rm(marker);
    await write('project/.mcp.json', { mcpServers: { proj: { command: 'changed' } } });
    let judged = projectTrust(cwd, userDir);
    expect(judged.trusted).toBe(false);
    expect(judged.problems).toEqual([expect.stringMatching(new RegExp(`^${config.replace(/\./g, '\\.')}: not used: changed since ${cwd} was trusted`))]);
    await expect(loadGatewayConfig({ cwd, env: {}, home })).rejects.toMatchObject({ code: ErrorCodes.CONFIG_NOT_FOUND });
    expect(existsSync(marker)).toBe(false);

    trustFolder(cwd, home);
    expect(projectTrust(cwd, userDir).trusted).toBe(true);
    const rules = await write('project/config/.mcp-gateway-rules.json', { agents: {} });
    judged = projectTrust(cwd, userDir);
    expect(judged.problems).toEqual([expect.stringContaining(`${rules}: not used: added since ${cwd} was trusted`)]);

    trustFolder(cwd, home);
    expect((await loadGatewayConfig({ cwd, env: {}, home })).sources.rules).toBe(rules);
    await rm(rules);
    judged = projectTrust(cwd, userDir);
    expect(judged.problems).toEqual([expect.stringContaining(`${rules}: missing since ${cwd} was trusted`)]);

    expect(revokeFolder(cwd, home)).toBe(true);
    expect(revokeFolder(cwd, home)).toBe(false);
    expect(projectTrust(cwd, userDir).problems).toEqual([config, settings].map((f) => expect.stringContaining(`${f}: not used: ${cwd} is not a trusted folder`)));
  });

  it('an explicit --config: its folder is trusted (settings next to it are read), the working folder is not', async () => {
    const marker = join(dir, 'imported');
    await write('project/agent-mcp-gateway.config.mjs', marking(marker));
    await write('project/.mcp-gateway-rules.json', { agents: {} });
    const other = await write('elsewhere/servers.json', { mcpServers: { a: { command: 'a' } } });
    const otherSettings = await write('elsewhere/.agent-mcp-gatewayrc.json', { tokenDir: 'tok', auditLog: 'audit.jsonl' });
    const loaded = await loadGatewayConfig({ configPath: other, cwd, env: {}, home });
    expect(loaded.sources).toEqual({ config: other, settings: otherSettings });
    expect(loaded.settings.tokenDir).toBe(join(dir, 'elsewhere', 'tok'));
    expect(existsSync(marker)).toBe(false);
    expect(loaded.untrusted).toHaveLength(2);
    expect(loaded.watch).toEqual([other, otherSettings]);

    // The same with the servers file in the working folder: that folder is trusted by the flag.
    const local = await write('project/mine.json', { mcpServers: {} });
    const here = await loadGatewayConfig({ configPath: local, cwd, env: {}, home });
    expect(here.sources).toMatchObject({ config: local, rules: join(cwd, '.mcp-gateway-rules.json'), settings: join(cwd, 'agent-mcp-gateway.config.mjs') });
    expect(here.untrusted).toEqual([]);
    expect(existsSync(marker)).toBe(true);
  });

  it('settings: next to the servers file, else the user folder; never the working folder; env paths against the working folder', async () => {
    await write('home/.config/agent-mcp-gateway/.mcp.json', { mcpServers: {} });
    const userSettings = await write('home/.config/agent-mcp-gateway/.agent-mcp-gatewayrc.json', { logLevel: 'warn', tokenDir: 'oauth2' });
    await write('project/.agent-mcp-gatewayrc.json', { logLevel: 'debug' });
    const loaded = await loadGatewayConfig({ cwd, env: { GATEWAY_AUDIT_LOG: 'a.jsonl' }, home });
    expect(loaded.sources.settings).toBe(userSettings);
    expect(loaded.settings).toMatchObject({ logLevel: 'warn', tokenDir: join(userDir, 'oauth2'), auditLog: join(cwd, 'a.jsonl') });
    // The settings alone (secret, auth migrate) come from the same place.
    const only = await loadSettingsFor({ cwd, env: {}, home });
    expect(only.file).toBe(userSettings);
    expect(only.untrusted).toEqual([expect.stringContaining(join(cwd, '.agent-mcp-gatewayrc.json'))]);
  });

  it("a settings file can't pull in other files: $import is an unknown key, and cosmiconfig meta config in the working folder is ignored", async () => {
    const other = await write('elsewhere/.mcp.json', { mcpServers: {} });
    const rc = await write('elsewhere/.agent-mcp-gatewayrc.json', { $import: './more.json' });
    const error = await caughtAsync(() => loadGatewayConfig({ configPath: other, cwd, env: {}, home }));
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.message).toContain(`${rc}: $: unknown key "$import"`);
    await rm(rc);
    // cosmiconfig would read searchPlaces from ./.config/config.json of the working folder.
    await write('project/.config/config.json', { 'agent-mcp-gateway': { searchPlaces: ['evil.json'] } });
    await write('project/evil.json', { logLevel: 'debug' });
    const loaded = await loadGatewayConfig({ configPath: other, cwd, env: {}, home });
    expect(loaded.settings.logLevel).toBe('info');
    expect(loaded.sources.settings).toBeUndefined();
  });

  it('an unreadable trust store trusts nothing, and says so', async () => {
    await write('project/.mcp.json', { mcpServers: { proj: { command: 'p' } } });
    trustFolder(cwd, home);
    await writeFile(trustStorePath(userDir), '{"version": 1, "folders": {"x": {"files": {"a": "md5:1"}}}}');
    const judged = projectTrust(cwd, userDir);
    expect(judged.trusted).toBe(false);
    expect(judged.problems[0]).toContain(`${trustStorePath(userDir)}: not a valid trust store; no project folder is trusted`);
  });
});

describe('reloadGatewayConfig: exactly the files in use', () => {
  let cwd: string;
  let home: string;
  beforeEach(async () => {
    cwd = join(dir, 'project');
    home = join(dir, 'home');
    await mkdir(cwd, { recursive: true });
    await mkdir(home, { recursive: true });
  });

  it('a vanished rules or settings file is an error naming it, never "no rules"; files created later are not picked up', async () => {
    const config = await write('home/.config/agent-mcp-gateway/.mcp.json', { mcpServers: { a: { command: 'a' } } });
    const rules = await write('home/.config/agent-mcp-gateway/.mcp-gateway-rules.json', { agents: { default: { allow: { servers: ['a'] } } } });
    const settings = await write('home/.config/agent-mcp-gateway/.agent-mcp-gatewayrc.json', { logLevel: 'warn' });
    const opts = { cwd, env: {}, home };
    const first = await loadGatewayConfig(opts);
    expect(first.sources).toEqual({ config, rules, settings });

    // A project's files appearing later (trusted, even) do not replace the files in use.
    await write('project/.mcp.json', { mcpServers: { intruder: { command: 'x' } } });
    await write('project/.mcp-gateway-rules.json', { agents: { default: { allow: { servers: ['*'] } } } });
    trustFolder(cwd, home);
    const again = await reloadGatewayConfig(first.sources, opts);
    expect(again.servers.map((s) => s.name)).toEqual(['a']);
    expect(again.sources).toEqual(first.sources);
    expect(again.rules).toEqual(first.rules);

    await rm(rules);
    await expect(reloadGatewayConfig(first.sources, opts)).rejects.toMatchObject({ code: ErrorCodes.CONFIG_NOT_FOUND, details: { file: rules } });
    await write('home/.config/agent-mcp-gateway/.mcp-gateway-rules.json', { agents: {} });
    await rm(settings);
    await expect(reloadGatewayConfig(first.sources, opts)).rejects.toMatchObject({ code: ErrorCodes.CONFIG_NOT_FOUND, details: { file: settings } });
  });

  it('no rules file at start: none after a reload either, whatever appears', async () => {
    const config = await write('home/.config/agent-mcp-gateway/.mcp.json', { mcpServers: {} });
    const first = await loadGatewayConfig({ cwd, env: {}, home });
    await write('home/.config/agent-mcp-gateway/.mcp-gateway-rules.json', { agents: {} });
    const again = await reloadGatewayConfig(first.sources, { cwd, env: {}, home });
    expect(again.sources).toEqual({ config });
    expect(again.rules).toBeUndefined();
  });

  it('a trusted project file changed while running is refused until trusted again', async () => {
    const config = await write('project/.mcp.json', { mcpServers: { a: { command: 'a' } } });
    trustFolder(cwd, home);
    const opts = { cwd, env: {}, home };
    const first = await loadGatewayConfig(opts);
    await write('project/.mcp.json', { mcpServers: { a: { command: 'a' }, b: { command: 'b' } } });
    const error = await caughtAsync(() => reloadGatewayConfig(first.sources, opts));
    expect(error).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, details: { file: config } });
    expect(error.message).toContain(`${config}: not loaded: changed since its folder was trusted; review it, then run 'agent-mcp-gateway trust' in ${cwd}`);
    trustFolder(cwd, home);
    expect((await reloadGatewayConfig(first.sources, opts)).servers.map((s) => s.name)).toEqual(['a', 'b']);
  });

  it('explicit files reload as before: a vanished --rules file is an error', async () => {
    const configPath = await write('c/.mcp.json', { mcpServers: {} });
    const rulesPath = await write('r/rules.json', { agents: {} });
    const opts = { configPath, rulesPath, cwd, env: {}, home };
    const first = await loadGatewayConfig(opts);
    expect((await reloadGatewayConfig(first.sources, opts)).sources).toEqual({ config: configPath, rules: rulesPath });
    await rm(rulesPath);
    await expect(reloadGatewayConfig(first.sources, opts)).rejects.toMatchObject({ code: ErrorCodes.CONFIG_NOT_FOUND, details: { file: rulesPath } });
  });
});
