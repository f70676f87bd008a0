#!/usr/bin/env node
/**
 * Runs the client scenarios of the official MCP conformance suite
 * (@modelcontextprotocol/conformance, three versions pinned in the root package.json:
 * 0.1.11, 0.1.16 under the npm alias `conformance-0116`, and 0.2.0-alpha.12 (revision
 * 2026-07-28) under `conformance-0200a12`) with the gateway as the client
 * (conformance/adapter.mjs), and compares the outcome with each suite's baseline
 * (0.1.11: conformance/baseline.json, 0.1.16: conformance/baseline-0.1.16.json,
 * 0.2.0-alpha.12: conformance/baseline-0.2.0-alpha.12.json).
 *
 *   node conformance/run.mjs [--suite 0.1.11|0.1.16|0.2.0-alpha.12]... [--scenario <name>]... [--jobs <n>] [--baseline <file>] [--verbose]
 *
 * Without --suite every suite runs, one after the other. Exit 1 when a scenario
 * fails that the baseline does not list, or when a scenario the baseline lists
 * passes (the baseline must stay honest), or when the baseline names a scenario
 * the suite does not have. Results (checks.json, the adapter's stdout/stderr)
 * are kept under .tmp/conformance/<suite>/.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { ROOT, findFile, run, suiteScript } from './lib.mjs';

const RESULTS = join(ROOT, '.tmp', 'conformance');
const ADAPTER = 'node conformance/adapter.mjs'; // the framework splits the command on spaces: keep it relative to ROOT

/**
 * The suite versions, each run through its own CLI by path (`npx conformance` would be ambiguous: both
 * packages declare the `conformance` bin), each with its own baseline. 0.1.14 and later import
 * `globSync` from `fs` (Node >= 22); on Node 20 they load with conformance/node20/register.mjs.
 */
const SUITES = {
  // Every client scenario of each suite runs: what one cannot pass is in its baseline, each with a reason.
  '0.1.11': { pkg: '@modelcontextprotocol/conformance', nodeArgs: [], baseline: 'baseline.json' },
  '0.1.16': { pkg: 'conformance-0116', nodeArgs: ['--import', './conformance/node20/register.mjs'], baseline: 'baseline-0.1.16.json' },
  // A scenario that applies to revision 2026-07-28 runs with `--spec-version 2026-07-28`, which turns on that
  // revision's checks (SEP-2350 scope union, SEP-837 application_type, …); the others (2025-only, extensions) run as listed.
  '0.2.0-alpha.12': {
    pkg: 'conformance-0200a12',
    nodeArgs: ['--import', './conformance/node20/register.mjs'],
    baseline: 'baseline-0.2.0-alpha.12.json',
    specVersion: '2026-07-28',
  },
};

/** `<suite> <scenario>` → the spec versions the suite lists for it (`- name [2025-11-25,2026-07-28]`). */
const VERSIONS = new Map();

/**
 * Scenarios whose correct outcome is that the client refuses: the adapter then
 * exits 1 with one of these gateway error codes, and the verdict rests on the
 * suite's checks (which test that the refusal happened at the right point).
 */
const REFUSAL_EXPECTED = {
  'auth/resource-mismatch': ['AUTH_FAILED'], // PRM names another resource: no authorization request may be made
  // 0.2.0-alpha.12, RFC 9207 / SEP-2468: the authorization response's `iss` is missing though advertised, names another
  // issuer, or matches only after URL normalization; the code must never reach the token endpoint
  'auth/iss-supported-missing': ['AUTH_FAILED'],
  'auth/iss-wrong-issuer': ['AUTH_FAILED'],
  'auth/iss-unexpected': ['AUTH_FAILED'],
  'auth/iss-normalized': ['AUTH_FAILED'],
  // RFC 8414 §3.3: the authorization server metadata names another issuer; none of its endpoints may be used
  'auth/metadata-issuer-mismatch': ['AUTH_FAILED'],
  'auth/scope-retry-limit': ['AUTH_REQUIRED', 'AUTH_FAILED'], // the scope is never granted: give up after at most 3 authorizations
};

/** Timing-sensitive scenarios (sse-retry measures the reconnect delay to ±200 ms): run alone, after the others. */
const SOLO = new Set(['sse-retry']);

function parseArgs(argv) {
  const args = { suites: [], scenarios: [], jobs: 4, verbose: false, baseline: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--suite') {
      const suite = argv[++i];
      if (!(suite in SUITES)) throw new Error(`unknown suite ${suite} (known: ${Object.keys(SUITES).join(', ')})`);
      if (!args.suites.includes(suite)) args.suites.push(suite);
    } else if (a === '--scenario') args.scenarios.push(argv[++i]);
    else if (a === '--jobs') args.jobs = Math.max(1, Number(argv[++i]) || 1);
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--baseline') args.baseline = argv[++i];
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        `usage: node conformance/run.mjs [--suite ${Object.keys(SUITES).join('|')}]... [--scenario <name>]... [--jobs <n>] [--baseline <file>] [--verbose]\n`,
      );
      process.exit(0);
    } else throw new Error(`unknown argument: ${a}`);
  }
  if (!args.suites.length) args.suites = Object.keys(SUITES);
  if (args.baseline && args.suites.length > 1) throw new Error('--baseline needs exactly one --suite');
  return args;
}

