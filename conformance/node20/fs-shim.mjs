/**
 * `node:fs` plus `globSync` (Node >= 22.0) for the conformance package on Node 20; see register.mjs.
 * Node's fs.globSync(pattern | patterns, {cwd, exclude, withFileTypes}) returns paths relative to cwd;
 * glob's globSync does the same for these options (the suite uses only `{cwd}`, in `tier-check`).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { globSync as globSyncImpl } from 'glob';

export * from 'node:fs';
export default fs;

export function globSync(pattern, options = {}) {
  const { exclude, withFileTypes, cwd } = options;
  const ignore = typeof exclude === 'function' ? { ignored: (p) => exclude(withFileTypes ? p : p.relative()) } : exclude;
  return globSyncImpl(pattern, {
    ...(cwd !== undefined && { cwd: typeof cwd === 'string' ? cwd : fileURLToPath(cwd) }),
    ...(ignore !== undefined && { ignore }),
    ...(withFileTypes && { withFileTypes: true }),
  });
}
