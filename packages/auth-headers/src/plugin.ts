import { errors, type Gateway, type GatewayPlugin, type ServerSpec } from '@agent-mcp-gateway/core';
import { StaticCredentialsStrategy } from './strategy.js';

/**
 * Answers `resolveAuth` for servers whose entry carries credentials:
 * - before connecting: headers configured (HTTP) or env configured (stdio), or `auth: "headers"` forced;
 * - on a challenge, when the entry has its own `Authorization` header (or forces `headers`): the
 *   configured credential was refused, so the server fails with AUTH_FAILED instead of silently
 *   switching to another strategy (e.g. a browser login). Without one it stays out of the way, and
 *   the configured non-credential headers are still sent by the transport whatever strategy runs.
 */
export class HeadersAuthPlugin implements GatewayPlugin {
  readonly name = 'HeadersAuthPlugin';

  apply(gateway: Gateway): void {
    gateway.hooks.resolveAuth.tap(this.name, (spec, challenge) => {
      if (spec.auth === 'none' || (spec.auth !== undefined && spec.auth !== 'headers')) return undefined;
      if (challenge === null) return configuresCredentials(spec) ? new StaticCredentialsStrategy(spec) : undefined;
      if (spec.auth === 'headers' || hasAuthorizationHeader(spec)) {
        throw errors.authFailed(spec.name, `configured credential rejected (HTTP ${challenge.status}${challenge.error ? `, ${challenge.error}` : ''})`);
      }
      return undefined;
    });
  }
}

function configuresCredentials(spec: ServerSpec): boolean {
  if (spec.auth === 'headers') return true;
  return spec.transport === 'stdio' ? Object.keys(spec.env).length > 0 : Object.keys(spec.headers).length > 0;
}

function hasAuthorizationHeader(spec: ServerSpec): boolean {
  return Object.keys(spec.headers).some((name) => name.toLowerCase() === 'authorization');
}
