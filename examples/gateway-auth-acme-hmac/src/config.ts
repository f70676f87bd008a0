import { NonEmptyString, defineError, expandVariables, secret, z } from '@agent-mcp-gateway/core';

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
 */
export const AcmeHmacOptionsSchema = z.strictObject({
  keys: z.record(OriginSchema, z.strictObject({ keyId: KeyIdSchema, secret: secret(NonEmptyString) })).default({}),
});

export type AcmeHmacOptions = z.input<typeof AcmeHmacOptionsSchema>;

/**
 * Validates the plugin's options. The settings file is not expanded by the gateway (only
 * `.mcp.json` is), so `${VAR}` is expanded here, with core's rules; `${secret:NAME}` is left for
 * the strategy to read from the token store.
 *
 * @throws GatewayError CONFIG_MISSING_VARIABLE for an unset `${VAR}`; PLUGIN_ERROR
 *   (reason `acme_hmac_options_invalid`) naming the JSON path of what is wrong, never its value
 */
export function parseOptions(options: unknown, env: NodeJS.ProcessEnv): z.output<typeof AcmeHmacOptionsSchema> {
  const where = `${PACKAGE_NAME} options`;
  const expanded = expandVariables(options ?? {}, env, where);
  const parsed = AcmeHmacOptionsSchema.safeParse(expanded);
  if (parsed.success) return parsed.data;
  // A misspelt key first: it usually explains the missing one next to it.
  const issues = [...parsed.error.issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'));
  const first = issues[0] as z.core.$ZodIssue;
  const rest = issues.slice(1, 5).map((issue) => `; ${jsonPath(issue.path)}: ${issueText(issue)}`).join('');
  throw acmeErrors.optionsInvalid(where, jsonPath(first.path), issueText(first) + rest);
}

function jsonPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : /^[A-Za-z_$][\w$]*$/.test(String(part)) ? `${out}.${String(part)}` : `${out}[${JSON.stringify(String(part))}]`), '$');
}

/** What is wrong, without the value (zod's messages can quote it). */
function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  if (issue.code === 'invalid_key') return issue.issues[0]?.message ?? 'invalid key';
  return issue.message;
}

/** The plugin's errors: reasons under core's codes, so agents and tests match code + reason. */
export const acmeErrors = {
  optionsInvalid: defineError({
    code: 'PLUGIN_ERROR',
    reason: 'acme_hmac_options_invalid',
    message: (where: string, path: string, what: string) => `${where}: ${path}: ${what}`,
    details: (_where: string, path: string) => ({ path }),
  }),
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
