import { createHmac } from 'node:crypto';

/** The `Authorization` scheme of a signed request, and of the server's `WWW-Authenticate` challenge. */
export const ACME_HMAC_SCHEME = 'Acme-HMAC';

/** A signing key: its public id and the shared secret. */
export interface SigningKey {
  readonly keyId: string;
  readonly secret: string;
}

/**
 * What is signed: the method (upper case), the path with its query, and the timestamp (epoch
 * seconds), one per line. The host is not signed: a server knows its own name, and a proxy in
 * front of it may rewrite it.
 */
export function stringToSign(method: string, url: string, timestamp: number): string {
  const { pathname, search } = new URL(url);
  return `${method.toUpperCase()}\n${pathname}${search}\n${timestamp}`;
}

/** HMAC-SHA256 of {@link stringToSign} under `secret`, lower-case hex. */
export function signature(secret: string, method: string, url: string, timestamp: number): string {
  return createHmac('sha256', secret).update(stringToSign(method, url, timestamp)).digest('hex');
}

/**
 * The `Authorization` header value of one request:
 * `Acme-HMAC keyId="k1", ts="1700000000", sig="<hex>"`.
 */
export function authorization(key: SigningKey, method: string, url: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `${ACME_HMAC_SCHEME} keyId="${key.keyId}", ts="${timestamp}", sig="${signature(key.secret, method, url, timestamp)}"`;
}
