import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import type { StoredClient } from '@agent-mcp-gateway/core';
import type { OAuthFamilyAuth } from './config.js';

/** application/x-www-form-urlencoded, as URLSearchParams serialises it (alphanumerics and `*-._` stay as they are). */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/**
 * `client_secret_basic` (RFC 6749 §2.3.1): the client id and secret are
 * form-urlencoded, joined by `:` and Base64-encoded. oauth4webapi also
 * percent-encodes the unreserved `-_.~` (the HTML 4 form encoding), which an AS
 * that does not form-decode the Basic credentials (a common fault, the MCP SDK's
 * clients never encode) reads as another client id: `my-client` arrives as
 * `my%2Dclient`. The WHATWG serialiser leaves those characters alone, so typical
 * ids and secrets (letters, digits, `-`, `_`, `.`) travel as they are and every
 * AS reads them the same; anything else (`:`, `%`, spaces, …) is still encoded
 * as the RFC asks.
 */
export function clientSecretBasic(clientSecret: string | undefined): client.ClientAuth {
  return (_as, c, _body, headers) => {
    if (clientSecret === undefined) throw new TypeError('client_secret_basic needs a client secret');
    const credentials = Buffer.from(`${formEncode(c.client_id)}:${formEncode(clientSecret)}`).toString('base64');
    headers.set('authorization', `Basic ${credentials}`);
  };
}

/**
 * oauth4webapi's `processDynamicClientRegistrationResponse`, tolerating a
 * registration that issues a `client_secret` without `client_secret_expires_at`
 * (RFC 7591 §3.2.1 requires it then; authorization servers omit it in practice).
 * The missing value is read as 0 — "does not expire" — so the registration is
 * used and kept; should the secret expire after all, the token endpoint answers
 * `invalid_client` and the client registers again.
 */
export async function processRegistrationResponse(response: Response): Promise<oauth.OmitSymbolProperties<oauth.Client>> {
  if (response.status === 201 && response.bodyUsed === false) {
    const body = (await response
      .clone()
      .json()
      .catch(() => undefined)) as Record<string, unknown> | undefined;
    if (body && typeof body.client_secret === 'string' && body.client_secret_expires_at === undefined) {
      await response.body?.cancel().catch(() => undefined);
      const patched = new Response(JSON.stringify({ ...body, client_secret_expires_at: 0 }), {
        status: 201,
        headers: { 'content-type': 'application/json' },
      });
      return oauth.processDynamicClientRegistrationResponse(patched);
    }
  }
  return oauth.processDynamicClientRegistrationResponse(response);
}

/**
 * The openid-client configuration for talking to an authorization server as
 * this server's client: the configured (pre-registered) identity first, else the
 * stored registration. Undefined when neither exists.
 */
export function clientConfiguration(
  as: oauth.AuthorizationServer,
  auth: OAuthFamilyAuth | undefined,
  registered: StoredClient | undefined,
  options: { readonly insecure: boolean; readonly fetch?: typeof fetch },
): client.Configuration | undefined {
  const forced = typeof auth === 'object' && (auth.type === 'oauth' || auth.type === 'enterprise_managed') ? auth : undefined;
  const identity = forced?.clientId
    ? { id: forced.clientId, secret: forced.clientSecret, method: forced.tokenEndpointAuthMethod ?? (forced.clientSecret ? 'client_secret_basic' : 'none') }
    : registered
      ? { id: registered.client_id, secret: registered.client_secret, method: registered.token_endpoint_auth_method ?? 'none' }
      : undefined;
  if (!identity) return undefined;
  const clientAuth =
    identity.method === 'client_secret_post'
      ? client.ClientSecretPost(identity.secret)
      : identity.method === 'client_secret_basic' && identity.secret
        ? clientSecretBasic(identity.secret)
        : client.None();
  const config = new client.Configuration(as, identity.id, undefined, clientAuth);
  if (options.insecure) client.allowInsecureRequests(config);
  if (options.fetch) config[client.customFetch] = options.fetch;
  return config;
}
