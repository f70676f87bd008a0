import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { startAuthorizationServer, startHttpMcpServer, startProtectedMcpServer, testBrowserCommand } from '@agent-mcp-gateway/testing';
import { demoServer, errorOf, json, startGateway, tempDir, waitForExit, type RunningGateway } from './harness.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn().catch(() => undefined);
});
async function start(options: Parameters<typeof startGateway>[0]): Promise<RunningGateway> {
  const g = await startGateway({ ...options, args: ['--debug', ...(options.args ?? [])] });
  cleanup.unshift(() => g.close());
  return g;
}

interface Status {
  sources: { config: string; rules?: string };
  reload: Record<'config' | 'rules', { file: string; loadedAt: string; lastError?: string } | undefined>;
  servers: { name: string; transport: string; auth: string; state: string; lastError?: string; toolCount?: number }[];
  policy: { rulesLoaded: boolean; agents: string[] };
  metrics: { agent: string; operation: string; server: string; count: number; errors: number; denied: number; p50Ms: number }[];
  audit: { file: string; arguments: boolean };
}
const status = async (g: RunningGateway) => json<Status>(await g.call('get_gateway_status', { agent_id: 'ops' }));

/** Like an editor: write a temporary file, then rename it over the original. */
async function saveByRename(path: string, content: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  await rename(`${path}.tmp`, path);
}

const pidOf = async (g: RunningGateway, server: string) =>
  Number(((await g.call('execute_tool', { agent_id: 'ops', server, tool: 'pid' })).content[0] as { text: string }).text);
const toolNames = async (g: RunningGateway, agent: string, server: string) =>
  json<{ tools: { name: string }[] }>(await g.call('get_server_tools', { agent_id: agent, server })).tools.map((t) => t.name);

const rules = (denied: string[]) => ({
  agents: { ops: { allow: { servers: ['*'] } }, researcher: { allow: { servers: ['notes'] }, deny: { tools: { notes: denied } } } },
});

