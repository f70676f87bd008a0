import type { GatewayPlugin } from '@agent-mcp-gateway/core';
import { HeadersAuthPlugin } from '@agent-mcp-gateway/auth-headers';
import { OAuthPlugin, type OAuthPluginOptions } from '@agent-mcp-gateway/auth-oauth-dcr';
import { FsTokenStorePlugin } from '@agent-mcp-gateway/store-fs';
import { KeychainTokenStorePlugin } from '@agent-mcp-gateway/store-keychain';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import { StdioTransportPlugin, type StdioTransportOptions } from '@agent-mcp-gateway/transport-stdio';

/**
 * The first-party plugins every gateway started by the CLI has (`oauth`: e.g. an env with `BROWSER=none`;
 * `stdio`: e.g. the loop marker every child inherits).
 */
export function defaultPlugins(options: { oauth?: OAuthPluginOptions; stdio?: StdioTransportOptions } = {}): GatewayPlugin[] {
  // OAuth before headers: it logs when a configured Authorization header disables it for a server.
  // Keychain before files: it answers `keychain`, and `auto` when the keychain is reachable; files answer the rest.
  return [
    new StdioTransportPlugin(options.stdio),
    new HttpTransportPlugin(),
    new OAuthPlugin(options.oauth),
    new HeadersAuthPlugin(),
    new KeychainTokenStorePlugin(),
    new FsTokenStorePlugin(),
  ];
}
