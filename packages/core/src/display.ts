/**
 * Text that leaves the gateway for an agent or a terminal: URLs without their credentials, and
 * downstream-provided strings without terminal control sequences.
 */

const MASK = '***';

/**
 * A server URL as it may be shown: userinfo dropped, every query value masked (the keys stay, so
 * people can tell which parameters are set), the fragment dropped. `https://u:p@host/mcp?api_key=k`
 * → `https://host/mcp?api_key=***`. Text that is not a URL is masked whole.
 */
export function displayUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return MASK;
  }
  parsed.username = '';
  parsed.password = '';
  parsed.hash = '';
  const keys = [...parsed.searchParams.keys()];
  if (keys.length === 0) return parsed.href;
  // Built by hand: URLSearchParams would percent-encode the mask.
  const query = keys.map((key) => `${encodeURIComponent(key)}=${MASK}`).join('&');
  return `${parsed.origin}${parsed.pathname}?${query}`;
}

/**
 * The parts of a URL that may be credentials (userinfo, query values), for the redactor: a
 * downstream error that quotes the URL must not carry them into a log or a status line.
 */
export function urlCredentials(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  const values = [parsed.username, parsed.password, ...parsed.searchParams.values()];
  // Both spellings: an error message may quote the URL as written (percent-encoded) or decoded.
  const encoded = [parsed.username, parsed.password, ...parsed.search.slice(1).split('&').map((pair) => pair.slice(pair.indexOf('=') + 1))];
  return [...new Set([...values, ...encoded.map(safeDecode), ...encoded])].filter((v) => v !== '');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

// C0 controls (ESC among them) but tab and newline, DEL, C1 controls, and the bidirectional
// overrides/isolates that make a terminal show text in another order than it is.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const LINE_BREAKS = /[\t\n]+/g;

/**
 * A string from elsewhere (a downstream's error, tool description or result) made safe to print:
 * control characters that could move the cursor, recolour, retitle or rewrite the screen are
 * removed. `singleLine` also turns tabs and newlines into spaces (for a table cell).
 */
export function forTerminal(text: string, options: { singleLine?: boolean } = {}): string {
  const out = text.replace(CONTROLS, '');
  return options.singleLine ? out.replace(LINE_BREAKS, ' ') : out;
}
