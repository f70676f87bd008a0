import { errors, type ServerInfo, type ServerState, type TransportKind } from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { Progress, printJson, printable, table } from './output.js';
import { openSession } from './session.js';

/** One row of `servers --json` (every key always present; see the README). */
export interface ServerReport {
  readonly name: string;
  readonly transport: TransportKind;
  readonly url: string | null;
  readonly command: string | null;
  /** `none`, `headers`, `oauth` (or a plugin's kind); null for a disabled server. */
  readonly auth: string | null;
  readonly state: ServerState;
  readonly toolCount: number | null;
  /** The protocol revision spoken with the server once connected (`2026-07-28`, `2025-11-25`); null before. */
  readonly protocol: string | null;
  readonly lastError: string | null;
}

/** Slack beyond the servers' own connect timeout before a server is reported as not answering. */
const GRACE_MS = 2_000;

/** `servers` exit code when some enabled server is not usable (`error`, `auth_required`, no answer): a health check. */
export const EXIT_SERVER_NOT_READY = 3;

/**
 * `servers`: connects every enabled server at once (each bounded by the
 * connect timeout) and reports what it found. A server that needs a login is
 * reported as `auth_required`; no browser is ever opened. Exit 0 when every
 * enabled server is ready, {@link EXIT_SERVER_NOT_READY} when one is not (the
 * report is printed either way), 1 for a config error.
 */
export async function runServers(args: CliArgs): Promise<number> {
  const session = await openSession(args, { browser: false });
  const progress = new Progress();
  try {
    const servers = session.gateway.servers();
    const enabled = servers.filter((s) => s.state !== 'disabled');
    const limitMs = session.config.settings.connectTimeoutMs + GRACE_MS;
    const late = new Set<string>();
    let settled = 0;
    const line = () => `Connecting ${enabled.length} server${enabled.length === 1 ? '' : 's'}… ${settled}/${enabled.length}`;
    progress.every(1000, line);
    await Promise.all(
      enabled.map(async (server) => {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            late.add(server.name);
            resolve();
          }, limitMs);
        });
        await Promise.race([server.connect().then(() => undefined, () => undefined), deadline]);
        clearTimeout(timer);
        settled++;
        progress.show(line());
      }),
    );
    progress.done();
    const reports = servers.map((s) => report(s.info(), late.has(s.name) ? limitMs : undefined));
    if (args.json) printJson({ servers: reports });
    else process.stdout.write(reports.length ? humanTable(reports) : 'No servers configured.\n');
    const notReady = reports.filter((r) => r.state !== 'ready' && r.state !== 'disabled');
    return notReady.length > 0 ? EXIT_SERVER_NOT_READY : 0;
  } finally {
    progress.done();
    await session.close();
  }
}

function report(info: ServerInfo, lateAfterMs: number | undefined): ServerReport {
  // A downstream wrote it: it may echo a credential or carry escape sequences for the terminal.
  let lastError = info.lastError === undefined ? null : printable(info.lastError, { singleLine: true });
  // The pending login's URL dies with this process: point at the command that logs in for good.
  if (info.state === 'auth_required' && info.auth === 'oauth') lastError = errors.authRequired(info.name).message;
  else if (lateAfterMs !== undefined && info.state === 'connecting') lastError = `no answer within ${lateAfterMs} ms`;
  return {
    name: info.name,
    transport: info.transport,
    url: info.url ?? null,
    command: info.command ?? null,
    auth: info.state === 'disabled' ? null : info.auth,
    state: info.state,
    toolCount: info.toolCount ?? null,
    protocol: info.protocol ?? null,
    lastError,
  };
}

function humanTable(reports: readonly ServerReport[]): string {
  return table(
    ['NAME', 'TRANSPORT', 'AUTH', 'STATE', 'TOOLS', 'PROTOCOL', 'LAST ERROR'],
    reports.map((r) => [r.name, r.transport, r.auth ?? '-', r.state, r.toolCount === null ? '-' : String(r.toolCount), r.protocol ?? '-', r.lastError ?? '']),
  );
}
