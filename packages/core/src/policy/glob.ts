/**
 * Policy globs: `*` matches any run of characters (including none), `?`
 * exactly one character, every other character only itself. Case-sensitive
 * and anchored at both ends. "Character" means a Unicode code point, so `?`
 * matches an emoji as one character.
 *
 * There is no escaping and no character class: every string is a valid
 * pattern, so the rules schema (non-empty strings) and matching cannot
 * disagree. No RegExp is built either, which keeps matching linear-ish and
 * free of catastrophic backtracking on agent-supplied names.
 */

/** A compiled glob: true when `value` matches the whole pattern. */
export type GlobMatcher = (value: string) => boolean;

/** Patterns also arrive from agents (`get_server_tools({pattern})`), so the cache is bounded. */
const CACHE_LIMIT = 1024;
const cache = new Map<string, GlobMatcher>();

const SURROGATE = /[\uD800-\uDFFF]/;

/** True when `pattern` holds `*` or `?` (a wildcard rather than a literal name). */
export function isGlobPattern(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/** Compiles (or fetches from the cache) a matcher for `pattern`. Never throws. */
export function compileGlob(pattern: string): GlobMatcher {
  let matcher = cache.get(pattern);
  if (matcher) return matcher;
  matcher = build(pattern);
  // Map keeps insertion order: dropping the first key evicts the oldest entry.
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(pattern, matcher);
  return matcher;
}

/** True when `value` matches `pattern` as a whole. Never throws. */
export function globMatch(pattern: string, value: string): boolean {
  return compileGlob(pattern)(value);
}

function build(pattern: string): GlobMatcher {
  if (!isGlobPattern(pattern)) return (value) => value === pattern;
  if (/^\*+$/.test(pattern)) return () => true;
  // The common shapes `prefix*` and `*suffix` need no scanning at all. They
  // compare code units, so only when no surrogate can split a code point.
  const inner = pattern.slice(1, -1);
  if (!pattern.includes('?') && !inner.includes('*') && !SURROGATE.test(pattern)) {
    if (pattern.endsWith('*') && !pattern.startsWith('*')) {
      const prefix = pattern.slice(0, -1);
      return (value) => value.startsWith(prefix);
    }
    if (pattern.startsWith('*') && !pattern.endsWith('*')) {
      const suffix = pattern.slice(1);
      return (value) => value.endsWith(suffix);
    }
  }
  const tokens = Array.from(pattern);
  return (value) => matchTokens(tokens, SURROGATE.test(value) ? Array.from(value) : value);
}

/**
 * Iterative wildcard matching: on a mismatch, retry from the most recent `*`
 * with it swallowing one more character. Only the last `*` needs remembering,
 * because any earlier one could only swallow what this one can. O(n·m) worst case.
 */
function matchTokens(pattern: readonly string[], value: ArrayLike<string>): boolean {
  let p = 0;
  let v = 0;
  let starP = -1;
  let starV = 0;
  while (v < value.length) {
    const token = pattern[p];
    if (token === '*') {
      starP = p++;
      starV = v;
    } else if (token !== undefined && (token === '?' || token === value[v])) {
      p++;
      v++;
    } else if (starP >= 0) {
      p = starP + 1;
      v = ++starV;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
