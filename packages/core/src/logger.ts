import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

/** The logging surface the kernel hands to plugins (no winston types leak out). */
export interface Logger {
  error(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
  isLevelEnabled(level: LogLevel): boolean;
  /** A logger that adds `meta` (e.g. `{server}`) to every line. */
  child(meta: Record<string, unknown>): Logger;
}

const REDACTED = '[REDACTED]';
/** Keys whose values are secrets whatever they hold. */
const SECRET_KEY = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[-_]?key|.*(token|secret|password|passwd|credential)s?)$/i;
/** Values that look like credentials even when nobody registered them (auth schemes are case-insensitive). */
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{12,}/gi;

/**
 * Knows every secret value the gateway handles (header values, env values,
 * tokens) and blanks them out of log lines. Values shorter than 4 characters
 * are not registered: they would blank out ordinary words.
 */
export class SecretRedactor {
  private readonly secrets = new Set<string>();
  private pattern: RegExp | undefined;

  add(value: string | undefined): void {
    if (!value || value.length < 4 || this.secrets.has(value)) return;
    this.secrets.add(value);
    // As a JSON string shows it (a multi-line value, a quote): an error that quotes a request body.
    const escaped = JSON.stringify(value).slice(1, -1);
    if (escaped !== value) this.secrets.add(escaped);
    // A PEM private key line by line too: a message may quote only part of it.
    if (value.includes('-----BEGIN')) {
      for (const line of value.split(/\r?\n/)) {
        const body = line.trim();
        if (body.length >= 16 && !body.startsWith('-----')) this.secrets.add(body);
      }
    }
    this.pattern = undefined;
  }

  redactString(text: string): string {
    let out = text.replace(BEARER, (_m, scheme: string) => `${scheme} ${REDACTED}`);
    if (this.secrets.size === 0) return out;
    this.pattern ??= new RegExp(
      [...this.secrets].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'),
      'g',
    );
    out = out.replace(this.pattern, REDACTED);
    return out;
  }

  redact(value: unknown, key?: string, depth = 0): unknown {
    if (key !== undefined && SECRET_KEY.test(key) && value !== undefined && value !== null && value !== '') {
      return REDACTED;
    }
    if (typeof value === 'string') return this.redactString(value);
    if (value === null || typeof value !== 'object') return value;
    if (depth > 8) return '[TRUNCATED]'; // deeper values are not inspected, so they may not be shown either
    if (value instanceof Error) {
      return { name: value.name, message: this.redactString(value.message), ...('code' in value ? { code: (value as { code: unknown }).code } : {}) };
    }
    if (Array.isArray(value)) return value.map((v) => this.redact(v, undefined, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.redact(v, k, depth + 1);
    return out;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface LoggerOptions {
  level?: LogLevel;
  /** `json` for machines, `text` (default) for people. */
  format?: 'text' | 'json';
  redactor?: SecretRedactor;
  /** Where lines go; defaults to process.stderr. Never stdout: that is the MCP channel. */
  stream?: NodeJS.WritableStream;
}

const SPLAT = Symbol.for('splat');

/** A winston logger that writes only to stderr (or the given stream) and redacts secrets. */
export function createLogger(options: LoggerOptions = {}): Logger & { readonly redactor: SecretRedactor; close(): Promise<void> } {
  const redactor = options.redactor ?? new SecretRedactor();
  const redactFormat = winston.format((info) => {
    info.message = typeof info.message === 'string' ? redactor.redactString(info.message) : redactor.redact(info.message);
    for (const key of Object.keys(info)) {
      if (key === 'level' || key === 'message' || key === 'timestamp') continue;
      info[key] = redactor.redact(info[key], key);
    }
    delete (info as Record<symbol, unknown>)[SPLAT];
    return info;
  });
  const text = winston.format.printf((info) => {
    const { level, message, timestamp, server, ...rest } = info as Record<string, unknown>;
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    return `${String(timestamp)} ${String(level).toUpperCase()}${server ? ` [${String(server)}]` : ''} ${String(message)}${extra}`;
  });
  const stream = options.stream ?? process.stderr;
  const w = winston.createLogger({
    level: options.level ?? 'info',
    format: winston.format.combine(
      redactFormat(),
      winston.format.timestamp(),
      options.format === 'json' ? winston.format.json() : text,
    ),
    transports: [new winston.transports.Stream({ stream })],
  });
  // Once closed, lines are dropped: work still settling as a command exits (a server's failed prepare())
  // must not crash the process with "write after end".
  let closed = false;
  const wrap = (target: winston.Logger): Logger => ({
    error: (m, meta) => void (closed || target.error(m, meta)),
    warn: (m, meta) => void (closed || target.warn(m, meta)),
    info: (m, meta) => void (closed || target.info(m, meta)),
    debug: (m, meta) => void (closed || target.debug(m, meta)),
    isLevelEnabled: (level) => target.isLevelEnabled(level),
    child: (meta) => wrap(target.child(meta)),
  });
  return Object.assign(wrap(w), {
    redactor,
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        w.on('finish', () => resolve());
        w.end();
      }),
  });
}

/** A logger that drops everything (for library users who do not want logs). */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  isLevelEnabled: () => false,
  child: () => silentLogger,
};
