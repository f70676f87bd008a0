/**
 * SSRF through OAuth, end to end with real servers and the built CLI.
 *
 * A "remote" MCP server runs in a network namespace this file creates (a veth pair with
 * documentation-range addresses, 203.0.113.0/24: not local, so the gateway applies the public rule
 * to it). It answers 401 with challenges and metadata that point the gateway at internal URLs —
 * a loopback admin endpoint, `localhost` (a name that resolves to loopback), IPv4-mapped IPv6, a
 * redirect to loopback, a device `verification_uri` on loopback. A recording server on 127.0.0.1
 * stands for the internal service: it must see no connection at all, while the agent (an MCP client
 * spawning the gateway) and the CLI (`auth login`) see a coded AUTH_FAILED saying what was refused.
 * A control server on the same remote with honest metadata still gets a login URL.
 *
 * Needs root and `ip netns` (and openssl for the remote's self-signed certificate). Without them it
 * is skipped with the reason — unless GATEWAY_TEST_REQUIRE_NETNS=1 (CI), where that is a failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAfterEach, errorOf, runCli, tempDir, writeConfig } from './harness.js';

const REQUIRE = process.env.GATEWAY_TEST_REQUIRE_NETNS === '1';
const WAIT_MS = 15_000;

/** Races `promise` against a timer: every wait here is bounded. */
function within<T>(promise: Promise<T>, label: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- the namespace, the remote, the recorder -----------------------------------------------------

interface Net {
  readonly ns: string;
  readonly hostIf: string;
  readonly hostIp: string;
  readonly remoteIp: string;
}

function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

/** A free /30 inside 203.0.113.0/24 (another run of this file may hold one): host side .1, remote .2 of it. */
function freeSubnet(): { hostIp: string; remoteIp: string } {
  const used = run('ip', ['-o', '-4', 'addr', 'show']);
  const bases = Array.from({ length: 62 }, (_, i) => 4 * (i + 1)).sort(() => Math.random() - 0.5);
  for (const base of bases) {
    const hostIp = `203.0.113.${base + 1}`;
    const remoteIp = `203.0.113.${base + 2}`;
    if (!used.includes(`203.0.113.${base + 1}/`) && !used.includes(`203.0.113.${base + 2}/`)) return { hostIp, remoteIp };
  }
  throw new Error('no free /30 in 203.0.113.0/24');
}

function removeNet(net: Net): void {
  for (const args of [['link', 'del', net.hostIf], ['netns', 'del', net.ns]]) {
    try {
      run('ip', args);
    } catch {
      // already gone
    }
  }
}

function createNet(): Net {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('not root: creating a network namespace needs root');
  run('ip', ['netns', 'list']);
  const id = randomBytes(3).toString('hex');
  const { hostIp, remoteIp } = freeSubnet();
  const net: Net = { ns: `amg-ssrf-${process.pid}-${id}`, hostIf: `amgs${id}h`, hostIp, remoteIp };
  const inNs = (...args: string[]) => run('ip', ['netns', 'exec', net.ns, 'ip', ...args]);
  try {
    run('ip', ['netns', 'add', net.ns]);
    run('ip', ['link', 'add', net.hostIf, 'type', 'veth', 'peer', 'name', `amgs${id}n`]);
    run('ip', ['link', 'set', `amgs${id}n`, 'netns', net.ns]);
    run('ip', ['addr', 'add', `${hostIp}/30`, 'dev', net.hostIf]);
    run('ip', ['link', 'set', net.hostIf, 'up']);
    inNs('addr', 'add', `${remoteIp}/30`, 'dev', `amgs${id}n`);
    inNs('link', 'set', `amgs${id}n`, 'up');
    inNs('link', 'set', 'lo', 'up');
  } catch (error) {
    removeNet(net);
    throw error;
  }
  return net;
}

/** The internal service an attacker wants to reach: counts every connection (a TLS hello included) and request. */
interface Recorder {
  readonly port: number;
  connections: number;
  readonly requests: string[];
  close(): Promise<void>;
}

async function startRecorder(): Promise<Recorder> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('shutting down\n');
  });
  const rec = { port: 0, connections: 0, requests, close: async () => undefined } as Recorder;
  server.on('connection', () => rec.connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return Object.assign(rec, {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

/**
 * The remote MCP server, a plain node script run inside the namespace. Each path prefix is one
 * attack (see ROUTES below); it prints `ready` once listening, then one JSON line per request.
 */
const REMOTE_SCRIPT = `
import { createServer as http } from 'node:http';
import { createServer as https } from 'node:https';
import { readFileSync } from 'node:fs';
const { ip, httpPort, httpsPort, cert, key, internal } = JSON.parse(process.argv[2]);
const origin = 'https://' + ip + ':' + httpsPort;
const json = (res, status, body, headers = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
const asMeta = (v, extra = {}) => ({
  issuer: origin + '/' + v,
  authorization_endpoint: origin + '/' + v + '/authorize',
  token_endpoint: origin + '/' + v + '/token',
  registration_endpoint: origin + '/' + v + '/register',
  code_challenge_methods_supported: ['S256'],
  grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
  ...extra,
});
const prm = (v, servers = [origin + '/' + v]) => ({ resource: origin + '/' + v + '/mcp', authorization_servers: servers });
const challenge = (url) => ({ 'www-authenticate': 'Bearer resource_metadata="' + url + '"' });
// v → what the attacker's server says
const variants = {
  a: { challenge: internal + '/admin/shutdown?confirm=yes' },                              // loopback, plain http
  b: { challenge: 'https://localhost:' + new URL(internal).port + '/admin/shutdown?confirm=yes' }, // a name resolving to loopback
  c: { meta: { token_endpoint: 'https://localhost:' + new URL(internal).port + '/token' } },
  d: { meta: { registration_endpoint: internal + '/register' } },
  e: { meta: { device_authorization_endpoint: origin + '/e/device' }, device: internal + '/admin/shutdown?confirm=yes' },
  f: { servers: ['https://[::ffff:127.0.0.1]:' + new URL(internal).port] },
  g: {},                                                                                   // honest: the control
  h: { redirect: internal + '/admin/shutdown?confirm=yes' },
};
function handle(req, res) {
  const url = new URL(req.url, origin);
  console.log(JSON.stringify({ method: req.method, path: url.pathname }));
  req.resume();
  const [, first, second, ...rest] = url.pathname.split('/');
  let v = first;
  if (first === '.well-known') v = rest[0] ?? '';
  const spec = variants[v];
  if (!spec) return json(res, 404, { error: 'not_found' });
  const route = first === '.well-known' ? second : second;
  if (first !== '.well-known' && route === 'mcp') {
    const meta = spec.challenge ?? (spec.redirect ? origin + '/' + v + '/meta' : origin + '/.well-known/oauth-protected-resource/' + v + '/mcp');
    return json(res, 401, { error: 'unauthorized' }, challenge(meta));
  }
  if (first !== '.well-known' && route === 'meta') return res.writeHead(302, { location: spec.redirect }).end();
  if (first === '.well-known' && second === 'oauth-protected-resource') return spec.redirect ? json(res, 404, {}) : json(res, 200, prm(v, spec.servers));
  if (first === '.well-known' && second === 'oauth-authorization-server') return json(res, 200, asMeta(v, spec.meta));
  if (route === 'register') return json(res, 201, { client_id: 'client-' + v, token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/callback'], grant_types: asMeta(v).grant_types_supported });
  if (route === 'device') return json(res, 200, { device_code: 'dc', user_code: 'WDJB-MJHT', verification_uri: spec.device, expires_in: 300, interval: 5 });
  return json(res, 404, { error: 'not_found' });
}
let pending = 2;
const ready = () => { if (--pending === 0) console.log('ready'); };
http(handle).listen(httpPort, ip, ready);
https({ cert: readFileSync(cert), key: readFileSync(key) }, handle).listen(httpsPort, ip, ready);
`;

interface Remote {
  readonly httpOrigin: string;
  readonly httpsOrigin: string;
  readonly certFile: string;
  /** `METHOD /path` of every request the remote received. */
  readonly requests: string[];
  close(): Promise<void>;
}

async function startRemote(net: Net, internal: string): Promise<Remote> {
  const dir = await tempDir();
  const certFile = join(dir, 'remote.crt');
  const keyFile = join(dir, 'remote.key');
  run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=amg-ssrf-remote', '-addext', `subjectAltName=IP:${net.remoteIp}`,
    '-keyout', keyFile, '-out', certFile,
  ]);
  const script = join(dir, 'remote.mjs');
  await writeFile(script, REMOTE_SCRIPT);
  const config = { ip: net.remoteIp, httpPort: 8080, httpsPort: 8443, cert: certFile, key: keyFile, internal };
  const child: ChildProcess = spawn('ip', ['netns', 'exec', net.ns, process.execPath, script, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const requests: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`the remote exited (${code}): ${stderr}`))));
  exited.catch(() => undefined);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const ready = new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      if (line === 'ready') return resolve();
      try {
        const { method, path } = JSON.parse(line) as { method: string; path: string };
        requests.push(`${method} ${path}`);
      } catch {
        // not ours
      }
    });
  });
  try {
    await within(Promise.race([ready, exited]), 'the remote to listen inside the namespace');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    httpOrigin: `http://${net.remoteIp}:8080`,
    httpsOrigin: `https://${net.remoteIp}:8443`,
    certFile,
    requests,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await within(gone, 'the remote to exit', 5_000).catch(() => child.kill('SIGKILL'));
    },
  };
}

