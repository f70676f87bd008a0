/**
 * A browser stand-in for OAuth logins at the authorization server of
 * ./oauth-server.ts: follows redirects by hand with a cookie jar, fills in the
 * `oidc-provider` development login and consent forms, and finally delivers the
 * authorization response to the client's loopback `redirect_uri`.
 * It also plays the person of a device authorization grant (`completeDeviceLogin`).
 */

export interface CompleteLoginOptions {
  /** Refuse instead of signing in: the client then receives `error=access_denied`. Default false. */
  deny?: boolean;
  /** Login name entered on the sign-in page; it becomes the token's `sub`. Default `alice`. */
  login?: string;
  /** Limit for each HTTP request, in milliseconds. Default 10 000. */
  requestTimeoutMs?: number;
  /**
   * Changes the authorization response before it is delivered to the callback (a tampering browser, or a
   * response that another authorization server produced: e.g. drop or alter its `iss`, RFC 9207). Default none.
   */
  alterCallback?: (callback: URL) => URL;
}

export interface CompletedLogin {
  /** The URL the authorization server finally sent the browser to (the callback, with `code` or `error`). */
  callbackUrl: string;
  /** Status of the callback server's answer. */
  callbackStatus: number;
  /** Body of the callback server's answer. */
  callbackBody: string;
}

const MAX_STEPS = 20;

interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

