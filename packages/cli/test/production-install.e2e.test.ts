/**
 * A production install of the CLI from its tarballs (`npm install --omit=dev`, no workspace links)
 * pulls no test fixture: no authorization server (oidc-provider, koa), no browser driver
 * (playwright), no @agent-mcp-gateway/testing — the demo that needs them lives in packages/demo.
 * And what is installed runs: `agent-mcp-gateway --version`.
 *
 * Packs the CLI and every workspace package it depends on (built dist/: tests run after
 * `npm run build`); npm fetches the third-party dependencies from the registry.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryPoints, installTarballs, installedPackages, pack, runtimeClosure, type Workspace } from './pack.js';

const run = promisify(execFile);
const SETUP_MS = 240_000;
const FORBIDDEN = [/^oidc-provider$/, /^koa$/, /^koa-/, /^@koa\//, /^playwright/, /^@playwright\//, /^@agent-mcp-gateway\/(testing|demo)$/];

describe('a production install of the CLI from tarballs', () => {
  let temp: string;
  let install: string;
  let packages: Workspace[];
  let installed: Set<string>;

  beforeAll(async () => {
    temp = await mkdtemp(join(tmpdir(), 'amg-prod-install-'));
    const tarballs = join(temp, 'tarballs');
    install = join(temp, 'install');
    await mkdir(tarballs);
    await mkdir(install);
    packages = await runtimeClosure(['agent-mcp-gateway']);
    const files = await pack(packages, tarballs);
    await installTarballs(install, files, ['--omit=dev']);
    installed = await installedPackages(install);
  }, SETUP_MS);

  afterAll(async () => {
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  it('packs the CLI with the workspace packages it depends on, none of them private', () => {
    const names = packages.map((p) => p.manifest.name);
    expect(names).toContain('agent-mcp-gateway');
    expect(names).toContain('@agent-mcp-gateway/core');
    expect(names).toContain('@agent-mcp-gateway/serve-http'); // --transport http
    expect(names).not.toContain('@agent-mcp-gateway/testing');
    expect(packages.filter((p) => p.manifest.private).map((p) => p.manifest.name)).toEqual([]);
  });

  it('installs every packed package, each with the files its manifest points at', async () => {
    for (const { manifest } of packages) {
      expect(installed).toContain(manifest.name);
      const dir = join(install, 'node_modules', ...manifest.name.split('/'));
      const installedManifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Workspace['manifest'];
      for (const file of entryPoints(installedManifest)) expect(existsSync(join(dir, file)), `${manifest.name}: ${file}`).toBe(true);
    }
  });

  it('contains no oidc-provider, koa, playwright or testing package', () => {
    expect([...installed].filter((name) => FORBIDDEN.some((re) => re.test(name)))).toEqual([]);
  });

  it('runs: agent-mcp-gateway --version', async () => {
    const home = join(temp, 'home');
    await mkdir(home, { recursive: true });
    const cli = JSON.parse(await readFile(join(install, 'node_modules', 'agent-mcp-gateway', 'package.json'), 'utf8')) as { version: string };
    const { stdout, stderr } = await run(join(install, 'node_modules', '.bin', 'agent-mcp-gateway'), ['--version'], {
      cwd: install,
      env: { PATH: process.env.PATH ?? '', HOME: home },
      timeout: 20_000,
    });
    expect({ stdout: stdout.trim(), stderr }).toEqual({ stdout: cli.version, stderr: '' });
  });
});
