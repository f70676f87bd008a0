#!/usr/bin/env node
/* global URL, fetch, AbortSignal */
/**
 * A `BROWSER` for the conformance suite: run with the authorization URL as its
 * one argument (as the gateway runs `BROWSER`). The suite's authorization
 * endpoint needs no login page: it redirects straight to the client's
 * `redirect_uri` with a code. So this follows `Location` headers with
 * `fetch(redirect: 'manual')` until a response is no redirect — the last hop is
 * the GET of the gateway's loopback callback — and exits 0 when that answered 2xx.
 */
import process from 'node:process';

const MAX_HOPS = 10;

async function main() {
  const [start, ...extra] = process.argv.slice(2);
  if (!start || extra.length > 0) {
    process.stderr.write('usage: browser.mjs <authorization-url>\n');
    return 2;
  }
  let url = new URL(start);
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    await response.body?.cancel().catch(() => undefined);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      url = new URL(location, url);
      continue;
    }
    process.stderr.write(`browser: ${url.origin}${url.pathname} answered ${response.status}\n`);
    return response.ok ? 0 : 1;
  }
  process.stderr.write(`browser: more than ${MAX_HOPS} redirects\n`);
  return 1;
}

main().then(
  (code) => (process.exitCode = code),
  (error) => {
    process.stderr.write(`browser: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
