/**
 * The commands people type, through the built CLI: `servers`, `tools`, `call`,
 * `auth login|logout|status` — exit codes, `--json` shapes, the human output,
 * and the feedback on a terminal (a pseudo-TTY made by util-linux `script`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serverStoreKey } from '@agent-mcp-gateway/core';
import {
  DEMO_TOOL_NAMES,
  completeLogin,
  startAuthorizationServer,
  startHttpMcpServer,
  startProtectedMcpServer,
  testBrowserCommand,
  type AuthorizationServer,
} from '@agent-mcp-gateway/testing';
import { closeAfterEach, binPath, demoServer, runCli, tempDir, writeConfig } from './harness.js';

const { later } = closeAfterEach();

const PAT = 'ghp_peopleTestPersonalAccessToken0123456';
/** Tests that run the CLI many times over (each run is a process start). */
const LONG_MS = 90_000;
const SERVER_KEYS = ['name', 'transport', 'url', 'command', 'auth', 'state', 'toolCount', 'protocol', 'lastError'];
const LOGIN_KEYS = ['name', 'url', 'loggedIn', 'expiresAt', 'hasRefreshToken', 'scopes', 'store', 'key', 'location', 'problem'];

/** The CLI with its own HOME and token folder (never the real ~/.config). */
async function cli(args: readonly string[], env: Record<string, string> = {}) {
  const home = await tempDir();
  return runCli(args, { env: { HOME: home, GATEWAY_TOKEN_DIR: join(home, 'tokens'), ...env } });
}

const logins = (as: AuthorizationServer) => as.requests.filter((r) => r.route === 'authorization').length;
const NEEDS_LOGIN = "Server 'notion' needs a login: run 'agent-mcp-gateway auth login notion'";

/** An authorization server and an MCP server it protects. */
async function oauthPair() {
  const as = later(await startAuthorizationServer());
  const notion = later(await startProtectedMcpServer({ authorizationServer: as, name: 'notion' }));
  return { as, notion };
}

describe('servers', () => {
  it('connects every server and reports transport, detected auth, state, tool count and last error; never opens a browser', async () => {
    const { as, notion } = await oauthPair();
    const open = later(await startHttpMcpServer({ name: 'open', era: '2026' }));
    const github = later(await startHttpMcpServer({ name: 'github', bearer: PAT, era: '2025' }));
    const { config } = await writeConfig({
      notes: demoServer('notes'),
      broken: { command: '/nonexistent/mcp-server' },
      off: { ...demoServer('off'), enabled: false },
      open: { url: open.url },
      github: { url: github.url, headers: { Authorization: `Bearer ${PAT}` } },
      notion: { url: notion.url },
    });
    const tokenDir = await tempDir();
    // A BROWSER that would complete a login: `servers` must never run it.
    const env = { BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: tokenDir };

    const r = await cli(['servers', '--json', '--config', config], env);
    expect(r.stderr).toBe(''); // not a terminal: quiet
    expect(r.code).toBe(3); // some server is not ready (broken, notion): a health check can tell
    const { servers } = JSON.parse(r.stdout) as { servers: Record<string, unknown>[] };
    for (const s of servers) expect(Object.keys(s)).toEqual(SERVER_KEYS);
    const tools = DEMO_TOOL_NAMES.length;
    expect(servers).toEqual([
      { name: 'notes', transport: 'stdio', url: null, command: process.execPath, auth: 'none', state: 'ready', toolCount: tools, protocol: '2025-11-25', lastError: null },
      { name: 'broken', transport: 'stdio', url: null, command: '/nonexistent/mcp-server', auth: 'none', state: 'error', toolCount: null, protocol: null, lastError: expect.stringContaining('ENOENT') },
      { name: 'off', transport: 'stdio', url: null, command: process.execPath, auth: null, state: 'disabled', toolCount: null, protocol: null, lastError: null },
      { name: 'open', transport: 'http', url: open.url, command: null, auth: 'none', state: 'ready', toolCount: tools, protocol: '2026-07-28', lastError: null },
      { name: 'github', transport: 'http', url: github.url, command: null, auth: 'headers', state: 'ready', toolCount: tools, protocol: '2025-11-25', lastError: null },
      { name: 'notion', transport: 'http', url: notion.url, command: null, auth: 'oauth', state: 'auth_required', toolCount: null, protocol: null, lastError: NEEDS_LOGIN },
    ]);
    expect(logins(as)).toBe(0);
    expect(r.stdout).not.toContain(PAT);

    const human = await cli(['servers', '--config', config], env);
    expect(human.code).toBe(3);
    expect(human.stderr).toBe('');
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+TRANSPORT\s+AUTH\s+STATE\s+TOOLS\s+PROTOCOL\s+LAST ERROR$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 6))).toEqual([
      ['notes', 'stdio', 'none', 'ready', String(tools), '2025-11-25'],
      ['broken', 'stdio', 'none', 'error', '-', '-'],
      ['off', 'stdio', '-', 'disabled', '-', '-'],
      ['open', 'http', 'none', 'ready', String(tools), '2026-07-28'],
      ['github', 'http', 'headers', 'ready', String(tools), '2025-11-25'],
      ['notion', 'http', 'oauth', 'auth_required', '-', '-'],
    ]);
    expect(lines[6]).toContain(NEEDS_LOGIN);
    expect(logins(as)).toBe(0);
  });
});

