/**
 * A compact fixed-bucket histogram: log buckets, 8 per doubling from 0.001 up to ~1e12,
 * so any percentile is within ±4.5 % of the truth at a fixed 3.2 KB per histogram and an
 * O(1) observe (one log2). Unit-agnostic (the engine records milliseconds).
 */
const MIN = 0.001;
const PER_DOUBLING = 8;
export const HISTOGRAM_BUCKETS = 400;
const LOG_FACTOR = PER_DOUBLING; // index = ceil(log2(v / MIN) * 8)

export function bucketIndex(v: number): number {
  if (!(v > MIN)) return 0;
  const i = Math.ceil(Math.log2(v / MIN) * LOG_FACTOR);
  return i >= HISTOGRAM_BUCKETS ? HISTOGRAM_BUCKETS - 1 : i;
}

/** Geometric middle of bucket i: the estimate reported for values in it. */
export function bucketValue(i: number): number {
  if (i === 0) return MIN;
  return MIN * 2 ** ((i - 0.5) / LOG_FACTOR);
}

export interface HistogramSummary {
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

export class FixedHistogram {
  private counts = new Float64Array(HISTOGRAM_BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  observe(v: number): void {
    if (!Number.isFinite(v)) return;
    this.observeAt(bucketIndex(v), v);
  }

  /** For callers that record into several histograms: compute the bucket once. */
  observeAt(i: number, v: number): void {
    this.counts[i]! += 1;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** q in [0, 1]; NaN when empty. Clamped to the observed min/max. */
  percentile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketValue(i)));
    }
    return this.max;
  }

  summary(): HistogramSummary {
    const empty = this.count === 0;
    return {
      count: this.count,
      sum: this.sum,
      min: empty ? NaN : this.min,
      max: empty ? NaN : this.max,
      mean: empty ? NaN : this.sum / this.count,
      p50: this.percentile(0.5),
      p90: this.percentile(0.9),
      p99: this.percentile(0.99),
    };
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }
}
