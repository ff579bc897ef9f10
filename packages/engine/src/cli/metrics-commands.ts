import type { Command } from 'commander';
import {
  EXIT, formatSeriesChart, formatSeriesList, formatSeriesTable, openCliSource, out, reportCliError, resolveMetricQuery,
  type MetricFilter, type ObservabilitySource,
} from '../observability/index.js';

interface MetricsOptions extends Omit<MetricFilter, 'by' | 'label'> {
  by?: string[];
  label?: string[];
  json?: boolean;
  chart?: boolean;
  table?: boolean;
  config?: string;
  master?: string;
  tokenFile?: string;
}

/** Commander exits 1 on usage errors; Sluice's CLI uses 2 (help and version stay 0). */
function usageExit(err: { exitCode: number }): never {
  process.exit(err.exitCode === 0 ? 0 : EXIT.usage);
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `sluice metrics <appId>`: list an app's series, or query one metric as a table or chart. */
export function registerMetricsCommands(program: Command): void {
  program
    .command('metrics')
    .description("list an app's metric series, or show one metric over time (--name)")
    .argument('<appId>', 'app id')
    .option('--name <metric>', 'metric to show; without it the series are listed')
    .option('--since <time>', 'from: a duration ago (10m), epoch ms or ISO date (default 15m)')
    .option('--until <time>', 'up to (default now)')
    .option('--step <duration>', 'bucket width, e.g. 10s (default: about 60 buckets)')
    .option('--agg <agg>', 'avg, min, max, sum, count, last, p50, p90, p99 (default avg)')
    .option('--by <labels>', 'group by these label keys (comma-separated, repeatable)', collect)
    .option('--label <k=v>', 'only series with this label (repeatable)', collect)
    .option('--resolution <r>', 'raw, 1m, 1h or auto (default auto)')
    .option('--json', 'one JSON series per line (NDJSON)')
    .option('--table', 'a table even on a terminal')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .option('--token-file <file>', 'file holding your API token (else SLUICE_TOKEN, credentials file, <config folder>/admin.token)')
    .option('--master <host:port>', 'master to ask')
    .exitOverride(usageExit)
    .action(async (appId: string, opts: MetricsOptions) => {
      process.exitCode = await runMetrics(appId, opts);
    });
}

export async function runMetrics(appId: string, o: MetricsOptions): Promise<number> {
  let source: ObservabilitySource | undefined;
  try {
    const filter: MetricFilter = { name: o.name, since: o.since, until: o.until, step: o.step, agg: o.agg, by: o.by, label: o.label, resolution: o.resolution };
    if (o.name) resolveMetricQuery(filter); // usage errors before connecting
    source = await openCliSource(appId, o);
    if (!o.name) {
      const list = await source.listSeries(o.label);
      await out(o.json ? list.map((s) => JSON.stringify(s) + '\n').join('') : formatSeriesList(list));
      return EXIT.ok;
    }
    const series = await source.queryMetrics(filter);
    if (o.json) await out(series.map((s) => JSON.stringify(s) + '\n').join(''));
    else if (process.stdout.isTTY === true && !o.table) await out(formatSeriesChart(series, { color: true }));
    else await out(formatSeriesTable(series));
    return EXIT.ok;
  } catch (err) {
    return reportCliError('metrics', err);
  } finally {
    await source?.close().catch(() => {});
  }
}
