/**
 * agent-mcp-gateway — the command line. Its programmatic API is `main(argv)`,
 * resolving to the exit code, and the set of first-party plugins it wires.
 */
export { main } from './main.js';
export { defaultPlugins } from './default-plugins.js';
export { loadPlugins } from './plugins.js';
export type { PluginOrigin } from './plugins.js';
export { USAGE, parseCliArgs, type CliArgs } from './args.js';
