/**
 * @agent-mcp-gateway/core — the kernel of agent-mcp-gateway.
 *
 * - {@link Gateway}: owns downstream servers; every behaviour is a hook (see {@link GatewayHooks}).
 * - {@link createGatewayServer}: the agent-facing MCP server (list_servers, get_server_tools, execute_tool).
 * - Config loading (`loadGatewayConfig`), the policy engine, the error catalogue, the logger.
 * - Plugins on the same public hooks as any third party's, none built into the `Gateway`: policy
 *   (`PolicyPlugin`), metrics (`MetricsPlugin`), the audit log (`AuditPlugin`), reload status
 *   (`ReloadStatusPlugin`); hot reload (`Gateway.applyConfig`, `watchConfig`).
 */
export { Gateway, rulesNotEnforced } from './gateway.js';
export type { GatewayOptions, GatewayPlugin, GatewayStatus, ToolCallOptions, ToolCallRequest } from './gateway.js';
export { authTypeOf, createHooks, decisionFor, selectAuth } from './hooks.js';
export type { AuthEvent, CallOutcome, GatewayHooks, StatusContext } from './hooks.js';
export { ReloadStatusPlugin, diffServers, watchConfig } from './reload.js';
export type { ConfigWatchOptions, ConfigWatcher, FileReloadStatus, ReloadStatus, ReloadStatusHost, ServerDiff } from './reload.js';
export { AuditPlugin, defaultAuditLogPath } from './audit.js';
export type { AuditHost, AuditPluginOptions, AuditRecord } from './audit.js';
export { MetricsPlugin, RESERVOIR_SIZE } from './metrics.js';
export type { MetricsHost, MetricsSeries } from './metrics.js';
export { DownstreamServer } from './downstream.js';
export { GATEWAY_CLIENT_CAPABILITIES } from './downstream.js';
export type { DownstreamCallOptions, DownstreamInput, DownstreamOptions } from './downstream.js';
export { authenticatedAgent, createGatewayServer, defaultInteractionState, errorResult, estimateTokens } from './meta-tools.js';
export {
  MAX_INTERACTION_ROUNDS,
  applyElicitationDefaults,
  clientCapabilityMissing,
  interactionMismatch,
  interactionNotFound,
  tooManyRounds,
} from './interaction.js';
export type { InteractFn, ToolCallInput, ToolCallResume, ToolCallStep } from './interaction.js';
export { InteractionStateCodec, MIN_STATE_KEY_BYTES, argumentsDigest, canonicalJson } from './interaction-state.js';
export type { GatewayServerOptions } from './meta-tools.js';
export { ErrorCodes, GatewayError, defineError, errorCatalogue, errors, isGatewayError } from './errors.js';
export type { CatalogueEntry, ErrorCode, ErrorDefinition, ErrorTemplate, GatewayErrorCode, GatewayErrorDetails, PluginErrorCode } from './errors.js';
export { LOG_LEVELS, SecretRedactor, createLogger, silentLogger } from './logger.js';
export type { LogLevel, Logger, LoggerOptions } from './logger.js';
export { routeSdkWarnings, withSdkWarningsTo } from './sdk-warnings.js';
export { ScopedStorage } from './scoped-storage.js';
export { noCredentials } from './auth-none.js';
export { MemoryTokenStore } from './memory-store.js';
export { AuthChallengeError, findAuthChallenge, parseWwwAuthenticate } from './auth-challenge.js';
export { GATEWAY_VERSION } from './version.js';
export { displayUrl, forTerminal, urlCredentials } from './display.js';
export { isLoopbackHost, isSecureOrLoopbackUrl } from './urls.js';
export { canonicalServerUrl, describeStoreEntry, serverStoreKey } from './store-key.js';
export { EraVerdictCache, LEGACY_VERDICT_HORIZON_MS, eraVerdictKey } from './era-verdicts.js';
export type { EraVerdictCacheOptions } from './era-verdicts.js';
export {
  SECRET_KEY_PREFIX,
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  hasSecretReference,
  isSecretStoreKey,
  isValidSecretName,
  resolveSecretReferences,
  secretNameOf,
  secretReferences,
  secretStoreKey,
} from './secrets.js';
export { PolicyEngine } from './policy/engine.js';
export { PolicyPlugin } from './policy/plugin.js';
export type { PolicyHost, PolicyStatus } from './policy/plugin.js';
export { compileGlob, globMatch } from './policy/glob.js';
export { AGENT_ID_PATTERN, API_KEY_HASH_PATTERN, RulesFileSchema } from './policy/rules.js';
export type { AgentRules, RulesFile } from './policy/rules.js';
export { GatewaySettingsSchema, HttpUrlSchema, NonEmptyString } from './config/schema.js';
export type { GatewaySettings, GatewaySettingsInput } from './config/schema.js';
export { CORE_SERVE_TRANSPORTS, ConfigRegistry, NO_AUTH_TYPE, secret, secretValuesOf } from './config/registry.js';
export type { AuthTypeRegistration, SectionEnvVar, SettingsSectionRegistration, TokenStoreRegistration } from './config/registry.js';
/** Plugin loading: a specifier resolved as Node's ESM `import` resolves it, and the PLUGIN_ERROR reasons. */
export { isPathSpecifier, pluginErrors, resolvePlugin } from './config/plugins.js';
export type { PluginSource } from './config/plugins.js';
/** The zod that core validates with: plugins build their config schemas with it, so `secret()` marks and composition hold. */
export { z } from 'zod';
export {
  findFile,
  loadGatewayConfig,
  loadSettingsFor,
  parseServers,
  projectTrust,
  reloadGatewayConfig,
  resolveUserPath,
  revokeFolder,
  trustFolder,
  userConfigDir,
} from './config/load.js';
export type { LoadGatewayConfigOptions, LoadedGatewayConfig, LoadedServers, LoadedSettings, ProjectTrust } from './config/load.js';
export { expandVariables } from './config/expand.js';
/** A plugin's options validated by its declared schema: `${VAR}` expanded, secrets collected (the CLI's loader uses it). */
export { isOptionsSchema, parsePluginOptions } from './config/settings.js';
export type { ParsedPluginOptions, PluginOptionsSource } from './config/settings.js';
/** Config files' JSONC parsing (comments, trailing commas), with CONFIG_INVALID errors naming file, line and column. */
export { parseJsonText } from './config/format.js';
export { TRUST_STORE_FILE, hashContent, readTrustStore, trustStorePath, writeTrustStore } from './config/trust.js';
export type { TrustStore, TrustedFolder } from './config/trust.js';
export type * from './types.js';
