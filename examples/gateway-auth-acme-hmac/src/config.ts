import { NonEmptyString, defineError, secret, z } from '@agent-mcp-gateway/core';

/** The `auth` type this plugin registers and answers. */
export const ACME_HMAC_TYPE = 'acme-hmac';

/** The package's name, as it is listed in the settings' `plugins` (and named in its errors). */
export const PACKAGE_NAME = '@acme/agent-mcp-gateway-auth-hmac';

/** A key id goes into a quoted header parameter: no quote, no backslash, no control character. */
const KeyIdSchema = z.string().regex(/^[A-Za-z0-9._~+/=-]{1,128}$/, 'expected 1 to 128 letters, digits or . _ ~ + / = -');

/**
 * A server entry's `"auth": {"type": "acme-hmac", "keyId": "…", "secret": "…"}`. Strict: a
 * misspelt key is an error naming its JSON path. `secret` is marked: its value joins the
 * server's secret values, which the gateway blanks from every log, error and status. It may be
 * `${VAR}` (expanded by the gateway at load) or `${secret:NAME}` (read from the token store when
 * first needed).
 */
export const AcmeHmacAuthSchema = z.strictObject({
  type: z.literal(ACME_HMAC_TYPE),
  keyId: KeyIdSchema,
  secret: secret(NonEmptyString),
});

export type AcmeHmacAuth = z.infer<typeof AcmeHmacAuthSchema>;

/** `scheme://host[:port]`, exactly as `new URL(…).origin` writes it. */
const OriginSchema = z.string().refine(isOrigin, 'expected an origin: scheme://host[:port], lower case, no path or trailing slash');

function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === text;
  } catch {
    return false;
  }
}

/**
 * The plugin's options (`"plugins": [["@acme/agent-mcp-gateway-auth-hmac", {…}]]` in the settings):
 * the keys for servers that configure no `auth`, by origin. Such a server gets this plugin when
 * its 401 carries an `Acme-HMAC` challenge.
 *
 * The plugin declares it as its `optionsSchema`, so the gateway does the rest before the
 * constructor runs: `${VAR}` expanded, validated (a mistake is CONFIG_INVALID naming the settings
 * file and JSON path, `$.plugins[0][1].keys["https://x"].secret`), and each `secret` — marked with
 * `secret()` — registered with the redactor. `${secret:NAME}` is left for the strategy to read from
 * the token store, as in an `auth` block.
 */
export const AcmeHmacOptionsSchema = z.strictObject({
  keys: z.record(OriginSchema, z.strictObject({ keyId: KeyIdSchema, secret: secret(NonEmptyString) })).default({}),
});

/** The options as written in the settings. */
export type AcmeHmacOptionsInput = z.input<typeof AcmeHmacOptionsSchema>;
/** The options as the gateway hands them to the constructor (validated, defaults applied). */
export type AcmeHmacOptions = z.output<typeof AcmeHmacOptionsSchema>;

/** The plugin's errors: reasons under core's codes, so agents and tests match code + reason. */
export const acmeErrors = {
  /** The server asks for an Acme-HMAC signature and nothing configures a key for it. */
  noKey: defineError({
    code: 'AUTH_FAILED',
    reason: 'acme_hmac_no_key',
    message: (server: string, origin: string) =>
      `Authentication to server '${server}' failed: it asks for an Acme-HMAC signature and no key is configured for ${origin} ` +
      `(set "auth": {"type": "${ACME_HMAC_TYPE}", …} in its entry, or "keys": {"${origin}": {…}} in the options of ${PACKAGE_NAME})`,
    details: (server: string) => ({ server }),
  }),
  /** The server refused a signed request: a wrong key id or secret, or a clock too far off. */
  keyRejected: defineError({
    code: 'AUTH_FAILED',
    reason: 'acme_hmac_key_rejected',
    message: (server: string, keyId: string, status: number) => `Authentication to server '${server}' failed: it refused requests signed with key ${keyId} (HTTP ${status})`,
    details: (server: string) => ({ server }),
  }),
  /** The key is configured for a stdio server, which has no HTTP request to sign. */
  notHttp: defineError({
    code: 'AUTH_FAILED',
    reason: 'acme_hmac_not_http',
    message: (server: string) => `Authentication to server '${server}' failed: "${ACME_HMAC_TYPE}" signs HTTP requests, and this is a local (stdio) server`,
    details: (server: string) => ({ server }),
  }),
  /** A `${secret:NAME}` could not be read. */
  secretUnavailable: defineError({
    code: 'AUTH_FAILED',
    reason: 'acme_hmac_secret_unavailable',
    message: (server: string, why: string) => `Authentication to server '${server}' failed: ${why}`,
    details: (server: string) => ({ server }),
  }),
};
