/**
 * Project files run code inside the process that holds every token: a cloned repository's
 * settings module, plugin, token folder and servers must not be used until the user trusts
 * the folder (`agent-mcp-gateway trust`), and not after one of those files changes. Through
 * the built CLI, as a command line and as an MCP client spawns it, with real stdio servers.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { demoServer, json, runCli, type RunningGateway } from './harness.js';
import { realTempDir, serveIn } from './in-folder.js';

const running: RunningGateway[] = [];
afterEach(async () => {
  for (const g of running.splice(0)) await g.close().catch(() => undefined);
});

const LONG_MS = 120_000;

/** A cloned repository: servers, a settings module and a plugin that leave marks when imported, a token folder. */
async function hostileProject(marks: string) {
  const dir = await realTempDir();
  const settingsMark = join(marks, 'settings-imported');
  const pluginMark = join(marks, 'plugin-imported');
  await writeFile(join(dir, '.mcp.json'), JSON.stringify({ mcpServers: { project: demoServer('project'), remote: { url: 'http://127.0.0.1:9/mcp' } } }));
  await writeFile(
    join(dir, 'agent-mcp-gateway.config.mjs'),
    `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(settingsMark)}, 'x');\n` +
      `export default { tokenDir: './project-tokens', plugins: ['./plugin.mjs'], initStrategy: 'lazy' };\n`,
  );
  await writeFile(
    join(dir, 'plugin.mjs'),
    `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(pluginMark)}, 'x');\nexport default { name: 'project-plugin', apply() {} };\n`,
  );
  return { dir, settingsMark, pluginMark, files: [join(dir, '.mcp.json'), join(dir, 'agent-mcp-gateway.config.mjs')] };
}

/** HOME with the user's own servers file. */
async function userHome(): Promise<string> {
  const home = await realTempDir();
  const userDir = join(home, '.config', 'agent-mcp-gateway');
  await mkdir(userDir, { recursive: true });
  await writeFile(join(userDir, '.mcp.json'), JSON.stringify({ mcpServers: { mine: demoServer('mine') } }));
  return home;
}

const serverNames = (stdout: string) => (JSON.parse(stdout) as { servers: { name: string }[] }).servers.map((s) => s.name);

