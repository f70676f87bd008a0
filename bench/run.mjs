#!/usr/bin/env node
// @ts-check
/* global console, fetch, AbortController, URL, performance, setTimeout */
/**
 * `npm run bench`: the cost of the gateway, measured in one run against a
 * baseline — the SDK's own client talking straight to the same downstream
 * server. Prints one table, writes bench/results/latest.json (and .md).
 *
 *   node --expose-gc bench/run.mjs [--quick] [--save] [--cpu-prof=DIR]
 *
 *   --quick         a fraction of the calls (a smoke run; numbers are noisy)
 *   --save          also write the table to bench/RESULTS.md (the committed copy; complete runs only)
 *   --render        no measuring: print the table of bench/results/latest.json again (with --save, RESULTS.md too)
 *   --only=LIST     run only these phases (comma-separated): stdio, http, startup, context, oauth
 *   --cpu-prof=DIR  the gateway child of the stdio/http phases runs with `node --cpu-prof`;
 *                   its profile lands in DIR (summarise with bench/profile-summary.mjs)
 *
 * Benchmarks are not tests: nothing here fails on a slow number.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GATEWAY_BIN = join(ROOT, 'packages/cli/dist/bin.js');
const HTTP_SERVER = join(ROOT, 'bench/http-server.mjs');
const NAIVE_RELAY = join(ROOT, 'bench/naive-relay.mjs');
const RAW_RELAY = join(ROOT, 'bench/raw-relay.mjs');
const RESULTS_DIR = join(ROOT, 'bench/results');
/** The stdio test server of packages/testing (its path, not its index: that loads the OAuth fixtures too). */
const stdioServerPath = join(ROOT, 'packages/testing/dist/stdio-server.js');
const NODE = process.execPath;

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const SAVE = argv.includes('--save');
const RENDER = argv.includes('--render');
const CPU_PROF = argv.find((a) => a.startsWith('--cpu-prof='))?.slice('--cpu-prof='.length);
const PHASES = new Set(
  (argv.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? 'stdio,http,startup,context,oauth').split(','),
);

/**
 * Call counts per path: ~2000 small and ~300 large sequential calls in alternating rounds; calls per
 * throughput run (HTTP ones are ~10× slower, so fewer), best of `tputReps`; start-ups repeated.
 */
const PLAN = QUICK
  ? {
      rounds: 2, small: 150, large: 20, warmSmall: 100, warmLarge: 10, tputReps: 1, starts: 2, expiries: 1,
      tput: { stdio: { 1: 300, 8: 600, 32: 1200 }, http: { 1: 100, 8: 200, 32: 300 } },
    }
  : {
      rounds: 4, small: 500, large: 75, warmSmall: 500, warmLarge: 30, tputReps: 3, starts: 5, expiries: 3,
      tput: { stdio: { 1: 800, 8: 2000, 32: 3000 }, http: { 1: 300, 8: 600, 32: 1000 } },
    };
const SERVERS_AT_START = 10;
/** Calls that arrive together at token expiry (the OAuth phase). */
const CALLS_AT_EXPIRY = 200;
const SMALL = 'x'.repeat(32);
const LARGE = pattern(100 * 1024);

const gc = /** @type {(() => void) | undefined} */ (globalThis.gc);
const now = () => performance.now();
/** @type {Set<() => Promise<void>>} everything to close on the way out */
const cleanups = new Set();
const tmpRoot = mkdtempSync(join(tmpdir(), 'amg-bench-'));

// ---------------------------------------------------------------- processes

/**
 * An SDK client on a stdio child; drains the child's stderr (keeping the tail).
 * @param {{ command: string, args: string[], env?: Record<string, string>, cwd?: string }} spec
 */
async function stdioClient(spec) {
  const transport = new StdioClientTransport({ ...spec, env: spec.env ?? getDefaultEnvironment(), stderr: 'pipe' });
  let stderr = '';
  /** @type {Record<string, number>} Node warnings the child printed, by name */
  const warnings = {};
  transport.stderr?.on('data', (/** @type {Buffer} */ chunk) => {
    const text = chunk.toString('utf8');
    for (const match of text.matchAll(/\(node:\d+\) (\w+Warning)/g)) warnings[match[1] ?? '?'] = (warnings[match[1] ?? '?'] ?? 0) + 1;
    stderr = (stderr + text).slice(-20_000);
  });
  const client = new Client({ name: 'bench', version: '0.0.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    throw new Error(`${spec.command} ${spec.args.join(' ')} did not start: ${String(error)}\n${stderr}`, { cause: error });
  }
  const pid = /** @type {number} */ (transport.pid);
  const close = async () => {
    cleanups.delete(close);
    const children = childrenOf(pid);
    await client.close().catch(() => undefined);
    await untilGone([pid, ...children]);
  };
  cleanups.add(close);
  return { client, pid, stderr: () => stderr, warnings: () => ({ ...warnings }), close };
}

/** The stdio test server, straight from an SDK client. */
function directStdio(name = 'demo') {
  return stdioClient({ command: NODE, args: [stdioServerPath, '--name', name] });
}

/**
 * The SDK's Streamable HTTP client, straight to the server. Its transport hands
 * one connection-wide AbortSignal to every fetch, and Node 20's fetch leaves an
 * abort listener on it per request (freed only by GC): past 1500 of them each
 * request prints a MaxListenersExceededWarning. The baseline must not pay for
 * that, so each POST gets a signal of its own, linked to the shared one while
 * the request is sent. (The gateway's HTTP transport does not do this: it pays.)
 * @param {string} url
 */
async function directHttp(url) {
  /** @type {import('@modelcontextprotocol/client').FetchLike} */
  const ownSignalFetch = async (input, init) => {
    const shared = init?.signal;
    if (!shared || init?.method === 'GET') return fetch(input, init); // the long-lived GET stream keeps the shared one
    const own = new AbortController();
    const onAbort = () => own.abort(shared.reason);
    shared.addEventListener('abort', onAbort, { once: true });
    try {
      return await fetch(input, { ...init, signal: own.signal });
    } finally {
      shared.removeEventListener('abort', onAbort);
    }
  };
  const client = new Client({ name: 'bench', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: ownSignalFetch }));
  const close = async () => {
    cleanups.delete(close);
    await client.close().catch(() => undefined);
  };
  cleanups.add(close);
  return { client, close };
}