describe('hot reload (built CLI)', () => {
  it('rules rewritten by rename hide a tool within a second', async () => {
    const g = await start({ servers: { notes: demoServer('notes') }, rules: rules([]) });
    const { sources } = await status(g);
    expect(await toolNames(g, 'researcher', 'notes')).toContain('echo');
    await saveByRename(sources.rules as string, rules(['echo']));
    // The bound of this wait is the claim: the change is live within a second.
    await g.waitForStderr(/Config reloaded after a change to \.mcp-gateway-rules\.json: no server changed/, 1_000);
    expect(await toolNames(g, 'researcher', 'notes')).not.toContain('echo');
    const denied = errorOf(await g.call('execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'echo', args: { text: 'x' } }));
    expect(denied.code).toBe('DENIED_BY_POLICY');
  });

  it('a server added, changed and removed; the unchanged one keeps its process', async () => {
    const g = await start({ servers: { keep: demoServer('keep'), change: demoServer('change'), drop: demoServer('drop') }, rules: rules([]) });
    const { sources } = await status(g);
    const before = { keep: await pidOf(g, 'keep'), change: await pidOf(g, 'change'), drop: await pidOf(g, 'drop') };

    await saveByRename(sources.config, {
      mcpServers: { keep: demoServer('keep'), change: demoServer('change', { env: { CHANGED: '1' } }), add: demoServer('add') },
    });
    await g.waitForStderr(/Config reloaded after a change to \.mcp\.json: servers added add; changed change; removed drop/);

    const listed = json<{ servers: { name: string }[] }>(await g.call('list_servers', { agent_id: 'ops' }));
    expect(listed.servers.map((s) => s.name)).toEqual(['keep', 'change', 'add']);
    expect(await pidOf(g, 'keep')).toBe(before.keep);
    expect(await pidOf(g, 'change')).not.toBe(before.change);
    const changedEnv = await g.call('execute_tool', { agent_id: 'ops', server: 'change', tool: 'env', args: { name: 'CHANGED' } });
    expect((changedEnv.content[0] as { text: string }).text).toBe('1');
    expect(json(await g.call('execute_tool', { agent_id: 'ops', server: 'add', tool: 'echo', args: { text: 'new' } }))).toEqual({ text: 'new' });
    expect(await waitForExit(before.drop, 5_000)).toBe(true);
    expect(await waitForExit(before.change, 5_000)).toBe(true);
    expect(errorOf(await g.call('execute_tool', { agent_id: 'ops', server: 'drop', tool: 'pid' })).code).toBe('SERVER_NOT_FOUND');
  });

  it('invalid JSON and an invalid schema keep the old config and show lastError in get_gateway_status', async () => {
    const g = await start({ servers: { notes: demoServer('notes') }, rules: rules(['add']) });
    const { sources, reload } = await status(g);
    expect(reload.config).toMatchObject({ file: sources.config });
    expect(reload.config?.lastError).toBeUndefined();

    await saveByRename(sources.config, '{ "mcpServers": { "notes": ');
    await g.waitForStderr(/Config reload after a change to \.mcp\.json failed; the previous config stays in use: .*invalid JSON/);
    let now = await status(g);
    expect(now.reload.config?.lastError).toMatch(/invalid JSON/);
    expect(now.reload.config?.loadedAt).toBe(reload.config?.loadedAt);
    expect(json(await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'echo', args: { text: 'still' } }))).toEqual({ text: 'still' });

    await saveByRename(sources.config, { mcpServers: { notes: demoServer('notes'), broken: { args: ['x'] } } });
    await g.waitForStderr(/stays in use: .*broken.*needs "command"/);
    now = await status(g);
    expect(now.reload.config?.lastError).toMatch(/\$\.mcpServers\.broken/);
    expect(now.servers.map((s) => s.name)).toEqual(['notes']);

    await saveByRename(sources.rules as string, { agents: { 'not valid!': {} } });
    await g.waitForStderr(/Config reload after a change to \.mcp-gateway-rules\.json failed/);
    now = await status(g);
    // the servers file is still broken, so that error is the one the reload met first
    expect(now.reload.config?.lastError).toMatch(/needs "command"/);
    await saveByRename(sources.config, { mcpServers: { notes: demoServer('notes') } });
    await g.waitForStderr(/stays in use: .*\.mcp-gateway-rules\.json/);
    now = await status(g);
    expect(now.reload.rules?.lastError).toMatch(/\.mcp-gateway-rules\.json/);
    expect(now.reload.config?.lastError).toBeUndefined();
    // the old rules still apply
    expect(errorOf(await g.call('execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'add', args: { a: 1, b: 1 } })).code).toBe(
      'DENIED_BY_POLICY',
    );
  });

  it('a call in flight during a reload completes on the process it started on', async () => {
    const g = await start({ servers: { notes: demoServer('notes') }, rules: rules([]) });
    const { sources } = await status(g);
    const oldPid = await pidOf(g, 'notes');
    const pending = g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'sleep', args: { ms: 1_500 } });
    await g.waitForStderr(/\[notes\] stderr: sleep started 1500/);
    await saveByRename(sources.config, { mcpServers: { notes: demoServer('notes', { description: 'changed' }) } });
    await g.waitForStderr(/Config reloaded after a change to \.mcp\.json: servers changed notes/);
    expect(await pidOf(g, 'notes')).not.toBe(oldPid); // new calls go to the new process meanwhile
    const result = await pending;
    expect(result.content).toEqual([{ type: 'text', text: 'slept 1500' }]);
    expect(await waitForExit(oldPid, 5_000)).toBe(true); // and the old one closes once it is done
    expect(g.stderr()).not.toMatch(/sleep (aborted|interrupted)/);
  });
});

