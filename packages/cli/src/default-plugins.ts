import { AuditPlugin, MetricsPlugin, PolicyPlugin, ReloadStatusPlugin, type GatewayPlugin } from '@agent-mcp-gateway/core';
import { HeadersAuthPlugin } from '@agent-mcp-gateway/auth-headers';
import { OAuthPlugin, type OAuthPluginOptions } from '@agent-mcp-gateway/auth-oauth-dcr';
import { FsTokenStorePlugin } from '@agent-mcp-gateway/store-fs';
import { KeychainTokenStorePlugin } from '@agent-mcp-gateway/store-keychain';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import { StdioTransportPlugin, type StdioTransportOptions } from '@agent-mcp-gateway/transport-stdio';

export interface DefaultPluginsOptions {
  /** e.g. an env with `BROWSER=none`. */
  readonly oauth?: OAuthPluginOptions;
  /** e.g. the loop marker every child inherits. */
  readonly stdio?: StdioTransportOptions;
  /**
   * The audit log: an instance the caller keeps (to flush it after the gateway closed), or `false`
   * for none (a command typed by a person is not an agent's call). Default: a new `AuditPlugin`.
   */
  readonly audit?: AuditPlugin | false;
}

/**
 * The first-party plugins every gateway started by the CLI has — all of its behaviour beyond the
 * kernel, on the same public hooks as a third-party plugin, which the CLI applies after these.
 * Policy, reload status and metrics first (their status sections come in this order), then the
 * transports, auth and token stores, then the audit log.
 */
export function defaultPlugins(options: DefaultPluginsOptions = {}): GatewayPlugin[] {
  // OAuth before headers: it logs when a configured Authorization header disables it for a server.
  // Keychain before files: it answers `keychain`, and `auto` when the keychain is reachable; files answer the rest.
  const audit = options.audit ?? new AuditPlugin();
  return [
    new PolicyPlugin(),
    new ReloadStatusPlugin(),
    new MetricsPlugin(),
    new StdioTransportPlugin(options.stdio),
    new HttpTransportPlugin(),
    new OAuthPlugin(options.oauth),
    new HeadersAuthPlugin(),
    new KeychainTokenStorePlugin(),
    new FsTokenStorePlugin(),
    ...(audit ? [audit] : []),
  ];
}
