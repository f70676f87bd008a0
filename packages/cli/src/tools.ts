import { errors, isGatewayError, type CallToolResult, type Tool } from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { Progress, printJson, printable, table } from './output.js';
import { openSession, type Session } from './session.js';

/**
 * `tools <server>`: the tools `--agent` (else the fallback agent) may see,
 * through the same hooks as `get_server_tools`. `--json`: `{server, agent, tools}`
 * with the full definitions.
 */
export async function runTools(args: CliArgs): Promise<number> {
  const [server] = args.operands as [string];
  return withServer(args, server, async (session, agent) => {
    const tools = await session.gateway.listTools(agent, server);
    return () => {
      if (args.json) printJson({ server, agent, tools });
      else process.stdout.write(tools.length ? toolTable(tools) : `Server '${server}' offers agent '${agent}' no tools.\n`);
      return 0;
    };
  });
}

/**
 * `call <server> <tool> --args JSON`: one call through the policy hooks, as
 * `execute_tool` makes it. Prints the content (or, with `--json`, the whole
 * result); exit 1 when the tool reports an error (`isError`).
 */
export async function runCall(args: CliArgs): Promise<number> {
  const [server, tool] = args.operands as [string, string];
  return withServer(args, server, async (session, agent) => {
    const result = await session.gateway.callTool({ agent, server, tool, args: args.toolArgs ?? {} });
    return () => {
      if (args.json) printJson(result);
      else (result.isError ? process.stderr : process.stdout).write(renderContent(result));
      return result.isError ? 1 : 0;
    };
  });
}

/** Resolves the agent, runs `work` with a "connecting" line on a terminal, prints after the line is gone. */
async function withServer(args: CliArgs, server: string, work: (session: Session, agent: string) => Promise<() => number>): Promise<number> {
  const session = await openSession(args);
  const progress = new Progress();
  try {
    session.spec(server); // SERVER_NOT_FOUND before anything starts
    const agent = session.gateway.resolveAgent(args.agent);
    progress.show(`Connecting to ${server}…`);
    const print = await work(session, agent).catch((error: unknown) => {
      throw loginHint(error);
    });
    progress.done();
    return print();
  } finally {
    progress.done();
    await session.close();
  }
}

/** The URL of a login started by this process dies with it: point at `auth login` instead. */
function loginHint(error: unknown): unknown {
  if (isGatewayError(error) && error.code === 'AUTH_REQUIRED' && error.details.authorizationUrl && error.details.server) {
    return errors.authRequired(error.details.server);
  }
  return error;
}

function toolTable(tools: readonly Tool[]): string {
  return table(
    ['NAME', 'ARGUMENTS', 'DESCRIPTION'],
    tools.map((t) => [t.name, argumentList(t), (t.description ?? '').split('\n')[0]?.trim() ?? '']),
  );
}

/** `text, count?`: the input schema's properties, optional ones marked. */
function argumentList(tool: Tool): string {
  const schema = tool.inputSchema;
  const required = new Set(schema.required ?? []);
  const names = Object.keys(schema.properties ?? {});
  return names.length ? names.map((n) => (required.has(n) ? n : `${n}?`)).join(', ') : '-';
}

/** Text content as it is; everything else as a short line (or the structured content as JSON). */
function renderContent(result: CallToolResult): string {
  const parts = result.content.map((item) => {
    switch (item.type) {
      case 'text':
        return item.text;
      case 'image':
      case 'audio':
        return `[${item.type} ${item.mimeType}, ${Buffer.byteLength(item.data, 'base64')} bytes]`;
      case 'resource':
        return 'text' in item.resource ? item.resource.text : `[resource ${item.resource.uri}]`;
      case 'resource_link':
        return `[resource link ${item.uri}]`;
      default:
        return JSON.stringify(item);
    }
  });
  if (parts.length === 0 && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent, null, 2));
  return parts.map((p) => printable(p.endsWith('\n') ? p : `${p}\n`)).join('');
}