/**
 * The gateway CLI as an MCP client starts it, in a folder of its own (config,
 * an allow-all rules file so the policy engine is on the path, HOME).
 * @param {Record<string, unknown>} servers
 * @param {{ strategy?: 'eager' | 'lazy', profile?: boolean, env?: Record<string, string> }} [options]
 */
async function gateway(servers, options = {}) {
  const dir = mkdtempSync(join(tmpRoot, 'gw-'));
  writeFileSync(join(dir, '.mcp.json'), JSON.stringify({ mcpServers: servers }, null, 2));
  writeFileSync(join(dir, '.mcp-gateway-rules.json'), JSON.stringify({ agents: { default: { allow: { servers: ['*'] } } } }));
  /** @type {Record<string, string>} */
  const env = { PATH: process.env.PATH ?? '', HOME: dir, GATEWAY_INIT_STRATEGY: options.strategy ?? 'eager', ...options.env };
  // Node 20 refuses --cpu-prof in NODE_OPTIONS: it goes on the command line.
  const nodeArgs = options.profile && CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [];
  return stdioClient({ command: NODE, args: [...nodeArgs, GATEWAY_BIN, '--config', join(dir, '.mcp.json')], env, cwd: dir });
}

/** The 50-line relay of ANCHORS.md in front of the stdio test server (reference only). */
function naiveRelay() {
  return stdioClient({ command: NODE, args: [NAIVE_RELAY, NODE, stdioServerPath, '--name', 'demo'] });
}

/** A hand-written JSON-RPC relay without the SDK: the floor of one process hop (reference only). */
function rawRelay() {
  return stdioClient({ command: NODE, args: [RAW_RELAY, NODE, stdioServerPath, '--name', 'demo'] });
}

/** @param {string} name */
const demoEntry = (name) => ({ command: NODE, args: [stdioServerPath, '--name', name] });

/** The Streamable HTTP test server in its own process. */
async function httpServerProcess() {
  const child = spawn(NODE, [HTTP_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) });
  const first = await new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`HTTP test server exited with ${code}`)));
  });
  const { url } = JSON.parse(/** @type {string} */ (first));
  const close = async () => {
    cleanups.delete(close);
    child.stdin?.end();
    await untilGone([/** @type {number} */ (child.pid)]);
  };
  cleanups.add(close);
  return { url: /** @type {string} */ (url), pid: /** @type {number} */ (child.pid), close };
}

/** @param {number} pid @returns {number[]} live children of `pid` (from /proc) */
function childrenOf(pid) {
  /** @type {number[]} */
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** @param {number} pid @param {'VmRSS' | 'VmHWM'} field @returns {number} bytes */
function memoryOf(pid, field = 'VmRSS') {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`no ${field} for ${pid}`);
  return Number(match[1]) * 1024;
}

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (≤ 5 s) until the processes are gone, so the next measurement has the CPUs to itself. */
async function untilGone(/** @type {number[]} */ pids) {
  const deadline = Date.now() + 5_000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(20);
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // raced with its exit
    }
  }
}

// ---------------------------------------------------------------- calls

/** @typedef {(text: string) => Promise<unknown>} EchoCall */

/** @param {Client} client @returns {EchoCall} */
function directEcho(client) {
  return async (text) => check(await client.callTool({ name: 'echo', arguments: { text } }), text);
}

/** @param {Client} client @param {string} server @returns {EchoCall} */
function gatewayEcho(client, server) {
  return async (text) =>
    check(await client.callTool({ name: 'execute_tool', arguments: { server, tool: 'echo', args: { text } } }), text);
}

/** @param {Client} client @returns {EchoCall} */
function relayEcho(client) {
  return async (text) => check(await client.callTool({ name: 'execute_tool', arguments: { tool: 'echo', args: { text } } }), text);
}

/** A wrong answer would make every number meaningless: stop. */
function check(/** @type {any} */ result, /** @type {string} */ text) {
  if (result.isError || result.structuredContent?.text?.length !== text.length) {
    throw new Error(`unexpected echo result: ${JSON.stringify(result).slice(0, 300)}`);
  }
  return result;
}

/**
 * @typedef {{ middle?: number, server?: number }} PathProcesses the processes of a path besides this one
 * @typedef {{ client: number, middle: number, server: number, total: number }} CpuPerCall µs of CPU per call
 */

/**
 * Adds up the CPU that each process of a path spends over several runs:
 * unlike wall-clock numbers, hardly moved by other load on the machine.
 * @param {PathProcesses} procs
 */
function cpuMeter(procs) {
  const sum = { client: 0, middle: 0, server: 0, calls: 0 };
  return {
    /** Runs `work` (which makes `calls` calls) and adds what it cost. */
    async measure(/** @type {() => Promise<void>} */ work, /** @type {number} */ calls) {
      const before = { client: process.cpuUsage(), middle: cpuNs(procs.middle), server: cpuNs(procs.server) };
      await work();
      const used = process.cpuUsage(before.client);
      sum.client += used.user + used.system;
      sum.middle += (cpuNs(procs.middle) - before.middle) / 1000;
      sum.server += (cpuNs(procs.server) - before.server) / 1000;
      sum.calls += calls;
    },
    /** @returns {CpuPerCall} */
    perCall() {
      const n = sum.calls || 1;
      return { client: sum.client / n, middle: sum.middle / n, server: sum.server / n, total: (sum.client + sum.middle + sum.server) / n };
    },
  };
}