describe('project files are used only from a trusted folder (built CLI)', () => {
  it(
    'untrusted: auth status, servers and serve never import the settings module or plugin, nor use its token folder or servers, and name the files and the fix',
    async () => {
      const marks = await realTempDir();
      const project = await hostileProject(marks);
      const home = await userHome();
      const elsewhere = await realTempDir();
      const explicit = join(elsewhere, '.mcp.json');
      await writeFile(explicit, JSON.stringify({ mcpServers: { elsewhere: demoServer('elsewhere'), remote: { url: 'http://127.0.0.1:9/mcp' } } }));
      const env = { HOME: home };
      const expectReported = (stderr: string) => {
        for (const file of project.files) {
          expect(stderr).toContain(`agent-mcp-gateway: warning: ${file}: not used: ${project.dir} is not a trusted folder; run 'agent-mcp-gateway trust' in ${project.dir}`);
        }
      };
      const nothingImported = () => {
        expect(existsSync(project.settingsMark)).toBe(false);
        expect(existsSync(project.pluginMark)).toBe(false);
      };

      // auth status with an explicit --config elsewhere, run in the project folder
      const status = await runCli(['auth', 'status', '--json', '--config', explicit], { cwd: project.dir, env });
      expect(status.code, status.stderr).toBe(0);
      const logins = JSON.parse(status.stdout) as { servers: { name: string; location: string }[] };
      expect(logins.servers.map((s) => s.name)).toEqual(['remote']);
      expect(logins.servers[0]?.location.startsWith(join(home, '.config', 'agent-mcp-gateway', 'oauth'))).toBe(true);
      expectReported(status.stderr);
      nothingImported();

      // servers, with --config elsewhere and with no flag at all (the user's own file)
      const servers = await runCli(['servers', '--json', '--config', explicit], { cwd: project.dir, env });
      expect(serverNames(servers.stdout)).toEqual(['elsewhere', 'remote']);
      expectReported(servers.stderr);
      const noFlags = await runCli(['servers', '--json'], { cwd: project.dir, env });
      expect(noFlags.code, noFlags.stderr).not.toBe(1);
      expect(serverNames(noFlags.stdout)).toEqual(['mine']);
      expectReported(noFlags.stderr);
      nothingImported();

      // serve, spawned as an MCP client spawns it
      const g = await serveIn({ cwd: project.dir, home, args: ['--config', explicit] });
      running.push(g);
      const listed = json<{ servers: { name: string }[] }>(await g.call('list_servers', {})).servers.map((s) => s.name);
      expect(listed).toEqual(['elsewhere', 'remote']);
      expect(g.stderr()).toContain(`${project.files[1]}: not used: ${project.dir} is not a trusted folder`);
      nothingImported();
    },
    LONG_MS,
  );

  it(
    'after `trust` the folder is used (servers, settings, plugin, token folder); after a change it is not, until trusted again',
    async () => {
      const marks = await realTempDir();
      const project = await hostileProject(marks);
      const home = await userHome();
      const env = { HOME: home };

      const trusted = await runCli(['trust'], { cwd: project.dir, env });
      expect(trusted.code, trusted.stderr).toBe(0);
      expect(trusted.stdout).toContain(`Trusted ${project.files[0]} (sha256:`);
      expect(trusted.stdout).toContain('servers project (');
      expect(trusted.stdout).toContain(`Trusted ${project.files[1]} (sha256:`);
      expect(trusted.stdout).toContain('JavaScript, runs inside the gateway');
      expect(trusted.stdout).toContain(join(home, '.config', 'agent-mcp-gateway', 'trusted.json'));

      const servers = await runCli(['servers', '--json'], { cwd: project.dir, env });
      expect(servers.code, servers.stderr).not.toBe(1); // `remote` does not answer: that is not a failure of the command
      expect(servers.stderr).toBe('');
      expect(serverNames(servers.stdout)).toEqual(['project', 'remote']);
      expect(existsSync(project.settingsMark)).toBe(true);
      expect(existsSync(project.pluginMark)).toBe(true);
      const status = await runCli(['auth', 'status', '--json'], { cwd: project.dir, env });
      const location = (JSON.parse(status.stdout) as { servers: { location: string }[] }).servers[0]?.location;
      expect(location?.startsWith(join(project.dir, 'project-tokens'))).toBe(true);

      // A change (as a `git pull` would make): untrusted again, nothing of it runs.
      await rm(project.settingsMark);
      await rm(project.pluginMark);
      await writeFile(project.files[0] as string, JSON.stringify({ mcpServers: { project: demoServer('project'), added: demoServer('added') } }));
      const changed = await runCli(['servers', '--json'], { cwd: project.dir, env });
      expect(serverNames(changed.stdout)).toEqual(['mine']);
      expect(changed.stderr).toContain(`${project.files[0]}: not used: changed since ${project.dir} was trusted`);
      expect(existsSync(project.settingsMark)).toBe(false);
      expect(existsSync(project.pluginMark)).toBe(false);

      const list = await runCli(['trust', '--list'], { cwd: project.dir, env });
      expect(list.stdout).toContain(`${project.dir}  NOT trusted now`);

      // Trusted again, then revoked.
      expect((await runCli(['trust'], { cwd: project.dir, env })).code).toBe(0);
      expect(serverNames((await runCli(['servers', '--json'], { cwd: project.dir, env })).stdout)).toEqual(['project', 'added']);
      const revoked = await runCli(['trust', '--revoke'], { cwd: project.dir, env });
      expect(revoked.stdout).toBe(`No longer trusted: ${project.dir}\n`);
      expect(serverNames((await runCli(['servers', '--json'], { cwd: project.dir, env })).stdout)).toEqual(['mine']);

      // A folder with nothing to trust is an error, not an empty record.
      const empty = await runCli(['trust'], { cwd: marks, env });
      expect(empty.code).toBe(1);
      expect(empty.stderr).toContain('nothing to trust');
    },
    LONG_MS,
  );
});
