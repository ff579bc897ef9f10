import type { MetricPoint, MetricsStore } from '@sluice/storage-api';
import type { MetricsRegistry } from './metrics-registry.js';

export interface MetricsReporterOptions {
  registry: MetricsRegistry;
  store: MetricsStore;
  /** Default 5000 ms. */
  intervalMs?: number;
  /** Points kept while the store is slow or down; beyond it the oldest are dropped and counted. */
  maxBufferPoints?: number;
  /** Points per store write. */
  batchSize?: number;
  now?: () => number;
}

export interface MetricsReporterStats {
  reports: number;
  written: number;
  dropped: number;
  buffered: number;
  failures: number;
  lastError?: string;
}

/**
 * Every few seconds snapshots a MetricsRegistry into points and writes them to the app's
 * metrics store. The snapshot is synchronous and cheap; the write is asynchronous and
 * single-flight, so a slow store never holds up the engine: points wait in a bounded
 * buffer and the oldest are dropped (counted, and exposed as a metric) when it is full.
 */
export class MetricsReporter {
  private buffer: MetricPoint[] = [];
  private readonly meterState = new Map<string, { count: number; ts: number }>();
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private readonly startedAt: number;
  private readonly now: () => number;
  private readonly s: MetricsReporterStats = { reports: 0, written: 0, dropped: 0, buffered: 0, failures: 0 };

  constructor(private readonly options: MetricsReporterOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    options.registry.counterFn('sluice_metrics_points_dropped_total', 'Metric points the reporter dropped (buffer full)', {}, () => this.s.dropped);
  }

  start(): this {
    if (this.timer) return this;
    this.timer = setInterval(() => this.reportNow(), this.options.intervalMs ?? 5000);
    this.timer.unref();
    return this;
  }

  /** Snapshots now and starts writing in the background. */
  reportNow(): void {
    const pts = this.options.registry.collectPoints(this.now(), this.meterState, this.startedAt);
    this.s.reports++;
    this.buffer.push(...pts);
    const cap = this.options.maxBufferPoints ?? 50_000;
    if (this.buffer.length > cap) {
      const over = this.buffer.length - cap;
      this.buffer.splice(0, over);
      this.s.dropped += over;
    }
    void this.write();
  }

  /** Waits until the buffer is written or `timeoutMs` passes; true if written. */
  async flush(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100_000 && this.buffer.length > 0; i++) {
      await this.write();
      if (this.buffer.length === 0) break;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.buffer.length === 0;
  }

  /** Final report, flush, stop. */
  async stop(timeoutMs = 5000): Promise<MetricsReporterStats> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.reportNow();
    await this.flush(timeoutMs);
    return this.stats();
  }

  stats(): MetricsReporterStats {
    return { ...this.s, buffered: this.buffer.length };
  }

  private write(): Promise<void> {
    if (this.writing) return this.writing;
    this.writing = (async () => {
      const size = this.options.batchSize ?? 5000;
      // Bounded by the buffer cap / batch size; stops at the first failure.
      while (this.buffer.length > 0) {
        const batch = this.buffer.slice(0, size);
        try {
          await this.options.store.write(batch);
        } catch (err) {
          this.s.failures++;
          this.s.lastError = err instanceof Error ? err.message : String(err);
          return;
        }
        this.buffer.splice(0, batch.length);
        this.s.written += batch.length;
      }
    })().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }
}