/**
 * Sequential latency of several paths, in alternating rounds (so drift and
 * noise hit every path alike), after a warm-up of each.
 * @param {Record<string, EchoCall>} paths
 * @param {Record<string, PathProcesses>} procs
 * @param {string} text
 * @param {{ warm: number, rounds: number, perRound: number }} plan
 */
async function latency(paths, procs, text, plan) {
  /** @type {Record<string, number[]>} samples in ms */
  const samples = {};
  /** @type {Record<string, ReturnType<typeof cpuMeter>>} */
  const meters = {};
  for (const [name, call] of Object.entries(paths)) {
    samples[name] = [];
    meters[name] = cpuMeter(procs[name] ?? {});
    for (let i = 0; i < plan.warm; i++) await call(text);
  }
  for (let r = 0; r < plan.rounds; r++) {
    for (const [name, call] of Object.entries(paths)) {
      gc?.();
      const out = /** @type {number[]} */ (samples[name]);
      await meters[name]?.measure(async () => {
        for (let i = 0; i < plan.perRound; i++) {
          const t0 = now();
          await call(text);
          out.push(now() - t0);
        }
      }, plan.perRound);
    }
  }
  return { stats: summarize(samples), cpu: Object.fromEntries(Object.entries(meters).map(([k, m]) => [k, m.perCall()])) };
}

/**
 * Calls/s with `inFlight` concurrent callers sharing `total` calls; best of
 * `reps` runs, paths alternating; and the CPU per call of each process.
 * @param {Record<string, EchoCall>} paths
 * @param {Record<string, PathProcesses>} procs
 */
async function throughput(paths, procs, /** @type {number} */ inFlight, /** @type {number} */ total, /** @type {number} */ reps) {
  /** @type {Record<string, number>} */
  const rates = {};
  /** @type {Record<string, ReturnType<typeof cpuMeter>>} */
  const meters = {};
  for (const [name, call] of Object.entries(paths)) {
    meters[name] = cpuMeter(procs[name] ?? {});
    await Promise.all(Array.from({ length: inFlight }, () => call(SMALL))); // warm the concurrency path
  }
  for (let r = 0; r < reps; r++) {
    for (const [name, call] of Object.entries(paths)) {
      gc?.();
      let issued = 0;
      const t0 = now();
      await meters[name]?.measure(async () => {
        await Promise.all(
          Array.from({ length: inFlight }, async () => {
            while (issued < total) {
              issued++;
              await call(SMALL);
            }
          }),
        );
      }, total);
      rates[name] = Math.max(rates[name] ?? 0, (total / (now() - t0)) * 1000);
    }
  }
  return { rates, cpu: Object.fromEntries(Object.entries(meters).map(([k, m]) => [k, m.perCall()])) };
}

/** @param {number | undefined} pid @returns {number} CPU time of all the process's threads, ns (0 without a pid) */
function cpuNs(pid) {
  if (pid === undefined) return 0;
  let sum = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread gone meanwhile
    }
  }
  return sum;
}

// ---------------------------------------------------------------- phases

/** Latency and throughput over one transport. */
async function hotPath(/** @type {'stdio' | 'http'} */ kind) {
  let direct, gw, relay, floor;
  /** @type {Awaited<ReturnType<typeof httpServerProcess>> | undefined} */
  let http;
  if (kind === 'stdio') {
    direct = await directStdio();
    gw = await gateway({ demo: demoEntry('demo') }, { profile: true });
    relay = await naiveRelay();
    floor = await rawRelay();
  } else {
    http = await httpServerProcess();
    direct = await directHttp(http.url);
    gw = await gateway({ demo: { url: http.url, type: 'http' } }, { profile: true });
  }
  /** @type {Record<string, EchoCall>} */
  const paths = { direct: directEcho(direct.client), gateway: gatewayEcho(gw.client, 'demo') };
  if (relay) paths.relay = relayEcho(relay.client);
  if (floor) paths.floor = relayEcho(floor.client);
  await paths.gateway?.(SMALL); // the gateway starts its downstream: now it has a child to measure
  const serverOf = (/** @type {number} */ pid) => (http ? http.pid : childrenOf(pid)[0]);
  /** @type {Record<string, PathProcesses>} */
  const procs = {
    direct: { server: http ? http.pid : /** @type {number} */ (/** @type {any} */ (direct).pid) },
    gateway: { middle: gw.pid, server: serverOf(gw.pid) },
    ...(relay && { relay: { middle: relay.pid, server: serverOf(relay.pid) } }),
    ...(floor && { floor: { middle: floor.pid, server: serverOf(floor.pid) } }),
  };
  const small = await latency(paths, procs, SMALL, { warm: PLAN.warmSmall, rounds: PLAN.rounds, perRound: PLAN.small });
  const large = await latency(paths, procs, LARGE, { warm: PLAN.warmLarge, rounds: PLAN.rounds, perRound: PLAN.large });
  /** @type {Record<number, Record<string, number>>} */
  const tput = {};
  /** @type {Record<number, Record<string, CpuPerCall>>} */
  const cpu = {};
  for (const inFlight of /** @type {const} */ ([1, 8, 32])) {
    const t = await throughput(paths, procs, inFlight, PLAN.tput[kind][inFlight], PLAN.tputReps);
    tput[inFlight] = t.rates;
    cpu[inFlight] = t.cpu;
  }
  const gatewayRss = memoryOf(gw.pid);
  const gatewayPeak = memoryOf(gw.pid, 'VmHWM');
  const relayRss = relay && memoryOf(relay.pid);
  const relayPeak = relay && memoryOf(relay.pid, 'VmHWM');
  await gw.close();
  await relay?.close();
  await floor?.close();
  await direct.close();
  await http?.close();
  return {
    small: small.stats,
    large: large.stats,
    throughput: tput,
    cpuPerCallUs: { small: small.cpu, large: large.cpu, ...cpu },
    gatewayRssAfterLoad: gatewayRss,
    gatewayPeakRss: gatewayPeak,
    ...(relay && { relayRssAfterLoad: relayRss, relayPeakRss: relayPeak }),
    gatewayWarnings: gw.warnings(),
  };
}

