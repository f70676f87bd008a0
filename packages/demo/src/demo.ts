#!/usr/bin/env node
/**
 * The README's first command (`npm run demo`): the built gateway on the bundled
 * examples/ config, started exactly as an MCP client starts it (a child process
 * speaking MCP on stdio). Behind it: two stdio servers, a server behind a
 * personal access token and one behind OAuth, with its authorization server —
 * the demo starts the HTTP ones itself on 127.0.0.1 and hands their URLs and
 * the token to the gateway through the variables examples/.mcp.json names.
 *
 * It lives in its own private package (packages/demo), not in the CLI: the
 * testing package's fixtures (an authorization server on oidc-provider and koa)
 * are the demo's dependencies, never the installed CLI's.
 *
 * Without a display (no DISPLAY / WAYLAND_DISPLAY, an SSH session, or CI) the
 * demo completes the OAuth login itself (BROWSER = the testing package's
 * headless login); with one, the system browser opens and the demo waits for
 * the person, bounded. Tokens go to a temporary folder, never the user's own.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { AuthorizationServer, HttpMcpServer, ProtectedMcpServer } from '@agent-mcp-gateway/testing';

/** The CLI package (packages/cli), found as Node finds it: its built entry point, next to bin.js; examples/ beside dist/. */
const cli = import.meta.resolve('agent-mcp-gateway');
const examples = fileURLToPath(new URL('../examples/', cli));
const bin = fileURLToPath(new URL('./bin.js', cli));
const repo = fileURLToPath(new URL('../../../', import.meta.url));
/** Polling interval and limits of the login wait. */
const POLL_MS = 200;
const HEADLESS_LOGIN_MS = 60_000;
const BROWSER_LOGIN_MS = 180_000;
const WIDTH = 100;

const out = (line = '') => process.stdout.write(`${line}\n`);

/** `text` wrapped to {@link WIDTH} columns, each line indented by `indent`. */
function say(text: string, indent = '   '): void {
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > WIDTH) {
      out(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out(indent + line);
}

let stepNumber = 0;
function step(title: string): void {
  stepNumber += 1;
  const heading = `${stepNumber}. ${title}`;
  out(`\n${heading}\n${'─'.repeat(heading.length)}`);
}

const shorten = (text: string, max = 160) => (text.length > max ? `${text.slice(0, max)}…` : text);

function textOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
}

type GatewayErrorJson = { code: string; message: string; authorizationUrl?: string };
function errorOf(result: CallToolResult): GatewayErrorJson | undefined {
  return (result.structuredContent as { error?: GatewayErrorJson } | undefined)?.error;
}

/** CI, or a machine without a display: nobody can sign in in a browser there. */
function headless(env: NodeJS.ProcessEnv): { headless: boolean; why: string } {
  const ci = env.CI?.trim().toLowerCase();
  if (ci && ci !== '0' && ci !== 'false') return { headless: true, why: 'CI is set' };
  if (process.platform === 'darwin' || process.platform === 'win32') {
    return env.SSH_CONNECTION || env.SSH_TTY ? { headless: true, why: 'an SSH session' } : { headless: false, why: '' };
  }
  if (env.DISPLAY || env.WAYLAND_DISPLAY) return { headless: false, why: '' };
  return { headless: true, why: 'no display: neither DISPLAY nor WAYLAND_DISPLAY is set' };
}

