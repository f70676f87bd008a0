#!/usr/bin/env node
/**
 * Runs server scenarios of the official MCP conformance suite (@modelcontextprotocol/conformance
 * 0.1.11, pinned in the root package.json) against the gateway served over Streamable HTTP: the
 * built CLI (`packages/cli/dist/bin.js serve --transport http --port 0`) on 127.0.0.1, with the
 * stdio demo server of @agent-mcp-gateway/testing behind it and no agent credentials (a loopback
 * listener, which is what the suite's dns-rebinding-protection scenario is about).
 *
 *   node conformance/server.mjs [--scenario <name>]... [--verbose]
 *
 * Default scenarios: server-initialize, ping, dns-rebinding-protection. Exit 1 when a check fails
 * or warns. Results (checks.json per scenario, the gateway's stderr) are kept under
 * .tmp/conformance-server/.
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
/** The suite version these scenarios are judged with (the client runner also runs newer ones). */
const SUITE_PACKAGE = '@modelcontextprotocol/conformance';
const DEFAULT_SCENARIOS = ['server-initialize', 'ping', 'dns-rebinding-protection'];
const START_TIMEOUT_MS = 20_000;

function parseArgs(argv) {
  const args = { scenarios: [], verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--scenario') args.scenarios.push(argv[++i]);
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node conformance/server.mjs [--scenario <name>]... [--verbose]\n');
      process.exit(0);
    } else throw new Error(`unknown argument: ${a}`);
  }
  if (!args.scenarios.length) args.scenarios = DEFAULT_SCENARIOS;
  return args;
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

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { script, version } = await suiteScript(SUITE_PACKAGE, 'the server scenarios');
  await rm(RESULTS, { recursive: true, force: true });
  await mkdir(RESULTS, { recursive: true });
  const gateway = await startGateway(RESULTS);
  process.stderr.write(`conformance ${version}: ${args.scenarios.length} server scenarios against ${gateway.url} (results in ${relative(ROOT, RESULTS)}/)\n`);
  let failed = 0;
  try {
    for (const scenario of args.scenarios) {
      const out = join(RESULTS, scenario);
      const cli = await run(process.execPath, [script, 'server', '--url', gateway.url, '--scenario', scenario, '-o', out]);
      const checksFile = await findFile(out, 'checks.json');
      const checks = checksFile ? JSON.parse(await readFile(checksFile, 'utf8')) : [];
      const bad = checks.filter((c) => c.status !== 'SUCCESS' && c.status !== 'INFO');
      const pass = cli.code === 0 && checks.length > 0 && bad.length === 0;
      if (!pass) failed++;
      process.stdout.write(`  ${pass ? 'pass' : 'FAIL'} ${scenario} (${checks.length - bad.length}/${checks.length} checks)\n`);
      for (const c of bad) process.stdout.write(`    - ${c.status} ${c.name}: ${c.errorMessage ?? c.description}\n`);
      if (!checksFile) process.stdout.write(`    - no checks.json (exit ${cli.code})\n`);
      if (!pass && args.verbose) process.stdout.write(`${cli.stdout}\n${cli.stderr}\n`);
    }
  } finally {
    const code = await gateway.stop();
    await writeFile(join(RESULTS, 'gateway.stderr.txt'), gateway.stderr());
    if (code !== 0) {
      process.stdout.write(`the gateway exited with ${code} on SIGTERM (stderr in ${relative(ROOT, RESULTS)}/gateway.stderr.txt)\n`);
      failed++;
    }
  }
  process.stdout.write(`server scenarios: passed ${args.scenarios.length - Math.min(failed, args.scenarios.length)}/${args.scenarios.length}\n`);
  if (failed) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`conformance/server.mjs: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
