#!/usr/bin/env node
// @ts-check
/* global setInterval */
/**
 * The Streamable HTTP test server (packages/testing) in a process of its own,
 * so that neither the benchmark's client nor the gateway shares an event loop
 * with it. Prints one JSON line `{"url": …, "pid": …}` on stdout, then serves
 * until stdin closes.
 */
import process from 'node:process';
// The module itself, not the package index (which also loads the OAuth fixtures).
import { startHttpMcpServer } from '../packages/testing/dist/http-server.js';

const server = await startHttpMcpServer({ mode: 'streamable', name: 'demo' });
// The fixture records every request; a benchmark sends tens of thousands, so keep the record short.
setInterval(() => server.requests.splice(0, server.requests.length), 1000).unref();
process.stdout.write(`${JSON.stringify({ url: server.url, pid: process.pid })}\n`);

let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  void server.close().finally(() => process.exit(0));
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.on('SIGTERM', stop);
process.stdin.resume();
