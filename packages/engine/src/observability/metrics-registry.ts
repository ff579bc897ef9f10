import type { MetricKind, MetricPoint, SubStoreKind } from '@sluice/storage-api';
import { isStorageError } from '@sluice/storage-api';
import { ObservabilityError } from './errors.js';
import { bucketIndex, FixedHistogram, type HistogramSummary } from './histogram.js';

export type Labels = Record<string, string>;

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class Counter {
  value = 0;
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
}

export class Gauge {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

/** Counts events; the reporter turns the count into a per-second rate per interval. */
export class Meter {
  count = 0;
  mark(n = 1): void {
    if (n > 0) this.count += n;
  }
}

/** Latency histogram: `total` since start (Prometheus), `window` since the last report (store). */
export class Histogram {
  readonly total = new FixedHistogram();
  readonly window = new FixedHistogram();
  observe(v: number): void {
    if (!Number.isFinite(v)) return;
    const i = bucketIndex(v);
    this.total.observeAt(i, v);
    this.window.observeAt(i, v);
  }
  /** Times an async call in ms (also when it throws). */
  async time<T>(fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.observe(performance.now() - t0);
    }
  }
}

type Instrument = Counter | Gauge | Meter | Histogram | { fn: () => number };

interface Series {
  name: string;
  labels: Labels;
  kind: MetricKind;
  instrument: Instrument;
}

interface Family {
  name: string;
  help: string;
  kind: MetricKind;
  series: Map<string, Series>;
}

/** One series in a snapshot; `histogram` for histograms, `value` otherwise. */
export interface MetricSample {
  name: string;
  help: string;
  kind: MetricKind;
  labels: Labels;
  /** Counter/gauge value; a meter's cumulative count. */
  value: number;
  histogram?: HistogramSummary;
}

export interface TaskMetrics {
  messagesIn: Meter;
  messagesOut: Meter;
  /** Processing latency per message, ms. */
  latency: Histogram;
  queueDepth: Gauge;
  checkpointDuration: Histogram;
  restarts: Counter;
  errors: Counter;
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  let s = '';
  for (const k of keys) s += `${k}\u0000${labels[k]}\u0001`;
  return s;
}

/**
 * Live metrics of one app in one process (executor, app master): counters, gauges, meters
 * and histograms per task, processor and executor. Instruments are get-or-create, so hot
 * code keeps the returned object and pays one add per event. The MetricsReporter writes
 * snapshots to the app's metrics store; the master's /metrics exposes them live.
 */
export class MetricsRegistry {
  private families = new Map<string, Family>();

  /** `labels` are added to every series (e.g. {app, executor}). */
  constructor(readonly labels: Labels = {}) {
    for (const k of Object.keys(labels)) checkLabel(k);
  }

  counter(name: string, help: string, labels: Labels = {}): Counter {
    return this.get(name, help, 'counter', labels, () => new Counter()) as Counter;
  }

  gauge(name: string, help: string, labels: Labels = {}): Gauge {
    return this.get(name, help, 'gauge', labels, () => new Gauge()) as Gauge;
  }

  meter(name: string, help: string, labels: Labels = {}): Meter {
    return this.get(name, help, 'meter', labels, () => new Meter()) as Meter;
  }

  histogram(name: string, help: string, labels: Labels = {}): Histogram {
    return this.get(name, help, 'histogram', labels, () => new Histogram()) as Histogram;
  }

  /** A gauge read from `fn` at snapshot time (queue lengths, sizes). */
  gaugeFn(name: string, help: string, labels: Labels, fn: () => number): void {
    this.get(name, help, 'gauge', labels, () => ({ fn }));
  }

  /** A counter read from `fn` at snapshot time (a count kept elsewhere). */
  counterFn(name: string, help: string, labels: Labels, fn: () => number): void {
    this.get(name, help, 'counter', labels, () => ({ fn }));
  }

  /** Removes every series whose labels include all of `labels` (a task that ended). */
  remove(labels: Labels): number {
    let n = 0;
    for (const f of this.families.values()) {
      for (const [k, s] of f.series) {
        if (Object.entries(labels).every(([lk, lv]) => s.labels[lk] === lv)) {
          f.series.delete(k);
          n++;
        }
      }
    }
    return n;
  }

  // ------------------------------------------------------------ engine helpers

  /** The standard instruments of one task. */
  task(processor: string, task: string): TaskMetrics {
    const l = { processor, task };
    return {
      messagesIn: this.meter('sluice_task_messages_in', 'Messages received by the task', l),
      messagesOut: this.meter('sluice_task_messages_out', 'Messages emitted by the task', l),
      latency: this.histogram('sluice_task_latency_ms', 'Processing latency per message (ms)', l),
      queueDepth: this.gauge('sluice_task_queue_depth', 'Messages waiting in the task inbox', l),
      checkpointDuration: this.histogram('sluice_task_checkpoint_duration_ms', 'Time to persist task state (ms)', l),
      restarts: this.counter('sluice_task_restarts_total', 'Times the task was restarted', l),
      errors: this.counter('sluice_task_errors_total', 'Errors raised by the task', l),
    };
  }

