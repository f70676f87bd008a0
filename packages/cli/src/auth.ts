import { revokeTokens } from '@agent-mcp-gateway/auth-oauth-dcr';
import {
  GatewayError,
  displayUrl,
  forTerminal,
  isSecretStoreKey,
  serverStoreKey,
  type ServerSpec,
  type StoreEntrySummary,
  type TokenStore,
} from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { Progress, cliRedactor, isoTime, printJson, printable, relativeTime, table, timeLeft } from './output.js';
import { openSession, type Session } from './session.js';

/** How long `auth login` waits for the browser. */
export const LOGIN_TIMEOUT_MS = 300_000;

/** `auth login|logout|status`. */
export async function runAuth(args: CliArgs): Promise<number> {
  const [action, server] = args.operands;
  switch (action) {
    case 'login':
      return login(args, server as string);
    case 'logout':
      return logout(args, args.all ? undefined : server);
    default:
      return status(args);
  }
}

// ---- login ---------------------------------------------------------------------

/**
 * `auth login <server>`: starts the server's OAuth login now, opens the browser
 * (`BROWSER`, else the system one; `--no-browser`: none), prints the URL on
 * stdout and waits for the callback — with the time left on a terminal.
 * `--device`: prints the device grant's URL and code instead and waits for the
 * user to confirm on any device (until the code expires).
 */
async function login(args: CliArgs, name: string): Promise<number> {
  const session = await openSession(args, { browser: !args.noBrowser && !args.device, loginTimeoutMs: LOGIN_TIMEOUT_MS });
  const progress = new Progress();
  try {
    const spec = oauthServer(session, name);
    const strategy = await session.oauth.strategyFor(spec, session.ctx);
    let deadline = Date.now() + LOGIN_TIMEOUT_MS;
    let pending;
    if (args.device) {
      const device = (pending = await strategy.startDeviceLogin());
      deadline = device.expiresAt * 1000;
      process.stdout.write(
        // The authorization server wrote these: printed without control characters.
        forTerminal(
          `To sign in to ${name}, open ${device.verificationUri} on any device and enter the code: ${device.userCode}\n` +
            (device.verificationUriComplete ? `or open: ${device.verificationUriComplete}\n` : ''),
        ),
      );
    } else {
      pending = await strategy.startLogin();
      const url = forTerminal(pending.url, { singleLine: true });
      process.stdout.write(
        args.noBrowser
          ? `Open this URL in a browser to sign in to ${name}:\n${url}\n`
          : `Opening a browser to sign in to ${name}. If none opens, open this URL:\n${url}\n`,
      );
    }
    progress.every(1000, () => `Waiting for the login to ${name}… ${timeLeft(deadline - Date.now())} left (Ctrl-C to cancel)`);
    await pending.done;
    progress.done();
    const { expiresAt, scopes } = strategy.status();
    const store = await session.tokenStore(spec);
    const entry = store ? await findEntry(store, serverStoreKey(spec.url as string)) : undefined;
    process.stdout.write(
      `Logged in to ${name}` +
        (expiresAt !== undefined ? `; the access token expires ${relativeTime(expiresAt)}` : '') +
        (scopes?.length ? `; scopes: ${scopes.join(' ')}` : '') +
        '.\n' +
        (entry ? `Tokens: ${entry.location}\n` : ''),
    );
    return 0;
  } finally {
    progress.done();
    await session.close();
  }
}

/** A configured server that can log in with OAuth, or a coded error saying why not. */
function oauthServer(session: Session, name: string): ServerSpec {
  const spec = session.spec(name);
  const auth = spec.auth;
  const refuse = (why: string) => new GatewayError('INVALID_ARGUMENTS', `Server '${name}' ${why}: there is nothing to log in to`, { server: name });
  if (!spec.url) throw refuse('is a local (stdio) server');
  if (auth === 'none' || auth === 'headers') throw refuse(`is configured with "auth": "${auth}"`);
  if (typeof auth === 'object' && auth.type === 'client_credentials') throw refuse('uses the client credentials grant');
  if (typeof auth === 'object' && auth.type === 'enterprise_managed') throw refuse('uses enterprise-managed authorization (the IdP\'s ID token)');
  if (Object.keys(spec.headers).some((h) => h.toLowerCase() === 'authorization')) throw refuse('sends a configured Authorization header');
  return spec;
}

// ---- logout --------------------------------------------------------------------

/**
 * `auth logout <server>` / `--all`: for each stored login, revokes its tokens
 * at the authorization server when it offers RFC 7009 revocation, then deletes
 * the stored entry (under the store's lock, so no gateway refreshes meanwhile).
 * Exit 1 when a revocation failed; the entry is deleted all the same.
 */
