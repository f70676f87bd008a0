/**
 * Lets @modelcontextprotocol/conformance 0.1.14+ (here 0.1.16, installed as `conformance-0116`) run on
 * Node 20: its bundle does `import { globSync } from 'fs'`, which only Node >= 22 has, so it does not
 * even load. Use as `node --import ./conformance/node20/register.mjs node_modules/conformance-0116/dist/index.js …`.
 *
 * Registers an ESM resolve hook (hooks.mjs) that maps `fs` / `node:fs`, when imported from inside a
 * conformance package, to fs-shim.mjs: `node:fs` plus a `globSync` built on the `glob` package. Nothing
 * else (the gateway, the SDK, the rest of the process) sees the shim, and on a Node that has
 * `fs.globSync` the hook is not registered at all.
 */
import { register } from 'node:module';
import fs from 'node:fs';

if (typeof fs.globSync !== 'function') register('./hooks.mjs', import.meta.url);
