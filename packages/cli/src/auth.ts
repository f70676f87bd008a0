import {
  GatewayError,
  NO_AUTH_TYPE,
  authTypeOf,
  describeStoreEntry,
  displayUrl,
  forTerminal,
  isSecretStoreKey,
  serverStoreKey,
  type AuthDescription,
  type AuthStrategy,
  type LogoutResult,
  type ServerSpec,
  type StoreEntrySummary,
  type TokenStore,
} from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { Progress, isoTime, printJson, printable, relativeTime, table, timeLeft } from './output.js';
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
 * `auth login <server>`: asks the server's auth strategy — the one the gateway would use, and
 * for a server that configures none, the one its 401 challenge brings in — to start a login,
 * opens the browser (`BROWSER`, else the system one; `--no-browser`: none), prints the URL on
 * stdout and waits — with the time left on a terminal. `--device`: prints the URL and code to
 * enter on any device instead. A strategy without a `login` capability is refused, saying so.
 */
async function login(args: CliArgs, name: string): Promise<number> {
  const session = await openSession(args, { browser: !args.noBrowser && !args.device, loginTimeoutMs: LOGIN_TIMEOUT_MS });
  const progress = new Progress();
  try {
    const spec = session.spec(name);
    const strategy = await loginStrategy(session, spec);
    const flow = await strategy.login(args.device ? { device: true } : {});
    const deadline = flow.deadline ?? Date.now() + LOGIN_TIMEOUT_MS;
    if (flow.url === undefined) {
      process.stdout.write(`Signing in to ${name}…\n`);
    } else if (flow.userCode !== undefined) {
      process.stdout.write(
        // The authorization server wrote these: printed without control characters.
        forTerminal(
          `To sign in to ${name}, open ${flow.url} on any device and enter the code: ${flow.userCode}\n` +
            (flow.urlWithCode ? `or open: ${flow.urlWithCode}\n` : ''),
        ),
      );
    } else {
      const url = forTerminal(flow.url, { singleLine: true });
      process.stdout.write(
        args.noBrowser
          ? `Open this URL in a browser to sign in to ${name}:\n${url}\n`
          : `Opening a browser to sign in to ${name}. If none opens, open this URL:\n${url}\n`,
      );
    }
    progress.every(1000, () => `Waiting for the login to ${name}… ${timeLeft(deadline - Date.now())} left (Ctrl-C to cancel)`);
    await flow.done;
    progress.done();
    const { expiresAt, scopes } = strategy.status();
    const stored = await strategy.describe?.();
    process.stdout.write(
      `Logged in to ${name}` +
        (expiresAt !== undefined ? `; the access token expires ${relativeTime(expiresAt)}` : '') +
        (scopes?.length ? `; scopes: ${scopes.join(' ')}` : '') +
        '.\n' +
        (stored?.location ? `Tokens: ${stored.location}\n` : ''),
    );
    return 0;
  } finally {
    progress.done();
    await session.close();
  }
}

/** The strategy of a server that can log in, or a coded error saying why there is nothing to log in to. */
async function loginStrategy(session: Session, spec: ServerSpec): Promise<AuthStrategy & Required<Pick<AuthStrategy, 'login'>>> {
  const refuse = (why: string) => new GatewayError('INVALID_ARGUMENTS', `Server '${spec.name}' ${why}: there is nothing to log in to`, { server: spec.name });
  if (!spec.url) throw refuse('is a local (stdio) server');
  const type = authTypeOf(spec);
  if (type === NO_AUTH_TYPE) throw refuse('is configured with "auth": "none"');
  const strategy = await session.strategy(spec, { probe: true });
  if (!strategy) throw refuse('answered without asking for credentials');
  if (strategy.login) return strategy as AuthStrategy & Required<Pick<AuthStrategy, 'login'>>;
  throw refuse(type !== undefined ? `is configured with "auth" type "${type}", whose plugin has no login` : `uses "${strategy.kind}" credentials, which have no login`);
}

// ---- logout --------------------------------------------------------------------

/**
 * `auth logout <server>` / `--all`: each stored login is forgotten by the strategy that owns it
 * (`logout`: revoked where it was issued when possible, then deleted under the store's lock);
 * an entry no strategy answers for is deleted as it is. Exit 1 when a revocation failed; the
 * entry is deleted all the same.
 */
