#!/usr/bin/env node
/**
 * `mcp-test-browser <authorization-url>`: a `BROWSER` for tests. Completes the
 * login at the authorization server of `startAuthorizationServer` without a
 * browser (see ./headless-browser.ts) and delivers the result to the client's
 * loopback callback.
 *
 * Environment:
 *   MCP_TEST_BROWSER_DENY=1   refuse (abort the interaction): the callback receives error=access_denied.
 *
 * Exits 0 once the callback answered (its status is printed on stdout as `callback <status>`);
 * otherwise exits 1 with a message on stderr.
 */
import process from 'node:process';
import { completeLogin } from './headless-browser.js';

async function main(): Promise<void> {
  const [url, ...extra] = process.argv.slice(2);
  if (url === undefined || extra.length > 0) {
    process.stderr.write('usage: mcp-test-browser <authorization-url>\n');
    process.exitCode = 2;
    return;
  }
  const { callbackStatus } = await completeLogin(url, { deny: process.env.MCP_TEST_BROWSER_DENY === '1' });
  process.stdout.write(`callback ${callbackStatus}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`mcp-test-browser: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
