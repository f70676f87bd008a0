import { fileURLToPath } from 'node:url';

export { createDemoServer, DEMO_SERVER_VERSION, DEMO_TOOL_NAMES } from './demo-server.js';
export type { DemoServerOptions } from './demo-server.js';
export { startHttpMcpServer } from './http-server.js';
export type { HttpMcpServer, HttpMcpServerMode, HttpMcpServerOptions, RecordedRequest } from './http-server.js';

/**
 * When this module is loaded from source (`src/index.ts`, e.g. by Vitest) the
 * compiled server lives in `../dist/`; from the built package it sits next to
 * this file.
 */
const loadedFromSource = /\.[cm]?ts$/.test(new URL(import.meta.url).pathname);

/**
 * Absolute path of the compiled stdio demo server (`dist/stdio-server.js`).
 * Spawn it with `process.execPath` (`node`) as the command.
 */
export const stdioServerPath: string = fileURLToPath(
  new URL(loadedFromSource ? '../dist/stdio-server.js' : './stdio-server.js', import.meta.url),
);
