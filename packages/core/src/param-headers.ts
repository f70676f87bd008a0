/**
 * SEP-2243 (MCP 2026-07-28): a tool's input schema may declare `x-mcp-header: "Name"` on a parameter; a
 * Streamable HTTP client then sends the argument's value as the `Mcp-Param-Name` header of every
 * `tools/call` of that tool, and the server checks that header and body agree. The SDK mirrors them only
 * in `Client.callTool`; the gateway forwards calls as plain requests, so it builds the headers here from
 * the tool definitions it listed. Tools whose declaration is invalid never get here: the SDK leaves them
 * out of `tools/list` (see ./sdk-warnings.ts).
 */
import type { Tool } from '@modelcontextprotocol/client';

const X_MCP_HEADER = 'x-mcp-header';
const PREFIX = 'Mcp-Param-';
const SENTINEL_START = '=?base64?';
const SENTINEL_END = '?=';

/** One declared parameter: where its value is in the arguments, and the header it goes into. */
export interface ParamHeader {
  readonly path: readonly string[];
  readonly header: string;
}

/** The parameters of `tool` declared with `x-mcp-header`, reached through `properties` only (as the spec allows). */
export function paramHeadersOf(tool: Pick<Tool, 'inputSchema'>): readonly ParamHeader[] {
  const found: ParamHeader[] = [];
  const visit = (schema: unknown, path: readonly string[]): void => {
    if (schema === null || typeof schema !== 'object') return;
    const node = schema as Record<string, unknown>;
    const header = node[X_MCP_HEADER];
    if (path.length > 0 && typeof header === 'string' && header !== '') found.push({ path, header });
    const properties = node.properties;
    if (properties === null || typeof properties !== 'object') return;
    for (const [key, child] of Object.entries(properties)) visit(child, [...path, key]);
  };
  visit(tool.inputSchema, []);
  return found;
}

/** The `Mcp-Param-*` headers of one call; a parameter without a primitive value sends none. */
export function paramHeaderValues(declared: readonly ParamHeader[], args: Record<string, unknown>): Record<string, string> | undefined {
  let headers: Record<string, string> | undefined;
  for (const { path, header } of declared) {
    const text = primitiveText(valueAt(args, path));
    if (text === undefined) continue;
    (headers ??= {})[`${PREFIX}${header}`] = encodeFieldValue(text);
  }
  return headers;
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Strings as they are, booleans lowercase, finite numbers (safe integers) in decimal; anything else: no header. */
function primitiveText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value))) return String(value);
  return undefined;
}

/** A plain visible-ASCII value as it is; anything else (or a value that looks like the sentinel) as `=?base64?…?=` of its UTF-8. */
function encodeFieldValue(text: string): string {
  const plain =
    text !== '' &&
    text === text.trim() &&
    !(text.startsWith(SENTINEL_START) && text.endsWith(SENTINEL_END)) &&
    [...text].every((c) => c === '\t' || (c >= ' ' && c <= '~'));
  return plain ? text : `${SENTINEL_START}${Buffer.from(text, 'utf8').toString('base64')}${SENTINEL_END}`;
}