async function logout(args: CliArgs, name: string | undefined): Promise<number> {
  const session = await openSession(args);
  try {
    const targets: { store: TokenStore; key: string; spec: ServerSpec | undefined; name: string }[] = [];
    if (name !== undefined) {
      const spec = session.spec(name);
      if (!spec.url) throw new GatewayError('INVALID_ARGUMENTS', `Server '${name}' is a local (stdio) server: it has no stored login`, { server: name });
      const store = await session.tokenStore(spec);
      if (store) targets.push({ store, key: serverStoreKey(spec.url), spec, name });
    } else {
      for (const store of await allStores(session)) {
        for (const entry of await logins(store)) {
          const spec = session.config.servers.find((s) => s.url !== undefined && serverStoreKey(s.url) === entry.key) ?? unconfiguredSpec(entry);
          targets.push({ store, key: entry.key, spec, name: spec?.name ?? entry.server?.name ?? entry.key });
        }
      }
      if (targets.length === 0) process.stdout.write('No stored logins.\n');
    }
    let code = 0;
    for (const target of targets) {
      const result = await logoutOne(session, target);
      process.stdout.write(
        `${printable(result.deleted ? `Logged out of ${target.name}: ${result.revoked}; stored login deleted${result.location ? ` (${result.location})` : ''}.` : `${target.name}: not logged in (nothing stored).`)}\n`,
      );
      if (result.failure) {
        process.stderr.write(`agent-mcp-gateway: ${printable(result.failure)}\n`);
        code = 1;
      }
    }
    if (name !== undefined && targets.length === 0) process.stdout.write(`${name}: not logged in (no token store).\n`);
    return code;
  } finally {
    await session.close();
  }
}

/** Through the strategy that owns the login (when it keeps it in this very store), else the entry is deleted as it is. */
async function logoutOne(session: Session, target: { store: TokenStore; key: string; spec: ServerSpec | undefined }): Promise<LogoutResult> {
  const { store, key, spec } = target;
  const strategy = spec ? await session.strategy(spec) : undefined;
  if (strategy?.logout && spec && (await session.tokenStore(spec)) === store) return strategy.logout();
  return store.withLock(key, async () => {
    const stored = await store.get(key);
    const entry = await findEntry(store, key); // also an entry that cannot be read: deleted all the same
    if (!stored && !entry) return { revoked: 'nothing stored', deleted: false };
    const revoked = stored?.tokens
      ? `not revoked (${spec ? 'no plugin keeps a login for this server' : 'the server URL is unknown'})`
      : entry?.problem
        ? `nothing readable to revoke (${entry.problem})`
        : 'no tokens to revoke';
    await store.delete(key);
    return { revoked, deleted: true, ...(entry?.location !== undefined && { location: entry.location }) };
  });
}

/** A stored login of a server that is not in this config, as a spec its plugin can answer for (when its URL was recorded). */
function unconfiguredSpec(entry: StoreEntrySummary): ServerSpec | undefined {
  if (!entry.server?.url) return undefined;
  return { name: entry.server.name, transport: 'http', url: entry.server.url, args: [], env: {}, headers: {}, enabled: true, secretValues: [] };
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
 * `auth status`: per configured remote server that has a login, whether it is stored, its
 * expiry, scopes and where it lives — read from the store only, without any network request.
 * A server's strategy (the one the gateway would start it with) says it through `describe`; a
 * server no strategy answers for yet is shown with what the store holds for it, since its
 * first 401 may bring a login in; a server whose strategy has no login (headers, `auth: "none"`,
 * a plugin without `describe`) is not listed. Stored logins of servers that are not in this
 * config are listed too (`unconfigured`).
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
    for (const spec of session.config.servers) {
      if (spec.url === undefined) continue;
      const key = serverStoreKey(spec.url);
      configuredKeys.add(key);
      const strategy = await session.strategy(spec);
      if (strategy?.describe) {
        servers.push(describedReport(spec.name, spec.url, key, await strategy.describe()));
        continue;
      }
      if (strategy || authTypeOf(spec) !== undefined) continue;
      const store = await session.tokenStore(spec);
      servers.push(describedReport(spec.name, spec.url, key, store ? await describeStoreEntry(store, key) : undefined));
    }
    const unconfigured: LoginReport[] = [];
    for (const store of await allStores(session)) {
      for (const entry of await entriesOf(store)) {
        if (!configuredKeys.has(entry.key)) unconfigured.push(describedReport(entry.server?.name ?? null, entry.server?.url ?? null, entry.key, await describeStoreEntry(store, entry.key)));
      }
    }
    if (args.json) {
      printJson({ servers, unconfigured });
      return 0;
    }
    const stores = await allStores(session);
    const storeLine = stores.length
      ? stores.map((s) => `${s.kind}${s.locationOf?.() ? ` (${s.locationOf()})` : ''}`).join(', ')
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

/** A row of `auth status` from what a strategy (or the store) describes; undefined: no token store. */
function describedReport(name: string | null, url: string | null, key: string, described: AuthDescription | undefined): LoginReport {
  return {
    name,
    url: url === null ? null : displayUrl(url),
    loggedIn: described?.loggedIn ?? false,
    expiresAt: isoTime(described?.expiresAt),
    hasRefreshToken: described?.renewable ?? false,
    scopes: described?.scopes ?? [],
    store: described?.store ?? null,
    key: described?.key ?? key,
    location: described?.location ?? null,
    problem: described?.problem ?? null,
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