describe('tools and call, with the policy applied', () => {
  const rules = {
    agents: {
      researcher: { allow: { servers: ['notes'], tools: { notes: ['echo', 'fail'] } } },
      default: { allow: { servers: ['*'] } },
    },
  };

  it('tools lists what the agent may see; --json gives the definitions', async () => {
    const files = await writeConfig({ notes: demoServer('notes') }, rules);
    const base = ['--config', files.config, '--rules', files.rules as string];

    const all = await cli(['tools', 'notes', ...base]);
    expect(all).toMatchObject({ code: 0, stderr: '' });
    const lines = all.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+ARGUMENTS\s+DESCRIPTION$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([...DEMO_TOOL_NAMES]);
    expect(all.stdout).toMatch(/^echo\s+text\s+Echoes/m);

    const r = await cli(['tools', 'notes', '--agent', 'researcher', '--json', ...base]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const body = JSON.parse(r.stdout) as { server: string; agent: string; tools: { name: string; inputSchema: unknown }[] };
    expect(body.server).toBe('notes');
    expect(body.agent).toBe('researcher');
    expect(body.tools.map((t) => t.name)).toEqual(['echo', 'fail']);
    expect(body.tools[0]?.inputSchema).toMatchObject({ type: 'object', properties: { text: { type: 'string' } } });
  });

  it('call prints the content, --json the result; policy denials, tool errors and unknown names exit 1', async () => {
    const files = await writeConfig({ notes: demoServer('notes') }, rules);
    const base = ['--config', files.config, '--rules', files.rules as string];
    const as = (agent: string) => ['--agent', agent, ...base];

    expect(await cli(['call', 'notes', 'echo', '--args', '{"text":"hi there"}', ...as('researcher')])).toEqual({ code: 0, stdout: 'hi there\n', stderr: '' });
    const json = await cli(['call', 'notes', 'echo', '--args', '{"text":"hi"}', '--json', ...as('researcher')]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ content: [{ type: 'text', text: 'hi' }], structuredContent: { text: 'hi' } });
    // no --args: {}; the default agent may use every tool
    expect(await cli(['call', 'notes', 'pid', ...base])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\n$/) });

    const denied = await cli(['call', 'notes', 'add', '--args', '{"a":1,"b":2}', ...as('researcher')]);
    expect(denied).toMatchObject({ code: 1, stdout: '' });
    expect(denied.stderr).toMatch(/^agent-mcp-gateway: DENIED_BY_POLICY: Agent 'researcher' may not use tool 'add' on server 'notes'/);
    const hidden = await cli(['tools', 'notes', ...as('ghost')]);
    expect(hidden).toMatchObject({ code: 1, stdout: '' });
    expect(hidden.stderr).toMatch(/^agent-mcp-gateway: INVALID_AGENT_ID: /);

    const failed = await cli(['call', 'notes', 'fail', '--args', '{"message":"it broke"}', ...as('researcher')]);
    expect(failed).toEqual({ code: 1, stdout: '', stderr: 'it broke\n' });
    const failedJson = await cli(['call', 'notes', 'fail', '--args', '{"message":"it broke"}', '--json', ...as('researcher')]);
    expect(failedJson.code).toBe(1);
    expect(JSON.parse(failedJson.stdout)).toMatchObject({ isError: true, content: [{ type: 'text', text: 'it broke' }] });

    for (const args of [
      ['tools', 'nope'],
      ['call', 'nope', 'echo'],
    ]) {
      expect(await cli([...args, ...base])).toEqual({ code: 1, stdout: '', stderr: "agent-mcp-gateway: SERVER_NOT_FOUND: No server named 'nope' is configured\n" });
    }
    const noTool = await cli(['call', 'notes', 'nosuch', ...base]);
    expect(noTool).toMatchObject({ code: 1, stdout: '', stderr: "agent-mcp-gateway: TOOL_NOT_FOUND: Server 'notes' has no tool named 'nosuch'\n" });
  }, LONG_MS);

  it('a server that needs a login: exit 1 pointing at auth login, no browser', async () => {
    const { as, notion } = await oauthPair();
    const { config } = await writeConfig({ notion: { url: notion.url } });
    const r = await cli(['call', 'notion', 'echo', '--args', '{"text":"x"}', '--config', config], { BROWSER: testBrowserCommand() });
    expect(r).toEqual({ code: 1, stdout: '', stderr: `agent-mcp-gateway: AUTH_REQUIRED: ${NEEDS_LOGIN}\n` });
    expect(logins(as)).toBe(0);
  });
});

