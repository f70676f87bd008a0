/**
 * The built CLI as a black box: version/help/usage errors, config errors (for
 * `serve` and `validate`), `validate`, discovery, `init`, and that secrets never
 * reach the gateway's stderr.
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { demoServer, json, runCli, startGateway, stdioServerPath, tempDir, writeConfig, type RunningGateway } from './harness.js';

/** `--version` prints core's GATEWAY_VERSION, which is read from core's package.json. */
const CORE_VERSION = (JSON.parse(readFileSync(new URL('../../core/package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A home folder of its own, so the real `~/.config` is never read or written. */
async function emptyHome(): Promise<string> {
  return realpath(await tempDir());
}

async function writeJson(file: string, value: unknown): Promise<string> {
  await writeFile(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
}

const OK_SERVERS = { notes: demoServer('notes') };

describe('--version, --help and usage errors', () => {
  it('--version / -v print the core version and exit 0', async () => {
    expect(CORE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag], { env: { HOME: await emptyHome() } });
      expect(r).toEqual({ code: 0, stdout: `${CORE_VERSION}\n`, stderr: '' });
    }
  });

  it('--help / -h print the usage to stdout and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli([flag], { env: { HOME: await emptyHome() } });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: agent-mcp-gateway /);
      for (const word of ['serve', 'init', 'validate', '--config', '--rules', '--version', 'GATEWAY_MCP_CONFIG', 'Exit codes']) {
        expect(r.stdout).toContain(word);
      }
      expect(r.stderr).toBe('');
    }
  });

  it.each([
    [['--bogus'], /--bogus/],
    [['-x'], /-x/],
    [['frob'], /Unknown command 'frob'/],
    [['validate', 'extra'], /Unexpected argument 'extra'/],
    [['--config'], /--config/],
  ])('%j exits 2 with the usage on stderr and nothing on stdout', async (args, why) => {
    const home = await emptyHome();
    const help = await runCli(['--help'], { env: { HOME: home } });
    const r = await runCli(args, { env: { HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const [reason, ...rest] = r.stderr.split('\n');
    expect(reason).toMatch(/^agent-mcp-gateway: /);
    expect(reason).toMatch(why);
    // The reason, a blank line, then the same usage --help prints.
    expect(rest.join('\n')).toBe(`\n${help.stdout}`);
  });
});

/** One broken setup: the command-line flags and env it needs, and what stderr must say. */
interface BrokenCase {
  readonly name: string;
  setup(dir: string): Promise<{ args: string[]; env?: Record<string, string>; expect: (string | RegExp)[] }>;
}

const BROKEN: BrokenCase[] = [
  {
    name: 'missing config file (--config)',
    async setup(dir) {
      const file = join(dir, 'nope.json');
      return { args: ['--config', file], expect: ['CONFIG_NOT_FOUND', file, '--config'] };
    },
  },
  {
    name: 'missing config file (GATEWAY_MCP_CONFIG)',
    async setup(dir) {
      const file = join(dir, 'nope.json');
      // ./.mcp.json exists but must not be used instead of the file the variable names.
      await writeJson(join(dir, '.mcp.json'), { mcpServers: OK_SERVERS });
      return { args: [], env: { GATEWAY_MCP_CONFIG: file }, expect: ['CONFIG_NOT_FOUND', file, 'GATEWAY_MCP_CONFIG'] };
    },
  },
  {
    name: 'bad JSON (line:column)',
    async setup(dir) {
      // Comments and trailing commas are fine (JSONC); a missing comma is not.
      const file = await writeJson(join(dir, 'bad.json'), '{\n  // servers\n  "mcpServers": {\n    "x": { "command": "a" "args": [], },\n  },\n}\n');
      return { args: ['--config', file], expect: ['CONFIG_INVALID', `${file}:4:27:`, /invalid JSON: expected ',' or '}'/] };
    },
  },
  {
    name: 'empty config file',
    async setup(dir) {
      const file = await writeJson(join(dir, 'empty.json'), '');
      return { args: ['--config', file], expect: ['CONFIG_INVALID', `${file}:1:1`, /empty/] };
    },
  },
  {
    name: 'schema violation (args a number)',
    async setup(dir) {
      const file = await writeJson(join(dir, 'schema.json'), { mcpServers: { x: { command: 'a', args: 3 } } });
      return { args: ['--config', file], expect: ['CONFIG_INVALID', `${file}: $.mcpServers.x.args:`, /array/] };
    },
  },
  {
    name: 'missing variable in a header',
    async setup(dir) {
      const file = await writeJson(join(dir, 'header.json'), {
        mcpServers: { x: { url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer ${NOPE}' } } },
      });
      return { args: ['--config', file], expect: ['CONFIG_MISSING_VARIABLE', `${file}: $.mcpServers.x.headers.Authorization:`, 'NOPE'] };
    },
  },
  {
    name: 'missing variable in an env value',
    async setup(dir) {
      const file = await writeJson(join(dir, 'env.json'), { mcpServers: { x: demoServer('x', { env: { API_KEY: '${NOPE}' } }) } });
      return { args: ['--config', file], expect: ['CONFIG_MISSING_VARIABLE', `${file}: $.mcpServers.x.env.API_KEY:`, 'NOPE'] };
    },
  },
  {
    name: 'invalid rules file (bad agent id)',
    async setup(dir) {
      const config = await writeJson(join(dir, 'ok.json'), { mcpServers: OK_SERVERS });
      const rules = await writeJson(join(dir, 'rules.json'), { agents: { 'bad id!': { allow: { servers: ['notes'] } } } });
      return { args: ['--config', config, '--rules', rules], expect: ['CONFIG_INVALID', `${rules}: $.agents["bad id!"]:`, /agent id/] };
    },
  },
  {
    name: 'invalid rules file (wrong type deep inside)',
    async setup(dir) {
      const config = await writeJson(join(dir, 'ok.json'), { mcpServers: OK_SERVERS });
      const rules = await writeJson(join(dir, 'rules.json'), { agents: { a: { allow: { servers: 'notes' } } } });
      return { args: ['--config', config, '--rules', rules], expect: ['CONFIG_INVALID', `${rules}: $.agents.a.allow.servers:`] };
    },
  },
  {
    name: 'missing rules file (GATEWAY_RULES)',
    async setup(dir) {
      const config = await writeJson(join(dir, 'ok.json'), { mcpServers: OK_SERVERS });
      const rules = join(dir, 'no-rules.json');
      return { args: ['--config', config], env: { GATEWAY_RULES: rules }, expect: ['CONFIG_NOT_FOUND', rules, 'GATEWAY_RULES'] };
    },
  },
];

describe.each([
  ['serve (no subcommand)', [] as string[]],
  ['validate', ['validate']],
])('config errors: %s', (_label, command) => {
  it.each(BROKEN.map((c) => [c.name, c] as const))('%s → exit 1, stderr names file and path, stdout empty', async (_name, broken) => {
    const dir = await realpath(await tempDir());
    const setup = await broken.setup(dir);
    const r = await runCli([...command, ...setup.args], { cwd: dir, env: { HOME: dir, ...setup.env } });
    expect(r.code, r.stderr).toBe(1);
    // stdout is the MCP channel when serving: a failed start writes nothing there.
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^agent-mcp-gateway: /);
    for (const part of setup.expect) {
      if (typeof part === 'string') expect(r.stderr).toContain(part);
      else expect(r.stderr).toMatch(part);
    }
    // One clear line, no stack trace.
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('validate', () => {
  it('a good config and rules: exit 0, ok: on stdout naming both files, nothing on stderr', async () => {
    const files = await writeConfig(OK_SERVERS, { agents: { researcher: { allow: { servers: ['notes'] } } } });
    const r = await runCli(['validate', '--config', files.config, '--rules', files.rules ?? ''], { cwd: files.dir, env: { HOME: files.dir } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^ok: /);
    expect(r.stdout).toContain(files.config);
    expect(r.stdout).toContain(files.rules);
    expect(r.stdout).toContain('1 servers');
    expect(r.stdout).toContain('1 agents');
  });

  it('a good config without rules: exit 0 and says every agent may use every server', async () => {
    const files = await writeConfig(OK_SERVERS);
    const r = await runCli(['validate', '--config', files.config], { cwd: files.dir, env: { HOME: files.dir } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok: .*no rules file/);
  });

  it('rules naming an unconfigured server: exit 0 with a warning naming the rules file and JSON path', async () => {
    const files = await writeConfig(OK_SERVERS, {
      agents: { a: { allow: { servers: ['notes', 'ghost'], tools: { phantom: ['x'] } } } },
    });
    const r = await runCli(['validate', '--config', files.config, '--rules', files.rules ?? ''], { cwd: files.dir, env: { HOME: files.dir } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok: .*2 warning\(s\)/);
    const warnings = r.stderr.trim().split('\n');
    expect(warnings).toEqual([
      `warning: ${files.rules}: $.agents.a.allow.servers[1]: server 'ghost' is not configured`,
      `warning: ${files.rules}: $.agents.a.allow.tools.phantom: server 'phantom' is not configured`,
    ]);
  });

  it('servers-file findings (unknown keys) are warnings naming the file and path, still exit 0', async () => {
    const files = await writeConfig({ notes: demoServer('notes', { colour: 'red' }) });
    const r = await runCli(['validate', '--config', files.config], { cwd: files.dir, env: { HOME: files.dir } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`warning: ${files.config}: $.mcpServers.notes.colour:`);
  });
});

describe('discovery', () => {
  it('with no flags, ./.mcp.json and ./.mcp-gateway-rules.json in the working directory are found once the folder is trusted', async () => {
    const cwd = await realpath(await tempDir());
    const home = await emptyHome();
    await writeJson(join(cwd, '.mcp.json'), { mcpServers: OK_SERVERS });
    await writeJson(join(cwd, '.mcp-gateway-rules.json'), { agents: { a: { allow: { servers: ['*'] } } } });
    const untrusted = await runCli(['validate'], { cwd, env: { HOME: home } });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain(`CONFIG_NOT_FOUND`);
    expect(untrusted.stderr).toContain(`Not used, because ${cwd} is not trusted: ${join(cwd, '.mcp.json')}, ${join(cwd, '.mcp-gateway-rules.json')}`);
    expect((await runCli(['trust'], { cwd, env: { HOME: home } })).code).toBe(0);
    const r = await runCli(['validate'], { cwd, env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`ok: ${join(cwd, '.mcp.json')} (1 servers)`);
    expect(r.stdout).toContain(join(cwd, '.mcp-gateway-rules.json'));
  });

  it('GATEWAY_MCP_CONFIG beats ./.mcp.json', async () => {
    const cwd = await realpath(await tempDir());
    await writeJson(join(cwd, '.mcp.json'), { mcpServers: OK_SERVERS });
    const other = await writeJson(join(await emptyHome(), 'elsewhere.json'), { mcpServers: { a: demoServer('a'), b: demoServer('b') } });
    const r = await runCli(['validate'], { cwd, env: { HOME: await emptyHome(), GATEWAY_MCP_CONFIG: other } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`ok: ${other} (2 servers)`);
    expect(r.stdout).not.toContain(join(cwd, '.mcp.json'));
  });

  it('--config beats GATEWAY_MCP_CONFIG', async () => {
    const cwd = await realpath(await tempDir());
    const viaFlag = await writeJson(join(cwd, 'flag.json'), { mcpServers: OK_SERVERS });
    const viaEnv = await writeJson(join(cwd, 'env.json'), { mcpServers: OK_SERVERS });
    const r = await runCli(['validate', '--config', viaFlag], { cwd, env: { HOME: cwd, GATEWAY_MCP_CONFIG: viaEnv } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`ok: ${viaFlag}`);
  });

  it('~/.config/agent-mcp-gateway/.mcp.json is found when the working directory has none', async () => {
    const cwd = await realpath(await tempDir());
    const home = await emptyHome();
    const dir = join(home, '.config', 'agent-mcp-gateway');
    await mkdir(dir, { recursive: true });
    await writeJson(join(dir, '.mcp.json'), { mcpServers: OK_SERVERS });
    const r = await runCli(['validate'], { cwd, env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`ok: ${join(dir, '.mcp.json')}`);
  });

  it('nothing anywhere: exit 1, CONFIG_NOT_FOUND listing every place searched', async () => {
    const cwd = await realpath(await tempDir());
    const home = await emptyHome();
    for (const command of [['validate'], []]) {
      const r = await runCli(command, { cwd, env: { HOME: home } });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('CONFIG_NOT_FOUND');
      for (const place of [join(cwd, '.mcp.json'), join(home, '.config', 'agent-mcp-gateway', '.mcp.json'), join(cwd, 'config', '.mcp.json')]) {
        expect(r.stderr).toContain(place);
      }
      expect(r.stderr).toContain('--config');
      expect(r.stderr).toContain('GATEWAY_MCP_CONFIG');
    }
  });
});

describe('init', () => {
  const mode = async (file: string) => (await stat(file)).mode & 0o777;

  it('writes valid templates with mode 0600, keeps existing files without --force, overwrites with it', async () => {
    const home = await emptyHome();
    const dir = join(home, '.config', 'agent-mcp-gateway');
    const config = join(dir, '.mcp.json');
    const rules = join(dir, '.mcp-gateway-rules.json');
    const cwd = await realpath(await tempDir());

    const first = await runCli(['init'], { cwd, env: { HOME: home } });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`Wrote ${config}\nWrote ${rules}\n`);
    expect(await mode(config)).toBe(0o600);
    expect(await mode(rules)).toBe(0o600);
    expect((await stat(dir)).mode & 0o077).toBe(0);
    const template = await readFile(config, 'utf8');

    const valid = await runCli(['validate', '--config', config, '--rules', rules], { cwd, env: { HOME: home } });
    expect(valid.code, valid.stderr).toBe(0);
    expect(valid.stdout).toMatch(/^ok: /);
    expect(valid.stderr).toBe('');
    // With nothing in the working directory, validate discovers exactly what init wrote.
    const discovered = await runCli(['validate'], { cwd, env: { HOME: home } });
    expect(discovered.code, discovered.stderr).toBe(0);
    expect(discovered.stdout).toContain(config);
    expect(discovered.stdout).toContain(rules);

    // A second init with stdin not a TTY: nobody to ask, so nothing is overwritten.
    const edited = JSON.stringify({ mcpServers: { mine: { command: 'mine' } } });
    await writeFile(config, edited);
    await chmod(config, 0o644);
    const second = await runCli(['init'], { cwd, env: { HOME: home }, input: 'y\n' });
    expect(second.code).toBe(1);
    expect(second.stdout).toBe('');
    expect(second.stderr).toContain(`Kept ${config}`);
    expect(second.stderr).toContain(`Kept ${rules}`);
    expect(second.stderr).toContain('--force');
    expect(await readFile(config, 'utf8')).toBe(edited);

    // --force overwrites, and the overwritten file ends up 0600 too.
    const forced = await runCli(['init', '--force'], { cwd, env: { HOME: home } });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toBe(`Wrote ${config}\nWrote ${rules}\n`);
    expect(await readFile(config, 'utf8')).toBe(template);
    expect(await mode(config)).toBe(0o600);
    expect(await mode(rules)).toBe(0o600);
  });

  it('writes where --config and --rules say (relative to the working folder), and nothing into the user folder', async () => {
    const home = await emptyHome();
    const cwd = await realpath(await tempDir());
    const r = await runCli(['init', '--config', 'team/servers.json', '--rules', join(cwd, 'team', 'rules.json')], { cwd, env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Wrote ${join(cwd, 'team', 'servers.json')}\nWrote ${join(cwd, 'team', 'rules.json')}\n`);
    await expect(stat(join(home, '.config', 'agent-mcp-gateway'))).rejects.toThrow(/ENOENT/);
    const valid = await runCli(['validate', '--config', 'team/servers.json', '--rules', 'team/rules.json'], { cwd, env: { HOME: home } });
    expect(valid.code, valid.stderr).toBe(0);
  });

  it('keeps only the file that exists and writes the missing one (exit 1)', async () => {
    const home = await emptyHome();
    const dir = join(home, '.config', 'agent-mcp-gateway');
    await mkdir(dir, { recursive: true });
    const rules = await writeJson(join(dir, '.mcp-gateway-rules.json'), { agents: {} });
    const r = await runCli(['init'], { cwd: home, env: { HOME: home } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`Wrote ${join(dir, '.mcp.json')}\n`);
    expect(r.stderr).toContain(`Kept ${rules}`);
    expect(JSON.parse(await readFile(rules, 'utf8'))).toEqual({ agents: {} });
  });
});

describe('secrets stay out of the logs', () => {
  const running: RunningGateway[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((g) => g.close().catch(() => undefined)));
  });

  it('a ${TOKEN} used in env, args and headers never appears in stderr at debug level', async () => {
    const TOKEN = 'sk-live-7f3c9a21b4e84d0c9e5a6b1f2d3c4e5f-do-not-log';
    const g = await startGateway({
      servers: {
        notes: {
          ...demoServer('notes', { env: { API_TOKEN: '${TOKEN}', BEARER: 'Bearer ${TOKEN}' } }),
          // Logged at debug ("Starting …") and echoed by the child on its stderr, which the gateway forwards.
          args: [stdioServerPath, '--name', 'notes-${TOKEN}', '--token', '${TOKEN}'],
        },
        remote: { url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer ${TOKEN}', 'X-Api-Key': '${TOKEN}' } },
      },
      env: { TOKEN, GATEWAY_LOG_LEVEL: 'debug' },
    });
    running.push(g);

    // The secret really reaches the downstream server (so the redaction below is not vacuous)…
    const env = await g.call('execute_tool', { server: 'notes', tool: 'env', args: { name: 'API_TOKEN' } });
    expect(JSON.stringify(env.content)).toContain(TOKEN);
    // …and travels through the gateway in arguments and results.
    const echoed = json<{ text: string }>(await g.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: `token=${TOKEN}` } }));
    expect(echoed.text).toBe(`token=${TOKEN}`);
    await g.call('list_servers', { include_metadata: true });
    // Cannot start (the CLI has no HTTP transport yet, and nothing listens on port 9): its failure is logged.
    await g.call('get_server_tools', { server: 'remote' });
    await g.call('execute_tool', { server: 'notes', tool: 'fail', args: { message: `bad ${TOKEN}` } });
    await g.close();
    running.length = 0;

    const stderr = g.stderr();
    expect(stderr).toContain('Shutting down'); // close() waited for the gateway to exit: this is all of its stderr
    // The paths the secret could have leaked through were really taken, redacted.
    expect(stderr).toMatch(/DEBUG \[notes\] Starting .*--token \[REDACTED\]/);
    expect(stderr).toMatch(/\[notes\] stderr: \[notes-\[REDACTED\]\] demo MCP server listening/);
    expect(stderr).not.toContain(TOKEN);
    // Nor a recognisable piece of it.
    expect(stderr).not.toContain(TOKEN.slice(8, 40));
  });
});