async function logout(args: CliArgs, name: string | undefined): Promise<number> {
  const session = await openSession(args);
  try {
    const targets: { store: TokenStore; key: string; name: string; spec?: ServerSpec; url?: string }[] = [];
    if (name !== undefined) {
      const spec = session.spec(name);
      if (!spec.url) throw new GatewayError('INVALID_ARGUMENTS', `Server '${name}' is a local (stdio) server: it has no stored login`, { server: name });
      const store = await session.tokenStore(spec);
      if (store) targets.push({ store, key: serverStoreKey(spec.url), name, spec, url: spec.url });
    } else {
      for (const store of await allStores(session)) {
        for (const entry of await logins(store)) {
          const spec = session.config.servers.find((s) => s.url !== undefined && serverStoreKey(s.url) === entry.key);
          const url = spec?.url ?? entry.server?.url;
          targets.push({ store, key: entry.key, name: spec?.name ?? entry.server?.name ?? entry.key, ...(spec && { spec }), ...(url && { url }) });
        }
      }
      if (targets.length === 0) process.stdout.write('No stored logins.\n');
    }
    let code = 0;
    for (const target of targets) {
      const line = await logoutOne(target);
      process.stdout.write(`${printable(line.text)}\n`);
      if (line.failure) {
        process.stderr.write(`agent-mcp-gateway: ${printable(line.failure)}\n`);
        code = 1;
      }
    }
    if (name !== undefined && targets.length === 0) process.stdout.write(`${name}: not logged in (no token store).\n`);
    return code;
  } finally {
    await session.close();
  }
}

async function logoutOne(target: { store: TokenStore; key: string; name: string; spec?: ServerSpec; url?: string }): Promise<{ text: string; failure?: string }> {
  const { store, key, name } = target;
  return store.withLock(key, async () => {
    const stored = await store.get(key);
    // An authorization server's refusal may quote a token: whatever this prints is blanked (output.ts).
    for (const secret of [stored?.tokens?.access_token, stored?.tokens?.refresh_token, stored?.client?.client_secret]) cliRedactor.add(secret);
    const entry = await findEntry(store, key); // also an entry that cannot be read: deleted all the same
    if (!stored && !entry) return { text: `${name}: not logged in (nothing stored).` };
    const where = entry?.location;
    let revoked = 'not revoked (the server URL is unknown)';
    let failure: string | undefined;
    if (target.url && stored?.tokens) {
      try {
        const result = await revokeTokens({ name, url: target.url, stored, ...(target.spec?.auth !== undefined && { auth: target.spec.auth }) });
        const words = (kinds: readonly string[]) => kinds.map((t) => t.replace('_', ' ')).join(' and ');
        const unsupported = result.unsupported ?? [];
        revoked = result.skipped
          ? `not revoked: ${result.skipped}`
          : `${words(result.revoked) || 'nothing'} revoked at ${result.issuer ?? 'the authorization server'}` +
            (unsupported.length ? ` (it cannot revoke the ${words(unsupported)}, which stays valid until it expires)` : '');
      } catch (error) {
        revoked = 'revocation failed';
        failure = `${name}: ${error instanceof Error ? error.message : String(error)}; the stored tokens were deleted all the same`;
      }
    } else if (!stored?.tokens) {
      revoked = entry?.problem ? `nothing readable to revoke (${entry.problem})` : 'no tokens to revoke';
    }
    await store.delete(key);
    return { text: `Logged out of ${name}: ${revoked}; stored login deleted${where ? ` (${where})` : ''}.`, ...(failure && { failure }) };
  });
}

// ---- status --------------------------------------------------------------------

/** One row of `auth status --json` (every key always present; see the README). */
export interface LoginReport {
  /** The configured server; for an entry no configured server matches, the name recorded with it (or null). */
  readonly name: string | null;
  readonly url: string | null;
  /** Tokens stored, and either the access token unexpired or a refresh token to renew it. */
  readonly loggedIn: boolean;
  /** Expiry of the stored access token (ISO 8601), or null. */
  readonly expiresAt: string | null;
  readonly hasRefreshToken: boolean;
  readonly scopes: readonly string[];
  /** The token store's kind (`fs`, `keychain`, …); null when no store plugin answered (tokens in memory only). */
  readonly store: string | null;
  /** The store key: `<host>-<hash of the canonical URL>`. */
  readonly key: string;
  /** Where the tokens are (or would be): the folder for `fs`. */
  readonly location: string | null;
  /** Set when the entry exists but cannot be read (corrupt file). */
  readonly problem: string | null;
}

/**
 * `auth status`: per configured remote server that may use OAuth, whether a
 * login is stored, its expiry, scopes and where it lives — read from the
 * store only, without any network request. Stored logins of servers that are
 * not in this config are listed too (`unconfigured`).
 */
