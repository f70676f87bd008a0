import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from 'undici';
import { egressRefused } from './errors.js';

/**
 * Where the OAuth client may send requests (SSRF protection).
 *
 * Every URL the OAuth client requests or opens comes from somewhere: the
 * configured server URL, a `WWW-Authenticate` challenge, protected-resource
 * metadata, authorization-server metadata, a device authorization answer. All
 * but the first are written by the remote server. The rule, decided once from
 * the configured server's own address:
 *
 * - the configured server is on a local address (every address it resolves to
 *   is loopback, private, link-local, unique-local, unspecified or shared/CGNAT;
 *   IPv4-mapped IPv6 counts as its IPv4 address) → local development: any
 *   https URL, and plain http to local addresses only;
 * - otherwise → public https only: a URL whose host is (or resolves to) a
 *   non-public address is refused, and plain http is refused. The configured
 *   server's own (non-local) addresses stay allowed: the gateway talks to them
 *   anyway.
 *
 * A hostname is checked on the addresses it resolves to, in the `lookup` of the
 * connection itself, so the address checked is the address connected to (no
 * DNS-rebinding window). Redirects are never followed. A refusal is
 * {@link egressRefused}, AUTH_FAILED with `reason: 'egress_refused'` ("<what> <origin> is
 * refused: …"), and no request is sent.
 */


export type FetchFn = typeof fetch;
/** Resolves a hostname to all its addresses (dns.lookup with `all: true`); tests inject one. */
export type LookupFn = (hostname: string) => Promise<readonly LookupAddress[]>;

export interface EgressOptions {
  /**
   * A fetch to delegate to (tests, embedders): the URL checks, including the
   * resolution of hostnames, run before it is called, but the connection is its
   * own, so the checked address is not pinned.
   */
  readonly fetch?: FetchFn;
  /** Hostname resolution (default: dns.lookup, the system resolver). */
  readonly lookup?: LookupFn;
}

/** How long deciding the policy waits for the configured server's addresses. */
const RESOLVE_TIMEOUT_MS = 10_000;

/** Ranges (ipaddr.js names) that make up "local": a server on them is local development. */
const LOCAL_RANGES = new Set(['unspecified', 'loopback', 'private', 'linkLocal', 'carrierGradeNat', 'uniqueLocal', 'deprecatedSiteLocal']);

/** An address range as said in a refusal. */
const RANGE_NAMES: Record<string, string> = {
  unicast: 'a public',
  unspecified: 'an unspecified',
  loopback: 'a loopback',
  private: 'a private',
  linkLocal: 'a link-local',
  carrierGradeNat: 'a shared (CGNAT)',
  uniqueLocal: 'a unique-local',
  deprecatedSiteLocal: 'a site-local',
  multicast: 'a multicast',
  broadcast: 'a broadcast',
  reserved: 'a reserved',
};

/** One address, classified. */
export interface AddressClass {
  /** Normalised; an IPv4-mapped IPv6 address as its IPv4 address. */
  readonly address: string;
  /** The ipaddr.js range name ('unicast', 'loopback', 'private', …; 'ipv4Compatible' and 'nonGlobal' added here). */
  readonly range: string;
  /** Loopback, private, link-local, unique-local, unspecified or CGNAT. */
  readonly local: boolean;
  /** Globally routable unicast. */
  readonly public: boolean;
}

/** Classifies an IP address (undefined when `address` is not one). */
export function classifyAddress(address: string): AddressClass | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!isIP(bare.replace(/%.*$/, ''))) return undefined;
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.process(bare);
  } catch {
    return undefined;
  }
  let range: string = ip.range();
  if (ip.kind() === 'ipv6' && range === 'unicast') {
    const v6 = ip as ipaddr.IPv6;
    // ::a.b.c.d (deprecated IPv4-compatible) and anything outside global unicast 2000::/3 is not public.
    if (v6.parts.slice(0, 6).every((p) => p === 0)) range = 'ipv4Compatible';
    else if (!v6.match(ipaddr.IPv6.parse('2000::'), 3)) range = 'nonGlobal';
  }
  return { address: ip.toString(), range, local: LOCAL_RANGES.has(range), public: range === 'unicast' };
}

function rangeName(range: string): string {
  return `${RANGE_NAMES[range] ?? `a special-purpose (${range})`} address`;
}

/** Names under `.localhost` are loopback without asking any resolver (RFC 6761 §6.3; browsers do so). */
function isLocalhostSubdomain(hostname: string): boolean {
  return hostname.toLowerCase().replace(/\.$/, '').endsWith('.localhost');
}

function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** A refusal raised inside a connection's lookup; the guarded fetch turns it into AUTH_FAILED. */
class EgressRefusal extends Error {
  override readonly name = 'EgressRefusal';
}

function refusalIn(error: unknown, depth = 0): EgressRefusal | undefined {
  if (error instanceof EgressRefusal) return error;
  if (depth > 5 || typeof error !== 'object' || error === null) return undefined;
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const found = refusalIn(inner, depth + 1);
      if (found) return found;
    }
  }
  return refusalIn((error as { cause?: unknown }).cause, depth + 1);
}

