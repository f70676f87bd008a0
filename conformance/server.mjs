#!/usr/bin/env node
/**
 * Runs server scenarios of the official MCP conformance suite against the gateway served over
 * Streamable HTTP: the built CLI (`packages/cli/dist/bin.js serve --transport http --port 0`) on
 * 127.0.0.1, with the stdio demo server of @agent-mcp-gateway/testing behind it and no agent
 * credentials (a loopback listener, which is what the dns-rebinding-protection scenario is about).
 * One listener serves both protocol eras, so both suites run against the same gateway:
 *
 * - 0.1.11 (`@modelcontextprotocol/conformance`, 2025 era): server-initialize, ping, dns-rebinding-protection.
 * - 0.2.0-alpha.12 (`conformance-0200a12`, 2026-07-28 and 2025-11-25): every server scenario of the
 *   suite except the extension ones, judged against conformance/baseline-server-0.2.0-alpha.12.json
 *   (each expected failure with its reason).
 *
 *   node conformance/server.mjs [--suite 0.1.11|0.2.0-alpha.12]... [--scenario <name>]... [--jobs <n>] [--verbose]
 *
 * Exit 1 when a scenario fails that the suite's baseline does not list, when a listed one passes (the
 * baseline must stay honest), when the baseline names a scenario the suite does not have, or when the
 * gateway does not exit 0 on SIGTERM. A scenario passes when its checks have no FAILURE and no WARNING.
 * Results (checks.json per scenario, the gateway's stderr) are kept under .tmp/conformance-server/.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import process from 'node:process';
import { ROOT, findFile, run, suiteScript } from './lib.mjs';
import { clearTimeout, setTimeout } from 'node:timers';

const RESULTS = join(ROOT, '.tmp', 'conformance-server');
const CLI = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');
const DEMO_SERVER = join(ROOT, 'packages', 'testing', 'dist', 'stdio-server.js');
const START_TIMEOUT_MS = 20_000;

/**
 * The suites: package (run by path, as in run.mjs), Node flags (0.1.14 and later need the Node 20 shim),
 * the scenarios (a list, or every non-extension server scenario the suite lists) and the baseline.
 */
const SUITES = {
  '0.1.11': { pkg: '@modelcontextprotocol/conformance', nodeArgs: [], scenarios: ['server-initialize', 'ping', 'dns-rebinding-protection'], baseline: undefined },
  '0.2.0-alpha.12': {
    pkg: 'conformance-0200a12',
    nodeArgs: ['--import', './conformance/node20/register.mjs'],
    scenarios: 'all',
    baseline: 'baseline-server-0.2.0-alpha.12.json',
  },
};

function parseArgs(argv) {
  const args = { suites: [], scenarios: [], jobs: 4, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--suite') {
      const suite = argv[++i];
      if (!(suite in SUITES)) throw new Error(`unknown suite ${suite} (known: ${Object.keys(SUITES).join(', ')})`);
      if (!args.suites.includes(suite)) args.suites.push(suite);
    } else if (a === '--scenario') args.scenarios.push(argv[++i]);
    else if (a === '--jobs') args.jobs = Math.max(1, Number(argv[++i]) || 1);
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`usage: node conformance/server.mjs [--suite ${Object.keys(SUITES).join('|')}]... [--scenario <name>]... [--jobs <n>] [--verbose]\n`);
      process.exit(0);
    } else throw new Error(`unknown argument: ${a}`);
  }
  if (!args.suites.length) args.suites = Object.keys(SUITES);
  return args;
}

async function conformance(suite, cliArgs) {
  const { pkg, nodeArgs } = SUITES[suite];
  const { script, version } = await suiteScript(pkg, `conformance suite ${suite} (server scenarios)`);
  return { version, result: await run(process.execPath, [...nodeArgs, script, ...cliArgs]) };
}

/** The suite's server scenarios, without the extension ones (`- name [extension]`). */
async function listServerScenarios(suite) {
  const { result } = await conformance(suite, ['list']);
  if (result.code !== 0) throw new Error(`conformance ${suite} list failed:\n${result.stderr}`);
  const section = (result.stdout.split(/Server scenarios[^\n]*\n/)[1] ?? '').split(/\n\s*\n/)[0];
  return [...section.matchAll(/^\s+- (\S+)(?: \[([^\]]*)\])?$/gm)].filter((m) => m[2] !== 'extension').map((m) => m[1]);
}

async function pool(items, jobs, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(jobs, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]);
      }
    }),
  );
  return results;
}

