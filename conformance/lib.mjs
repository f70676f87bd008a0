/** What the client runner (run.mjs) and the server runner (server.mjs) share. */
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** Runs a command from the repository root to completion; never rejects. */
export function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => resolve({ code: -1, stdout, stderr: `${stderr}\n${error.message}` }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * A suite package's CLI script, by path (two installed suite versions declare the same `conformance`
 * bin, so `npx conformance` would pick one of them), and its version.
 */
export async function suiteScript(pkg, what = pkg) {
  const manifest = join(ROOT, 'node_modules', pkg, 'package.json');
  const { bin, version } = JSON.parse(
    await readFile(manifest, 'utf8').catch(() => {
      throw new Error(`${pkg} is not installed (npm install): needed for ${what}`);
    }),
  );
  return { script: join(dirname(manifest), typeof bin === 'string' ? bin : bin.conformance), version };
}

/** The first file called `name` below `dir` (the suite nests its results in timestamped folders). */
export async function findFile(dir, name) {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = await findFile(path, name);
      if (found) return found;
    } else if (entry.name === name) return path;
  }
  return undefined;
}
