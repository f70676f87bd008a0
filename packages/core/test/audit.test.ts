import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditPlugin, defaultAuditLogPath, type AuditRecord, type CallToolResult, type RulesFile } from '../src/index.js';
import { Downstreams, capturingLogger, config, spec, startWithClient, type Running } from './ops-fixtures.js';

const SECRET = 'sk-live-0123456789abcdef';
const RULES: RulesFile = {
  agents: {
    ops: { allow: { servers: ['*'] } },
    intern: { allow: { servers: ['notes'] }, deny: { tools: { notes: ['add'] } } },
  },
};

const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function tempFile(name = 'audit.jsonl'): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'amg-audit-')), name);
}

async function readRecords(file: string): Promise<AuditRecord[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditRecord);
}

async function start(audit: AuditPlugin, settings: Parameters<typeof config>[1] = {}, logger?: ReturnType<typeof capturingLogger>['logger']) {
  const servers = [spec('notes', { env: { API_KEY: SECRET }, secretValues: [SECRET] }), spec('secret')];
  const r = await startWithClient(config(servers, { initStrategy: 'lazy', ...settings }, RULES), [new Downstreams().plugin(), audit], {
    ...(logger && { logger }),
  });
  running.push(r);
  const call = async (name: string, args: Record<string, unknown>) => (await r.client.callTool({ name, arguments: args })) as CallToolResult;
  return { ...r, call };
}