/** Starts the gateway over HTTP on an ephemeral loopback port; resolves once it prints its URL. */
async function startGateway(dir) {
  const config = join(dir, '.mcp.json');
  await writeFile(config, JSON.stringify({ mcpServers: { demo: { command: process.execPath, args: [DEMO_SERVER, '--name', 'demo'] } } }));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', config, '--transport', 'http', '--port', '0'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, GATEWAY_LOG_LEVEL: 'warn', GATEWAY_AUDIT_LOG: join(dir, 'audit.jsonl') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start listening:\n${stderr}`)), START_TIMEOUT_MS);
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const match = /Gateway listening on (\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited (${code}) before listening:\n${stderr}`));
    });
  });
  return {
    url,
    stderr: () => stderr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

/** One suite against the running gateway. True when every scenario came out as its baseline expects. */
async function runSuite(suite, gateway, args) {
  const { baseline } = SUITES[suite];
  const expected = baseline ? (JSON.parse(await readFile(join(ROOT, 'conformance', baseline), 'utf8')).expectedFailures ?? {}) : {};
  const known = SUITES[suite].scenarios === 'all' ? await listServerScenarios(suite) : SUITES[suite].scenarios;
  const errors = [];
  for (const [name, reason] of Object.entries(expected)) {
    if (!known.includes(name)) errors.push(`${baseline} names ${name}, which is not a server scenario run from this suite`);
    if (typeof reason !== 'string' || reason.trim().length < 10) errors.push(`${baseline}: ${name} has no written reason`);
  }
  if (errors.length) throw new Error(errors.join('\n'));
  // --scenario: the named ones, in each suite that has them (0.1.11's list is a fixed selection: any name goes there)
  const selected = args.scenarios.length ? args.scenarios.filter((s) => SUITES[suite].scenarios !== 'all' || known.includes(s)) : known;
  if (!selected.length) return true;
  const { version } = await suiteScript(SUITES[suite].pkg);
  process.stderr.write(`conformance ${version}: ${selected.length} server scenarios against ${gateway.url}, ${args.jobs} at a time (results in ${relative(ROOT, join(RESULTS, suite))}/)\n`);
  const results = await pool(selected, args.jobs, async (scenario) => {
    const out = join(RESULTS, suite, scenario);
    const { result: cli } = await conformance(suite, ['server', '--url', gateway.url, '--scenario', scenario, '-o', out]);
    const checksFile = await findFile(out, 'checks.json');
    const checks = checksFile ? JSON.parse(await readFile(checksFile, 'utf8')) : [];
    const bad = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
    const pass = cli.code === 0 && checks.length > 0 && bad.length === 0;
    return { scenario, pass, checks, bad, cli, checksFile };
  });
  let unexpected = 0;
  for (const r of results) {
    const listed = r.scenario in expected;
    const mark = r.pass ? (listed ? 'XPASS' : 'pass') : listed ? 'xfail' : 'FAIL';
    if (mark === 'XPASS' || mark === 'FAIL') unexpected++;
    process.stdout.write(`  ${mark} ${r.scenario} (${r.checks.length - r.bad.length}/${r.checks.length} checks)\n`);
    if (mark === 'FAIL' || args.verbose) {
      for (const c of r.bad) process.stdout.write(`    - ${c.status} ${c.name}: ${c.errorMessage ?? c.description}\n`);
      if (!r.checksFile) process.stdout.write(`    - no checks.json (exit ${r.cli.code})\n`);
    }
    if (mark === 'XPASS') process.stdout.write(`    - passes, but ${baseline} lists it: remove it from the baseline\n`);
    if (mark === 'FAIL' && args.verbose) process.stdout.write(`${r.cli.stdout}\n${r.cli.stderr}\n`);
  }
  const passed = results.filter((r) => r.pass).length;
  const xfail = results.filter((r) => !r.pass && r.scenario in expected).length;
  process.stdout.write(`server scenarios ${suite}: passed ${passed}/${results.length}${baseline ? `, ${xfail} expected failures (${baseline})` : ''}${unexpected ? `, ${unexpected} unexpected` : ''}\n`);
  return unexpected === 0;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  for (const suite of args.suites) await suiteScript(SUITES[suite].pkg, `conformance suite ${suite} (server scenarios)`);
  await rm(RESULTS, { recursive: true, force: true });
  await mkdir(RESULTS, { recursive: true });
  const gateway = await startGateway(RESULTS);
  let failed = 0;
  try {
    for (const suite of args.suites) if (!(await runSuite(suite, gateway, args))) failed++;
  } finally {
    const code = await gateway.stop();
    await writeFile(join(RESULTS, 'gateway.stderr.txt'), gateway.stderr());
    if (code !== 0) {
      process.stdout.write(`the gateway exited with ${code} on SIGTERM (stderr in ${relative(ROOT, RESULTS)}/gateway.stderr.txt)\n`);
      failed++;
    }
  }
  if (failed) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`conformance/server.mjs: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