/** @param {Record<string, number[]>} samples */
function summarize(samples) {
  /** @type {Record<string, { n: number, p50: number, p99: number, mean: number }>} */
  const out = {};
  for (const [name, values] of Object.entries(samples)) {
    const sorted = [...values].sort((a, b) => a - b);
    out[name] = {
      n: sorted.length,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    };
  }
  return out;
}

/** @param {number[]} sorted @param {number} q */
function percentile(sorted, q) {
  return /** @type {number} */ (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]);
}

/** @param {number[]} values */
function median(values) {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

/** Spawn → first tools/list answered, one test server, direct SDK client. */
async function singleStart() {
  const t0 = now();
  const s = await directStdio('single');
  await s.client.listTools();
  const ms = now() - t0;
  const rss = memoryOf(s.pid);
  await s.close();
  return { ms, rss };
}

/** Ten test servers started at once by ten direct clients: what two cores allow. */
async function parallelStart() {
  const t0 = now();
  const all = await Promise.all(
    Array.from({ length: SERVERS_AT_START }, async (_, i) => {
      const s = await directStdio(`p${i}`);
      await s.client.listTools();
      return s;
    }),
  );
  const ms = now() - t0;
  await Promise.all(all.map((s) => s.close()));
  return ms;
}

/**
 * Spawn → first answered `list_servers` through the gateway with ten stdio
 * servers; then `get_server_tools` on all ten at once (ready). `cacheDir` is the
 * gateway's GATEWAY_CACHE_DIR: with the protocol verdicts of an earlier start in
 * it, no server is probed (a start as users see it every day); empty, each
 * stdio server is probed once more in a sibling process (the first start ever).
 * @param {'eager' | 'lazy'} strategy
 * @param {string} cacheDir
 */
async function gatewayStart(strategy, cacheDir) {
  /** @type {Record<string, unknown>} */
  const servers = {};
  const names = Array.from({ length: SERVERS_AT_START }, (_, i) => `s${String(i + 1).padStart(2, '0')}`);
  for (const name of names) servers[name] = demoEntry(name);
  const t0 = now();
  const gw = await gateway(servers, { strategy, env: { GATEWAY_CACHE_DIR: cacheDir } });
  const listed = /** @type {any} */ (await gw.client.callTool({ name: 'list_servers', arguments: {} }));
  const firstList = now() - t0;
  const childrenAtFirstList = childrenOf(gw.pid).length;
  if (listed.isError || listed.structuredContent?.servers?.length !== SERVERS_AT_START) {
    throw new Error(`list_servers: ${JSON.stringify(listed).slice(0, 300)}`);
  }
  const meta = /** @type {any} */ (await gw.client.callTool({ name: 'list_servers', arguments: { include_metadata: true } }));
  const statesAtFirstList = /** @type {string[]} */ (meta.structuredContent.servers.map((/** @type {any} */ s) => s.state));
  const answers = await Promise.all(
    names.map((server) => gw.client.callTool({ name: 'get_server_tools', arguments: { server } })),
  );
  const ready = now() - t0;
  for (const a of /** @type {any[]} */ (answers)) {
    if (a.isError || !(a.structuredContent?.tools?.length > 0)) throw new Error(`get_server_tools: ${JSON.stringify(a).slice(0, 300)}`);
  }
  await sleep(200); // let start-up garbage settle before reading memory
  const children = childrenOf(gw.pid);
  const rss = memoryOf(gw.pid);
  const childRss = children.map((pid) => memoryOf(pid));
  await gw.close();
  return { firstList, ready, childrenAtFirstList, statesAtFirstList, rss, children: children.length, childRss };
}

async function startup() {
  await singleStart(); // warm the file cache
  const singles = [];
  /** @type {number[]} */
  const parallel = [];
  /** @type {Awaited<ReturnType<typeof gatewayStart>>[]} */
  const lazy = [];
  /** @type {Awaited<ReturnType<typeof gatewayStart>>[]} */
  const eager = [];
  // The first start ever (no protocol verdicts yet) fills the cache folder the measured starts share.
  const cacheDir = mkdtempSync(join(tmpRoot, 'cache-'));
  const firstEver = await gatewayStart('eager', cacheDir);
  // Interleaved, so that whatever else runs on the machine hits baseline and gateway alike.
  const reps = Math.max(2, Math.ceil(PLAN.starts / 2) + 1);
  for (let i = 0; i < reps; i++) {
    singles.push(await singleStart());
    parallel.push(await parallelStart());
    singles.push(await singleStart());
    lazy.push(await gatewayStart('lazy', cacheDir));
    singles.push(await singleStart());
    eager.push(await gatewayStart('eager', cacheDir));
  }
  return {
    single: { ms: singles.map((s) => s.ms), medianMs: median(singles.map((s) => s.ms)), maxMs: Math.max(...singles.map((s) => s.ms)) },
    singleServerRss: median(singles.map((s) => s.rss)),
    parallelDirect: { ms: parallel, medianMs: median(parallel) },
    firstEver: { readyMs: firstEver.ready },
    lazy: {
      runs: lazy,
      firstListMs: median(lazy.map((r) => r.firstList)),
      readyMs: median(lazy.map((r) => r.ready)),
      noDownstreamAtFirstList: lazy.every((r) => r.childrenAtFirstList === 0 && r.statesAtFirstList.every((s) => s === 'idle')),
    },
    eager: {
      runs: eager,
      firstListMs: median(eager.map((r) => r.firstList)),
      readyMs: median(eager.map((r) => r.ready)),
      rss: median(eager.map((r) => r.rss)),
      childRss: median(eager.flatMap((r) => r.childRss)),
      children: eager.map((r) => r.children),
    },
  };
}

/** o200k tokens of tools/list: the gateway's vs everything + filesystem + memory listed directly. */
async function context() {
  const allowed = mkdtempSync(join(tmpRoot, 'fs-'));
  const memoryFile = join(tmpRoot, 'memory.jsonl');
  const dist = (/** @type {string} */ pkg) => join(ROOT, 'node_modules/@modelcontextprotocol', pkg, 'dist/index.js');
  /** @type {Record<string, { command: string, args: string[], env?: Record<string, string> }>} */
  const specs = {
    everything: { command: NODE, args: [dist('server-everything'), 'stdio'] },
    filesystem: { command: NODE, args: [dist('server-filesystem'), allowed] },
    memory: { command: NODE, args: [dist('server-memory')], env: { MEMORY_FILE_PATH: memoryFile } },
  };
  /** @type {unknown[]} */
  const direct = [];
  /** @type {Record<string, number>} */
  const perServer = {};
  for (const [name, spec] of Object.entries(specs)) {
    const s = await stdioClient({ ...spec, env: { ...getDefaultEnvironment(), ...spec.env } });
    const tools = await listAllTools(s.client);
    perServer[name] = tools.length;
    direct.push(...tools);
    await s.close();
  }
  const gw = await gateway(specs, { strategy: 'lazy' });
  const gatewayTools = await listAllTools(gw.client);
  await gw.close();
  /** name, description and inputSchema only: what ANCHORS.md counted (no title, annotations, outputSchema). */
  const slim = (/** @type {any[]} */ tools) => tools.map(({ name, description, inputSchema }) => ({ name, description, inputSchema }));
  return {
    directTools: direct.length,
    perServer,
    directTokens: encode(JSON.stringify(direct)).length,
    directTokensSlim: encode(JSON.stringify(slim(direct))).length,
    gatewayTools: gatewayTools.length,
    gatewayTokens: encode(JSON.stringify(gatewayTools)).length,
    gatewayTokensSlim: encode(JSON.stringify(slim(gatewayTools))).length,
    versions: Object.fromEntries(
      Object.keys(specs).map((name) => [name, readJson(join(ROOT, 'node_modules/@modelcontextprotocol', `server-${name}`, 'package.json')).version]),
    ),
  };
}

/** @param {Client} client */
async function listAllTools(client) {
  /** @type {unknown[]} */
  const tools = [];
  /** @type {string | undefined} */
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined);
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

/**
 * Requests to the authorization server when CALLS_AT_EXPIRY calls arrive together
 * at the expiry of the access token. The fixtures of packages/testing (a real
 * oidc-provider with refresh-token rotation, and an MCP server accepting only its
 * JWTs) run in this process; the gateway logs in at start (eager) through the
 * test browser (BROWSER), like packages/cli/test/oauth.e2e.test.ts.
 *
 * The login's token lives 2 s; the ones refreshed afterwards live REFRESHED_TTL s,
 * so that a burst is always over before its new token expires: a second refresh
 * within a burst can only be a refresh that was not shared, never a legitimate one.
 */
async function oauthExpiry() {
  const LOGIN_TTL = 2;
  const REFRESHED_TTL = 5;
  // The package index loads oidc-provider: only in this phase.
  const testing = await import('@agent-mcp-gateway/testing');
  const as = await testing.startAuthorizationServer({ accessTokenTtl: LOGIN_TTL });
  const closeAs = async () => {
    cleanups.delete(closeAs);
    await as.close();
  };
  cleanups.add(closeAs);
  const resource = await testing.startProtectedMcpServer({ authorizationServer: as, name: 'notion' });
  const closeResource = async () => {
    cleanups.delete(closeResource);
    await resource.close();
  };
  cleanups.add(closeResource);
  const tokenDir = mkdtempSync(join(tmpRoot, 'tokens-'));
  const gw = await gateway(
    { notion: { url: resource.url } },
    { strategy: 'eager', env: { BROWSER: testing.testBrowserCommand(), GATEWAY_TOKEN_DIR: tokenDir } },
  );
  const echo = gatewayEcho(gw.client, 'notion');
  const t0 = now();
  while (!/Tokens cached for notion/.test(gw.stderr())) {
    if (now() - t0 > 30_000) throw new Error(`no login within 30 s:\n${gw.stderr()}`);
    await sleep(20);
  }
  const loginMs = now() - t0;
  as.setAccessTokenTtl(REFRESHED_TTL);
  await echo(SMALL); // connected with the login's token
  const logins = () => as.requests.filter((r) => r.route === 'authorization').length;
  const loginsBefore = logins();
  /** expires_at (epoch s) of the one stored token set */
  const expiresAt = () => {
    const [folder] = readdirSync(tokenDir, { withFileTypes: true }).filter((e) => e.isDirectory());
    if (!folder) throw new Error(`no token folder in ${tokenDir}`);
    return /** @type {number} */ (readJson(join(tokenDir, folder.name, 'tokens.json')).expires_at);
  };
  const runs = [];
  for (let i = 0; i < PLAN.expiries; i++) {
    const wait = expiresAt() * 1000 - Date.now() + 50;
    if (wait > 0) await sleep(wait);
    const before = { refresh: as.tokenRequests('refresh_token'), all: as.requests.length };
    const b0 = now();
    const answers = await Promise.allSettled(Array.from({ length: CALLS_AT_EXPIRY }, () => echo(SMALL)));
    const burstMs = now() - b0;
    const failed = answers.filter((a) => a.status === 'rejected');
    runs.push({
      refreshRequests: as.tokenRequests('refresh_token') - before.refresh,
      asRequests: as.requests.length - before.all,
      failedCalls: failed.length,
      firstFailure: failed[0] && String(/** @type {PromiseRejectedResult} */ (failed[0]).reason).slice(0, 300),
      burstMs,
    });
  }
  const newLogins = logins() - loginsBefore;
  const warnings = gw.warnings();
  await gw.close();
  await closeResource();
  await closeAs();
  return {
    calls: CALLS_AT_EXPIRY,
    loginTtlS: LOGIN_TTL,
    refreshedTtlS: REFRESHED_TTL,
    loginMs,
    runs,
    maxRefreshRequests: Math.max(...runs.map((r) => r.refreshRequests)),
    maxAsRequests: Math.max(...runs.map((r) => r.asRequests)),
    failedCalls: runs.reduce((n, r) => n + r.failedCalls, 0),
    newLogins,
    gatewayWarnings: warnings,
  };
}

// ---------------------------------------------------------------- table

/** Reference paths of the stdio phase: what an SDK-based relay, and any relay at all, pays. */
const REFERENCES = /** @type {const} */ ([
  ['relay', 'naive 50-line SDK relay'],
  ['floor', 'raw JSON-RPC relay without the SDK (floor of one hop)'],
]);

/**
 * @typedef {{ metric: string, baseline: string, gateway: string, ratio: string, goal: string, met: string }} Row
 */

/** @param {any} r @returns {Row[]} */
function rows(r) {
  /** @type {Row[]} */
  const out = [];
  const ms = (/** @type {number} */ v) => (v < 10 ? `${v.toFixed(3)} ms` : `${v.toFixed(1)} ms`);
  const us = (/** @type {number} */ v) => `${v.toFixed(0)} µs`;
  const x = (/** @type {number} */ v) => `${v.toFixed(2)}×`;
  const mb = (/** @type {number} */ v) => `${(v / 1024 / 1024).toFixed(1)} MB`;
  const yes = (/** @type {boolean} */ ok) => (ok ? 'yes' : 'no');
  const info = { goal: '—', met: '—' };
  const sizes = /** @type {const} */ ([['small', '32 B'], ['large', '100 KB']]);

  for (const [kind, label] of /** @type {const} */ ([['stdio', 'stdio'], ['http', 'Streamable HTTP']])) {
    const h = r.hotPath[kind];
    if (!h) continue;
    for (const [size, sizeLabel] of sizes) {
      for (const q of /** @type {const} */ (['p50', 'p99'])) {
        const d = h[size].direct[q];
        const g = h[size].gateway[q];
        out.push({
          metric: `latency ${label}, echo ${sizeLabel}, ${q} (${h[size].gateway.n} calls)`,
          baseline: ms(d),
          gateway: ms(g),
          ratio: x(g / d),
          ...(q === 'p50' ? { goal: '≤ 1.50×', met: yes(g / d <= 1.5) } : info),
        });
      }
    }
    for (const [ref, refLabel] of REFERENCES) {
      for (const [size, sizeLabel] of sizes) {
        if (!h[size][ref]) continue;
        out.push({
          metric: `  reference: ${refLabel}, echo ${sizeLabel}, p50`,
          baseline: ms(h[size].direct.p50),
          gateway: `${ms(h[size][ref].p50)} (${ref})`,
          ratio: x(h[size][ref].p50 / h[size].direct.p50),
          ...info,
        });
      }
    }
    for (const inFlight of [1, 8, 32]) {
      const t = h.throughput[inFlight];
      out.push({
        metric: `throughput ${label}, echo 32 B, ${inFlight} in flight (calls/s)`,
        baseline: Math.round(t.direct).toString(),
        gateway: Math.round(t.gateway).toString(),
        ratio: x(t.gateway / t.direct),
        ...(inFlight === 32 ? { goal: '≥ 0.70×', met: yes(t.gateway / t.direct >= 0.7) } : info),
      });
    }
    for (const [ref, refLabel] of REFERENCES) {
      const t = h.throughput[32];
      if (!t[ref]) continue;
      out.push({
        metric: `  reference: ${refLabel}, 32 in flight (calls/s)`,
        baseline: Math.round(t.direct).toString(),
        gateway: `${Math.round(t[ref])} (${ref})`,
        ratio: x(t[ref] / t.direct),
        ...info,
      });
    }
    const c = h.cpuPerCallUs;
    const loads = /** @type {const} */ ([['small', 'echo 32 B, 1 in flight'], ['large', 'echo 100 KB, 1 in flight'], ['32', 'echo 32 B, 32 in flight']]);
    for (const [load, loadLabel] of loads) {
      out.push({
        metric: `  CPU per call, all processes, ${loadLabel}`,
        baseline: us(c[load].direct.total),
        gateway: us(c[load].gateway.total),
        ratio: x(c[load].gateway.total / c[load].direct.total),
        ...info,
      });
    }
    for (const [load, loadLabel] of loads) {
      if (!c[load].relay) continue;
      out.push({
        metric: `  CPU per call in the middle process vs the naive relay's, ${loadLabel}`,
        baseline: `${us(c[load].relay.middle)} (relay)`,
        gateway: us(c[load].gateway.middle),
        ratio: x(c[load].gateway.middle / c[load].relay.middle),
        ...info,
      });
    }
  }

  const s = r.startup;
  if (s) {
    const single = s.single.medianMs;
    const base = `${ms(single)} (1 server)`;
    out.push({
      metric: `start, ${SERVERS_AT_START} stdio servers, lazy: first list_servers`,
      baseline: base,
      gateway: ms(s.lazy.firstListMs),
      ratio: x(s.lazy.firstListMs / single),
      goal: 'before any downstream starts',
      met: yes(s.lazy.noDownstreamAtFirstList),
    });
    out.push({ metric: `start, ${SERVERS_AT_START} stdio servers, lazy: all ready`, baseline: base, gateway: ms(s.lazy.readyMs), ratio: x(s.lazy.readyMs / single), ...info });
    out.push({ metric: `start, ${SERVERS_AT_START} stdio servers, eager: first list_servers`, baseline: base, gateway: ms(s.eager.firstListMs), ratio: x(s.eager.firstListMs / single), ...info });
    out.push({
      metric: `start, ${SERVERS_AT_START} stdio servers, eager: all ready`,
      baseline: base,
      gateway: ms(s.eager.readyMs),
      ratio: x(s.eager.readyMs / single),
      goal: '≤ 1.20×',
      met: yes(s.eager.readyMs / single <= 1.2),
    });
    if (s.firstEver) {
      out.push({
        metric: `  the first start ever, eager: all ready (no protocol verdicts yet: each stdio server also started once for the era probe)`,
        baseline: base,
        gateway: ms(s.firstEver.readyMs),
        ratio: x(s.firstEver.readyMs / single),
        ...info,
      });
    }
    out.push({
      metric: `  reference: the ${SERVERS_AT_START} servers started at once by ${SERVERS_AT_START} direct clients (no gateway)`,
      baseline: base,
      gateway: `${ms(s.parallelDirect.medianMs)} (direct)`,
      ratio: x(s.parallelDirect.medianMs / single),
      ...info,
    });
  }

  const c = r.context;
  if (c) {
    out.push({
      metric: `tools/list tokens (o200k): ${c.gatewayTools} meta-tools vs ${c.directTools} tools listed directly`,
      baseline: String(c.directTokens),
      gateway: String(c.gatewayTokens),
      ratio: x(c.gatewayTokens / c.directTokens),
      goal: '< 700 tokens',
      met: yes(c.gatewayTokens < 700),
    });
    out.push({
      metric: '  the same, name + description + inputSchema only (as ANCHORS.md counts)',
      baseline: String(c.directTokensSlim),
      gateway: String(c.gatewayTokensSlim),
      ratio: x(c.gatewayTokensSlim / c.directTokensSlim),
      goal: '< 500 (ANCHORS.md)',
      met: yes(c.gatewayTokensSlim < 500),
    });
  }

  if (s) {
    out.push({
      metric: `gateway RSS, ${SERVERS_AT_START} stdio servers ready (baseline: one test server process)`,
      baseline: mb(s.singleServerRss),
      gateway: mb(s.eager.rss),
      ratio: x(s.eager.rss / s.singleServerRss),
      goal: '< 80 MB',
      met: yes(s.eager.rss < 80 * 1024 * 1024),
    });
  }
  for (const [kind, label] of /** @type {const} */ ([['stdio', 'stdio'], ['http', 'Streamable HTTP']])) {
    const h = r.hotPath[kind];
    if (!h) continue;
    const warned = Object.entries(h.gatewayWarnings).map(([k, v]) => `${v} × ${k}`).join(', ');
    const relay = h.relayRssAfterLoad;
    out.push({
      metric:
        `  RSS after the ${label} load above, 1 server (peak ${mb(h.gatewayPeakRss)})` +
        `${relay ? '; baseline: the naive relay after the same load' : ''}${warned ? `; the gateway printed ${warned}` : ''}`,
      baseline: relay ? `${mb(relay)} (relay)` : '—',
      gateway: mb(h.gatewayRssAfterLoad),
      ratio: relay ? x(h.gatewayRssAfterLoad / relay) : '—',
      ...info,
    });
  }
  const o = r.oauth;
  if (o && typeof o === 'object') {
    const counts = o.runs.map((/** @type {any} */ run) => run.refreshRequests).join(', ');
    const others = o.maxAsRequests > o.maxRefreshRequests ? `; ≤ ${o.maxAsRequests} requests to the AS in all` : '';
    const failed = o.failedCalls ? `; ${o.failedCalls} calls failed` : '';
    const relogin = o.newLogins ? `; ${o.newLogins} new logins` : '';
    out.push({
      metric: `token requests (refresh_token) to the authorization server, ${o.calls} calls at token expiry (${o.runs.length} expiries)`,
      baseline: `n/a (${o.calls} without single-flight; not measured)`,
      gateway: `${counts}${others}${failed}${relogin}`,
      ratio: '—',
      goal: '1',
      met: yes(o.maxRefreshRequests === 1 && o.runs.every((/** @type {any} */ run) => run.refreshRequests === 1) && !o.failedCalls && !o.newLogins),
    });
  } else {
    out.push({
      metric: `token requests to the authorization server, ${CALLS_AT_EXPIRY} calls at token expiry`,
      baseline: '—',
      gateway: 'not measured in this run',
      ratio: '—',
      goal: '1',
      met: '—',
    });
  }
  return out;
}

/** @param {Row[]} table */
function markdown(table) {
  const head = ['metric', 'direct / baseline', 'gateway', 'ratio', 'goal', 'met?'];
  const body = table.map((r) => [r.metric, r.baseline, r.gateway, r.ratio, r.goal, r.met]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => /** @type {string} */ (b[i]).length)));
  const line = (/** @type {string[]} */ cells) => `| ${cells.map((c, i) => c.padEnd(/** @type {number} */ (widths[i]))).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

// ---------------------------------------------------------------- main

/** @param {string} path */
function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** @param {number} n bytes of repeating a-z0-9 */
function pattern(n) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return alphabet.repeat(Math.ceil(n / alphabet.length)).slice(0, n);
}

function environment() {
  let commit = 'unknown';
  let dirty = false;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    commit: dirty ? `${commit} (+ uncommitted changes in packages/)` : commit,
    sdk: readJson(join(ROOT, 'node_modules/@modelcontextprotocol/client/package.json')).version,
    quick: QUICK,
    phases: [...PHASES],
    loadavgAtStart: loadavg().map((l) => +l.toFixed(2)),
  };
}

async function main() {
  if (RENDER) return render(readJson(join(RESULTS_DIR, 'latest.json')));
  if (!gc) console.error('note: run with --expose-gc (npm run bench does) for steadier numbers');
  if (CPU_PROF) mkdirSync(CPU_PROF, { recursive: true });
  const started = now();
  const phase = (/** @type {string} */ name) => console.error(`[bench ${((now() - started) / 1000).toFixed(1)} s] ${name}`);
  const env = environment();
  /** @type {Record<string, unknown>} */
  const hot = {};
  if (PHASES.has('stdio')) {
    phase('stdio: latency and throughput');
    hot.stdio = await hotPath('stdio');
  }
  if (PHASES.has('http')) {
    phase('Streamable HTTP: latency and throughput');
    hot.http = await hotPath('http');
  }
  let start, ctx;
  if (PHASES.has('startup')) {
    phase(`start-up with ${SERVERS_AT_START} servers`);
    start = await startup();
  }
  if (PHASES.has('context')) {
    phase('context: tools/list tokens');
    ctx = await context();
  }
  let oauth;
  if (PHASES.has('oauth')) {
    phase(`OAuth: ${CALLS_AT_EXPIRY} calls at token expiry`);
    oauth = await oauthExpiry();
  }
  phase('done');
  const results = {
    environment: { ...env, durationS: (now() - started) / 1000, loadavgAtEnd: loadavg().map((l) => +l.toFixed(2)) },
    plan: PLAN,
    hotPath: hot,
    startup: start,
    context: ctx,
    oauth,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify({ ...results, table: rows(results) }, null, 2)}\n`);
  render(results);
}

