/**
 * The loopback facts every package shares: which hosts are this machine, and which URLs may go over
 * plain http. One place, so that a listener, a config check and a transport never disagree.
 * (What a *server* may make the gateway request is a stricter rule, on resolved addresses, that
 * belongs to the auth plugin which makes those requests.)
 */

/**
 * True for a loopback host as written in a URL or a listen address: `localhost`, 127.0.0.0/8,
 * `::1` (bracketed or not) and `::ffff:127.x.y.z`.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h);
}

/** https, or plain http to a loopback host (local development and tests). */
export function isSecureOrLoopbackUrl(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}
