/**
 * The `auth` types this plugin answers, with their schemas: registered with core's
 * `ConfigRegistry` (see plugin.ts), which validates a server entry's `auth` block with them and
 * blanks the fields marked `secret()` from every log. Messages follow `<file>: <json path>: `.
 */
import { isAbsolute } from 'node:path';
import { HttpUrlSchema, NonEmptyString, secret, z, type ServerSpec } from '@agent-mcp-gateway/core';

const PortSchema = z.number().int().min(1).max(65535);

/** The browser login (authorization code + PKCE); every field optional, so `auth: "oauth"` is its shorthand. */
export const OAuthAuthSchema = z.strictObject({
  type: z.literal('oauth'),
  clientId: NonEmptyString.optional(),
  clientSecret: secret(NonEmptyString).optional(),
  scopes: z.array(NonEmptyString).optional(),
  callbackPort: PortSchema.optional(),
  clientMetadataUrl: HttpUrlSchema.optional(),
  tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
  /** `application_type` of a dynamic registration (OpenID Connect Registration, SEP-837); default `native` (a loopback redirect). */
  applicationType: z.enum(['native', 'web']).optional(),
});

/** The client credentials grant: the gateway is the client, no person logs in. */
export const ClientCredentialsAuthSchema = z.strictObject({
  type: z.literal('client_credentials'),
  clientId: NonEmptyString,
  clientSecret: secret(NonEmptyString).optional(),
  scopes: z.array(NonEmptyString).optional(),
  tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).optional(),
  /** PKCS#8 PEM private key for `private_key_jwt` (use `${VAR}`: it is a secret). */
  privateKey: secret(NonEmptyString).optional(),
  /** JWS algorithm of `privateKey` (default: RS256, or ES256 for EC keys). */
  signingAlgorithm: NonEmptyString.optional(),
});

/**
 * Enterprise-Managed Authorization (the MCP extension `io.modelcontextprotocol/enterprise-managed-authorization`,
 * ID-JAG): the ID token from the user's single sign-on at the enterprise IdP is exchanged there (RFC 8693) for an
 * Identity Assertion JWT Authorization Grant, which the MCP server's authorization server takes (RFC 7523) for an
 * access token. No browser, no consent screen.
 */
export const EnterpriseManagedAuthSchema = z.strictObject({
  type: z.literal('enterprise_managed'),
  /** The client as registered at the MCP server's authorization server. */
  clientId: NonEmptyString,
  clientSecret: secret(NonEmptyString).optional(),
  tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
  scopes: z.array(NonEmptyString).optional(),
  idp: z.strictObject({
    /** The IdP's issuer; its token endpoint is discovered from it (RFC 8414 / OpenID Connect) unless `tokenEndpoint` is given. */
    issuer: HttpUrlSchema,
    tokenEndpoint: HttpUrlSchema.optional(),
    /** The client as registered at the IdP (the one the user signed in to). */
    clientId: NonEmptyString,
    clientSecret: secret(NonEmptyString).optional(),
    /** The OpenID Connect ID token of the user's single sign-on (use `${VAR}`: it is a credential). */
    idToken: secret(NonEmptyString),
  }),
});

/**
 * The workload identity grant (SEP-1933, RFC 7523 §2.1): a JWT the platform issued to this workload (a
 * Kubernetes projected service account token, a cloud workload identity token, …) is the grant. Exactly one
 * of `assertion` (use `${VAR}`) and `assertionFile` (an absolute path, read again for every token request:
 * the platform rotates the file). The client authenticates with `none` (its `client_id` in the body) unless
 * a secret is configured.
 */
export const JwtBearerAuthSchema = z
  .strictObject({
    type: z.literal('jwt_bearer'),
    clientId: NonEmptyString,
    assertion: secret(NonEmptyString).optional(),
    assertionFile: NonEmptyString.refine((path) => isAbsolute(path), 'must be an absolute path').optional(),
    clientSecret: secret(NonEmptyString).optional(),
    tokenEndpointAuthMethod: z.enum(['none', 'client_secret_basic', 'client_secret_post']).optional(),
    scopes: z.array(NonEmptyString).optional(),
  })
  .superRefine((auth, ctx) => {
    if ((auth.assertion === undefined) === (auth.assertionFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['assertion'], message: 'give exactly one of "assertion" and "assertionFile"' });
    }
    if (auth.tokenEndpointAuthMethod !== undefined && auth.tokenEndpointAuthMethod !== 'none' && auth.clientSecret === undefined) {
      ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `tokenEndpointAuthMethod "${auth.tokenEndpointAuthMethod}" needs a clientSecret` });
    }
  });

export type OAuthAuth = z.infer<typeof OAuthAuthSchema>;
export type ClientCredentialsAuth = z.infer<typeof ClientCredentialsAuthSchema>;
export type EnterpriseManagedAuth = z.infer<typeof EnterpriseManagedAuthSchema>;
export type JwtBearerAuth = z.infer<typeof JwtBearerAuthSchema>;

/** The schemas this plugin registers, by auth type. */
export const OAUTH_AUTH_TYPES = {
  oauth: OAuthAuthSchema,
  client_credentials: ClientCredentialsAuthSchema,
  enterprise_managed: EnterpriseManagedAuthSchema,
  jwt_bearer: JwtBearerAuthSchema,
} as const;

/** A server entry's `auth` as this plugin reads it: another plugin's type, `"oauth"`, or one of this plugin's objects. */
export type OAuthFamilyAuth = string | OAuthAuth | ClientCredentialsAuth | EnterpriseManagedAuth | JwtBearerAuth;

/**
 * `spec.auth` typed for this plugin. Safe because the loader validated the block with the
 * schema its `type` registered: an object whose type is this plugin's has that schema's shape.
 */
export function authOf(spec: Pick<ServerSpec, 'auth'>): OAuthFamilyAuth | undefined {
  return spec.auth as OAuthFamilyAuth | undefined;
}