/** Prints the table and writes latest.md (and RESULTS.md with --save) from a run's results. @param {any} results */
function render(results) {
  const env = results.environment;
  const table = markdown(rows(results));
  const header =
    `agent-mcp-gateway bench — ${env.date}, node ${env.node}, ${env.cpus}, commit ${env.commit}, SDK ${env.sdk}` +
    `${env.quick ? ' (--quick)' : ''}; load average at start ${env.loadavgAtStart.join(' ')}, at end ${env.loadavgAtEnd.join(' ')}; ` +
    `${env.durationS.toFixed(0)} s`;
  console.log(`${header}\n\n${table}\n`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.md'), `${header}\n\n${table}\n`);
  const complete = ['stdio', 'http'].every((k) => results.hotPath[k]) && results.startup && results.context && typeof results.oauth === 'object' && !env.quick;
  if (SAVE && !complete) console.error('--save: not a complete run (all phases, not --quick): RESULTS.md left as it was');
  if (SAVE && complete) writeFileSync(join(ROOT, 'bench/RESULTS.md'), resultsPage(header, table, results));
  console.log(`written: bench/results/latest.md${RENDER ? '' : ', latest.json'}${SAVE && complete ? ', bench/RESULTS.md' : ''}`);
}

/** @param {string} header @param {string} table @param {any} r */
function resultsPage(header, table, r) {
  const s = r.startup;
  const runs = (/** @type {any[]} */ list, /** @type {string} */ key) => fmtList(list.map((x) => x[key]));
  const mbOf = (/** @type {number} */ v) => `${(v / 2 ** 20).toFixed(1)} MB`;
  return `# Benchmark results

The latest committed run of \`npm run bench\` (see [README.md](README.md) for what each row means and
how to read it). Ratios are within this one run; absolute numbers depend on the machine and on what
else ran on it (see the load average in the header): the wall-clock rows move by tens of percent
between runs on a shared 2-core machine, the CPU-per-call rows much less.

${header}

${table}

Details of this run:

- start-up runs, ms: one server alone ${fmtList(s.single.ms)}; the 10 by 10 direct clients at once ${fmtList(s.parallelDirect.ms)}
- lazy: first \`list_servers\` ${runs(s.lazy.runs, 'firstList')}; all ready ${runs(s.lazy.runs, 'ready')}
- eager: first \`list_servers\` ${runs(s.eager.runs, 'firstList')}; all ready ${runs(s.eager.runs, 'ready')}
- RSS of one downstream test server (median of the eager runs' children): ${mbOf(s.eager.childRss)}
- tools listed directly: ${Object.entries(r.context.perServer).map(([k, v]) => `${k} ${v} (${r.context.versions[k]})`).join(', ')}
- OAuth: login via \`BROWSER\` ${r.oauth.loginMs.toFixed(0)} ms (token of ${r.oauth.loginTtlS} s, refreshed ones ${r.oauth.refreshedTtlS} s); \
${r.oauth.calls} calls at each expiry answered in ${fmtList(r.oauth.runs.map((/** @type {any} */ x) => x.burstMs))} ms, \
requests to the authorization server per burst ${r.oauth.runs.map((/** @type {any} */ x) => x.asRequests).join(', ')}
`;
}

/** @param {number[]} values */
function fmtList(values) {
  return values.map((v) => v.toFixed(0)).join(', ');
}

let exiting = false;
async function cleanupAll() {
  if (exiting) return;
  exiting = true;
  await Promise.allSettled([...cleanups].map((c) => c()));
  rmSync(tmpRoot, { recursive: true, force: true });
}

process.once('SIGINT', () => void cleanupAll().finally(() => process.exit(130)));
main().then(
  () => cleanupAll(),
  async (error) => {
    console.error(error);
    await cleanupAll();
    process.exitCode = 1;
  },
);
