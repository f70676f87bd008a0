import {
  SECRET_NAME_RULE,
  authTypeOf,
  errors,
  hasSecretReference,
  isGatewayError,
  isValidSecretName,
  secretStoreKey,
  z,
  type AuthChallenge,
  type ConfigRegistry,
  type Gateway,
  type GatewayPlugin,
  type ResolveContext,
  type ServerSpec,
} from '@agent-mcp-gateway/core';
import { StaticCredentialsStrategy, type SecretSource } from './strategy.js';

/** `auth: "headers"` (or `{type: "headers"}`): send the configured headers (env, for stdio) and nothing else. */
export const HeadersAuthSchema = z.strictObject({ type: z.literal('headers') });

/**
 * Registers the auth type `headers` and answers it (`authFor`), and answers `resolveAuth` for
 * servers whose entry carries credentials:
 * - before connecting: headers configured (HTTP) or env configured (stdio), or `auth: "headers"` forced;
 * - on a challenge, when the entry has its own `Authorization` header (or forces `headers`): the
 *   configured credential was refused, so the server fails with AUTH_FAILED instead of silently
 *   switching to another strategy (e.g. a browser login). Without one it stays out of the way, and
 *   the configured non-credential headers are still sent by the transport whatever strategy runs.
 *
 * `${secret:NAME}` in a header or env value is read, at connect time, from the token store that
 * `resolveTokenStore` gives for the server (key `secret--NAME`); the value joins the log redactor
 * before it is used.
 */
export class HeadersAuthPlugin implements GatewayPlugin {
  readonly name = 'HeadersAuthPlugin';

  register(registry: ConfigRegistry): void {
    registry.registerAuthType({ type: 'headers', schema: HeadersAuthSchema, plugin: this.name });
  }

  apply(gateway: Gateway): void {
    const resolve = (spec: ServerSpec, challenge: AuthChallenge | null, ctx: ResolveContext) => {
      const forced = authTypeOf(spec) === 'headers';
      if (spec.auth !== undefined && !forced) return undefined;
      if (challenge === null) {
        return configuresCredentials(spec) ? new StaticCredentialsStrategy(spec, usesSecrets(spec) ? secretSource(gateway, spec, ctx) : undefined) : undefined;
      }
      if (forced || hasAuthorizationHeader(spec)) {
        throw errors.authFailed(spec.name, `configured credential rejected (HTTP ${challenge.status}${challenge.error ? `, ${challenge.error}` : ''})`);
      }
      return undefined;
    };
    gateway.hooks.resolveAuth.tap(this.name, resolve);
    gateway.hooks.authFor.for('headers').tap(this.name, resolve);
  }
}

/** Secrets of `spec`, read from its token store at each lookup (never cached here: the strategy decides). */
function secretSource(gateway: Gateway, spec: ServerSpec, ctx: ResolveContext): SecretSource {
  return {
    async lookup(name) {
      if (!isValidSecretName(name)) throw errors.authFailed(spec.name, `a \${secret:…} reference has an invalid name: ${SECRET_NAME_RULE}`);
      let value: string | undefined;
      let kind = 'token';
      try {
        const store = await gateway.hooks.resolveTokenStore.promise(spec, ctx);
        if (!store) throw errors.authFailed(spec.name, `secret ${name} cannot be read: no token store plugin answered`);
        kind = store.kind;
        value = (await store.get(secretStoreKey(name)))?.secret;
      } catch (error) {
        if (isGatewayError(error)) throw error;
        throw errors.authFailed(spec.name, `secret ${name} could not be read: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (value === undefined || value === '') {
        throw errors.authFailed(spec.name, `secret ${name} is not set in the ${kind} store; set it with 'agent-mcp-gateway secret set ${name}'`);
      }
      gateway.redactor.add(value);
      return value;
    },
  };
}

function usesSecrets(spec: ServerSpec): boolean {
  return [...Object.values(spec.headers), ...Object.values(spec.env)].some(hasSecretReference);
}

function configuresCredentials(spec: ServerSpec): boolean {
  if (authTypeOf(spec) === 'headers') return true;
  return spec.transport === 'stdio' ? Object.keys(spec.env).length > 0 : Object.keys(spec.headers).length > 0;
}

function hasAuthorizationHeader(spec: ServerSpec): boolean {
  return Object.keys(spec.headers).some((name) => name.toLowerCase() === 'authorization');
}