/**
 * Runs `fn` without oidc-provider's warnings, which speak to the developers of an authorization
 * server (it prefers Node 22, its development login pages are on): the demo's server is a
 * local stand-in on purpose, and Node 20 runs it fine.
 */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).startsWith('oidc-provider WARNING:')) warn(...args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

/** The gateway's stderr, kept by line so that each step can show what the gateway logged meanwhile. */
class GatewayLog {
  private lines: string[] = [];
  private partial = '';

  add(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    this.lines.push(...lines.filter((l) => l.trim()));
  }

  /** Prints the lines logged since the last call (without their timestamps). */
  show(): void {
    const lines = this.lines;
    this.lines = [];
    if (lines.length === 0) return;
    out('   gateway log (stderr):');
    for (const line of lines) out(`     ${shorten(line.replace(/^\S+ /, ''), WIDTH - 5)}`);
  }
}

interface Demo {
  client: Client;
  log: GatewayLog;
  tokenDir: string;
}

async function call(demo: Demo, tool: string, args: Record<string, unknown>, show: (r: CallToolResult) => void = showText): Promise<CallToolResult> {
  out(`   → ${tool} ${JSON.stringify(args)}`);
  const result = (await demo.client.callTool({ name: tool, arguments: args })) as CallToolResult;
  const error = errorOf(result);
  if (error) out(`   ✗ ${error.code}: ${shorten(error.message)}`);
  else if (result.isError) out(`   ✗ (tool error) ${shorten(textOf(result))}`);
  else show(result);
  return result;
}

function showText(result: CallToolResult): void {
  out(`   ← ${shorten(textOf(result), 300)}`);
}

type ServerRow = { name: string; transport?: string; auth?: string | null; state?: string; description?: string };
function showServers(result: CallToolResult): void {
  const { servers } = JSON.parse(textOf(result)) as { servers: ServerRow[] };
  const width = Math.max(...servers.map((s) => s.name.length));
  for (const s of servers) {
    const meta = s.transport === undefined ? '' : `${s.transport.padEnd(5)}  auth: ${String(s.auth ?? '?').padEnd(7)}  state: ${String(s.state).padEnd(13)}  `;
    out(`   ← ${s.name.padEnd(width)}  ${meta}${shorten(s.description ?? '', 60)}`);
  }
}

function showTools(result: CallToolResult): void {
  const listing = JSON.parse(textOf(result)) as { tools: { name: string; description?: string }[]; total_available: number; tokens_used: number };
  out(`   ← ${listing.tools.length} of the ${listing.total_available} tools this agent may see (≈${listing.tokens_used} tokens of definitions):`);
  for (const tool of listing.tools) out(`       ${tool.name}: ${shorten(tool.description ?? '', 80)}`);
}

async function serverState(demo: Demo, server: string): Promise<string | undefined> {
  const result = (await demo.client.callTool({ name: 'list_servers', arguments: { agent_id: 'ops', include_metadata: true } })) as CallToolResult;
  const { servers } = JSON.parse(textOf(result)) as { servers: ServerRow[] };
  return servers.find((s) => s.name === server)?.state;
}

/** Waits until `server` is connected (the gateway reconnects by itself once the login is done), or `ms` passed. */
async function untilReady(demo: Demo, server: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const state = await serverState(demo, server);
    if (state === 'ready') return true;
    if (state === 'error') return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return false;
}

async function showTokenFolder(tokenDir: string): Promise<void> {
  for (const entry of await readdir(tokenDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.endsWith('.lock')) continue;
    const folder = join(tokenDir, entry.name);
    const mode = async (path: string) => ((await stat(path)).mode & 0o777).toString(8).padStart(4, '0');
    const files = await Promise.all((await readdir(folder)).sort().map(async (f) => `${f} ${await mode(join(folder, f))}`));
    say(`Stored in ${folder}/ (folder ${await mode(folder)}): ${files.join(', ')}. A restart reuses them; copied to another machine's token folder, they work there too.`);
  }
}

async function run(demo: Demo, login: { headless: boolean; why: string; browser: string | undefined }): Promise<void> {
  const { client, log } = demo;
  const { tools } = await client.listTools();
  log.show();
  say(`Connected. The gateway offers ${tools.length} tools: ${tools.map((t) => t.name).join(', ')}. Agents discover every server's own tools through them, on demand.`);

  step('Discovery: which servers may the researcher use?');
  say('list_servers answers per agent. "admin" is configured too, but the rules give it to the ops agent only, so the researcher never sees it. Servers start on first use here (GATEWAY_INIT_STRATEGY=lazy), so each step below shows its own connection.');
  await call(demo, 'list_servers', { agent_id: 'researcher', include_metadata: true }, showServers);

  step('A local stdio server: its tools, then a call');
  say('get_server_tools starts "notes" (a child process of the gateway) and returns only the definitions asked for — here two, by name.');
  await call(demo, 'get_server_tools', { agent_id: 'researcher', server: 'notes', names: 'echo,add' }, showTools);
  await call(demo, 'execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'add', args: { a: 2, b: 40 } });
  log.show();

  step('A remote server behind a personal access token');
  say('examples/.mcp.json gives "tickets" the header "Authorization: Bearer ${AGENT_MCP_GATEWAY_DEMO_TICKETS_PAT}". The gateway sends it on every request (auth: headers); the token itself appears in no output and no log line.');
  await call(demo, 'execute_tool', { agent_id: 'researcher', server: 'tickets', tool: 'echo', args: { text: 'ticket #42: printer on fire' } });
  log.show();

  step('Policy denials: what the rules refuse, and why');
  say('The researcher may not crash servers nor read a server\'s environment (deny.tools["*"]), nor use "admin" at all; every call must name its agent (defaults.deny_on_missing_agent). A refused tool names the rule that decided it; a server the researcher may not see is answered as if it did not exist, so its name cannot be probed for. Nothing reaches the server.');
  await call(demo, 'execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'crash', args: {} });
  await call(demo, 'execute_tool', { agent_id: 'researcher', server: 'tickets', tool: 'env', args: { name: 'HOME' } });
  await call(demo, 'get_server_tools', { agent_id: 'researcher', server: 'admin' });
  await call(demo, 'list_servers', {});
  say('The ops agent may use everything:');
  await call(demo, 'list_servers', { agent_id: 'ops' }, showServers);

  step('An OAuth login');
  say('Nothing in examples/.mcp.json says "calendar" needs OAuth: it answers 401 with a WWW-Authenticate: Bearer challenge, so the gateway discovers its authorization server (RFC 9728, RFC 8414), registers itself (dynamic client registration) and starts a browser login — in the background: the agent\'s call does not wait for a person, it gets AUTH_REQUIRED with the URL to open.');
  const first = await call(demo, 'execute_tool', { agent_id: 'researcher', server: 'calendar', tool: 'echo', args: { text: 'first try' } });
  const pending = errorOf(first);
  if (pending?.code !== 'AUTH_REQUIRED' || !pending.authorizationUrl) throw new Error(`expected AUTH_REQUIRED with a login URL, got: ${textOf(first)}`);
  let done: boolean;
  if (login.headless) {
    say(`No browser here (${login.why}), so the demo completes the login by itself: the gateway runs BROWSER=${relative(repo, login.browser ?? '') || login.browser}, the testing package's headless login, which signs in at the demo's authorization server as "alice" and consents. On a desktop your own browser opens instead.`);
    done = await untilReady(demo, 'calendar', HEADLESS_LOGIN_MS);
  } else {
    say('Your browser should now show the demo authorization server\'s sign-in page: enter any name and any password, then confirm. If no browser opened, open this URL:');
    out(`     ${pending.authorizationUrl}`);
    say(`Waiting for the login (at most ${BROWSER_LOGIN_MS / 60_000} minutes; Ctrl-C stops the demo)…`);
    done = await untilReady(demo, 'calendar', BROWSER_LOGIN_MS);
  }
  log.show();
  if (!done) {
    throw new Error(
      login.headless
        ? 'the headless login did not finish (see the gateway log above)'
        : `no login within ${BROWSER_LOGIN_MS / 60_000} minutes; run "CI=1 npm run demo" to let the demo sign in by itself`,
    );
  }
  say('Logged in: the gateway received the callback on 127.0.0.1, exchanged the code (PKCE) and saved the tokens.');
  await showTokenFolder(demo.tokenDir);

  step('The OAuth-protected tool, end to end');
  say('The same call again: the gateway reconnected "calendar" by itself after the login and now sends the access token it got with each request. The agent never sees that token, and no log line holds it.');
  await call(demo, 'execute_tool', { agent_id: 'researcher', server: 'calendar', tool: 'echo', args: { text: 'lunch with Ada, Friday 12:30' } });
  say('Every server, as the researcher sees it now:');
  await call(demo, 'list_servers', { agent_id: 'researcher', include_metadata: true }, showServers);
  log.show();
}

async function main(): Promise<void> {
  const testing = await quietly(() => import('@agent-mcp-gateway/testing'));
  const login = { ...headless(process.env), browser: undefined as string | undefined };
  out('agent-mcp-gateway demo');
  out('══════════════════════');
  say('The gateway, started the way an MCP client starts it, on packages/cli/examples/.mcp.json and .mcp-gateway-rules.json.', '');

  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };
  const onSignal = () => {
    out('\nStopped: closing the gateway and the servers, removing the temporary folder.');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    step('Setting up');
    const temp = await mkdtemp(join(tmpdir(), 'agent-mcp-gateway-demo-'));
    cleanups.push(() => rm(temp, { recursive: true, force: true }));
    const tokenDir = join(temp, 'oauth');
    const pat = `demo_pat_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    const track = <T extends { close(): Promise<unknown> }>(server: T): T => {
      cleanups.push(() => server.close());
      return server;
    };
    const tickets: HttpMcpServer = track(await testing.startHttpMcpServer({ name: 'tickets', bearer: pat }));
    const as: AuthorizationServer = track(await quietly(() => testing.startAuthorizationServer()));
    const calendar: ProtectedMcpServer = track(await testing.startProtectedMcpServer({ authorizationServer: as, name: 'calendar' }));
    say(`Started on 127.0.0.1: "tickets" at ${tickets.url} (accepts one personal access token), "calendar" at ${calendar.url} (accepts only access tokens of the authorization server at ${as.issuer}). "notes" and "admin" are stdio servers the gateway starts itself.`);
    say(`Tokens go to ${tokenDir} (GATEWAY_TOKEN_DIR): yours are never touched.`);

    // The user's environment (a browser needs it), minus settings of their own gateway.
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && !name.startsWith('GATEWAY_') && !name.startsWith('AGENT_MCP_GATEWAY_') && name !== 'BROWSER') env[name] = value;
    }
    if (login.headless) login.browser = testing.testBrowserCommand();
    Object.assign(env, {
      AGENT_MCP_GATEWAY_DEMO_SERVER: testing.stdioServerPath,
      AGENT_MCP_GATEWAY_DEMO_TICKETS_URL: tickets.url,
      AGENT_MCP_GATEWAY_DEMO_TICKETS_PAT: pat,
      AGENT_MCP_GATEWAY_DEMO_CALENDAR_URL: calendar.url,
      GATEWAY_TOKEN_DIR: tokenDir,
      GATEWAY_TOKEN_STORE: 'fs',
      GATEWAY_AUDIT_LOG: join(temp, 'audit.jsonl'),
      GATEWAY_CACHE_DIR: join(temp, 'cache'),
      GATEWAY_INIT_STRATEGY: 'lazy',
      GATEWAY_LOG_LEVEL: 'info',
      ...(login.browser !== undefined && { BROWSER: login.browser }),
    });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [bin, '--config', join(examples, '.mcp.json'), '--rules', join(examples, '.mcp-gateway-rules.json')],
      env,
      cwd: temp, // no settings file of the current folder applies
      stderr: 'pipe',
    });
    const log = new GatewayLog();
    transport.stderr?.on('data', (chunk: Buffer) => log.add(chunk));
    const client = new Client({ name: 'agent-mcp-gateway-demo', version: '1.0.0' });
    await client.connect(transport);
    const pid = transport.pid;
    cleanups.push(() => client.close());

    try {
      await run({ client, log, tokenDir }, login);
    } catch (error) {
      log.show(); // what the gateway said before the failure
      throw error;
    }

    step('Cleaning up');
    await cleanup();
    const alive = pid !== null && isAlive(pid);
    say(`The gateway (pid ${pid}) ${alive ? 'is STILL RUNNING' : 'has exited'}, closing its stdio servers; the HTTP servers and the authorization server are stopped; the temporary folder is removed.`);
    if (alive) throw new Error(`the gateway (pid ${pid}) did not exit`);
    out('\nDemo complete.');
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
