import { afterEach, describe, expect, it } from 'vitest';
import { McpServer } from '@modelcontextprotocol/server';
import { createDemoServer } from '@agent-mcp-gateway/testing';
import { z } from 'zod';
import type { CallToolResult } from '../src/index.js';
import { Downstreams, capturingLogger, config, spec, startWithClient, until, type Running } from './ops-fixtures.js';

const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

/** The demo server plus a `say` tool that sends `notifications/message` at the level asked for. */
function loggingServer(name: string): McpServer {
  const mcp = new McpServer({ name, version: '1' }, { capabilities: { logging: {} } });
  mcp.registerTool('say', { inputSchema: z.object({ level: z.enum(['debug', 'info', 'warning', 'critical']), data: z.unknown() }) }, async ({ level, data }) => {
    await mcp.server.sendLoggingMessage({ level, logger: 'worker', data });
    return { content: [{ type: 'text', text: 'said' }] };
  });
  return mcp;
}

describe('notifications through the gateway', () => {
  it('logging messages from a downstream go to the gateway log, tagged with the server, at the mapped level', async () => {
    const log = capturingLogger();
    const r = await startWithClient(config([spec('chatty')], { initStrategy: 'lazy' }), [new Downstreams(loggingServer).plugin()], { logger: log.logger });
    running.push(r);
    const say = (level: string, data: unknown) => r.client.callTool({ name: 'execute_tool', arguments: { server: 'chatty', tool: 'say', args: { level, data } } });
    let line = log.waitFor(/log worker: indexing done/);
    await say('info', 'indexing done');
    expect(await line).toMatch(/ INFO \[chatty\] log worker: indexing done$/);
    line = log.waitFor(/log worker: \{"disk":"full"\}/);
    await say('warning', { disk: 'full' });
    expect(await line).toMatch(/ WARN \[chatty\] /);
    line = log.waitFor(/log worker: down/);
    await say('critical', 'down');
    expect(await line).toMatch(/ ERROR \[chatty\] /);
  });

  it('progress from a downstream tool reaches the client; a client cancellation reaches the downstream', async () => {
    const downstreams = new Downstreams((name) => createDemoServer({ name, log: (l) => downstreams.lines.push(l) }));
    const r = await startWithClient(config([spec('notes')], { initStrategy: 'lazy' }), [downstreams.plugin()]);
    running.push(r);
    const seen: { progress: number; total?: number; message?: string }[] = [];
    const result = (await r.client.callTool(
      { name: 'execute_tool', arguments: { server: 'notes', tool: 'progress', args: { steps: 3, delayMs: 10 } } },
      { onprogress: (p) => seen.push(p) },
    )) as CallToolResult;
    expect(result.content).toEqual([{ type: 'text', text: 'done 3' }]);
    expect(seen.slice(0, 2)).toEqual([
      { progress: 1, total: 3, message: 'step 1/3' },
      { progress: 2, total: 3, message: 'step 2/3' },
    ]);

    const abort = new AbortController();
    const pending = r.client.callTool({ name: 'execute_tool', arguments: { server: 'notes', tool: 'sleep', args: { ms: 30_000 } } }, {
      signal: abort.signal,
    });
    await until(() => downstreams.lines.includes('sleep started 30000'), 'the sleep to start');
    abort.abort('changed my mind');
    await expect(pending).rejects.toThrow();
    await until(() => downstreams.lines.includes('sleep aborted'), 'the downstream to see the cancellation');
  });
});