describe('usage errors exit 2 with the usage on stderr', () => {
  it.each([
    [['servers', 'extra'], /Unexpected argument 'extra'/],
    [['tools'], /'tools' needs <server>/],
    [['call', 'notes'], /'call' needs <tool>/],
    [['call', 'notes', 'echo', 'more'], /Unexpected argument 'more'/],
    [['call', 'notes', 'echo', '--args', '{text: 1}'], /--args is not valid JSON/],
    [['call', 'notes', 'echo', '--args', '[1, 2]'], /--args must be a JSON object/],
    [['tools', 'notes', '--agent'], /--agent/],
    [['auth'], /'auth' needs one of: login, logout, status/],
    [['auth', 'frob'], /Unknown auth command 'frob'/],
    [['auth', 'login'], /'auth' needs <server>/],
    [['auth', 'logout'], /'auth' needs <server>/],
    [['auth', 'logout', 'notion', '--all'], /a server or --all, not both/],
    [['auth', 'status', 'notion'], /Unexpected argument 'notion'/],
  ])('%j', async (args, why) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const [reason, blank, usage] = r.stderr.split('\n');
    expect(reason).toMatch(/^agent-mcp-gateway: /);
    expect(reason).toMatch(why);
    expect(blank).toBe('');
    expect(usage).toMatch(/^Usage: agent-mcp-gateway /);
  });

  it('--help lists the commands', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const text of ['servers [--json]', 'tools <server>', 'call <server> <tool>', 'auth login <server>', '--no-browser', 'auth logout', 'auth status [--json]', 'GATEWAY_TOKEN_DIR', 'BROWSER']) {
      expect(r.stdout).toContain(text);
    }
  });
});