async function status(args: CliArgs): Promise<number> {
  const session = await openSession(args);
  try {
    const listed = new Map<TokenStore, Promise<StoreEntrySummary[]>>();
    const entriesOf = (store: TokenStore) => {
      if (!listed.has(store)) listed.set(store, logins(store));
      return listed.get(store) as Promise<StoreEntrySummary[]>;
    };
    const servers: LoginReport[] = [];
    const configuredKeys = new Set<string>();
    for (const spec of session.config.servers.filter(mayUseOAuth)) {
      const key = serverStoreKey(spec.url as string);
      configuredKeys.add(key);
      const store = await session.tokenStore(spec);
      const entry = store ? (await entriesOf(store)).find((e) => e.key === key) : undefined;
      servers.push(loginReport(spec.name, spec.url as string, key, store, entry));
    }
    const unconfigured: LoginReport[] = [];
    for (const store of await allStores(session)) {
      for (const entry of await entriesOf(store)) {
        if (!configuredKeys.has(entry.key)) unconfigured.push(loginReport(entry.server?.name ?? null, entry.server?.url ?? null, entry.key, store, entry));
      }
    }
    if (args.json) {
      printJson({ servers, unconfigured });
      return 0;
    }
    const stores = await allStores(session);
    const storeLine = stores.length
      ? stores.map((s) => `${s.kind}${storeDir(s) ? ` (${storeDir(s)})` : ''}`).join(', ')
      : 'none (no token store plugin answered: logins last as long as the process)';
    let out = `Token store: ${storeLine}\n`;
    out += servers.length ? `\n${statusTable(servers)}` : '\nNo server in this config can use OAuth.\n';
    if (unconfigured.length) out += `\nStored logins of servers not in this config:\n${statusTable(unconfigured)}`;
    process.stdout.write(out);
    return 0;
  } finally {
    await session.close();
  }
}

function loginReport(name: string | null, url: string | null, key: string, store: TokenStore | undefined, entry: StoreEntrySummary | undefined): LoginReport {
  const now = Date.now() / 1000;
  const unexpired = entry?.expiresAt === undefined || entry.expiresAt > now;
  return {
    name,
    url: url === null ? null : displayUrl(url),
    loggedIn: entry !== undefined && entry.hasTokens && (unexpired || entry.hasRefreshToken),
    expiresAt: isoTime(entry?.hasTokens ? entry.expiresAt : undefined),
    hasRefreshToken: entry?.hasRefreshToken ?? false,
    scopes: entry?.scope?.split(' ').filter(Boolean) ?? [],
    store: store?.kind ?? null,
    key,
    location: entry?.location ?? (store ? folderOf(store, key) : null),
    problem: entry?.problem ?? null,
  };
}

function statusTable(reports: readonly LoginReport[]): string {
  return table(
    ['SERVER', 'LOGIN', 'EXPIRES', 'SCOPES', 'TOKENS'],
    reports.map((r) => [
      r.name ?? r.key,
      loginWord(r),
      r.expiresAt ? `${r.expiresAt} (${relativeTime(Date.parse(r.expiresAt) / 1000)})` : '-',
      r.scopes.length ? r.scopes.join(' ') : '-',
      r.location ?? '-',
    ]),
  );
}

function loginWord(r: LoginReport): string {
  if (r.problem) return `unreadable: ${r.problem}`;
  if (!r.loggedIn) return r.expiresAt ? 'expired' : 'not logged in';
  if (r.expiresAt && Date.parse(r.expiresAt) < Date.now()) return 'logged in (refresh due)';
  return 'logged in';
}

/** Remote servers whose credentials OAuth may provide (not `auth: none|headers`, no configured Authorization header). */
function mayUseOAuth(spec: ServerSpec): boolean {
  if (!spec.url || spec.auth === 'none' || spec.auth === 'headers') return false;
  return !Object.keys(spec.headers).some((h) => h.toLowerCase() === 'authorization');
}

/** The distinct token stores the plugins choose for the configured remote servers (or for none). */
async function allStores(session: Session): Promise<TokenStore[]> {
  const remote = session.config.servers.filter((s) => s.url !== undefined);
  const stores = await Promise.all(remote.length ? remote.map((s) => session.tokenStore(s)) : [session.tokenStore()]);
  return [...new Set(stores.filter((s): s is TokenStore => s !== undefined))];
}

/** The store's entries that are logins (not the named secrets kept in the same store). */
async function logins(store: TokenStore): Promise<StoreEntrySummary[]> {
  return (await store.list()).filter((e) => !isSecretStoreKey(e.key));
}

async function findEntry(store: TokenStore, key: string): Promise<StoreEntrySummary | undefined> {
  return (await store.list()).find((e) => e.key === key);
}

/** The folder a file store would keep `key` in (FsTokenStore's `folderFor`), else null. */
function folderOf(store: TokenStore, key: string): string | null {
  const folderFor = (store as { folderFor?: unknown }).folderFor;
  return typeof folderFor === 'function' ? String((folderFor as (k: string) => string).call(store, key)) : null;
}

function storeDir(store: TokenStore): string | undefined {
  const dir = (store as { dir?: unknown }).dir;
  return typeof dir === 'string' ? dir : undefined;
}
