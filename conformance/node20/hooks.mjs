/* global URL */
/**
 * ESM resolve hook (registered by register.mjs): `fs` / `node:fs` imported from a file of the
 * conformance package resolve to fs-shim.mjs. Matches the package under its own name and under the
 * npm alias folder it is installed as (`node_modules/conformance-0116/`).
 */
const SHIM = new URL('./fs-shim.mjs', import.meta.url).href;
const CONFORMANCE = /\/node_modules\/(?:@modelcontextprotocol\/conformance|conformance-[^/]+)\//;

export async function resolve(specifier, context, nextResolve) {
  if ((specifier === 'fs' || specifier === 'node:fs') && context.parentURL && CONFORMANCE.test(context.parentURL.replace(/\\/g, '/'))) {
    return { url: SHIM, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
