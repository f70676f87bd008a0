#!/usr/bin/env node
// @ts-check
/* global console */
/**
 * Summarises V8 CPU profiles (`*.cpuprofile`, as written by `node --cpu-prof`):
 * self time by package and by function, so one sees where the gateway's time goes.
 *
 *   node bench/profile-summary.mjs <file.cpuprofile | dir> [--top=N]
 *
 * A directory: every profile in it, each summarised on its own.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

const args = process.argv.slice(2);
const target = args.find((a) => !a.startsWith('--'));
const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 30);
if (!target) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile | dir> [--top=N]');
  process.exit(2);
}
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target];

/** @param {string} url */
function packageOf(url) {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return 'node: (core modules)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  const pkg = /\/packages\/([^/]+)\//.exec(url);
  if (pkg) return `ours: ${pkg[1]}`;
  return url;
}

for (const file of files) {
  /** @type {{ nodes: any[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }} */
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<number, number>} self µs per node id */
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  /** @type {Map<string, number>} */
  const byPackage = new Map();
  /** @type {Map<string, number>} */
  const byFunction = new Map();
  for (const [id, us] of self) {
    const node = byId.get(id);
    const cf = node.callFrame;
    const pkg = cf.functionName === '(idle)' || cf.functionName === '(program)' || cf.functionName === '(garbage collector)' ? cf.functionName : packageOf(cf.url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    const short = cf.url ? cf.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/packages\//, 'packages/') : '';
    const key = `${cf.functionName || '(anonymous)'} ${short}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const busy = total - (byPackage.get('(idle)') ?? 0);
  const pct = (/** @type {number} */ us) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages of busy time)\n`);
  console.log('self time by package:');
  for (const [name, us] of [...byPackage].filter(([n]) => n !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  }
  // Inclusive (self + callees) time of the project's own functions: what each step of ours costs in all.
  /** @type {Map<number, number>} */
  const inclusive = new Map();
  const visit = (/** @type {any} */ node) => {
    let sum = self.get(node.id) ?? 0;
    for (const child of node.children ?? []) sum += visit(byId.get(child));
    inclusive.set(node.id, sum);
    return sum;
  };
  visit(profile.nodes[0]);
  /** @type {Map<string, number>} */
  const ours = new Map();
  const walk = (/** @type {any} */ node, /** @type {Set<string>} */ open) => {
    const cf = node.callFrame;
    const key = /\/packages\//.test(cf.url) ? `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/packages\//, 'packages/')}:${cf.lineNumber + 1}` : undefined;
    const counted = key !== undefined && !open.has(key); // a recursive frame is counted once
    if (counted) ours.set(key, (ours.get(key) ?? 0) + (inclusive.get(node.id) ?? 0));
    const next = counted ? new Set(open).add(key) : open;
    for (const child of node.children ?? []) walk(byId.get(child), next);
  };
  walk(profile.nodes[0], new Set());
  console.log(`\ninclusive time of our functions (packages/*, top ${top}):`);
  for (const [name, us] of [...ours].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  }

  console.log(`\nself time by function (top ${top}):`);
  for (const [name, us] of [...byFunction].filter(([n]) => !n.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  }
}
