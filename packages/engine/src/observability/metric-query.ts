import type { MetricAgg, MetricQuery } from '@sluice/storage-api';
import { ObservabilityError } from './errors.js';
import { parseDuration, parseTimeArg } from './time-args.js';

export const METRIC_AGGS: readonly MetricAgg[] = ['avg', 'min', 'max', 'sum', 'count', 'last', 'p50', 'p90', 'p99'];

/** The filters of `sluice metrics` and GET /apps/:id/metrics, as typed. */
export interface MetricFilter {
  name?: string;
  since?: string;
  until?: string;
  step?: string;
  agg?: string;
  /** Label keys to group by (comma-separated or repeated). */
  by?: string | string[];
  /** `key=value` label matchers. */
  label?: string | string[];
  resolution?: string;
}

/** Default window of a metrics query. */
export const DEFAULT_METRICS_SINCE = '15m';
/** Without --step, aim for about this many buckets. */
const TARGET_BUCKETS = 60;

function list(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
}

export function parseLabelMatchers(v: string | string[] | undefined): Record<string, string> | undefined {
  const items = list(v);
  if (!items.length) return undefined;
  const out: Record<string, string> = {};
  for (const it of items) {
    const eq = it.indexOf('=');
    if (eq <= 0) throw new ObservabilityError('INVALID_ARGUMENT', `invalid label matcher ${JSON.stringify(it)}: use key=value`);
    out[it.slice(0, eq)] = it.slice(eq + 1);
  }
  return out;
}

export function resolveMetricQuery(f: MetricFilter, now = Date.now()): MetricQuery {
  if (!f.name) throw new ObservabilityError('INVALID_ARGUMENT', 'a metric name is required');
  const from = parseTimeArg(f.since ?? DEFAULT_METRICS_SINCE, now, '--since');
  const to = f.until !== undefined ? parseTimeArg(f.until, now, '--until') : now + 1;
  if (to <= from) throw new ObservabilityError('INVALID_ARGUMENT', '--until must be after --since');
  const step = f.step !== undefined ? parseDuration(f.step, '--step') : Math.max(1000, Math.ceil((to - from) / TARGET_BUCKETS / 1000) * 1000);
  if (step <= 0) throw new ObservabilityError('INVALID_ARGUMENT', '--step must be positive');
  if ((to - from) / step > 100_000) throw new ObservabilityError('INVALID_ARGUMENT', `--step ${f.step} gives more than 100000 buckets over the window`);
  const agg = (f.agg ?? 'avg') as MetricAgg;
  if (!METRIC_AGGS.includes(agg)) throw new ObservabilityError('INVALID_ARGUMENT', `invalid --agg ${JSON.stringify(f.agg)}: one of ${METRIC_AGGS.join(', ')}`);
  const q: MetricQuery = { name: f.name, from, to, step, agg };
  const labels = parseLabelMatchers(f.label);
  if (labels) q.labels = labels;
  const by = list(f.by);
  if (by.length) q.by = by;
  if (f.resolution !== undefined) {
    if (!['raw', '1m', '1h', 'auto'].includes(f.resolution)) throw new ObservabilityError('INVALID_ARGUMENT', `invalid --resolution ${JSON.stringify(f.resolution)}: raw, 1m, 1h or auto`);
    q.resolution = f.resolution as MetricQuery['resolution'];
  }
  return q;
}
