/** Output helpers for the commands people type: tables on stdout, progress on a terminal's stderr. */
import { SecretRedactor, forTerminal } from '@agent-mcp-gateway/core';

/**
 * The redactor of this process's command: its session's gateway registers every secret it loads
 * there, so that whatever the command prints — an error included — is blanked the same way.
 */
export const cliRedactor = new SecretRedactor();

/** Text from elsewhere (a downstream's error, a stored name) as it may be printed: redacted, no control characters. */
export function printable(text: string, options: { singleLine?: boolean } = {}): string {
  return forTerminal(cliRedactor.redactString(text), options);
}

/** Columns padded to their widest cell; the last column is not padded. Cells are {@link printable} on one line. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows.map((row) => row.map((cell) => printable(cell, { singleLine: true })))];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n') + '\n';
}

/** `--json` output: one document, two-space indented, on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * One line of feedback on a long step, rewritten in place — only when the
 * stream is a terminal: in a pipe, a log or a test the commands stay quiet.
 */
export class Progress {
  private readonly tty: boolean;
  private shown = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tty = stream.isTTY === true;
  }

  show(text: string): void {
    if (!this.tty) return;
    this.stream.write(`\r\x1b[2K${text}`);
    this.shown = true;
  }

  /** Shows `text()` now and again every `ms` until `done()`. */
  every(ms: number, text: () => string): void {
    this.show(text());
    if (!this.tty) return;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.show(text()), ms);
    this.timer.unref();
  }

  /** Clears the line. */
  done(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}

/** `4:05`: minutes and seconds left. */
export function timeLeft(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Epoch seconds as an ISO 8601 string, or null. */
export function isoTime(epochSeconds: number | undefined): string | null {
  return epochSeconds === undefined ? null : new Date(epochSeconds * 1000).toISOString();
}

/** `in 59 min`, `3 h ago`: a rough distance to an instant, for people. */
export function relativeTime(epochSeconds: number, now = Date.now()): string {
  const diff = epochSeconds * 1000 - now;
  const abs = Math.abs(diff);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)} s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min` : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)} h` : `${Math.round(abs / 86_400_000)} days`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}
