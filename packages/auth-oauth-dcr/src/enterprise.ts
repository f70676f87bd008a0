import * as client from 'openid-client';
import type * as oauth from 'oauth4webapi';
import type { StoredTokens } from '@agent-mcp-gateway/core';
import { clientSecretBasic } from './client-auth.js';
import type { EnterpriseManagedAuth } from './config.js';
import type { StrategyContext } from './context.js';
import { discoverAuthorizationServer, requireEndpoints, requireSecureEndpoints } from './discovery.js';
import { endpointLabeler } from './egress.js';
import { idJagRefused, idpRefused } from './errors.js';
import { authFailure, describeFailure } from './failures.js';
import type { GrantParts } from './grants.js';
import { JWT_BEARER_GRANT } from './jwt-bearer.js';

/** Enterprise-Managed Authorization: RFC 8693 token exchange at the IdP, RFC 7523 JWT bearer grant at the MCP server's AS. */
const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_JAG_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/**
 * Enterprise-Managed Authorization (the MCP extension, ID-JAG): the ID token of the user's single sign-on is
 * exchanged at the enterprise IdP (RFC 8693) for an Identity Assertion JWT Authorization Grant whose audience is
 * this server's authorization server (its issuer) and whose resource is this server; that authorization server
 * takes it as a JWT bearer grant (RFC 7523), the client authenticating as registered there, for an access token,
 * which `granted` saves. No browser, no consent: the IdP's policy decides.
 */
export async function enterpriseManagedGrant(
  ctx: StrategyContext,
  auth: EnterpriseManagedAuth,
  parts: Pick<GrantParts, 'discovery' | 'scopes' | 'identity' | 'dpop'>,
  granted: (response: client.TokenEndpointResponse) => Promise<StoredTokens>,
): Promise<StoredTokens> {
  const session = await parts.discovery.session();
  const resource = session.info.resource;
  const scope = parts.scopes.for(session); // configured (else the challenge's, else scopes_supported), plus step-up scopes
  const issuer = auth.idp.issuer;
  let assertion: string;
  try {
    const exchanged = await client.genericGrantRequest(await idpConfiguration(ctx, auth.idp, parts), TOKEN_EXCHANGE_GRANT, {
      requested_token_type: ID_JAG_TOKEN_TYPE,
      audience: session.as.issuer,
      resource,
      ...(scope && { scope }),
      subject_token: auth.idp.idToken,
      subject_token_type: ID_TOKEN_TYPE,
    });
    if (exchanged.issued_token_type !== ID_JAG_TOKEN_TYPE) throw new Error(`it issued ${String(exchanged.issued_token_type)}, not an ID-JAG`);
    assertion = ctx.obtained(exchanged).access_token; // the ID-JAG: a credential too
  } catch (error) {
    const why = describeFailure(error);
    ctx.event('failure', `token exchange at ${issuer} refused: ${why}`);
    throw authFailure(ctx.name, `the identity provider ${issuer} refused to exchange the ID token for an ID-JAG: ${why}`, error, idpRefused);
  }
  try {
    const config = parts.identity.configuration(session, undefined) as client.Configuration;
    const options = await parts.dpop.options(session, config);
    return await granted(await client.genericGrantRequest(config, JWT_BEARER_GRANT, { assertion, resource, ...(scope && { scope }) }, options));
  } catch (error) {
    ctx.event('failure', `JWT bearer grant refused: ${describeFailure(error)}`);
    throw authFailure(ctx.name, `the authorization server ${session.as.issuer} refused the ID-JAG: ${describeFailure(error)}`, error, idJagRefused);
  }
}

/**
 * The IdP's token endpoint as configured, else discovered from its issuer. The IdP is configured, not named by the
 * server: its own egress policy comes from its configured issuer (public https, or local when the IdP is local).
 */
async function idpConfiguration(ctx: StrategyContext, idp: EnterpriseManagedAuth['idp'], parts: Pick<GrantParts, 'discovery'>): Promise<client.Configuration> {
  const egress = await parts.discovery.policyFor(idp.issuer);
  const as: oauth.AuthorizationServer = idp.tokenEndpoint
    ? { issuer: idp.issuer, token_endpoint: (await egress.check(idp.tokenEndpoint, 'IdP token endpoint')).href }
    : await discoverAuthorizationServer(ctx.name, idp.issuer, false, egress);
  requireEndpoints(ctx.name, as, ['token_endpoint']);
  await requireSecureEndpoints(ctx.name, as, egress);
  // The client authenticates as registered at the IdP: the method its metadata offers, else in the body (the extension's example).
  const methods = as.token_endpoint_auth_methods_supported;
  const basic = methods !== undefined && !methods.includes('client_secret_post') && methods.includes('client_secret_basic');
  const clientAuth = idp.clientSecret === undefined ? client.None() : basic ? clientSecretBasic(idp.clientSecret) : client.ClientSecretPost(idp.clientSecret);
  const config = new client.Configuration(as, idp.clientId, undefined, clientAuth);
  if (egress.allowLocal) client.allowInsecureRequests(config);
  config[client.customFetch] = egress.fetcher(endpointLabeler(as));
  return config;
}