  /**
   * Times one storage operation: latency histogram per sub-store and op, and an error
   * counter by code. Rethrows what fn throws.
   */
  async timeStorageOp<T>(subStore: SubStoreKind, op: string, fn: () => Promise<T>): Promise<T> {
    const l = { sub_store: subStore, op };
    const t0 = performance.now();
    try {
      return await fn();
    } catch (err) {
      const code = isStorageError(err) ? err.code : 'OTHER';
      this.counter('sluice_storage_op_errors_total', 'Failed storage operations', { ...l, code }).inc();
      throw err;
    } finally {
      this.histogram('sluice_storage_op_duration_ms', 'Storage operation latency (ms)', l).observe(performance.now() - t0);
    }
  }

  /** An `onRetry` for withRetry() that counts retries per sub-store and op. */
  storageRetryHook(subStore: SubStoreKind, op: string): () => void {
    const c = this.counter('sluice_storage_retries_total', 'Storage operations retried', { sub_store: subStore, op });
    return () => c.inc();
  }

  // ------------------------------------------------------------ reading

  snapshot(): MetricSample[] {
    const out: MetricSample[] = [];
    for (const f of this.families.values()) {
      for (const s of f.series.values()) {
        const i = s.instrument;
        const base = { name: f.name, help: f.help, kind: f.kind, labels: { ...this.labels, ...s.labels } };
        if (i instanceof Histogram) out.push({ ...base, value: i.total.count, histogram: i.total.summary() });
        else if (i instanceof Meter) out.push({ ...base, value: i.count });
        else if (i instanceof Counter || i instanceof Gauge) out.push({ ...base, value: i.value });
        else out.push({ ...base, value: safeCall(i.fn) });
      }
    }
    return out;
  }

  /**
   * Points for the metrics store at `ts`: counters and gauges as they are, meters as a rate
   * per second since the previous call, histograms as p50/p90/p99/max/mean over the
   * window since the previous call (label `stat`) plus its count. Resets the windows.
   */
  collectPoints(ts: number, state: Map<string, { count: number; ts: number }>, since: number): MetricPoint[] {
    const points: MetricPoint[] = [];
    for (const f of this.families.values()) {
      for (const [key, s] of f.series) {
        const labels = { ...this.labels, ...s.labels };
        const i = s.instrument;
        if (i instanceof Histogram) {
          const w = i.window.summary();
          i.window.reset();
          points.push({ name: f.name, labels: { ...labels, stat: 'count' }, ts, value: w.count, kind: 'histogram' });
          if (w.count > 0) {
            for (const stat of ['p50', 'p90', 'p99', 'max', 'mean'] as const) {
              points.push({ name: f.name, labels: { ...labels, stat }, ts, value: w[stat], kind: 'histogram' });
            }
          }
        } else if (i instanceof Meter) {
          const id = `${f.name}\u0002${key}`;
          const prev = state.get(id) ?? { count: 0, ts: since };
          const dt = Math.max(1, ts - prev.ts) / 1000;
          points.push({ name: f.name, labels, ts, value: (i.count - prev.count) / dt, kind: 'meter' });
          state.set(id, { count: i.count, ts });
        } else {
          const v = i instanceof Counter || i instanceof Gauge ? i.value : safeCall(i.fn);
          if (Number.isFinite(v)) points.push({ name: f.name, labels, ts, value: v, kind: f.kind });
        }
      }
    }
    return points;
  }

  private get(name: string, help: string, kind: MetricKind, labels: Labels, make: () => Instrument): Instrument {
    let f = this.families.get(name);
    if (!f) {
      if (!NAME_RE.test(name)) throw new ObservabilityError('INVALID_ARGUMENT', `invalid metric name ${JSON.stringify(name)}: use [a-zA-Z_:][a-zA-Z0-9_:]*`);
      f = { name, help, kind, series: new Map() };
      this.families.set(name, f);
    } else if (f.kind !== kind) {
      throw new ObservabilityError('INVALID_ARGUMENT', `metric ${name} is a ${f.kind}, not a ${kind}`);
    }
    const key = labelKey(labels);
    let s = f.series.get(key);
    if (!s) {
      for (const k of Object.keys(labels)) checkLabel(k);
      s = { name, labels: { ...labels }, kind, instrument: make() };
      f.series.set(key, s);
    }
    return s.instrument;
  }
}

function checkLabel(k: string): void {
  if (!LABEL_RE.test(k) || k.startsWith('__')) throw new ObservabilityError('INVALID_ARGUMENT', `invalid label name ${JSON.stringify(k)}`);
}

function safeCall(fn: () => number): number {
  try {
    return fn();
  } catch {
    return NaN;
  }
}
