/**
 * `${VAR}` / `${VAR:-default}` expansion in config string values.
 *
 * Rules (deliberately small; shell-like where it matters):
 * - `${NAME}` — the value of NAME; an error when NAME is unset. Set-but-empty
 *   counts as set and yields `""`.
 * - `${NAME:-default}` — the value of NAME, or `default` when NAME is unset *or
 *   empty*. The default is literal text up to the first `}` (no nesting, no
 *   further expansion inside it).
 * - NAME is `[A-Za-z_][A-Za-z0-9_]*`. Anything else between `${` and `}` is
 *   left as it is: `${secret:NAME}` (resolved by a later stage) and malformed
 *   references such as `${A-B}` pass through untouched.
 * - VS Code's `${input:id}` (a value VS Code prompts for, declared under the file's
 *   `inputs`) is refused like a missing variable: the gateway runs without a
 *   person to ask, and sending the placeholder text as a credential would only fail
 *   later and obscurely. Where missing variables are tolerated (`onMissing`, for
 *   disabled servers) it is left as written.
 * - There is no escape syntax: `$${X}` is a literal `$` followed by the
 *   expansion of `${X}`. Unbraced `$NAME` is never expanded.
 * - Only string *values* are expanded, never object keys; numbers, booleans and
 *   null pass through unchanged. Expansion is one pass: a substituted value is
 *   not scanned again, so an environment value containing `${…}` stays literal.
 */
import { ErrorCodes, GatewayError } from '../errors.js';
import { appendJsonPath } from './format.js';

/** A well-formed reference: name, optional `:-default`. */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** VS Code's prompted input variable; the id is named in errors only when it looks like an id. */
const INPUT_REFERENCE = /\$\{input:([^}]*)\}/;
const PRINTABLE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Values nested deeper than this are refused rather than risking a stack
 * overflow (which would surface as a RangeError, not a config error). No real
 * config comes close.
 */
export const MAX_EXPANSION_DEPTH = 256;

/** How a missing variable (unset, no default) is handled. */
export interface ExpandOptions {
  /**
   * Called for each missing variable instead of throwing; the reference is then
   * left unexpanded. Used for disabled servers, whose entries need not be complete.
   */
  onMissing?: (variable: string, path: string) => void;
  /** Called with each value a variable put into the config (the caller treats them as secrets). */
  onExpanded?: (variable: string, value: string, path: string) => void;
}

function lookup(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  // `env.constructor`, `env.__proto__` … come from Object.prototype: only real strings count.
  const value = env[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Expands the references in one string.
 * @throws GatewayError CONFIG_MISSING_VARIABLE naming the variable, file and JSON path
 *   (also for a VS Code `${input:id}`, unless `options.onMissing` is given).
 */
export function expandString(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
  file: string,
  path = '$',
  options: ExpandOptions = {},
): string {
  if (!text.includes('${')) return text;
  const input = options.onMissing ? null : INPUT_REFERENCE.exec(text);
  if (input) {
    const id = PRINTABLE_ID.test(input[1]!) ? input[1]! : '…';
    throw new GatewayError(
      ErrorCodes.CONFIG_MISSING_VARIABLE,
      `${file}: ${path}: \${input:${id}} is a VS Code input variable, which the gateway cannot prompt for (use an environment variable \${NAME} or a stored secret \${secret:NAME})`,
      { file, path },
    );
  }
  return text.replace(REFERENCE, (whole, name: string, fallback: string | undefined) => {
    const value = lookup(env, name);
    if (value !== undefined && value !== '') options.onExpanded?.(name, value, path);
    if (fallback !== undefined) return value === undefined || value === '' ? fallback : value;
    if (value !== undefined) return value;
    if (options.onMissing) {
      options.onMissing(name, path);
      return whole;
    }
    throw new GatewayError(
      ErrorCodes.CONFIG_MISSING_VARIABLE,
      `${file}: ${path}: environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
      { file, path },
    );
  });
}

/**
 * Deep-walks a parsed JSON value and expands `${VAR}` / `${VAR:-default}` in every
 * string value (see the module comment for the exact rules). Returns a new value;
 * the input is not modified.
 *
 * @param file  the config file, for error messages
 * @param path  JSON path of `value` inside the file (`$` for the whole document)
 * @throws GatewayError CONFIG_MISSING_VARIABLE for an unset variable without a
 *   default (message and details name the variable's file and JSON path, e.g.
 *   `$.mcpServers.github.headers.Authorization`); CONFIG_INVALID for values nested
 *   deeper than {@link MAX_EXPANSION_DEPTH}.
 */
export function expandVariables(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  file: string,
  path = '$',
  options: ExpandOptions = {},
): unknown {
  return walk(value, env, file, path, options, 0);
}

function walk(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  file: string,
  path: string,
  options: ExpandOptions,
  depth: number,
): unknown {
  if (typeof value === 'string') return expandString(value, env, file, path, options);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_EXPANSION_DEPTH) {
    throw new GatewayError(ErrorCodes.CONFIG_INVALID, `${file}: ${path}: nested more than ${MAX_EXPANSION_DEPTH} levels deep`, {
      file,
      path,
    });
  }
  if (Array.isArray(value)) {
    return value.map((item, index) => walk(item, env, file, appendJsonPath(path, index), options, depth + 1));
  }
  // Object.fromEntries defines own properties, so a JSON key such as "__proto__"
  // stays a plain key instead of replacing the prototype.
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, walk(item, env, file, appendJsonPath(path, key), options, depth + 1)]),
  );
}
