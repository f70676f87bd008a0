import { readFile } from 'node:fs/promises';
import * as client from 'openid-client';
import type { StoredTokens } from '@agent-mcp-gateway/core';
import { clientSecretBasic } from './client-auth.js';
import type { JwtBearerAuth } from './config.js';
import type { StrategyContext } from './context.js';
import type { DpopBinding } from './dpop.js';
import { assertionUnreadable, jwtBearerRefused } from './errors.js';
import { authFailure, describeFailure } from './failures.js';
import type { GrantParts } from './grants.js';
import type { Session } from './session.js';

/** RFC 7523 §2.1: a JWT as an authorization grant (the grant enterprise.ts sends with an ID-JAG, too). */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * The workload identity grant (SEP-1933): the JWT the platform issued to this workload is sent as an
 * RFC 7523 JWT bearer grant, with `resource` (RFC 8707) and the scope, for an access token that `granted`
 * saves. The assertion is read again for every token request (`assertionFile`: the platform rotates it).
 *
 * One request, no retry and no other grant: a refusal (`invalid_grant`, `invalid_scope`,
 * `unauthorized_client`, …) is AUTH_FAILED `jwt_bearer_refused` at once, with the OAuth error code — the
 * same assertion would be refused again, and a workload has nobody to log in.
 */
export async function jwtBearerGrant(
  ctx: StrategyContext,
  auth: JwtBearerAuth,
  parts: Pick<GrantParts, 'discovery' | 'scopes'> & { readonly dpop: DpopBinding },
  granted: (response: client.TokenEndpointResponse) => Promise<StoredTokens>,
): Promise<StoredTokens> {
  const session = await parts.discovery.session();
  const assertion = await readAssertion(ctx, auth);
  const scope = auth.scopes?.join(' ') ?? parts.scopes.for(session);
  const config = jwtBearerConfiguration(session, auth);
  try {
    const options = await parts.dpop.options(session, config);
    const parameters = { assertion, resource: session.info.resource, ...(scope && { scope }) };
    return await granted(await client.genericGrantRequest(config, JWT_BEARER_GRANT, parameters, options));
  } catch (error) {
    const why = describeFailure(error);
    ctx.event('failure', `JWT bearer grant refused: ${why}`);
    throw authFailure(ctx.name, `the authorization server ${session.as.issuer} refused the workload's JWT assertion: ${why}`, error, jwtBearerRefused);
  }
}

/** The assertion as configured, or the file's content now (trimmed: a trailing newline is not part of a JWT). */
async function readAssertion(ctx: StrategyContext, auth: JwtBearerAuth): Promise<string> {
  if (auth.assertion !== undefined) return auth.assertion;
  const file = auth.assertionFile as string;
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    const why = `the assertion file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    ctx.event('failure', why);
    throw assertionUnreadable(ctx.name, why);
  }
  if (!text) {
    ctx.event('failure', `the assertion file ${file} is empty`);
    throw assertionUnreadable(ctx.name, `the assertion file ${file} is empty`);
  }
  ctx.options.addSecret?.(text);
  return text;
}

/** The configured client: `none` (its `client_id` in the body, RFC 7523 §3.1) unless a secret is configured. */
function jwtBearerConfiguration(session: Session, auth: JwtBearerAuth): client.Configuration {
  const method = auth.tokenEndpointAuthMethod ?? (auth.clientSecret !== undefined ? 'client_secret_basic' : 'none');
  const clientAuth =
    method === 'client_secret_post' ? client.ClientSecretPost(auth.clientSecret) : method === 'client_secret_basic' ? clientSecretBasic(auth.clientSecret) : client.None();
  const config = new client.Configuration(session.as, auth.clientId, undefined, clientAuth);
  if (session.insecure) client.allowInsecureRequests(config);
  config[client.customFetch] = session.fetch;
  return config;
}
