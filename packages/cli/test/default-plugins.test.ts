/**
 * The CLI's composition: policy, reload status, metrics and audit are entries of `defaultPlugins`
 * on the public hooks — so a third-party plugin can take a built-in's place. A real gateway, a real
 * stdio downstream (the CLI's own stdio transport), a real SDK client.
 */
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import {
  AuditPlugin,
  Gateway,
  GatewaySettingsSchema,
  createGatewayServer,
  parseServers,
  silentLogger,
  type AuditRecord,
  type CallOutcome,
  type CallToolResult,
  type GatewayConfig,
  type GatewayPlugin,
  type RulesFile,
} from '@agent-mcp-gateway/core';
import { stdioServerPath } from '@agent-mcp-gateway/testing';
import { defaultPlugins } from '../src/default-plugins.js';

const RULES: RulesFile = {
  agents: {
    ops: { allow: { servers: ['*'] } },
    intern: { allow: { servers: ['notes'] }, deny: { tools: { notes: ['add'] } } },
  },
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function configWith(auditLog: string): GatewayConfig {
  const servers = JSON.stringify({
    mcpServers: {
      notes: { command: process.execPath, args: [stdioServerPath, '--name', 'notes'] },
      vault: { command: process.execPath, args: [stdioServerPath, '--name', 'vault'] },
    },
  });
  return {
    servers: parseServers(servers, '/cli-test/.mcp.json', {}).servers,
    rules: RULES,
    settings: GatewaySettingsSchema.parse({ initStrategy: 'lazy', auditLog }),
    sources: {},
    warnings: [],
  };
}

/** A third-party audit: its own records, from the same hook the built-in audit taps, and its own status section. */
class OwnAudit implements GatewayPlugin {
  readonly name = 'OwnAudit';
  readonly records: CallOutcome[] = [];
  apply(gateway: Gateway): void {
    gateway.hooks.callSettled.tap(this.name, (outcome) => void this.records.push(outcome));
    gateway.hooks.status.tap(this.name, (status) => ({ ...status, ownAudit: { records: this.records.length } }));
  }
}

/** A started gateway with `plugins`, its meta-tools server and a client; the same calls made through it. */
async function runCalls(plugins: GatewayPlugin[], config: GatewayConfig): Promise<Gateway> {
  const gateway = new Gateway({ config, plugins, logger: silentLogger });
  await gateway.start();
  const server = createGatewayServer(gateway, { debug: true });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'composition-test', version: '1' });
  await client.connect(clientSide);
  cleanups.push(() => gateway.close(), () => client.close());
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;
  await call('list_servers', { agent_id: 'intern' });
  await call('get_server_tools', { agent_id: 'intern', server: 'vault' });
  await call('execute_tool', { agent_id: 'intern', server: 'notes', tool: 'echo', args: { text: 'x' } });
  await call('execute_tool', { agent_id: 'intern', server: 'notes', tool: 'add', args: { a: 1, b: 2 } });
  await call('execute_tool', { agent_id: 'ghost', server: 'notes', tool: 'echo', args: {} });
  await call('get_gateway_status', { agent_id: 'ops' });
  return gateway;
}

/** An outcome as the built-in audit writes it, without the fields that differ from run to run. */
function asAuditLine(o: CallOutcome): Omit<AuditRecord, 'timestamp' | 'latency_ms'> {
  return {
    agent: o.agent ?? null,
    operation: o.operation,
    server: o.server ?? null,
    tool: o.tool ?? null,
    decision: o.decision,
    error_code: o.errorCode ?? null,
    ...(o.toolError === true && { tool_error: true as const }),
  };
}

describe('defaultPlugins', () => {
  it('composes policy, reload status and metrics first, then transports, auth and stores, then the audit log', () => {
    expect(defaultPlugins().map((p) => p.name)).toEqual([
      'PolicyPlugin',
      'ReloadStatusPlugin',
      'MetricsPlugin',
      'StdioTransportPlugin',
      'HttpTransportPlugin',
      'OAuthPlugin',
      'HeadersAuthPlugin',
      'KeychainTokenStorePlugin',
      'FsTokenStorePlugin',
      'AuditPlugin',
    ]);
    const audit = new AuditPlugin();
    expect(defaultPlugins({ audit }).at(-1)).toBe(audit);
    expect(defaultPlugins({ audit: false }).map((p) => p.name)).not.toContain('AuditPlugin');
  });

  it('a third-party plugin on callSettled sees exactly what the built-in audit writes; with the built-in removed it replaces it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'amg-composition-'));

    // Side by side: the built-in audit and a third-party one on the same hook.
    const withBuiltIn = join(dir, 'built-in.jsonl');
    const builtIn = new AuditPlugin();
    const alongside = new OwnAudit();
    const first = await runCalls([...defaultPlugins({ audit: builtIn }), alongside], configWith(withBuiltIn));
    await builtIn.flush();
    const lines = (await readFile(withBuiltIn, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditRecord);
    expect(lines.map((r) => r.operation)).toEqual(['list_servers', 'get_server_tools', 'execute_tool', 'execute_tool', 'execute_tool', 'get_gateway_status']);
    expect(lines.map(({ timestamp: _t, latency_ms: _l, ...rest }) => rest)).toEqual(alongside.records.map(asAuditLine));
    expect(first.status()).toMatchObject({ audit: { file: withBuiltIn }, ownAudit: { records: 6 } });

    // The built-in removed from the list: nothing is written, the third-party plugin has every call.
    const without = join(dir, 'never-written.jsonl');
    const replacement = new OwnAudit();
    const second = await runCalls([...defaultPlugins({ audit: false }), replacement], configWith(without));
    await second.close();
    await expect(stat(without)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(replacement.records.map(asAuditLine)).toEqual(alongside.records.map(asAuditLine));
    expect(second.status()).not.toHaveProperty('audit');
    // The other built-ins are still there: the denial behind SERVER_NOT_FOUND is the policy's, counted by the metrics.
    expect(replacement.records[1]).toMatchObject({ operation: 'get_server_tools', decision: 'DENY', errorCode: 'DENIED_BY_POLICY' });
    expect(second.status()).toMatchObject({ policy: { rulesLoaded: true }, metrics: expect.arrayContaining([expect.objectContaining({ agent: 'intern', operation: 'execute_tool', count: 2, denied: 1 })]) });
  });
});