function systemLookup(hostname: string): Promise<readonly LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });
}

function bounded<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The URL as shown in a refusal: its origin (a URL without one, e.g. `javascript:`, by its scheme). */
function shown(url: URL): string {
  return url.origin !== 'null' ? url.origin : `${url.protocol}…`;
}

const NEEDS_LOCAL_SERVER = 'allowed only when the server itself is on a loopback, private or link-local address';
const PLAIN_HTTP_ONLY_LOCAL = 'plain http is allowed only to loopback, private or link-local addresses';

export class EgressPolicy {
  private agents: { 'http:'?: Agent; 'https:'?: Agent } = {};

  private constructor(
    /** The server's name, for messages. */
    private readonly server: string,
    /** True when the configured server is on a local address: local development, local endpoints allowed. */
    readonly allowLocal: boolean,
    /** The configured server's own non-local addresses: allowed even when not public. */
    private readonly own: ReadonlySet<string>,
    private readonly options: EgressOptions,
  ) {}

  /**
   * The policy for one configured server, from its URL: its literal address, or every address its
   * hostname resolves to (bounded; an unresolvable server gets the strict policy).
   */
  static async forServer(server: string, serverUrl: string, options: EgressOptions = {}): Promise<EgressPolicy> {
    let url: URL | undefined;
    try {
      url = new URL(serverUrl);
    } catch {
      url = undefined;
    }
    const classes: AddressClass[] = [];
    if (url) {
      const host = bareHost(url.hostname);
      const literal = classifyAddress(host);
      if (literal) classes.push(literal);
      else if (isLocalhostSubdomain(host)) classes.push(classifyAddress('127.0.0.1') as AddressClass);
      else if (host) {
        const lookup = options.lookup ?? systemLookup;
        const addresses = await bounded(
          lookup(host).catch(() => []),
          RESOLVE_TIMEOUT_MS,
        );
        for (const a of addresses ?? []) {
          const c = classifyAddress(a.address);
          if (c) classes.push(c);
        }
      }
    }
    const allowLocal = classes.length > 0 && classes.every((c) => c.local);
    const own = new Set(allowLocal ? [] : classes.filter((c) => !c.local).map((c) => c.address));
    return new EgressPolicy(server, allowLocal, own, options);
  }

  /**
   * Checks a URL the OAuth client is about to request or hand to the user (an authorization URL,
   * a device verification URI): scheme, literal address, and the addresses a hostname resolves to
   * now. Resolves with the parsed URL; throws AUTH_FAILED saying why otherwise. Requests made
   * through {@link fetcher} are checked again on the address connected to.
   */
  async check(url: string | URL, what: string): Promise<URL> {
    const parsed = this.checkLiteral(url, what);
    await this.checkResolved(parsed, what);
    return parsed;
  }

