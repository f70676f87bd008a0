import type { Stream } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '@agent-mcp-gateway/core';

export interface BoundedLineLoggerOptions {
  /** Longest line kept; the rest is cut (default 2000 characters). */
  readonly maxLineLength?: number;
  /** Lines logged per window before the rest are dropped and counted (default 100 per second). */
  readonly maxLinesPerWindow?: number;
  readonly windowMs?: number;
}

/**
 * Forwards a child's stderr to the log, line by line, with a budget so that
 * a chatty child cannot flood the log or starve the event loop: lines over
 * the budget are dropped and the drop is reported once per window.
 */
export class BoundedLineLogger {
  private partial = '';
  private windowStart = 0;
  private linesInWindow = 0;
  private dropped = 0;
  private readonly maxLineLength: number;
  private readonly maxLines: number;
  private readonly windowMs: number;

  constructor(
    private readonly logger: Logger,
    options: BoundedLineLoggerOptions = {},
  ) {
    this.maxLineLength = options.maxLineLength ?? 2000;
    this.maxLines = options.maxLinesPerWindow ?? 100;
    this.windowMs = options.windowMs ?? 1000;
  }

  attach(stream: Stream): void {
    const decoder = new StringDecoder('utf8'); // a character split across chunks stays whole
    stream.on('data', (chunk: Buffer | string) => this.write(typeof chunk === 'string' ? chunk : decoder.write(chunk)));
    stream.on('end', () => {
      this.write(decoder.end());
      this.flush();
    });
    stream.on('error', () => undefined);
  }

  write(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split(/\r?\n/);
    this.partial = lines.pop() ?? '';
    if (this.partial.length > this.maxLineLength) {
      this.emit(this.partial);
      this.partial = '';
    }
    for (const line of lines) this.emit(line);
  }

  flush(): void {
    if (this.partial) this.emit(this.partial);
    this.partial = '';
    this.reportDropped();
  }

  private emit(line: string): void {
    if (!line.trim()) return;
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      this.reportDropped();
      this.windowStart = now;
      this.linesInWindow = 0;
    }
    if (++this.linesInWindow > this.maxLines) {
      // Report the drop when the window ends even if the child then falls silent.
      if (this.dropped++ === 0) setTimeout(() => this.reportDropped(), this.windowMs - (now - this.windowStart)).unref();
      return;
    }
    const cut = line.length > this.maxLineLength ? `${line.slice(0, this.maxLineLength)}… (${line.length - this.maxLineLength} more characters)` : line;
    this.logger.info(`stderr: ${cut}`);
  }

  private reportDropped(): void {
    if (this.dropped === 0) return;
    this.logger.warn(`stderr: ${this.dropped} lines dropped (more than ${this.maxLines} per ${this.windowMs} ms)`);
    this.dropped = 0;
  }
}
