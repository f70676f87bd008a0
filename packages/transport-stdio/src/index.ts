/**
 * @agent-mcp-gateway/transport-stdio — downstream MCP servers as child processes.
 *
 * ```ts
 * const gateway = new Gateway({ config, plugins: [new StdioTransportPlugin()] });
 * ```
 */
export { StdioTransportPlugin, type StdioTransportOptions } from './plugin.js';
export { BoundedLineLogger, type BoundedLineLoggerOptions } from './stderr.js';