  /**
   * The check that needs no resolver: a valid http(s) URL, plain http only in local development,
   * and a literal address (or a name under `.localhost`) that the policy allows.
   */
  checkLiteral(url: string | URL, what: string): URL {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw egressRefused(this.server, `${what} is not a valid URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw this.refused(what, parsed, 'only https URLs are allowed');
    }
    if (parsed.protocol === 'http:' && !this.allowLocal) {
      throw this.refused(what, parsed, `it must use https (plain http is ${NEEDS_LOCAL_SERVER})`);
    }
    const host = bareHost(parsed.hostname);
    const literal = classifyAddress(host) ?? (isLocalhostSubdomain(host) ? { ...(classifyAddress('127.0.0.1') as AddressClass), address: host } : undefined);
    if (literal) {
      const reason = this.addressRefusal(parsed.protocol, literal, `${literal.address} is`);
      if (reason) throw this.refused(what, parsed, reason);
    }
    return parsed;
  }

  /**
   * A fetch that applies the policy to every request: the checks of {@link checkLiteral}, then
   * for a hostname the check of each resolved address inside the connection's own lookup (the
   * address checked is the one connected to), `redirect: 'manual'` always. `label` names the URL
   * in a refusal (`token endpoint`, …).
   */
  fetcher(label?: (url: URL) => string | undefined): FetchFn {
    const guarded = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      if (typeof input !== 'string' && !(input instanceof URL)) throw new TypeError('the OAuth egress fetch takes a URL, not a Request');
      const url = new URL(input);
      const what = label?.(url) ?? 'request to';
      this.checkLiteral(url, what);
      const injected = this.options.fetch;
      if (injected) {
        await this.checkResolved(url, what);
        return injected(url.href, { ...init, redirect: 'manual' });
      }
      try {
        const response = await undiciFetch(url.href, {
          ...(init as UndiciRequestInit),
          redirect: 'manual',
          dispatcher: this.agent(url.protocol as 'http:' | 'https:'),
        });
        return response as unknown as Response;
      } catch (error) {
        const refusal = refusalIn(error);
        if (refusal) throw this.refused(what, url, refusal.message);
        throw error;
      }
    };
    return guarded as FetchFn;
  }

  /** The plain guarded fetch (refusals name the URL "request to"). */
  get fetch(): FetchFn {
    return this.fetcher();
  }

  /** Closes the policy's connections (idle ones are closed anyway after a few seconds). */
  async close(): Promise<void> {
    const agents = Object.values(this.agents);
    this.agents = {};
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  }

  /**
   * Why an address is refused for a request with this scheme (undefined: allowed); `subject` says
   * which address ("127.0.0.1 is", "localhost resolves to 127.0.0.1,").
   */
  private addressRefusal(protocol: string, address: AddressClass, subject: string): string | undefined {
    if (protocol === 'http:') {
      // Plain http only in local development (checked before), and only to local addresses: a public host is https.
      if (this.allowLocal && address.local) return undefined;
      return `it must use https: ${subject} ${rangeName(address.range)}, and ${PLAIN_HTTP_ONLY_LOCAL}`;
    }
    if (this.allowLocal || address.public || this.own.has(address.address)) return undefined;
    return `${subject} ${rangeName(address.range)}, ${NEEDS_LOCAL_SERVER}`;
  }

  /** The refusal of a resolved hostname, when one of its addresses is refused. */
  private resolvedRefusal(protocol: string, hostname: string, addresses: readonly LookupAddress[]): string | undefined {
    if (addresses.length === 0) return protocol === 'http:' ? `it must use https: ${hostname} does not resolve, and ${PLAIN_HTTP_ONLY_LOCAL}` : undefined;
    for (const a of addresses) {
      const c = classifyAddress(a.address);
      const reason = c ? this.addressRefusal(protocol, c, `${hostname} resolves to ${c.address},`) : `${hostname} resolves to ${a.address}, not an IP address`;
      if (reason) return reason;
    }
    return undefined;
  }

  /** The resolution check for a hostname (literal addresses were checked already). Unresolvable: left to the request to fail, except for plain http. */
  private async checkResolved(url: URL, what: string): Promise<void> {
    const host = bareHost(url.hostname);
    if (classifyAddress(host) || isLocalhostSubdomain(host)) return;
    const lookup = this.options.lookup ?? systemLookup;
    const addresses = (await bounded(lookup(host).catch(() => []), RESOLVE_TIMEOUT_MS)) ?? [];
    const reason = this.resolvedRefusal(url.protocol, host, addresses);
    if (reason) throw this.refused(what, url, reason);
  }

  /**
   * One dispatcher per scheme; its connections resolve through {@link pinnedLookup}. No keep-alive
   * (`pipelining: 0`): OAuth requests are few and far apart, and a pooled socket to an authorization
   * server that restarted meanwhile fails a token request ("other side closed") that must not be retried.
   */
  private agent(protocol: 'http:' | 'https:'): Agent {
    return (this.agents[protocol] ??= new Agent({ pipelining: 0, connect: { lookup: this.pinnedLookup(protocol) } }));
  }

  /**
   * The `lookup` of every connection: resolves the hostname, refuses it when any of its addresses
   * is refused, and hands the allowed addresses to the socket, which connects to exactly those.
   */
  private pinnedLookup(protocol: string): LookupFunction {
    const lookup = this.options.lookup ?? systemLookup;
    return (hostname, options, callback) => {
      lookup(hostname).then(
        (all) => {
          if (all.length === 0) {
            callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '', 4);
            return;
          }
          const reason = this.resolvedRefusal(protocol, hostname, all);
          if (reason) {
            callback(new EgressRefusal(reason), '', 4);
            return;
          }
          const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
          const usable = family === 4 || family === 6 ? all.filter((a) => a.family === family) : [...all];
          if (usable.length === 0) {
            callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '', 4);
            return;
          }
          if (options.all) callback(null, usable);
          else callback(null, (usable[0] as LookupAddress).address, (usable[0] as LookupAddress).family);
        },
        (error: NodeJS.ErrnoException) => callback(error, '', 4),
      );
    };
  }

  private refused(what: string, url: URL, reason: string) {
    return egressRefused(this.server, `${what} ${shown(url)} is refused: ${reason}`);
  }
}

/** The metadata field a URL is, for messages ("token endpoint https://… is refused: …"). */
export function endpointLabeler(as: Readonly<Record<string, unknown>>): (url: URL) => string | undefined {
  const names: [string, string][] = [];
  for (const key of ENDPOINT_KEYS) {
    const value = as[key];
    if (typeof value !== 'string') continue;
    try {
      const u = new URL(value);
      names.push([`${u.origin}${u.pathname}`, key.replace(/_/g, ' ')]);
    } catch {
      // an invalid URL is refused where it is checked
    }
  }
  return (url) => names.find(([where]) => where === `${url.origin}${url.pathname}`)?.[1];
}

/** The authorization-server endpoints the client calls or opens (checked when the metadata is read). */
export const ENDPOINT_KEYS = [
  'authorization_endpoint',
  'token_endpoint',
  'registration_endpoint',
  'revocation_endpoint',
  'device_authorization_endpoint',
] as const;
