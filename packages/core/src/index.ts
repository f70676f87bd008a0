/**
 * @agent-mcp-gateway/core — the kernel of agent-mcp-gateway.
 *
 * - {@link Gateway}: owns downstream servers; every behaviour is a hook (see {@link GatewayHooks}).
 * - {@link createGatewayServer}: the agent-facing MCP server (list_servers, get_server_tools, execute_tool).
 * - Config loading (`loadGatewayConfig`), the policy engine, the error catalogue, the logger.
 */
export { Gateway } from './gateway.js';
export type { GatewayOptions, GatewayPlugin, GatewayStatus, ToolCallOptions, ToolCallRequest } from './gateway.js';
export { createHooks } from './hooks.js';
export type { GatewayHooks, ToolCallOutcome } from './hooks.js';
export { DownstreamServer } from './downstream.js';
export type { DownstreamCallOptions, DownstreamOptions } from './downstream.js';
export { createGatewayServer, errorResult, estimateTokens } from './meta-tools.js';
export type { GatewayServerOptions } from './meta-tools.js';
export { ErrorCodes, GatewayError, errors, isGatewayError } from './errors.js';
export type { ErrorCode, GatewayErrorDetails } from './errors.js';
export { LOG_LEVELS, SecretRedactor, createLogger, silentLogger } from './logger.js';
export type { LogLevel, Logger, LoggerOptions } from './logger.js';
export { noAuth } from './auth-none.js';
export { MemoryTokenStore } from './memory-store.js';
export { AuthChallengeError, findAuthChallenge, parseWwwAuthenticate } from './auth-challenge.js';
export { GATEWAY_VERSION } from './version.js';
export { canonicalServerUrl, serverStoreKey } from './store-key.js';
export { PolicyEngine } from './policy/engine.js';
export { PolicyPlugin } from './policy/plugin.js';
export { compileGlob, globMatch } from './policy/glob.js';
export { AGENT_ID_PATTERN, RulesFileSchema } from './policy/rules.js';
export type { AgentRules, RulesFile } from './policy/rules.js';
export * from './config/schema.js';
export * from './config/load.js';
export { expandVariables } from './config/expand.js';
export type * from './types.js';