describe('AuditPlugin', () => {
  it('writes one line per gateway tool call: allowed, denied and failed, without argument values', async () => {
    const file = await tempFile();
    const audit = new AuditPlugin({ file });
    const g = await start(audit);
    await g.call('list_servers', { agent_id: 'intern' });
    await g.call('get_server_tools', { agent_id: 'intern', server: 'secret' });
    await g.call('execute_tool', { agent_id: 'intern', server: 'notes', tool: 'echo', args: { text: SECRET } });
    await g.call('execute_tool', { agent_id: 'intern', server: 'notes', tool: 'add', args: { a: 1, b: 2 } });
    await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'throw', args: { message: 'kaput' } });
    await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'fail', args: {} });
    await g.call('execute_tool', { agent_id: 'nobody', server: 'notes', tool: 'echo', args: { text: SECRET } });
    await g.call('execute_tool', { agent_id: 'ops', server: 'notes' });
    await g.call('get_gateway_status', { agent_id: 'ops' });
    await audit.flush();

    const records = await readRecords(file);
    expect(records.map((r) => [r.operation, r.agent, r.server, r.tool, r.decision, r.error_code])).toEqual([
      ['list_servers', 'intern', null, null, 'ALLOW', null],
      ['get_server_tools', 'intern', 'secret', null, 'DENY', 'DENIED_BY_POLICY'],
      ['execute_tool', 'intern', 'notes', 'echo', 'ALLOW', null],
      ['execute_tool', 'intern', 'notes', 'add', 'DENY', 'DENIED_BY_POLICY'],
      ['execute_tool', 'ops', 'notes', 'throw', 'ERROR', 'DOWNSTREAM_ERROR'],
      ['execute_tool', 'ops', 'notes', 'fail', 'ALLOW', null],
      ['execute_tool', null, 'notes', 'echo', 'ERROR', 'INVALID_AGENT_ID'],
      ['execute_tool', null, 'notes', null, 'ERROR', 'INVALID_ARGUMENTS'],
      ['get_gateway_status', 'ops', null, null, 'ALLOW', null],
    ]);
    expect(records[5]?.tool_error).toBe(true);
    for (const record of records) {
      expect(Object.keys(record).slice(0, 8)).toEqual(['timestamp', 'agent', 'operation', 'server', 'tool', 'decision', 'error_code', 'latency_ms']);
      expect(Date.parse(record.timestamp)).not.toBeNaN();
      expect(record.latency_ms).toBeGreaterThanOrEqual(0);
      expect(record).not.toHaveProperty('arguments');
    }
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('kaput'); // no message text either: codes only
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('records arguments with auditArguments: true, known secrets redacted', async () => {
    const file = await tempFile();
    const audit = new AuditPlugin({ file });
    const g = await start(audit, { auditArguments: true });
    await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'echo', args: { text: `key ${SECRET}`, token: 'abcdef' } });
    await audit.flush();
    const [record] = await readRecords(file);
    expect(record?.arguments).toEqual({ text: 'key [REDACTED]', token: '[REDACTED]' });
  });

  it('records auth events: login, refresh and failure', async () => {
    const file = await tempFile();
    const audit = new AuditPlugin({ file });
    const g = await start(audit);
    g.gateway.hooks.authEvent.call({ server: 'notes', type: 'login', kind: 'oauth' });
    g.gateway.hooks.authEvent.call({ server: 'notes', type: 'refresh', kind: 'oauth' });
    g.gateway.hooks.authEvent.call({ server: 'notes', type: 'failure', kind: 'oauth', detail: `token refresh failed: bad ${SECRET}` });
    await audit.flush();
    const records = await readRecords(file);
    expect(records.map((r) => [r.operation, r.server, r.decision, r.error_code, r.auth])).toEqual([
      ['auth.login', 'notes', 'ALLOW', null, 'oauth'],
      ['auth.refresh', 'notes', 'ALLOW', null, 'oauth'],
      ['auth.failure', 'notes', 'ERROR', 'AUTH_FAILED', 'oauth'],
    ]);
    expect(records[2]?.detail).toBe('token refresh failed: bad [REDACTED]');
  });

  it('rotates by size, keeping the configured number of files', async () => {
    const file = await tempFile();
    const audit = new AuditPlugin({ file, maxBytes: 600, keep: 2 });
    const g = await start(audit);
    for (let i = 0; i < 12; i++) {
      await g.call('list_servers', { agent_id: 'ops' });
      await audit.flush(); // one write per line, so that each one may rotate
    }
    const names = (await readdir(join(file, '..'))).sort();
    expect(names).toEqual(['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']);
    for (const name of names) expect((await stat(join(file, '..', name))).size).toBeLessThanOrEqual(600);
    const lines = (await Promise.all(names.map((n) => readRecords(join(file, '..', n))))).flat();
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.length).toBeLessThan(12); // the oldest went
  });

  it('a write failure is logged once, shown in status, and never fails a call', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'amg-audit-'));
    await writeFile(join(dir, 'not-a-folder'), '');
    const log = capturingLogger();
    const audit = new AuditPlugin({ file: join(dir, 'not-a-folder', 'audit.jsonl') });
    const g = await start(audit, {}, log.logger);
    for (let i = 0; i < 3; i++) {
      const result = await g.call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'echo', args: { text: 'fine' } });
      expect(result.isError).toBeFalsy();
      await audit.flush();
    }
    expect(log.lines().filter((l) => l.includes('Cannot write the audit log'))).toHaveLength(1);
    const status = g.gateway.status() as { audit?: { lastError?: string } };
    expect(status.audit?.lastError).toMatch(/EEXIST|ENOTDIR/);
  });

  it('flushes on close', async () => {
    const file = await tempFile();
    const audit = new AuditPlugin({ file });
    const g = await start(audit);
    await g.call('list_servers', { agent_id: 'ops' });
    running.splice(running.indexOf(g), 1);
    await g.close();
    expect(await readRecords(file)).toHaveLength(1);
  });

  it('defaults to settings auditLog, else ~/.cache/agent-mcp-gateway/audit.jsonl', async () => {
    expect(defaultAuditLogPath('/home/u')).toBe('/home/u/.cache/agent-mcp-gateway/audit.jsonl');
    const file = await tempFile('from-settings.jsonl');
    const audit = new AuditPlugin();
    await start(audit, { auditLog: file });
    expect(audit.file).toBe(file);
  });
});