describe('audit log, metrics and status (built CLI)', () => {
  it('audit lines for allowed, denied and failed calls, flushed on SIGTERM, with no secret; metrics and status never show one', async () => {
    const secret = 'sk-e2e-9f8e7d6c5b4a';
    const header = 'ghp_e2eHeaderSecret123';
    const open = await startHttpMcpServer({ name: 'open' });
    cleanup.push(() => open.close());
    const g = await start({
      servers: {
        notes: demoServer('notes', { env: { API_KEY: '${E2E_KEY}' } }),
        remote: { url: open.url, headers: { 'X-Api-Key': header } },
      },
      rules: rules(['add']),
      env: { E2E_KEY: secret },
    });
    await g.call('list_servers', { agent_id: 'researcher' });
    await g.call('execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'echo', args: { text: secret } });
    await g.call('execute_tool', { agent_id: 'researcher', server: 'notes', tool: 'add', args: { a: 1, b: 2 } });
    await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'throw', args: { message: secret } });
    await g.call('execute_tool', { agent_id: 'ops', server: 'remote', tool: 'echo', args: { text: 'remote' } });

    const s = await status(g);
    const statusText = JSON.stringify(s);
    expect(statusText).not.toContain(secret);
    expect(statusText).not.toContain(header);
    expect(s.servers.map((x) => [x.name, x.transport, x.state])).toEqual([
      ['notes', 'stdio', 'ready'],
      ['remote', 'http', 'ready'],
    ]);
    expect(s.servers.find((x) => x.name === 'remote')?.auth).toBe('headers');
    // status is asked as ops: its own policy entry and metrics only, never another agent's
    expect(s.policy).toMatchObject({ rulesLoaded: true, agents: ['ops'] });
    expect(s.metrics.some((m) => m.agent === 'researcher')).toBe(false);
    expect(s.metrics.find((m) => m.agent === 'ops' && m.server === 'notes')).toMatchObject({ count: 1, errors: 1 });
    // the default place, under HOME (the harness sets HOME to the gateway's folder)
    expect(s.audit.file).toBe(join(s.sources.config, '..', '.cache', 'agent-mcp-gateway', 'audit.jsonl'));
    expect(s.audit.arguments).toBe(false);

    process.kill(g.pid as number, 'SIGTERM');
    expect(await waitForExit(g.pid as number)).toBe(true);
    const text = await readFile(s.audit.file, 'utf8');
    const records = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => [r.operation, r.agent, r.server, r.tool, r.decision, r.error_code])).toEqual([
      ['list_servers', 'researcher', null, null, 'ALLOW', null],
      ['execute_tool', 'researcher', 'notes', 'echo', 'ALLOW', null],
      ['execute_tool', 'researcher', 'notes', 'add', 'DENY', 'DENIED_BY_POLICY'],
      ['execute_tool', 'ops', 'notes', 'throw', 'ERROR', 'DOWNSTREAM_ERROR'],
      ['execute_tool', 'ops', 'remote', 'echo', 'ALLOW', null],
      ['get_gateway_status', 'ops', null, null, 'ALLOW', null],
    ]);
    for (const r of records) expect(typeof r.latency_ms).toBe('number');
    expect(text).not.toContain(secret);
    expect(text).not.toContain(header);
    expect(g.stderr()).not.toContain(secret);
  });

  it('audit lines for an OAuth login and a refresh, with no token in them; a reload keeps the login', async () => {
    const as = await startAuthorizationServer({ accessTokenTtl: 2 });
    cleanup.push(() => as.close());
    const notion = await startProtectedMcpServer({ authorizationServer: as, name: 'notion' });
    cleanup.push(() => notion.close());
    const tokenDir = await tempDir();
    const auditLog = join(await tempDir(), 'audit.jsonl');
    const g = await start({
      servers: { notion: { url: notion.url } },
      env: { BROWSER: testBrowserCommand(), GATEWAY_TOKEN_DIR: tokenDir, GATEWAY_AUDIT_LOG: auditLog, GATEWAY_INIT_STRATEGY: 'lazy' },
    });
    const echo = (text: string) => g.call('execute_tool', { server: 'notion', tool: 'echo', args: { text } });
    expect(errorOf(await echo('first')).code).toBe('AUTH_REQUIRED');
    await g.waitForStderr(/Tokens cached for notion/);
    expect(json(await echo('logged in'))).toEqual({ text: 'logged in' });
    const folder = (await readdir(tokenDir))[0] as string;
    const stored = JSON.parse(await readFile(join(tokenDir, folder, 'tokens.json'), 'utf8')) as {
      access_token: string;
      refresh_token: string;
      expires_at: number;
    };
    // the one wait here is for the clock: the access token must expire for a refresh
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stored.expires_at * 1000 - Date.now() + 50)));
    // The refreshed token lives long: one refresh in the log, however slow the steps after it run.
    as.setAccessTokenTtl(3600);
    expect(json(await echo('refreshed'))).toEqual({ text: 'refreshed' });
    await g.waitForStderr(/Tokens refreshed for notion/);

    // A reload that changes the entry (a new connection) keeps the tokens: no second login.
    const logins = () => as.requests.filter((r) => r.route === 'authorization').length;
    const loginsBefore = logins();
    const { sources } = await status(g);
    await saveByRename(sources.config, { mcpServers: { notion: { url: notion.url, description: 'docs' } } });
    await g.waitForStderr(/Config reloaded after a change to \.mcp\.json: servers changed notion/);
    expect(json(await echo('reloaded'))).toEqual({ text: 'reloaded' });
    expect(logins()).toBe(loginsBefore);
    expect(g.stderr().match(/OAuth flow initiated for notion/g)).toHaveLength(1);

    await g.close(); // stdin closes: the gateway shuts down and flushes
    expect(await waitForExit(g.pid as number)).toBe(true);

    const text = await readFile(auditLog, 'utf8');
    const records = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => [r.operation, r.server, r.decision, r.error_code])).toEqual([
      ['execute_tool', 'notion', 'ERROR', 'AUTH_REQUIRED'],
      ['auth.login', 'notion', 'ALLOW', null],
      ['execute_tool', 'notion', 'ALLOW', null],
      ['auth.refresh', 'notion', 'ALLOW', null],
      ['execute_tool', 'notion', 'ALLOW', null],
      ['get_gateway_status', null, 'ALLOW', null],
      ['execute_tool', 'notion', 'ALLOW', null],
    ]);
    const refreshed = JSON.parse(await readFile(join(tokenDir, folder, 'tokens.json'), 'utf8')) as typeof stored;
    for (const token of [stored.access_token, stored.refresh_token, refreshed.access_token, refreshed.refresh_token]) {
      expect(text).not.toContain(token);
    }
  });
});

