/**
 * Config files are JSONC, as VS Code writes `.vscode/mcp.json`: through the built
 * CLI, a file with comments, trailing commas and VS Code's `inputs` validates and
 * its real stdio server connects; a syntax error names the file, line and column
 * and never the text around it; a `${input:…}` variable is refused by name.
 */
import { mkdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, stdioServerPath, tempDir } from './harness.js';

/** A project folder with `.vscode/mcp.json` holding `text`; HOME is the folder itself (nothing real is read). */
async function vscodeProject(text: string): Promise<{ dir: string; file: string; env: Record<string, string> }> {
  const dir = await realpath(await tempDir());
  await mkdir(join(dir, '.vscode'));
  const file = join(dir, '.vscode', 'mcp.json');
  await writeFile(file, text);
  return { dir, file, env: { HOME: dir } };
}

/** What VS Code writes and people then edit: comments of both kinds, trailing commas, `inputs`. */
function commentedConfig(): string {
  return `// MCP servers for this workspace (VS Code: "MCP: Add Server…")
{
  "inputs": [
    {
      "type": "promptString",
      "id": "notes-token",
      "description": "Only VS Code prompts for this",
      "password": true,
    },
  ],
  "servers": {
    /* The test stdio server, started as a child process. */
    "notes": {
      "type": "stdio",
      "command": ${JSON.stringify(process.execPath)},
      "args": [${JSON.stringify(stdioServerPath)}, "--name", "notes",], // trailing comma
    },
  },
}
`;
}

describe('.vscode/mcp.json (JSONC) through the CLI', () => {
  it('with comments and trailing commas: `validate` passes and `servers` connects its stdio server', async () => {
    const { dir, file, env } = await vscodeProject(commentedConfig());
    const validate = await runCli(['validate', '--config', file], { cwd: dir, env });
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stderr).toBe('');
    expect(validate.stdout).toMatch(/^ok: /);
    expect(validate.stdout).toContain(file);
    expect(validate.stdout).toContain('1 servers');

    const servers = await runCli(['servers', '--json', '--config', file], { cwd: dir, env });
    expect(servers.code, servers.stderr).toBe(0);
    const rows = (JSON.parse(servers.stdout) as { servers: { name: string; state: string }[] }).servers;
    expect(rows).toEqual([expect.objectContaining({ name: 'notes', state: 'ready' })]);
  });

  it('a syntax error: exit 1, CONFIG_INVALID naming the file, line and column, no file content', async () => {
    const broken = commentedConfig().replace('"--name", "notes",]', '"--name", "notes" "sk-live-abcdef"]');
    const { dir, file, env } = await vscodeProject(broken);
    const line = broken.split('\n').findIndex((l) => l.includes('sk-live')) + 1;
    const column = broken.split('\n')[line - 1]!.indexOf('"sk-live') + 1;
    for (const command of ['validate', 'servers']) {
      const r = await runCli([command, '--config', file], { cwd: dir, env });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('CONFIG_INVALID');
      expect(r.stderr).toContain(`${file}:${line}:${column}: invalid JSON: expected ',' or ']'`);
      expect(r.stderr).not.toContain('sk-live');
    }
  });

  it('`trust` summarises a commented `.mcp.json` by its servers, as the gateway reads it', async () => {
    const project = await realpath(await tempDir());
    const home = await realpath(await tempDir());
    await writeFile(join(project, '.mcp.json'), commentedConfig());
    const r = await runCli(['trust', project], { cwd: project, env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Trusted ${join(project, '.mcp.json')} (`);
    expect(r.stdout).toContain(`: servers notes (${process.execPath} ${stdioServerPath} --name notes)`);
  });

  it("a VS Code ${input:…} variable in a server: exit 1 naming it and the JSON path, since the gateway cannot prompt", async () => {
    const withInput = commentedConfig().replace('"--name", "notes",]', '"--name", "notes", "--token", "${input:notes-token}",]');
    const { dir, file, env } = await vscodeProject(withInput);
    const r = await runCli(['validate', '--config', file], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}: $.servers.notes.args[4]: \${input:notes-token} is a VS Code input variable`);
  });
});
