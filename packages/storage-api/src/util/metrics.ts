import type { MetricAgg, MetricQuery, MetricResolution, MetricSeries } from '../types.js';

export const RESOLUTION_MS: Record<Exclude<MetricResolution, 'raw'>, number> = { '1m': 60_000, '1h': 3_600_000 };
export const ROLLUP_RESOLUTIONS = ['1m', '1h'] as const;

/** Stable id of a series: name + sorted labels. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return JSON.stringify([name, ...keys.map((k) => [k, labels[k]])]);
}

export function labelsMatch(labels: Record<string, string>, filter?: Record<string, string>): boolean {
  if (!filter) return true;
  for (const [k, v] of Object.entries(filter)) if (labels[k] !== v) return false;
  return true;
}

const PERCENTILE: Partial<Record<MetricAgg, number>> = { p50: 0.5, p90: 0.9, p99: 0.99 };

/**
 * Resolution a query reads: raw for percentiles (rollups keep count/sum/min/max/last
 * only) or when the step is finer than a rollup; otherwise the coarsest rollup whose
 * width divides the step.
 */
export function chooseResolution(q: MetricQuery, available: readonly MetricResolution[] = ['raw', '1m', '1h']): MetricResolution {
  if (q.resolution && q.resolution !== 'auto') return q.resolution;
  const agg = q.agg ?? 'avg';
  if (PERCENTILE[agg] !== undefined) return 'raw';
  const step = q.step ?? q.to - q.from;
  let best: MetricResolution = 'raw';
  for (const r of ROLLUP_RESOLUTIONS) {
    const ms = RESOLUTION_MS[r];
    if (available.includes(r) && step >= ms && step % ms === 0 && q.from % ms === 0) best = r;
  }
  return best;
}

/** Partial aggregate kept per bucket; also the shape of a rollup row. */
export interface PartialAgg {
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
  lastTs: number;
  /** Raw values, only kept for percentiles. */
  values?: number[];
}

export function emptyPartial(): PartialAgg {
  return { count: 0, sum: 0, min: Infinity, max: -Infinity, last: NaN, lastTs: -Infinity };
}

export function addValue(p: PartialAgg, ts: number, value: number, keepValues: boolean): void {
  p.count += 1;
  p.sum += value;
  if (value < p.min) p.min = value;
  if (value > p.max) p.max = value;
  if (ts >= p.lastTs) {
    p.last = value;
    p.lastTs = ts;
  }
  if (keepValues) (p.values ??= []).push(value);
}

export function mergePartial(p: PartialAgg, r: Omit<PartialAgg, 'values'>): void {
  p.count += r.count;
  p.sum += r.sum;
  if (r.min < p.min) p.min = r.min;
  if (r.max > p.max) p.max = r.max;
  if (r.lastTs >= p.lastTs) {
    p.last = r.last;
    p.lastTs = r.lastTs;
  }
}

export function finishPartial(p: PartialAgg, agg: MetricAgg): number {
  switch (agg) {
    case 'avg':
      return p.sum / p.count;
    case 'min':
      return p.min;
    case 'max':
      return p.max;
    case 'sum':
      return p.sum;
    case 'count':
      return p.count;
    case 'last':
      return p.last;
    default: {
      const q = PERCENTILE[agg]!;
      const v = (p.values ?? []).slice().sort((a, b) => a - b);
      if (v.length === 0) return NaN;
      // Nearest-rank percentile: a value that was actually observed.
      return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
    }
  }
}

export function needsValues(agg: MetricAgg): boolean {
  return PERCENTILE[agg] !== undefined;
}

export function bucketOf(ts: number, from: number, step: number): number {
  return from + Math.floor((ts - from) / step) * step;
}

/** Labels a group carries: the `by` keys, or the full label set when not grouping. */
export function groupLabels(labels: Record<string, string>, by?: string[]): Record<string, string> {
  if (!by) return labels;
  const out: Record<string, string> = {};
  for (const k of by) if (labels[k] !== undefined) out[k] = labels[k];
  return out;
}

/**
 * Reference aggregation over raw or rollup rows. `rows` yields, per stored row, its
 * series labels, time and either a raw value or a rollup partial.
 */
export class Aggregator {
  readonly #groups = new Map<string, { labels: Record<string, string>; buckets: Map<number, PartialAgg> }>();
  readonly #agg: MetricAgg;
  readonly #step: number;

  constructor(private readonly q: MetricQuery) {
    this.#agg = q.agg ?? 'avg';
    this.#step = q.step ?? Math.max(1, q.to - q.from);
  }

  #bucket(labels: Record<string, string>, ts: number): PartialAgg {
    const gl = groupLabels(labels, this.q.by);
    const key = seriesKey(this.q.name, gl);
    let g = this.#groups.get(key);
    if (!g) this.#groups.set(key, (g = { labels: gl, buckets: new Map() }));
    const b = bucketOf(ts, this.q.from, this.#step);
    let p = g.buckets.get(b);
    if (!p) g.buckets.set(b, (p = emptyPartial()));
    return p;
  }

  addRaw(labels: Record<string, string>, ts: number, value: number): void {
    addValue(this.#bucket(labels, ts), ts, value, needsValues(this.#agg));
  }

  addRollup(labels: Record<string, string>, ts: number, r: Omit<PartialAgg, 'values'>): void {
    mergePartial(this.#bucket(labels, ts), r);
  }

  result(): MetricSeries[] {
    const out: MetricSeries[] = [];
    for (const g of this.#groups.values()) {
      const points = [...g.buckets.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([ts, p]) => ({ ts, value: finishPartial(p, this.#agg) }));
      out.push({ name: this.q.name, labels: g.labels, points });
    }
    return out.sort((a, b) => (seriesKey(a.name, a.labels) < seriesKey(b.name, b.labels) ? -1 : 1));
  }
}
