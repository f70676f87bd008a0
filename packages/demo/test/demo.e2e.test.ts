/**
 * `npm run demo` (the README's first command) runs to completion as CI runs it: the built demo,
 * headless (CI=1), with a HOME of its own, exits 0, shows every step, leaves no process, folder or
 * token behind, and prints no secret.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const tempDir = () => mkdtemp(join(tmpdir(), 'amg-demo-test-'));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const demoPath = fileURLToPath(new URL('../dist/demo.js', import.meta.url));
const LIMIT_MS = 60_000;

function runDemo(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [demoPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo did not finish within ${LIMIT_MS / 1000} s; stdout:\n${stdout}\nstderr:\n${stderr}`));
    }, LIMIT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run demo', () => {
  it(
    'completes headless: discovery, denials, a PAT server, an OAuth login and call, then cleans up',
    async () => {
      const home = await tempDir();
      const { code, stdout, stderr } = await runDemo({ PATH: process.env.PATH ?? '', HOME: home, CI: '1' });
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });

      // every step, numbered, in order
      const headings = [...stdout.matchAll(/^(\d+)\. (.+)$/gm)].map((m) => `${m[1]}. ${m[2]}`);
      expect(headings.map((h) => h.split('.')[0])).toEqual(headings.map((_, i) => String(i + 1)));
      expect(headings.length).toBeGreaterThanOrEqual(7);

      // discovery: the researcher sees three servers, not admin
      expect(stdout).toMatch(/← notes +stdio/);
      expect(stdout).toMatch(/← tickets +http +auth: headers/);
      expect(stdout).not.toMatch(/← admin +stdio/);
      expect(stdout).toContain('← 42');
      // the PAT server answered
      expect(stdout).toContain('← ticket #42: printer on fire');
      // policy denials, with their rules
      expect(stdout).toContain(`DENIED_BY_POLICY: Agent 'researcher' may not use tool 'crash' on server 'notes' (deny.tools["*"]["crash"])`);
      // a hidden server answers exactly as a missing one
      expect(stdout).toContain(`SERVER_NOT_FOUND: No server named 'admin' is configured`);
      // the OAuth login: AUTH_REQUIRED first, the demo says it signs in by itself, then the call works
      expect(stdout).toMatch(/✗ AUTH_REQUIRED: Server 'calendar' needs a login: open http:\/\/127\.0\.0\.1:\d+\/auth\?/);
      expect(stdout).toContain('No browser here (CI is set), so the demo completes the login by itself');
      expect(stdout).toContain('Tokens cached for calendar');
      expect(stdout).toContain('← lunch with Ada, Friday 12:30');
      expect(stdout).toMatch(/← calendar +http +auth: oauth +state: ready/);
      expect(stdout).toMatch(/tokens\.json 0600/);
      // cleaned up: the gateway exited, the temporary folder is gone
      const pid = Number(/The gateway \(pid (\d+)\) has exited/.exec(stdout)?.[1]);
      expect(pid).toBeGreaterThan(0);
      expect(alive(pid)).toBe(false);
      const tokenDir = /Tokens go to (\S+) \(GATEWAY_TOKEN_DIR\)/.exec(stdout.replace(/\n\s+/g, ' '))?.[1];
      expect(tokenDir).toBeTruthy();
      expect(existsSync(dirname(tokenDir as string))).toBe(false);
      expect(stdout.trimEnd().endsWith('Demo complete.')).toBe(true);

      // nothing written under HOME (no user tokens, no audit log), no secret printed
      expect(await readdir(home)).toEqual([]);
      expect(stdout).not.toMatch(/demo_pat_|eyJ[A-Za-z0-9_-]{10,}/);
    },
    LIMIT_MS + 5_000,
  );
});