describe('auth', () => {
  it('login through BROWSER, status with the folder, a copied folder works elsewhere, logout revokes and deletes', async () => {
    const { as, notion } = await oauthPair();
    const { config } = await writeConfig({ notion: { url: notion.url }, notes: demoServer('notes') });
    const tokenDir = await tempDir();
    const env = { BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: tokenDir };
    const key = serverStoreKey(notion.url);
    const folder = join(tokenDir, key);
    const status = async (dir = tokenDir) => {
      const r = await cli(['auth', 'status', '--json', '--config', config], { GATEWAY_TOKEN_DIR: dir });
      expect(r).toMatchObject({ code: 0, stderr: '' });
      return JSON.parse(r.stdout) as { servers: Record<string, unknown>[]; unconfigured: Record<string, unknown>[] };
    };

    // before: not logged in, and where the tokens will go
    const before = await status();
    expect(before).toEqual({
      servers: [
        { name: 'notion', url: notion.url, loggedIn: false, expiresAt: null, hasRefreshToken: false, scopes: [], store: 'fs', key, location: folder, problem: null },
      ],
      unconfigured: [],
    });
    expect(Object.keys(before.servers[0] ?? {})).toEqual(LOGIN_KEYS);

    // login: the URL on stdout, the browser (BROWSER) completes it, the folder is named
    const login = await cli(['auth', 'login', 'notion', '--config', config], env);
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    const url = login.stdout.split('\n').find((l) => l.startsWith(`${as.issuer}/`));
    expect(url).toContain('code_challenge_method=S256');
    expect(login.stdout).toMatch(/^Logged in to notion; the access token expires in \d+ min; scopes: mcp:read mcp:write\.$/m);
    expect(login.stdout).toContain(`Tokens: ${folder}\n`);
    expect((await stat(join(folder, 'tokens.json'))).mode & 0o777).toBe(0o600);
    expect(logins(as)).toBe(1);

    const after = await status();
    expect(after.servers[0]).toMatchObject({ loggedIn: true, hasRefreshToken: true, scopes: ['mcp:read', 'mcp:write'], store: 'fs', key, location: folder, problem: null });
    expect(Date.parse(String(after.servers[0]?.expiresAt))).toBeGreaterThan(Date.now());
    const human = await cli(['auth', 'status', '--config', config], { GATEWAY_TOKEN_DIR: tokenDir });
    expect(human.stdout).toContain(`Token store: fs (${tokenDir})`);
    expect(human.stdout).toMatch(new RegExp(`^notion\\s+logged in\\s+\\S+Z \\(in \\d+ min\\)\\s+mcp:read mcp:write\\s+${folder}$`, 'm'));
    // servers: the server is ready now, with no login
    const servers = await cli(['servers', '--json', '--config', config], env);
    expect(JSON.parse(servers.stdout).servers[0]).toMatchObject({ name: 'notion', auth: 'oauth', state: 'ready' });
    expect(servers.code).toBe(0); // every server ready

    // the folder copied into another token folder (another machine) just works
    const elsewhere = await tempDir();
    await cp(folder, join(elsewhere, key), { recursive: true });
    const copied = await cli(['call', 'notion', 'echo', '--args', '{"text":"from the copy"}', '--config', config], {
      GATEWAY_TOKEN_DIR: elsewhere,
      BROWSER: testBrowserCommand(),
    });
    expect(copied).toEqual({ code: 0, stdout: 'from the copy\n', stderr: '' });
    expect(logins(as)).toBe(1);
    expect((await status(elsewhere)).servers[0]).toMatchObject({ loggedIn: true, location: join(elsewhere, key) });

    // logout: RFC 7009 revocation at the AS, then the folder is gone
    const stored = JSON.parse(await readFile(join(folder, 'tokens.json'), 'utf8')) as { refresh_token: string };
    expect(stored.refresh_token).toBeTruthy();
    const revocationsBefore = as.requests.filter((r) => r.route === 'revocation').length;
    const logout = await cli(['auth', 'logout', 'notion', '--config', config], { GATEWAY_TOKEN_DIR: tokenDir });
    expect(logout).toMatchObject({ code: 0, stderr: '' });
    expect(logout.stdout).toMatch(new RegExp(`^Logged out of notion: refresh token revoked at ${as.issuer}.*; stored login deleted \\(${folder}\\)\\.$`, 'm'));
    const revocations = as.requests.filter((r) => r.route === 'revocation');
    expect(revocations.length).toBeGreaterThan(revocationsBefore);
    expect(revocations.some((r) => r.status === 200)).toBe(true);
    await expect(stat(folder)).rejects.toThrow(/ENOENT/);
    expect((await status()).servers[0]).toMatchObject({ loggedIn: false, location: folder });
    // the revoked refresh token is refused by the AS: the copy can no longer be refreshed
    const refreshed = await fetch(`${as.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stored.refresh_token, client_id: await clientIdIn(join(elsewhere, key)) }),
    });
    expect(refreshed.status).toBe(400);
    expect(((await refreshed.json()) as { error: string }).error).toBe('invalid_grant');

    // nothing left to log out of
    expect(await cli(['auth', 'logout', 'notion', '--config', config], { GATEWAY_TOKEN_DIR: tokenDir })).toEqual({
      code: 0,
      stdout: 'notion: not logged in (nothing stored).\n',
      stderr: '',
    });
  }, LONG_MS);

  it('logout --all covers every stored login, those of servers no longer configured included; status lists them', async () => {
    const { as, notion } = await oauthPair();
    const tokenDir = await tempDir();
    const env = { BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: tokenDir };
    const old = await writeConfig({ notion: { url: notion.url } });
    expect((await cli(['auth', 'login', 'notion', '--config', old.config], env)).code).toBe(0);
    const now = await writeConfig({ notes: demoServer('notes') });
    // an entry whose tokens.json is corrupt: listed with its problem, deleted by logout all the same
    const corrupt = join(tokenDir, 'corrupt.example-0123456789abcdef');
    await mkdir(corrupt, { mode: 0o700 });
    await writeFile(join(corrupt, 'tokens.json'), '{"access_token": ', { mode: 0o600 });
    // a named secret kept in the same store (`secret set`): not a login, left alone
    const secret = join(tokenDir, 'secret--github-pat');
    await mkdir(secret, { mode: 0o700 });
    await writeFile(join(secret, 'secret.json'), JSON.stringify('ghp_value'), { mode: 0o600 });

    const status = await cli(['auth', 'status', '--json', '--config', now.config], env);
    const key = serverStoreKey(notion.url);
    expect(JSON.parse(status.stdout)).toEqual({
      servers: [],
      unconfigured: [
        expect.objectContaining({ name: 'notion', url: notion.url, loggedIn: true, key, location: join(tokenDir, key), problem: null }),
        expect.objectContaining({ name: null, loggedIn: false, key: 'corrupt.example-0123456789abcdef', location: corrupt, problem: expect.stringContaining('tokens.json') }),
      ],
    });

    const r = await cli(['auth', 'logout', '--all', '--config', now.config], env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Logged out of corrupt\.example-0123456789abcdef: nothing readable to revoke \(tokens\.json: .*\); stored login deleted/m);
    expect(r.stdout).toMatch(new RegExp(`^Logged out of notion: refresh token revoked at ${as.issuer}`, 'm'));
    await expect(stat(join(tokenDir, key))).rejects.toThrow(/ENOENT/);
    await expect(stat(corrupt)).rejects.toThrow(/ENOENT/);
    expect(r.stdout).not.toContain('secret--');
    expect(JSON.parse(await readFile(join(secret, 'secret.json'), 'utf8'))).toBe('ghp_value');
    expect(await cli(['auth', 'logout', '--all', '--config', now.config], env)).toEqual({ code: 0, stdout: 'No stored logins.\n', stderr: '' });
  }, LONG_MS);

  it('login errors: unknown server, a server without OAuth, a refused login', async () => {
    const { notion } = await oauthPair();
    const { config } = await writeConfig({ notion: { url: notion.url }, notes: demoServer('notes'), plain: { url: notion.url, auth: 'none' } });
    const env = { BROWSER: testBrowserCommand() };
    expect(await cli(['auth', 'login', 'nope', '--config', config], env)).toEqual({
      code: 1,
      stdout: '',
      stderr: "agent-mcp-gateway: SERVER_NOT_FOUND: No server named 'nope' is configured\n",
    });
    const stdio = await cli(['auth', 'login', 'notes', '--config', config], env);
    expect(stdio).toMatchObject({ code: 1, stdout: '' });
    expect(stdio.stderr).toMatch(/^agent-mcp-gateway: INVALID_ARGUMENTS: Server 'notes' is a local \(stdio\) server/);
    const none = await cli(['auth', 'login', 'plain', '--config', config], env);
    expect(none.stderr).toMatch(/Server 'plain' is configured with "auth": "none"/);

    const refused = await cli(['auth', 'login', 'notion', '--config', config], { ...env, MCP_TEST_BROWSER_DENY: '1' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/AUTH_FAILED: .*access_denied/);
    expect((await cli(['auth', 'status', '--json', '--config', config], env)).stdout).toContain('"loggedIn": false');
  }, LONG_MS);
});

async function clientIdIn(folder: string): Promise<string> {
  return (JSON.parse(await readFile(join(folder, 'client.json'), 'utf8')) as { client_id: string }).client_id;
}

// ---- on a terminal -------------------------------------------------------------

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs the CLI under `script` (util-linux), on a pseudo-terminal, with one of
 * its streams redirected to a file: what the terminal showed, what the file got.
 */
async function onTerminal(
  args: readonly string[],
  options: { env: Record<string, string>; redirect: 'stdout' | 'stderr'; whileRunning?: (file: string) => Promise<void> },
): Promise<{ code: number | null; terminal: string; file: string }> {
  const file = join(await tempDir(), 'redirected.txt');
  const command = `${[process.execPath, binPath, ...args].map(quote).join(' ')} ${options.redirect === 'stdout' ? '>' : '2>'} ${quote(file)}`;
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let terminal = '';
  child.stdout.on('data', (c: Buffer) => (terminal += c.toString()));
  child.stderr.on('data', (c: Buffer) => (terminal += c.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  if (options.whileRunning) await options.whileRunning(file);
  const code = await closed;
  return { code, terminal, file: await readFile(file, 'utf8') };
}

describe.skipIf(!hasScript)('on a terminal', () => {
  it('servers: progress on stderr only when it is a terminal; the table on stdout, free of escapes', async () => {
    const { config } = await writeConfig({ notes: demoServer('notes'), broken: { command: '/nonexistent/mcp-server' } });
    const home = await tempDir();
    const env = { HOME: home, GATEWAY_TOKEN_DIR: home };

    const stderrOnTty = await onTerminal(['servers', '--config', config], { env, redirect: 'stdout' });
    expect(stderrOnTty.code).toBe(3); // 'broken' is in error
    expect(stderrOnTty.terminal).toContain('Connecting 2 servers… 2/2');
    expect(stderrOnTty.terminal.endsWith('\r\x1b[2K')).toBe(true); // the line is cleared at the end
    expect(stderrOnTty.file).toMatch(/^NAME\s+TRANSPORT\s+AUTH\s+STATE\s+TOOLS\s+PROTOCOL\s+LAST ERROR\nnotes\s+stdio\s+none\s+ready\s+\d+\s+2025-11-25\nbroken\s+stdio\s+none\s+error\s+-\s+-\s+Server 'broken' is unavailable/);
    expect(stderrOnTty.file).not.toContain('\x1b');

    const stdoutOnTty = await onTerminal(['servers', '--config', config], { env, redirect: 'stderr' });
    expect(stdoutOnTty.code).toBe(3);
    expect(stdoutOnTty.file).toBe(''); // stderr is not a terminal: no feedback
    expect(stdoutOnTty.terminal).toMatch(/^NAME\s+TRANSPORT/);
    expect(stdoutOnTty.terminal).not.toContain('Connecting');
  });

  it('auth login --no-browser: the URL on stdout, the time left on the terminal, done when another process opens the URL', async () => {
    const { as, notion } = await oauthPair();
    const { config } = await writeConfig({ notion: { url: notion.url } });
    const tokenDir = await tempDir();
    // BROWSER is set, but --no-browser must not run it: the login is completed by the test instead.
    const env = { HOME: tokenDir, GATEWAY_TOKEN_DIR: tokenDir, BROWSER: '/bin/false' };
    const r = await onTerminal(['auth', 'login', 'notion', '--no-browser', '--config', config], {
      env,
      redirect: 'stdout',
      whileRunning: async (file) => {
        const url = await waitForLine(file, `${as.issuer}/`);
        await completeLogin(url);
      },
    });
    expect(r.code).toBe(0);
    expect(r.file).toMatch(new RegExp(`^Open this URL in a browser to sign in to notion:\n${escape(as.issuer)}/\\S+\nLogged in to notion; `));
    expect(r.terminal).toMatch(/Waiting for the login to notion… [45]:\d\d left \(Ctrl-C to cancel\)/);
    expect(r.file).not.toContain('\x1b');
    expect(logins(as)).toBe(1);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Polls `file` (bounded) until a line starts with `prefix`; returns that line. */
async function waitForLine(file: string, prefix: string, timeoutMs = 15_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const line = text.split('\n').slice(0, -1).find((l) => l.startsWith(prefix)); // complete lines only
    if (line) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no line starting with ${prefix} in ${file}`);
}