// ---- set-up (top level: a skip needs to be known before the tests are collected) --------------

let net: Net | undefined;
let recorder: Recorder | undefined;
let remote: Remote | undefined;
let skipReason = '';
try {
  net = createNet();
  recorder = await startRecorder();
  remote = await startRemote(net, `http://127.0.0.1:${recorder.port}`);
} catch (error) {
  skipReason = error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error);
  await remote?.close();
  await recorder?.close();
  if (net) removeNet(net);
  net = undefined;
  // CI sets this: there, no network namespace is a failure, not a skip.
  if (REQUIRE) throw error;
  console.warn(`[cli ssrf e2e] skipped: no network namespace could be set up here: ${skipReason}`);
}
// A crash must not leave the namespace and the veth pair behind.
const onExit = () => {
  if (net) removeNet(net);
};
process.once('exit', onExit);
afterAll(async () => {
  await remote?.close();
  await recorder?.close();
  if (net) removeNet(net);
  net = undefined;
  process.removeListener('exit', onExit);
});

const { gateway } = closeAfterEach();

describe.skipIf(!net)(`OAuth SSRF: a remote server in a network namespace cannot make the gateway request loopback URLs${net ? '' : ` (skipped: ${skipReason})`}`, () => {
  const env = async () => ({
    NODE_EXTRA_CA_CERTS: (remote as Remote).certFile,
    BROWSER: 'none',
    GATEWAY_TOKEN_DIR: await tempDir(),
    GATEWAY_INIT_STRATEGY: 'lazy',
  });
  const r = () => remote as Remote;
  const rec = () => recorder as Recorder;

  it('through an MCP client: every malicious challenge and metadata document is refused with AUTH_FAILED; the recorder sees nothing', async () => {
    const servers = {
      'plain-http': { url: `${r().httpOrigin}/a/mcp` },
      'loopback-challenge': { url: `${r().httpsOrigin}/a/mcp` },
      'dns-name': { url: `${r().httpsOrigin}/b/mcp` },
      'token-endpoint': { url: `${r().httpsOrigin}/c/mcp` },
      registration: { url: `${r().httpsOrigin}/d/mcp` },
      'mapped-as': { url: `${r().httpsOrigin}/f/mcp` },
      redirect: { url: `${r().httpsOrigin}/h/mcp` },
      honest: { url: `${r().httpsOrigin}/g/mcp` },
    };
    const g = await gateway({ servers, env: await env() });
    const internal = `127.0.0.1:${rec().port}`;
    const refusals: Record<string, RegExp> = {
      // a public server on plain http: no OAuth with it at all (its own metadata URL must be https)
      'plain-http': new RegExp(`http://${r().httpOrigin.slice('http://'.length)} is refused: it must use https`),
      // the issue's case: a public https server whose challenge names a loopback admin URL
      'loopback-challenge': new RegExp(`resource metadata URL http://${internal} is refused: it must use https`),
      'dns-name': new RegExp(`resource metadata URL https://localhost:${rec().port} is refused: localhost resolves to (127\\.0\\.0\\.1|::1), a loopback address`),
      'token-endpoint': new RegExp(`token endpoint https://localhost:${rec().port} is refused: localhost resolves to`),
      registration: new RegExp(`registration endpoint http://${internal} is refused: it must use https`),
      'mapped-as': new RegExp(`authorization server https://\\[::ffff:7f00:1\\]:${rec().port} is refused: 127\\.0\\.0\\.1 is a loopback address`),
    };
    for (const [server, refusal] of Object.entries(refusals)) {
      const error = errorOf(await within(g.call('get_server_tools', { server }), server));
      expect(error.code, `${server}: ${error.message}`).toBe('AUTH_FAILED');
      expect(error.message, server).toMatch(refusal);
    }
    // A redirect to loopback is never followed: the gateway goes on without that document (and fails harmlessly).
    const redirected = errorOf(await within(g.call('get_server_tools', { server: 'redirect' }), 'redirect'));
    expect(redirected.code).toMatch(/^AUTH_(FAILED|REQUIRED)$/);

    // The control: the same remote with honest metadata gets its login URL, on the remote.
    const honest = errorOf(await within(g.call('get_server_tools', { server: 'honest' }), 'honest'));
    expect(honest.code).toBe('AUTH_REQUIRED');
    expect(String(honest.authorizationUrl)).toMatch(new RegExp(`^${r().httpsOrigin}/g/authorize\\?`));

    // The attacks were delivered: the gateway talked to the remote for each of them…
    for (const v of ['a', 'b', 'c', 'd', 'f', 'h']) expect(r().requests, v).toContain(`POST /${v}/mcp`);
    for (const v of ['c', 'd', 'f']) expect(r().requests, v).toContain(`GET /.well-known/oauth-protected-resource/${v}/mcp`);
    expect(r().requests).toContain('GET /h/meta');
    // …and not one connection reached the internal service.
    expect(rec().connections).toBe(0);
    expect(rec().requests).toEqual([]);
    expect(g.stderr()).not.toContain('shutting down');
  });

  it('through the command line: `auth login` refuses internal endpoints; `auth login --device` refuses a loopback verification_uri', async () => {
    const files = await writeConfig({
      'token-endpoint': { url: `${r().httpsOrigin}/c/mcp` },
      device: { url: `${r().httpsOrigin}/e/mcp` },
    });
    const cliEnv = { ...(await env()), HOME: files.dir };

    const login = await runCli(['auth', 'login', 'token-endpoint', '--no-browser', '--config', files.config], { env: cliEnv, cwd: files.dir });
    expect(login.code, login.stderr).toBe(1);
    expect(login.stderr).toMatch(new RegExp(`AUTH_FAILED: .*token endpoint https://localhost:${rec().port} is refused: localhost resolves to`));
    expect(login.stdout).not.toMatch(/Open this URL/);

    const device = await runCli(['auth', 'login', 'device', '--device', '--config', files.config], { env: cliEnv, cwd: files.dir });
    expect(device.code, device.stderr).toBe(1);
    expect(device.stderr).toMatch(new RegExp(`AUTH_FAILED: .*verification URI http://127\\.0\\.0\\.1:${rec().port} is refused: it must use https`));
    // the code was asked for at the remote, but nobody is told to open the internal URL
    expect(r().requests).toContain('POST /e/device');
    expect(device.stdout).not.toContain('127.0.0.1');

    expect(rec().connections).toBe(0);
    expect(rec().requests).toEqual([]);
  });
});
