import type { GatewayHooks } from './hooks.js';
import type { ServerName } from './types.js';

/** The part of the gateway the metrics plugin uses (a `Gateway` satisfies it). */
export interface MetricsHost {
  readonly hooks: GatewayHooks;
  server(name: ServerName): unknown;
}

/** Counts and latency of one agent × operation × server. */
export interface MetricsSeries {
  readonly agent: string;
  readonly operation: string;
  /** Empty for operations on no server (`list_servers`). */
  readonly server: string;
  readonly count: number;
  /** Errors: decision ERROR, or a downstream result with `isError: true`. */
  readonly errors: number;
  readonly denied: number;
  /** Latency percentiles over the last {@link RESERVOIR_SIZE} calls, in milliseconds. */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
}

/** Latency samples kept per series: a ring of the most recent calls, so percentiles follow the present. */
export const RESERVOIR_SIZE = 1024;
/** Beyond this many series (agent ids are free text without a rules file), new ones fold into agent `(other)`. */
const MAX_SERIES = 1000;
const OPERATIONS = new Set(['list_servers', 'get_server_tools', 'execute_tool', 'get_gateway_status']);
/** Label values for what is not in the config: arbitrary request input must not create series. */
const UNKNOWN = '(unknown)';
const PREFIX = 'agent_mcp_gateway';

class Series {
  count = 0;
  errors = 0;
  denied = 0;
  sumMs = 0;
  private readonly samples = new Float64Array(RESERVOIR_SIZE);

  constructor(
    readonly agent: string,
    readonly operation: string,
    readonly server: string,
  ) {}

  add(durationMs: number, error: boolean, denied: boolean): void {
    this.samples[this.count % RESERVOIR_SIZE] = durationMs;
    this.count += 1;
    this.sumMs += durationMs;
    if (error) this.errors += 1;
    if (denied) this.denied += 1;
  }

  /** Nearest-rank percentiles of the reservoir. */
  percentiles(qs: readonly number[]): number[] {
    const sorted = this.samples.slice(0, Math.min(this.count, RESERVOIR_SIZE)).sort();
    return qs.map((q) => (sorted.length === 0 ? 0 : (sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? 0)));
  }
}

/**
 * Counts every gateway tool call (`callSettled`) per agent, operation and
 * server (calls, errors, denials, latency percentiles): the `metrics` section
 * of the status (an agent sees its own series on the servers it may see), and
 * Prometheus text on the `metrics` hook (HTTP serving's `/metrics`) and from
 * {@link MetricsPlugin.prometheus}. A plugin like any other: the CLI composes it.
 */
export class MetricsPlugin {
  readonly name = 'MetricsPlugin';
  private readonly series = new Map<string, Series>();

  apply(gateway: MetricsHost): void {
    const { hooks } = gateway;
    const serverLabel = (server: string | undefined) =>
      server === undefined ? '' : gateway.server(server) !== undefined ? server : UNKNOWN;
    hooks.callSettled.tap(this.name, (o) => {
      const operation = OPERATIONS.has(o.operation) ? o.operation : UNKNOWN;
      this.record(o.agent, operation, serverLabel(o.server), o.durationMs, o.decision === 'ERROR' || o.toolError === true, o.decision === 'DENY');
    });
    hooks.status.tap(this.name, (status, { agent, visible }) => {
      const all = this.snapshot();
      const metrics = agent === undefined ? all : all.filter((m) => m.agent === agent && (!m.server || visible(m.server)));
      return { ...status, metrics };
    });
    hooks.metrics.tap(this.name, (text) => text + this.prometheus());
  }

  /** Every series, sorted by agent, operation, server. */
  snapshot(): MetricsSeries[] {
    return this.sorted().map((s) => {
      const [p50Ms, p95Ms, p99Ms] = s.percentiles([0.5, 0.95, 0.99]).map(round) as [number, number, number];
      return { agent: s.agent, operation: s.operation, server: s.server, count: s.count, errors: s.errors, denied: s.denied, p50Ms, p95Ms, p99Ms };
    });
  }

  /** The metrics in the Prometheus text exposition format (version 0.0.4). */
  prometheus(): string {
    const all = this.sorted();
    const lines: string[] = [];
    const family = (name: string, type: string, help: string, samples: (s: Series) => string[]) => {
      lines.push(`# HELP ${PREFIX}_${name} ${help}`, `# TYPE ${PREFIX}_${name} ${type}`);
      for (const s of all) lines.push(...samples(s));
    };
    family('calls_total', 'counter', 'Gateway tool calls.', (s) => [`${PREFIX}_calls_total${labels(s)} ${s.count}`]);
    family('call_errors_total', 'counter', 'Gateway tool calls that failed or returned a tool error.', (s) => [
      `${PREFIX}_call_errors_total${labels(s)} ${s.errors}`,
    ]);
    family('call_denials_total', 'counter', 'Gateway tool calls denied by policy.', (s) => [`${PREFIX}_call_denials_total${labels(s)} ${s.denied}`]);
    const quantiles = [0.5, 0.95, 0.99];
    family('call_duration_seconds', 'summary', `Gateway tool call latency (quantiles over the last ${RESERVOIR_SIZE} calls).`, (s) => [
      ...s.percentiles(quantiles).map((ms, i) => `${PREFIX}_call_duration_seconds${labels(s, { quantile: String(quantiles[i]) })} ${ms / 1000}`),
      `${PREFIX}_call_duration_seconds_sum${labels(s)} ${s.sumMs / 1000}`,
      `${PREFIX}_call_duration_seconds_count${labels(s)} ${s.count}`,
    ]);
    return `${lines.join('\n')}\n`;
  }

  private record(agent: string | undefined, operation: string, server: string, durationMs: number, error: boolean, denied: boolean): void {
    let agentLabel = agent ?? UNKNOWN;
    let key = `${agentLabel}\0${operation}\0${server}`;
    let series = this.series.get(key);
    if (!series && this.series.size >= MAX_SERIES) {
      agentLabel = '(other)';
      key = `${agentLabel}\0${operation}\0${server}`;
      series = this.series.get(key);
    }
    if (!series) {
      series = new Series(agentLabel, operation, server);
      this.series.set(key, series);
    }
    series.add(durationMs, error, denied);
  }

  private sorted(): Series[] {
    const by = (s: Series) => `${s.agent}\0${s.operation}\0${s.server}`;
    return [...this.series.values()].sort((a, b) => (by(a) < by(b) ? -1 : by(a) > by(b) ? 1 : 0));
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function labels(s: Series, extra: Record<string, string> = {}): string {
  const all = { agent: s.agent, operation: s.operation, server: s.server, ...extra };
  return `{${Object.entries(all)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',')}}`;
}