/** Runs the suite's CLI: `node [--import …] <package>/<bin> …args`. */
async function conformance(suite, args) {
  const { pkg, nodeArgs } = SUITES[suite];
  const { script } = await suiteScript(pkg, `conformance suite ${suite}`);
  return run(process.execPath, [...nodeArgs, script, ...args]);
}

async function listClientScenarios(suite) {
  const { code, stdout, stderr } = await conformance(suite, ['list']);
  if (code !== 0) throw new Error(`conformance ${suite} list failed:\n${stderr}`);
  const section = (stdout.split(/Client scenarios[^\n]*\n/)[1] ?? '').split(/\n\s*\n/)[0]; // 0.2.0-alpha lists authorization server scenarios after a blank line
  const found = [...section.matchAll(/^\s+- (\S+)(?: \[([^\]]*)\])?$/gm)]; // 0.1.16 adds the spec versions: `- name [2025-11-25]`
  for (const m of found) VERSIONS.set(`${suite} ${m[1]}`, m[2]?.split(',') ?? []);
  return found.map((m) => m[1]);
}

async function runScenario(suite, scenario) {
  const out = join(RESULTS, suite, scenario.replace(/\//g, '__'));
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const started = Date.now();
  const spec = SUITES[suite].specVersion;
  const specArgs = spec && VERSIONS.get(`${suite} ${scenario}`)?.includes(spec) ? ['--spec-version', spec] : [];
  const cli = await conformance(suite, ['client', '--command', ADAPTER, '--scenario', scenario, ...specArgs, '-o', out]);
  const seconds = (Date.now() - started) / 1000;
  const checksFile = await findFile(out, 'checks.json');
  const checks = checksFile ? JSON.parse(await readFile(checksFile, 'utf8')) : [];
  const stdoutFile = checksFile && join(dirname(checksFile), 'stdout.txt');
  const adapterStdout = stdoutFile ? await readFile(stdoutFile, 'utf8').catch(() => '') : '';
  const resultLine = adapterStdout.trim().split('\n').reverse().find((l) => l.startsWith('RESULT '));
  const timedOut = /CLIENT TIMED OUT|Client timed out/.test(cli.stderr);
  const client = resultLine
    ? resultLine === 'RESULT ok'
      ? { ok: true, code: 'ok' }
      : { ok: false, code: resultLine.split(' ')[2], message: resultLine.split(' ').slice(3).join(' ') }
    : { ok: false, code: timedOut ? 'TIMEOUT' : 'NO_RESULT', message: timedOut ? 'killed by the framework' : 'the adapter printed no RESULT line' };
  const failed = checks.filter((c) => c.status === 'FAILURE');
  const warned = checks.filter((c) => c.status === 'WARNING');
  const passedChecks = checks.filter((c) => c.status === 'SUCCESS').length;
  const clientAsExpected = client.ok || (REFUSAL_EXPECTED[scenario]?.includes(client.code) ?? false);
  // At least one check must have succeeded: a scenario whose checks are all SKIPPED or INFO (0.2.0-alpha's skills
  // scenarios against a client that never lists skills) has tested nothing.
  const pass = passedChecks > 0 && failed.length === 0 && warned.length === 0 && clientAsExpected && !timedOut;
  const problems = [
    ...(checksFile ? [] : ['no checks.json (the framework failed?)']),
    ...(checksFile && passedChecks === 0 && !failed.length && !warned.length ? [`no check succeeded (${checks.map((c) => c.status).join(', ') || 'none'})`] : []),
    ...failed.map((c) => `FAILURE ${c.name}: ${c.errorMessage ?? c.description}`),
    ...warned.map((c) => `WARNING ${c.name}: ${c.errorMessage ?? c.description}`),
    ...(clientAsExpected ? [] : [`client: ${client.code}${client.message ? ` ${client.message}` : ''}`]),
  ];
  return { scenario, pass, checks: { passed: passedChecks, failed: failed.length, warnings: warned.length }, client, problems, seconds, out, cli };
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

function clip(text, max = 100) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function table(rows, headers) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const failedSuites = [];
  for (const suite of args.suites) {
    if (!(await runSuite(suite, args))) failedSuites.push(suite);
  }
  if (args.suites.length > 1) {
    process.stdout.write(`\nconformance: ${args.suites.map((s) => `${s} ${failedSuites.includes(s) ? 'FAILED' : 'ok'}`).join(', ')}\n`);
  }
  if (failedSuites.length) process.exitCode = 1;
}

/** One suite: its scenarios, its table, its baseline. True when everything is as expected. */
async function runSuite(suite, args) {
  const baselineFile = args.baseline ?? join(ROOT, 'conformance', SUITES[suite].baseline);
  const baseline = JSON.parse(await readFile(baselineFile, 'utf8'));
  const expected = baseline.expectedFailures ?? {};
  const known = await listClientScenarios(suite);
  const errors = [];
  for (const [name, reason] of Object.entries(expected)) {
    if (!known.includes(name)) errors.push(`baseline names ${name}, which is not a client scenario of this suite`);
    if (typeof reason !== 'string' || reason.trim().length < 10) errors.push(`baseline entry ${name} has no written reason`);
  }
  // With several suites, a --scenario runs in the suites that have it (auth/offline-access-* is only in 0.1.16).
  const wanted = args.suites.length > 1 ? args.scenarios.filter((s) => known.includes(s)) : args.scenarios;
  for (const name of args.scenarios) if (!known.includes(name) && args.suites.length === 1) errors.push(`unknown scenario ${name}`);
  if (args.scenarios.length && !wanted.length && args.suites.length > 1) {
    process.stderr.write(`conformance ${suite}: none of the scenarios asked for is in this suite; skipped\n`);
    return true;
  }
  if (errors.length && wanted.some((s) => !known.includes(s))) throw new Error(errors.join('\n'));

  const selected = wanted.length ? wanted : known;
  process.stderr.write(`conformance ${suite}: ${selected.length} client scenarios, ${args.jobs} at a time (results in ${relative(ROOT, join(RESULTS, suite))}/)\n`);
  await mkdir(join(RESULTS, suite), { recursive: true });
  const one = async (s) => {
    const r = await runScenario(suite, s);
    const mark = r.pass ? (s in expected ? 'XPASS' : 'pass') : s in expected ? 'xfail' : 'FAIL';
    process.stderr.write(`  ${mark} ${s} (${r.seconds.toFixed(1)} s)\n`);
    return r;
  };
  const byName = new Map();
  for (const r of await pool(selected.filter((s) => !SOLO.has(s)), args.jobs, one)) byName.set(r.scenario, r);
  for (const s of selected.filter((s) => SOLO.has(s))) byName.set(s, await one(s)); // alone: nothing else loads the machine
  const results = selected.map((s) => byName.get(s));

  const rows = [];
  let unexpected = 0;
  for (const r of results) {
    const listed = r.scenario in expected;
    let verdict;
    if (r.pass) verdict = listed ? 'XPASS' : 'pass';
    else verdict = listed ? 'xfail' : 'FAIL';
    if (verdict === 'XPASS' || verdict === 'FAIL') unexpected++;
    const checks = `${r.checks.passed}/${r.checks.passed + r.checks.failed}${r.checks.warnings ? ` +${r.checks.warnings}w` : ''}`;
    const note = listed ? 'in baseline (reason below)' : r.pass ? '' : (r.problems[0] ?? '');
    rows.push([r.scenario, verdict, checks, r.client.code, clip(note)]);
  }
  process.stdout.write(`\nconformance ${suite} (${SUITES[suite].pkg}), baseline ${relative(ROOT, baselineFile)}\n`);
  process.stdout.write(`\n${table(rows, ['scenario', 'result', 'checks', 'client', 'note'])}\n\n`);
  const reasons = results.filter((r) => r.scenario in expected).map((r) => [r.scenario, expected[r.scenario]]);
  for (const [name, reason] of reasons) process.stdout.write(`${name}: ${reason}\n`);
  if (reasons.length) process.stdout.write('\n');

  for (const r of results) {
    if (r.pass || (!args.verbose && r.scenario in expected)) continue;
    process.stdout.write(`${r.scenario}:\n${r.problems.map((p) => `  - ${p}`).join('\n')}\n  results: ${relative(ROOT, r.out)}/\n`);
    if (args.verbose) process.stdout.write(`${r.cli.stderr}\n`);
  }
  const passed = results.filter((r) => r.pass).length;
  process.stdout.write(
    `${suite}: passed ${passed}/${results.length}; expected failures ${results.filter((r) => !r.pass && r.scenario in expected).length}; unexpected ${unexpected}\n`,
  );
  for (const e of errors) process.stdout.write(`baseline: ${e}\n`);
  if (unexpected > 0 || errors.length > 0) {
    if (results.some((r) => r.pass && r.scenario in expected)) {
      process.stdout.write(`A scenario listed in ${relative(ROOT, baselineFile)} passes: remove it from the baseline.\n`);
    }
    return false;
  }
  return true;
}

main().catch((error) => {
  process.stderr.write(`conformance: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
