import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import { errors, type StoredAuth, type StoredClient } from '@agent-mcp-gateway/core';
import { clientConfiguration, clientSecretBasic, processRegistrationResponse } from './client-auth.js';
import type { ClientCredentialsAuth, OAuthAuth } from './config.js';
import type { StrategyContext } from './context.js';
import { registrationRefused, registrationUnsupported } from './errors.js';
import { authFailure, describeFailure } from './failures.js';
import type { Session } from './session.js';
import type { TokenCache } from './token-cache.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * Who the gateway is at one server's authorization server, in the spec's order: a pre-registered
 * (configured) client, a Client ID Metadata Document, a stored dynamic registration, a new dynamic
 * registration (RFC 7591, persisted merged under the store's lock); for the client credentials
 * grant, the configured client with its secret or private key (`private_key_jwt`).
 */
export class ClientIdentity {
  constructor(
    private readonly ctx: StrategyContext,
    private readonly cache: TokenCache,
  ) {}

  /**
   * The client for a login. A stored registration is reused for the same redirect URI, or, when
   * `grant` is asked for, when it has that grant; otherwise the gateway registers (again).
   */
  async ensure(session: Session, stored: StoredAuth | undefined, redirectUri: string, grant?: string): Promise<StoredClient> {
    // Any configured client id is the login's client (a grant without a user has no login of its own).
    const configured = this.ctx.auth as OAuthAuth | undefined;
    const issuer = session.as.issuer;
    if (configured?.clientId) {
      return {
        issuer,
        client_id: configured.clientId,
        ...(configured.clientSecret !== undefined && { client_secret: configured.clientSecret }),
        token_endpoint_auth_method: configured.tokenEndpointAuthMethod ?? (configured.clientSecret ? 'client_secret_basic' : 'none'),
        source: 'preregistered',
      };
    }
    if (configured?.clientMetadataUrl && session.as.client_id_metadata_document_supported === true) {
      return { issuer, client_id: configured.clientMetadataUrl, token_endpoint_auth_method: 'none', source: 'cimd' };
    }
    const known = stored?.client;
    const fits = grant ? known?.grant_types?.includes(grant) : known?.redirect_uris?.includes(redirectUri);
    if (known && fits && known.issuer === issuer && known.source === 'dcr' && !secretExpired(known)) return known;
    return this.register(session, redirectUri, grant);
  }

  /** The openid-client configuration for talking to the authorization server as this client (configured first, else `registered`). */
  configuration(session: Session, registered: StoredClient | undefined): client.Configuration | undefined {
    return clientConfiguration(session.as, this.ctx.auth, registered, { insecure: session.insecure, fetch: session.fetch });
  }

  /** The configured client of the client credentials grant, authenticating as configured. */
  async clientCredentials(session: Session, auth: ClientCredentialsAuth): Promise<client.Configuration> {
    const config = new client.Configuration(session.as, auth.clientId, undefined, await clientCredentialsAuth(this.ctx.name, auth));
    if (session.insecure) client.allowInsecureRequests(config);
    config[client.customFetch] = session.fetch;
    return config;
  }

  private async register(session: Session, redirectUri: string, grant: string | undefined): Promise<StoredClient> {
    const { name, options, logger } = this.ctx;
    const issuer = session.as.issuer;
    if (!session.as.registration_endpoint) {
      throw registrationUnsupported(name, `authorization server ${issuer} offers no dynamic client registration; set auth.clientId for this server`);
    }
    const requestOptions = { ...(session.insecure && { [oauth.allowInsecureRequests]: true }), [oauth.customFetch]: session.fetch };
    // The device grant when the server offers it, so that one registration serves `auth login --device` too.
    const grantTypes = ['authorization_code', 'refresh_token'];
    if (grant === DEVICE_CODE_GRANT || session.as.grant_types_supported?.includes(DEVICE_CODE_GRANT)) grantTypes.push(DEVICE_CODE_GRANT);
    let registered: oauth.OmitSymbolProperties<oauth.Client>;
    try {
      const response = await oauth.dynamicClientRegistrationRequest(
        session.as,
        {
          client_name: options.clientName,
          redirect_uris: [redirectUri],
          grant_types: grantTypes,
          response_types: ['code'],
          token_endpoint_auth_method: 'none',
          // The redirect is a loopback one, which is what `native` means; a configured value is never overridden.
          application_type: (this.ctx.auth as OAuthAuth | undefined)?.applicationType ?? 'native',
        },
        requestOptions,
      );
      registered = await processRegistrationResponse(response);
    } catch (error) {
      throw authFailure(name, `client registration refused by ${issuer}: ${describeFailure(error)}`, error, registrationRefused);
    }
    if (typeof registered.client_secret === 'string') options.addSecret?.(registered.client_secret);
    const created: StoredClient = {
      issuer,
      client_id: registered.client_id,
      ...(typeof registered.client_secret === 'string' && { client_secret: registered.client_secret }),
      ...(typeof registered.client_secret_expires_at === 'number' && { client_secret_expires_at: registered.client_secret_expires_at }),
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: typeof registered.token_endpoint_auth_method === 'string' ? registered.token_endpoint_auth_method : 'none',
      grant_types: Array.isArray(registered.grant_types) ? (registered.grant_types as string[]) : grantTypes,
      source: 'dcr',
    };
    await this.cache.merge({ client: created });
    logger.info(`Registered client for ${name} at ${issuer}`);
    return created;
  }
}

async function clientCredentialsAuth(server: string, auth: ClientCredentialsAuth): Promise<client.ClientAuth> {
  switch (auth.tokenEndpointAuthMethod) {
    case 'client_secret_post':
      return client.ClientSecretPost(auth.clientSecret);
    case 'private_key_jwt': {
      if (!auth.privateKey) throw errors.authFailed(server, 'private_key_jwt needs auth.privateKey');
      const { importPKCS8 } = await import('./keys.js');
      return client.PrivateKeyJwt(await importPKCS8(auth.privateKey, auth.signingAlgorithm));
    }
    default:
      return clientSecretBasic(auth.clientSecret);
  }
}

function secretExpired(c: StoredClient): boolean {
  return c.client_secret_expires_at !== undefined && c.client_secret_expires_at !== 0 && c.client_secret_expires_at < Date.now() / 1000;
}
