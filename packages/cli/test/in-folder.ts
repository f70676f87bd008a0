/**
 * The built CLI started the way an MCP client starts it in some project folder: no flags
 * unless given, a working folder and a HOME of the test's choosing (harness.ts's
 * `startGateway` always passes --config and runs in that file's folder).
 */
import { realpath } from 'node:fs/promises';
import { connectGateway, tempDir, type RunningGateway } from './harness.js';

/** A fresh temporary folder, by its real path (what the gateway's `process.cwd()` reports). */
export async function realTempDir(): Promise<string> {
  return realpath(await tempDir());
}

export function serveIn(options: { cwd: string; home: string; args?: readonly string[]; env?: Record<string, string> }): Promise<RunningGateway> {
  return connectGateway({ args: options.args ?? [], env: { HOME: options.home, ...options.env }, cwd: options.cwd });
}
