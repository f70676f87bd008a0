import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { GatewayHooks } from './hooks.js';
import type { Logger, SecretRedactor } from './logger.js';
import type { GatewayConfig } from './types.js';

/** The part of the gateway the audit plugin uses (a `Gateway` satisfies it). */
export interface AuditHost {
  readonly hooks: GatewayHooks;
  readonly logger: Logger;
  readonly redactor: SecretRedactor;
  readonly config: GatewayConfig;
}

export interface AuditPluginOptions {
  /** The JSONL file; default: settings `auditLog` (`GATEWAY_AUDIT_LOG`), else {@link defaultAuditLogPath}. */
  readonly file?: string;
  /** Rotate when the file would grow past this many bytes (default 10 MiB). */
  readonly maxBytes?: number;
  /** Rotated files kept: `audit.jsonl.1` (newest) … `.<keep>` (default 3). */
  readonly keep?: number;
}

/** One line of the audit log. Fields without a value are `null`, so every line has the same keys. */
export interface AuditRecord {
  readonly timestamp: string;
  readonly agent: string | null;
  /** A gateway tool (`execute_tool`, `list_servers`, …) or an auth event (`auth.login`, `auth.refresh`, `auth.failure`). */
  readonly operation: string;
  readonly server: string | null;
  readonly tool: string | null;
  readonly decision: 'ALLOW' | 'DENY' | 'ERROR';
  readonly error_code: string | null;
  readonly latency_ms: number | null;
  /** Only with `auditArguments: true` in the settings. */
  readonly arguments?: unknown;
  /** The downstream answered with `isError: true`. */
  readonly tool_error?: true;
  /** The rounds in which the downstream asked the agent something (elicitation, sampling); absent when none. */
  readonly rounds?: number;
  /** Auth events: the strategy kind and, for failures, what failed. */
  readonly auth?: string;
  readonly detail?: string;
}

/** `~/.cache/agent-mcp-gateway/audit.jsonl` */
export function defaultAuditLogPath(home: string = homedir()): string {
  return join(home, '.cache', 'agent-mcp-gateway', 'audit.jsonl');
}

/**
 * One JSONL line per gateway tool call (`callSettled`) and per auth event (`authEvent`).
 * A plugin like any other: the CLI composes it; another plugin may replace it on the same hooks.
 * Lines are buffered and appended after the current turn of the event loop,
 * so a call never waits for the disk; a write failure is logged once (until
 * writing works again) and never fails a call. Flushed on shutdown.
 */
export class AuditPlugin {
  readonly name = 'AuditPlugin';
  private log: JsonlLog | undefined;
  private withArguments = false;

  constructor(private readonly options: AuditPluginOptions = {}) {}

  /** Where the lines go (known once applied). */
  get file(): string | undefined {
    return this.log?.path;
  }

  apply(gateway: AuditHost): void {
    const { hooks, redactor } = gateway;
    const logger = gateway.logger.child({ plugin: this.name });
    const path = this.options.file ?? gateway.config.settings.auditLog ?? defaultAuditLogPath();
    const log = (this.log = new JsonlLog(path, this.options.maxBytes ?? 10 * 1024 * 1024, this.options.keep ?? 3, logger));
    this.withArguments = gateway.config.settings.auditArguments;

    const write = (record: AuditRecord) => log.append(`${JSON.stringify(record)}\n`);
    const args = (value: unknown) => (this.withArguments && value !== undefined ? { arguments: redactor.redact(value) } : {});
    const latency = (ms: number) => Math.round(ms * 1000) / 1000;

    hooks.configLoaded.tap(this.name, (config) => {
      this.withArguments = config.settings.auditArguments;
      return config;
    });
    hooks.callSettled.tap(this.name, (o) => {
      write({
        timestamp: new Date().toISOString(),
        agent: o.agent ?? null,
        operation: o.operation,
        server: o.server ?? null,
        tool: o.tool ?? null,
        decision: o.decision,
        error_code: o.errorCode ?? null,
        latency_ms: latency(o.durationMs),
        ...(o.toolError === true && { tool_error: true }),
        ...(o.rounds !== undefined && { rounds: o.rounds }),
        ...args(o.args),
      });
    });
    hooks.authEvent.tap(this.name, (event) => {
      write({
        timestamp: new Date().toISOString(),
        agent: null,
        operation: `auth.${event.type}`,
        server: event.server,
        tool: null,
        decision: event.type === 'failure' ? 'ERROR' : 'ALLOW',
        error_code: event.type === 'failure' ? 'AUTH_FAILED' : null,
        latency_ms: null,
        auth: event.kind,
        ...(event.detail !== undefined && { detail: redactor.redactString(event.detail) }),
      });
    });
    hooks.status.tap(this.name, (status) => ({
      ...status,
      audit: { file: log.path, arguments: this.withArguments, ...(log.lastError !== undefined && { lastError: log.lastError }) },
    }));
    hooks.shutdown.tapPromise(this.name, () => log.flush());
  }

  /** Writes out what is buffered. */
  flush(): Promise<void> {
    return this.log?.flush() ?? Promise.resolve();
  }
}

/** Buffered appends to a size-rotated file. */
class JsonlLog {
  private buffer: string[] = [];
  private scheduled = false;
  private writing: Promise<void> = Promise.resolve();
  /** Bytes in the file; unknown until first written (and after a failure). */
  private size: number | undefined;
  lastError: string | undefined;

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
    private readonly keep: number,
    private readonly logger: Logger,
  ) {}

  append(line: string): void {
    this.buffer.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.writeOut());
    return this.writing;
  }

  private async writeOut(): Promise<void> {
    this.scheduled = false;
    if (this.buffer.length === 0) return;
    const chunk = this.buffer.join('');
    this.buffer = [];
    try {
      if (this.size === undefined) {
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        this.size = await stat(this.path).then((s) => s.size, () => 0);
      }
      const bytes = Buffer.byteLength(chunk);
      if (this.size > 0 && this.size + bytes > this.maxBytes) await this.rotate();
      await appendFile(this.path, chunk, { mode: 0o600 });
      this.size += bytes;
      if (this.lastError !== undefined) {
        this.lastError = undefined;
        this.logger.info(`Audit log ${this.path} is written again`);
      }
    } catch (error) {
      this.size = undefined;
      const message = error instanceof Error ? error.message : String(error);
      if (this.lastError === undefined) {
        this.logger.warn(`Cannot write the audit log ${this.path}: ${message}; its records are dropped until it works again`);
      }
      this.lastError = message;
    }
  }

  /** `file` → `file.1` → … → `file.<keep>` (the oldest is overwritten). */
  private async rotate(): Promise<void> {
    for (let i = this.keep - 1; i >= 1; i--) {
      await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch(() => undefined);
    }
    await rename(this.path, `${this.path}.1`);
    this.size = 0;
  }
}
