import { spawn } from 'node:child_process';
import type { Logger } from '@agent-mcp-gateway/core';

/**
 * Opens the authorization URL for the user: `BROWSER` when set (run as a
 * command with the URL as its one argument; `none` only prints), else the
 * platform opener. Never throws: the URL is always printed too, so a person
 * can open it by hand.
 */
export async function openBrowser(url: string, env: NodeJS.ProcessEnv, logger: Logger): Promise<void> {
  logger.info(`Open this URL to sign in: ${url}`);
  const browser = env.BROWSER?.trim();
  if (browser === 'none') return;
  try {
    if (browser) {
      logger.info('Opening browser for authentication...');
      const child = spawn(browser, [url], { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
      child.stderr?.on('data', (chunk: Buffer) => logger.debug(`browser: ${chunk.toString().trim()}`));
      child.on('error', (error) => logger.warn(`Could not run BROWSER (${browser}): ${error.message}`));
      child.on('exit', (code) => {
        if (code) logger.warn(`BROWSER (${browser}) exited with code ${code}`);
      });
      return;
    }
    const { default: open } = await import('open');
    logger.info('Opening browser for authentication...');
    const child = await open(url, { wait: false });
    child.on('error', (error) => logger.warn(`Could not open a browser: ${error.message}`));
  } catch (error) {
    logger.warn(`Could not open a browser: ${error instanceof Error ? error.message : String(error)}`);
  }
}
