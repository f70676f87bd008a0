import { afterEach, describe, expect, it } from 'vitest';
import { Gateway, MetricsPlugin, RESERVOIR_SIZE, silentLogger, type CallToolResult, type MetricsSeries, type RulesFile } from '../src/index.js';
import { Downstreams, config, spec, startWithClient, type Running } from './ops-fixtures.js';

const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

const RULES: RulesFile = { agents: { ops: { allow: { servers: ['*'] } }, intern: { allow: { servers: ['notes'] }, deny: { tools: { notes: ['add'] } } } } };

function settle(gateway: Gateway, durations: number[], agent = 'a'): void {
  for (const durationMs of durations) {
    gateway.hooks.callSettled.call({ operation: 'execute_tool', agent, server: 's', tool: 't', decision: 'ALLOW', durationMs }, undefined);
  }
}

/** A started gateway with one plugin: metrics. */
async function withMetrics(): Promise<{ gateway: Gateway; metrics: MetricsPlugin }> {
  const metrics = new MetricsPlugin();
  const gateway = new Gateway({ config: config([spec('s')], { initStrategy: 'lazy' }), plugins: [metrics], logger: silentLogger });
  await gateway.start();
  return { gateway, metrics };
}

describe('MetricsPlugin', () => {
  it('counts calls, errors and denials per agent, operation and server, and shows them in status', async () => {
    const r = await startWithClient(config([spec('notes')], { initStrategy: 'lazy' }, RULES), [new Downstreams().plugin()]);
    running.push(r);
    const call = async (name: string, args: Record<string, unknown>) => (await r.client.callTool({ name, arguments: args })) as CallToolResult;
    await call('list_servers', { agent_id: 'intern' });
    await call('list_servers', { agent_id: 'intern' });
    await call('execute_tool', { agent_id: 'intern', server: 'notes', tool: 'echo', args: { text: 'x' } });
    await call('execute_tool', { agent_id: 'intern', server: 'notes', tool: 'add', args: { a: 1, b: 2 } });
    await call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'throw', args: {} });
    await call('execute_tool', { agent_id: 'ops', server: 'notes', tool: 'fail', args: {} });
    await call('get_server_tools', { agent_id: 'ops', server: 'made-up-by-the-agent' });

    const pick = (s: MetricsSeries) => [s.agent, s.operation, s.server, s.count, s.errors, s.denied];
    expect(r.metrics.snapshot().map(pick)).toEqual([
      ['intern', 'execute_tool', 'notes', 2, 0, 1],
      ['intern', 'list_servers', '', 2, 0, 0],
      ['ops', 'execute_tool', 'notes', 2, 2, 0],
      ['ops', 'get_server_tools', '(unknown)', 1, 1, 0],
    ]);
    const status = JSON.parse((((await call('get_gateway_status', { agent_id: 'ops' })).content[0]) as { text: string }).text) as {
      metrics: MetricsSeries[];
    };
    // An agent's status shows its own series on servers it may see, nobody else's.
    expect(status.metrics.map(pick)).toEqual([['ops', 'execute_tool', 'notes', 2, 2, 0]]);
    const intern = JSON.parse((((await call('get_gateway_status', { agent_id: 'intern' })).content[0]) as { text: string }).text) as {
      metrics: MetricsSeries[];
    };
    expect(intern.metrics.find((s) => s.agent === 'intern' && s.operation === 'execute_tool')).toMatchObject({ count: 2, denied: 1 });
    for (const s of status.metrics) {
      expect(s.p50Ms).toBeGreaterThanOrEqual(0);
      expect(s.p50Ms).toBeLessThanOrEqual(s.p95Ms);
      expect(s.p95Ms).toBeLessThanOrEqual(s.p99Ms);
    }
  });

  it('latency percentiles are nearest-rank over the most recent calls', async () => {
    const { gateway, metrics } = await withMetrics();
    settle(gateway, Array.from({ length: 100 }, (_, i) => 100 - i)); // 100 … 1, order does not matter
    expect(metrics.snapshot()[0]).toMatchObject({ count: 100, p50Ms: 50, p95Ms: 95, p99Ms: 99 });
    // A slow past falls out of the reservoir: only the last RESERVOIR_SIZE calls count.
    settle(gateway, Array.from({ length: RESERVOIR_SIZE }, () => 2));
    expect(metrics.snapshot()[0]).toMatchObject({ count: 100 + RESERVOIR_SIZE, p50Ms: 2, p99Ms: 2 });
    await gateway.close();
  });

  it('prometheus(): text exposition with counters and a latency summary, labels escaped; the same text on the metrics hook', async () => {
    const { gateway, metrics } = await withMetrics();
    settle(gateway, [1, 2, 3, 4], 'say "hi"\\now');
    gateway.hooks.callSettled.call({ operation: 'list_servers', agent: 'a', decision: 'DENY', errorCode: 'DENIED_BY_POLICY', durationMs: 5 }, undefined);
    gateway.hooks.callSettled.call({ operation: 'no_such_tool', agent: 'a', decision: 'ERROR', errorCode: 'TOOL_NOT_FOUND', durationMs: 1 }, undefined);
    const text = metrics.prometheus();
    expect(gateway.hooks.metrics.call('')).toBe(text);
    const lines = text.trimEnd().split('\n');
    expect(lines).toContain('# TYPE agent_mcp_gateway_calls_total counter');
    expect(lines).toContain('# TYPE agent_mcp_gateway_call_duration_seconds summary');
    const labels = 'agent="say \\"hi\\"\\\\now",operation="execute_tool",server="s"';
    expect(lines).toContain(`agent_mcp_gateway_calls_total{${labels}} 4`);
    expect(lines).toContain(`agent_mcp_gateway_call_duration_seconds{${labels},quantile="0.5"} 0.002`);
    expect(lines).toContain(`agent_mcp_gateway_call_duration_seconds_sum{${labels}} 0.01`);
    expect(lines).toContain(`agent_mcp_gateway_call_duration_seconds_count{${labels}} 4`);
    expect(lines).toContain('agent_mcp_gateway_call_denials_total{agent="a",operation="list_servers",server=""} 1');
    expect(lines).toContain('agent_mcp_gateway_call_errors_total{agent="a",operation="(unknown)",server=""} 1');
    // every sample line: name{labels} value
    for (const line of lines.filter((l) => !l.startsWith('#'))) expect(line).toMatch(/^[a-z_]+\{.*\} [0-9.e+-]+$/);
    expect(text.endsWith('\n')).toBe(true);
    await gateway.close();
  });
});
