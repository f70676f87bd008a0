/**
 * An OAuth-protected MCP server for tests: the HTTP demo server of ./http-server.ts
 * accepting only JWT access tokens from an authorization server (./oauth-server.ts)
 * whose audience is its own MCP URL, with RFC 9728 metadata and the MCP
 * authorization spec's challenges (401, and 403 `insufficient_scope` for step-up).
 */
import {
  startHttpMcpServer,
  type BearerRequest,
  type BearerVerdict,
  type HttpMcpServer,
  type HttpMcpServerOptions,
  type ProtectedResourceOptions,
} from './http-server.js';
import type { AuthorizationServer } from './oauth-server.js';

export interface ProtectedMcpServerOptions extends Omit<HttpMcpServerOptions, 'bearer' | 'resourceMetadataUrl' | 'protectedResource'> {
  /** The issuer named in the metadata, and the verifier of its access tokens. */
  authorizationServer: Pick<AuthorizationServer, 'issuer' | 'verifyAccessToken'>;
  /**
   * Scopes a token must carry for `tools/call`; a call without them gets 403 with
   * `error="insufficient_scope", scope="<these>"`. Other requests need only a valid token.
   * Default: none.
   */
  scopes?: string[];
  /** Further RFC 9728 settings. Default `scopesSupported`: `['mcp:read', 'mcp:write']`. */
  resourceMetadata?: Omit<ProtectedResourceOptions, 'authorizationServers'>;
}

export interface ProtectedMcpServer extends HttpMcpServer {
  /** The RFC 9728 metadata URL named in the challenges. */
  resourceMetadataUrl: string;
}

function callsTool(message: unknown): boolean {
  const messages = Array.isArray(message) ? (message as unknown[]) : [message];
  return messages.some((m) => typeof m === 'object' && m !== null && (m as { method?: unknown }).method === 'tools/call');
}

/**
 * Starts the demo MCP server over HTTP on 127.0.0.1, protected by access tokens of
 * `authorizationServer`: a request without a valid token (signature, issuer, expiry,
 * `aud` = this server's `url`) gets 401 with `WWW-Authenticate: Bearer …
 * resource_metadata="…"` (plus `error="invalid_token"` when a token was sent).
 */
export async function startProtectedMcpServer(options: ProtectedMcpServerOptions): Promise<ProtectedMcpServer> {
  const { authorizationServer, scopes = [], resourceMetadata, ...httpOptions } = options;
  const bearer = async (token: string, request: BearerRequest): Promise<BearerVerdict> => {
    let granted: Set<string>;
    try {
      const claims = await authorizationServer.verifyAccessToken(token, request.resource);
      granted = new Set(claims.scope?.split(' '));
    } catch (error) {
      return { status: 401, error: 'invalid_token', description: error instanceof Error ? error.message : String(error) };
    }
    if (callsTool(request.message) && !scopes.every((scope) => granted.has(scope))) {
      return { status: 403, error: 'insufficient_scope', scope: scopes.join(' ') };
    }
    return true;
  };
  const server = await startHttpMcpServer({
    ...httpOptions,
    bearer,
    protectedResource: {
      scopesSupported: ['mcp:read', 'mcp:write'],
      ...resourceMetadata,
      authorizationServers: [authorizationServer.issuer],
    },
  });
  const { resourceMetadataUrl } = server;
  if (resourceMetadataUrl === undefined) throw new Error('startHttpMcpServer did not serve protected resource metadata');
  return { ...server, resourceMetadataUrl };
}