describe('notifications end to end (built CLI)', () => {
  it('progress reaches the client, and cancelling from the client stops the downstream tool', async () => {
    const g = await start({ servers: { notes: demoServer('notes') }, env: { GATEWAY_LOG_LEVEL: 'info' } });
    const seen: number[] = [];
    const done = (await g.client.callTool(
      { name: 'execute_tool', arguments: { server: 'notes', tool: 'progress', args: { steps: 4, delayMs: 20 } } },
      { onprogress: (p) => seen.push(p.progress) },
    )) as CallToolResult;
    expect(done.content).toEqual([{ type: 'text', text: 'done 4' }]);
    expect(seen.slice(0, 3)).toEqual([1, 2, 3]);

    const abort = new AbortController();
    const pending = g.client.callTool({ name: 'execute_tool', arguments: { server: 'notes', tool: 'sleep', args: { ms: 30_000 } } }, {
      signal: abort.signal,
    });
    await g.waitForStderr(/\[notes\] stderr: sleep started 30000/);
    abort.abort();
    await expect(pending).rejects.toThrow();
    await g.waitForStderr(/\[notes\] stderr: sleep aborted/);
    // the gateway and the server go on
    expect(json(await g.call('execute_tool', { server: 'notes', tool: 'echo', args: { text: 'after' } }))).toEqual({ text: 'after' });
  });
});