/** Just enough of RFC 6265 for one host: names, values, `Path`, and deletion by expiry. */
class CookieJar {
  private readonly cookies = new Map<string, StoredCookie>();

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const cookie: StoredCookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), path: '/' };
      let expired = false;
      for (const attribute of attributes) {
        const [rawName = '', ...rest] = attribute.split('=');
        const name = rawName.trim().toLowerCase();
        const value = rest.join('=').trim();
        if (name === 'path' && value.startsWith('/')) cookie.path = value;
        if (name === 'max-age' && Number(value) <= 0) expired = true;
        if (name === 'expires' && Date.parse(value) <= Date.now()) expired = true;
      }
      const key = `${cookie.name};${cookie.path}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, cookie);
    }
  }

  header(url: URL): string | undefined {
    const matching = [...this.cookies.values()].filter((cookie) => pathMatches(url.pathname, cookie.path));
    return matching.length ? matching.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ') : undefined;
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  return requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/');
}

function unescapeHtml(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39);/g, (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[entity] ?? '');
}

/** A short, tag-free excerpt of an error page for messages. */
function excerpt(html: string): string {
  const text = unescapeHtml(html.replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** The interaction page's form: where it posts and which prompt (`login` or `consent`) it answers. */
function readInteractionForm(html: string, base: URL): { action: URL; prompt: string } | undefined {
  const action = /<form\b[^>]*\baction="([^"]*)"/i.exec(html)?.[1];
  const prompt = /<input\b[^>]*\bname="prompt"[^>]*\bvalue="([^"]*)"/i.exec(html)?.[1];
  if (action === undefined || prompt === undefined) return undefined;
  return { action: new URL(unescapeHtml(action), base), prompt: unescapeHtml(prompt) };
}

/**
 * A page of the device flow (`/device`: the auto-submitted page of `verification_uri_complete`, the user
 * code input page, the confirmation page): where its form posts and the fields it sends. `userCode` is
 * set when the page asks the user to type the code.
 */
function readDeviceForm(html: string, base: URL): { action: URL; fields: URLSearchParams; asksUserCode: boolean } | undefined {
  const form = /<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form || !/\bname="xsrf"/i.test(form[2] ?? '')) return undefined;
  const fields = new URLSearchParams();
  let asksUserCode = false;
  for (const [input] of (form[2] ?? '').matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/i.exec(input)?.[1];
    const value = /\bvalue="([^"]*)"/i.exec(input)?.[1];
    if (name === undefined) continue;
    if (value === undefined) asksUserCode ||= name === 'user_code';
    else fields.set(unescapeHtml(name), unescapeHtml(value));
  }
  return { action: new URL(unescapeHtml(form[1] ?? ''), base), fields, asksUserCode };
}

interface BrowseOptions extends CompleteLoginOptions {
  /** For the device flow's input page. */
  userCode?: string;
  /** True when this URL is the client's callback: it is requested and its answer ends the walk. */
  isCallback(url: URL): boolean;
  /** The device flow ends on a page of the authorization server itself. */
  endsOnPage: boolean;
}

interface BrowseEnd {
  url: URL;
  status: number;
  body: string;
}

/** Walks the authorization server's pages as a person would, from `start` to the callback or the final page. */
async function browse(start: URL, options: BrowseOptions): Promise<BrowseEnd> {
  const timeout = options.requestTimeoutMs ?? 10_000;
  const jar = new CookieJar();
  let url = start;
  let form: URLSearchParams | undefined;
  let aborted = false;
  for (let step = 0; step < MAX_STEPS; step++) {
    if (options.isCallback(url)) {
      if (options.alterCallback) url = options.alterCallback(new URL(url));
      const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(timeout) });
      return { url, status: response.status, body: await response.text() };
    }
    const cookie = jar.header(url);
    const response = await fetch(url, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeout),
      headers: { Accept: 'text/html', ...(cookie ? { Cookie: cookie } : {}) },
      ...(form ? { body: form } : {}),
    });
    jar.store(response.headers.getSetCookie());
    form = undefined;

    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      url = new URL(location, url);
      continue;
    }
    const body = await response.text();
    if (options.endsOnPage && aborted) return { url, status: response.status, body };
    const page = response.status === 200 ? readInteractionForm(body, url) : undefined;
    const devicePage = response.status === 200 && options.endsOnPage && !page ? readDeviceForm(body, url) : undefined;
    if (devicePage) {
      if (devicePage.asksUserCode) {
        if (options.userCode === undefined) throw new Error(`login failed: ${url.origin}${url.pathname} asks for the user code and none was given`);
        devicePage.fields.set('user_code', options.userCode);
      }
      url = devicePage.action;
      form = devicePage.fields;
      continue;
    }
    if (!page) {
      if (options.endsOnPage && response.status === 200) return { url, status: response.status, body };
      throw new Error(`login failed: ${url.origin}${url.pathname} answered ${response.status}: ${excerpt(body) || '(empty)'}`);
    }
    if (options.deny) {
      // The development pages' "[ Cancel ]" link: GET /interaction/<uid>/abort.
      url = new URL(`${url.pathname.replace(/\/$/, '')}/abort`, url);
      aborted = true;
    } else if (page.prompt === 'login') {
      url = page.action;
      form = new URLSearchParams({ prompt: 'login', login: options.login ?? 'alice', password: 'any' });
    } else if (page.prompt === 'consent') {
      url = page.action;
      form = new URLSearchParams({ prompt: 'consent' });
    } else {
      throw new Error(`login failed: unknown interaction prompt "${page.prompt}" at ${url.origin}${url.pathname}`);
    }
  }
  throw new Error(`login failed: no ${options.endsOnPage ? 'final page' : 'callback'} after ${MAX_STEPS} steps (last at ${url.origin}${url.pathname})`);
}

/**
 * Completes a login at an `oidc-provider` authorization server with development
 * interactions (as started by `startAuthorizationServer`), starting from the
 * authorization URL a client would open in a browser: signs in as `alice` (any
 * password), grants consent (or, with `deny`, aborts the interaction), then
 * requests the client's `redirect_uri` (which delivers `code` or `error` to the
 * client's callback server) and returns its answer.
 *
 * The callback is recognised as the `redirect_uri` of the authorization URL, or,
 * when that has none, as the first redirect to another origin.
 * Throws when the login cannot be completed (an error page, an unexpected
 * answer, too many steps, or a network error).
 */
export async function completeLogin(authorizationUrl: string, options: CompleteLoginOptions = {}): Promise<CompletedLogin> {
  const start = new URL(authorizationUrl);
  const redirectParam = start.searchParams.get('redirect_uri');
  const redirectUri = redirectParam === null ? undefined : new URL(redirectParam);
  const isCallback = (url: URL): boolean =>
    redirectUri
      ? url.origin === redirectUri.origin && url.pathname === redirectUri.pathname
      : url.origin !== start.origin;
  const end = await browse(start, { ...options, isCallback, endsOnPage: false });
  return { callbackUrl: end.url.href, callbackStatus: end.status, callbackBody: end.body };
}

export interface CompleteDeviceLoginOptions extends CompleteLoginOptions {
  /** The code to type on the input page, when starting from `verification_uri` (`verification_uri_complete` carries it). */
  userCode?: string;
}

export interface CompletedDeviceLogin {
  /** The authorization server's last page (its "Sign-in Success" page, or an error page after `deny`). */
  finalUrl: string;
  status: number;
  /** That page's text, without tags. */
  text: string;
}

/**
 * The person's half of a device authorization grant (RFC 8628) at the
 * authorization server of `startAuthorizationServer({deviceFlow: true})`: opens
 * `verification_uri_complete` (or `verification_uri` and types `userCode`),
 * confirms the code, signs in and consents (or, with `deny`, aborts) as
 * {@link completeLogin} does. The client learns the outcome by polling its token
 * endpoint; this returns the server's final page. Throws as {@link completeLogin}.
 */
export async function completeDeviceLogin(verificationUri: string, options: CompleteDeviceLoginOptions = {}): Promise<CompletedDeviceLogin> {
  const end = await browse(new URL(verificationUri), { ...options, isCallback: () => false, endsOnPage: true });
  return { finalUrl: end.url.href, status: end.status, text: excerpt(end.body) };
}
