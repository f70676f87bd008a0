import type { StoreKey, StoredAuth, StoredTokens, TokenStore } from '@agent-mcp-gateway/core';
import type { OAuthFamilyAuth } from './config.js';

/** A token endpoint answer as stored (`expires_at` in epoch seconds). */
export function toStoredTokens(
  response: { access_token: string; refresh_token?: string; expires_in?: number; token_type?: string; scope?: string },
  previousRefreshToken?: string,
  /** The authorization server that issued them (SEP-2352: tokens are bound to it). */
  issuer?: string,
): StoredTokens {
  const refresh = response.refresh_token ?? previousRefreshToken;
  return {
    access_token: response.access_token,
    ...(refresh !== undefined && { refresh_token: refresh }),
    ...(response.expires_in !== undefined && { expires_at: Math.floor(Date.now() / 1000) + response.expires_in }),
    token_type: response.token_type ?? 'Bearer',
    ...(response.scope !== undefined && { scope: response.scope }),
    ...(issuer !== undefined && { issuer }),
  };
}

/** Refresh this long before expiry; short-lived tokens get a quarter of their life. */
export function refreshSkewSeconds(tokens: StoredTokens, lifetime?: number): number {
  if (lifetime !== undefined) return Math.min(30, Math.floor(lifetime / 4));
  return tokens.expires_at === undefined ? 0 : 30;
}

export function isFresh(tokens: StoredTokens | undefined, skewSeconds: number): boolean {
  if (!tokens) return false;
  return tokens.expires_at === undefined || tokens.expires_at - skewSeconds > Date.now() / 1000;
}

/** The OAuth error code of an openid-client / oauth4webapi failure, if it carries one. */
export function oauthErrorCode(error: unknown): string | undefined {
  const e = error as { error?: unknown; code?: unknown; cause?: { error?: unknown } } | undefined;
  if (typeof e?.error === 'string') return e.error;
  if (typeof e?.cause?.error === 'string') return e.cause.error;
  return undefined;
}

/** Registers a credential with the gateway's redactor (`gateway.redactor.add`). */
export type AddSecret = (value: string) => void;

type Credentials = {
  readonly tokens?: { readonly access_token?: unknown; readonly refresh_token?: unknown; readonly id_token?: unknown };
  readonly client?: { readonly client_secret?: unknown };
  readonly secret?: unknown;
};

/**
 * The credentials in a stored entry or a token endpoint answer (`{ tokens: response }`):
 * access, refresh and ID tokens, a registered client's secret, a named secret.
 */
export function credentialsOf(value: Credentials | undefined): string[] {
  const all = [value?.tokens?.access_token, value?.tokens?.refresh_token, value?.tokens?.id_token, value?.client?.client_secret, value?.secret];
  return all.filter((v): v is string => typeof v === 'string' && v !== '');
}

/**
 * The credentials a server's `auth` entry configures: client secrets, a private key (PEM), an
 * IdP's ID token. The gateway registers them from the config already (`secretValues`); a
 * strategy made without a gateway registers them itself.
 */
export function configuredCredentials(auth: OAuthFamilyAuth | undefined): string[] {
  if (typeof auth !== 'object') return [];
  const all: unknown[] = [auth.clientSecret];
  if (auth.type === 'client_credentials') all.push(auth.privateKey);
  if (auth.type === 'enterprise_managed') all.push(auth.idp.idToken, auth.idp.clientSecret);
  if (auth.type === 'jwt_bearer') all.push(auth.assertion);
  return all.filter((v): v is string => typeof v === 'string' && v !== '');
}

/**
 * `store` as a strategy sees it: whatever `get` loads and whatever `set` saves has its
 * credentials registered first (`addSecret`), so that a token read from disk or just
 * issued is blanked out of every log line, error and status before anything can echo it.
 */
export function registeringStore(store: TokenStore, addSecret: AddSecret | undefined): TokenStore {
  if (!addSecret) return store;
  const register = <T extends StoredAuth | undefined>(auth: T): T => {
    for (const value of credentialsOf(auth)) addSecret(value);
    return auth;
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'get') return async (key: StoreKey) => register(await target.get(key));
      if (prop === 'set') return async (key: StoreKey, value: StoredAuth) => target.set(key, register(value));
      const member: unknown = Reflect.get(target, prop, target);
      return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
    },
  });
}
