import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { startAuthorizationServer, startProtectedMcpServer } from '@agent-mcp-gateway/testing';
import { errorOf, json, startGateway, tempDir } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn().catch(() => undefined);
});

// .ci/run installs Debian's chromium; without it this test cannot mean anything, and says so.
describe.skipIf(!existsSync(CHROMIUM))(`the first login through Debian's Chromium (${CHROMIUM})`, () => {
  it('clicks through the real login and consent pages and lands on the success page', async () => {
    const as = await startAuthorizationServer();
    cleanup.push(() => as.close());
    const notion = await startProtectedMcpServer({ authorizationServer: as, name: 'notion' });
    cleanup.push(() => notion.close());
    const g = await startGateway({
      servers: { notion: { url: notion.url } },
      env: { BROWSER: 'none', GATEWAY_TOKEN_DIR: await tempDir(), GATEWAY_INIT_STRATEGY: 'lazy' },
    });
    cleanup.unshift(() => g.close());

    const pending = errorOf(await g.call('get_server_tools', { server: 'notion' }));
    expect(pending.code).toBe('AUTH_REQUIRED');
    await g.waitForStderr(/Open this URL to sign in: /); // BROWSER=none: printed, not opened

    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    cleanup.unshift(() => browser.close());
    const page = await browser.newPage();
    await page.goto(String(pending.authorizationUrl));
    await page.fill('input[name="login"]', 'alice');
    await page.fill('input[name="password"]', 'correct horse');
    await page.click('button[type="submit"]');
    await page.waitForSelector('button[type="submit"]:has-text("Continue")');
    await page.click('button[type="submit"]:has-text("Continue")');
    await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
    expect(await page.locator('h1').textContent()).toBe('Authentication successful — you can close this window');

    await g.waitForStderr(/Tokens cached for notion/);
    const tools = json<{ tools: { name: string }[] }>(await g.call('get_server_tools', { server: 'notion' }));
    expect(tools.tools.map((t) => t.name)).toContain('echo');
  });
});
