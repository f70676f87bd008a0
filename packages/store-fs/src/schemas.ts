import { z } from 'zod';

/**
 * Shapes of the files in a key folder. Loose objects: fields this version does
 * not know (written by a newer one, or copied from another tool) are kept.
 */
export const tokensSchema = z.looseObject({
  access_token: z.string(),
  refresh_token: z.string().optional(),
  expires_at: z.number().finite().optional(),
  token_type: z.string().optional(),
  scope: z.string().optional(),
  /** The issuing authorization server; absent in entries written before it was recorded. */
  issuer: z.string().optional(),
});

export const clientSchema = z.looseObject({
  issuer: z.string(),
  client_id: z.string(),
  client_secret: z.string().optional(),
  client_secret_expires_at: z.number().finite().optional(),
  redirect_uris: z.array(z.string()).optional(),
  token_endpoint_auth_method: z.string().optional(),
  source: z.enum(['dcr', 'cimd', 'preregistered']),
});

export const discoverySchema = z.record(z.string(), z.unknown());

export const serverSchema = z.object({ name: z.string(), url: z.string() });

/** A named secret (`${secret:NAME}`), kept under the reserved key `secret--<NAME>`. */
export const secretSchema = z.string();

/** The parts of a `StoredAuth`, each in its own file. */
export const PARTS = [
  { part: 'tokens', file: 'tokens.json', schema: tokensSchema },
  { part: 'client', file: 'client.json', schema: clientSchema },
  { part: 'discovery', file: 'discovery.json', schema: discoverySchema },
  { part: 'server', file: 'server.json', schema: serverSchema },
  { part: 'secret', file: 'secret.json', schema: secretSchema },
] as const;

export type PartName = (typeof PARTS)[number]['part'];

/** A top-level `null` is read as an absent optional field (other tools write them). */
export function dropNulls(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}

/**
 * Where and why a value does not fit, without the value itself: issue paths
 * and codes only (zod messages can quote received values, and these are secrets).
 */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.code}`)
    .join(', ');
}
