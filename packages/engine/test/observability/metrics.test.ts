import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { StorageError, withRetry, type MetricPoint, type MetricsStore } from '@sluice/storage-api';
import {
  FixedHistogram, MetricsRegistry, MetricsReporter, isObservabilityError, prometheusHandler, renderPrometheus, storedSamples,
} from '../../dist/observability/index.js';
import { memoryApp } from './helpers.js';
import { parsePrometheus } from './prom-parse.js';

describe('fixed-bucket histogram', () => {
  it('percentiles stay within 5 % over a wide range', () => {
    const h = new FixedHistogram();
    for (let i = 1; i <= 100_000; i++) h.observe(i / 10); // 0.1 … 10 000
    const s = h.summary();
    expect(s.count).toBe(100_000);
    expect(s.min).toBe(0.1);
    expect(s.max).toBe(10_000);
    for (const [got, want] of [[s.p50, 5000], [s.p90, 9000], [s.p99, 9900]] as const) expect(Math.abs(got - want) / want).toBeLessThan(0.05);
    h.reset();
    expect(Number.isNaN(h.percentile(0.5))).toBe(true);
  });
});

describe('metrics registry', () => {
  it('get-or-create instruments, typed errors for bad names and kind clashes', () => {
    const r = new MetricsRegistry({ app: 'wc', executor: 'e1' });
    r.counter('sluice_x_total', 'x', { task: '1' }).inc(2);
    r.counter('sluice_x_total', 'x', { task: '1' }).inc(3);
    expect(r.snapshot()).toEqual([{ name: 'sluice_x_total', help: 'x', kind: 'counter', labels: { app: 'wc', executor: 'e1', task: '1' }, value: 5 }]);
    const clash = () => r.gauge('sluice_x_total', 'x');
    expect(clash).toThrow(/is a counter/);
    for (const bad of [() => r.counter('1bad', 'x'), () => r.gauge('ok_name', 'x', { 'bad-label': 'v' }), () => new MetricsRegistry({ __x: 'y' })]) {
      let err: unknown;
      try {
        bad();
      } catch (e) {
        err = e;
      }
      expect(isObservabilityError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
  });

  it('timeStorageOp and the retry hook record latency, errors by code and retries per sub-store', async () => {
    const r = new MetricsRegistry();
    expect(await r.timeStorageOp('checkpoints', 'commit', async () => 7)).toBe(7);
    await expect(r.timeStorageOp('logs', 'append', async () => Promise.reject(new StorageError('down', { code: 'STORAGE_UNAVAILABLE' })))).rejects.toThrow('down');
    let calls = 0;
    await withRetry(
      async () => {
        if (++calls < 3) throw new StorageError('flaky', { code: 'STORAGE_UNAVAILABLE' });
      },
      { baseDelayMs: 1, onRetry: r.storageRetryHook('offsets', 'append') },
    );
    const snap = r.snapshot();
    const find = (name: string, labels: Record<string, string>) => snap.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(find('sluice_storage_op_duration_ms', { sub_store: 'checkpoints', op: 'commit' })?.histogram?.count).toBe(1);
    expect(find('sluice_storage_op_duration_ms', { sub_store: 'logs', op: 'append' })?.histogram?.count).toBe(1);
    expect(find('sluice_storage_op_errors_total', { sub_store: 'logs', code: 'STORAGE_UNAVAILABLE' })?.value).toBe(1);
    expect(find('sluice_storage_retries_total', { sub_store: 'offsets', op: 'append' })?.value).toBe(2);
  });
});

describe('metrics reporter', () => {
  it('writes counters, gauges, meter rates and histogram stats into the metrics store', async () => {
    const { storage, app } = await memoryApp();
    let now = 1_000_000;
    const reg = new MetricsRegistry({ app: 'app1', executor: 'e1' });
    const rep = new MetricsReporter({ registry: reg, store: app.metrics, now: () => now });
    const t = reg.task('split', '0.0');
    t.messagesIn.mark(500);
    t.queueDepth.set(4);
    t.restarts.inc();
    for (let i = 1; i <= 100; i++) t.latency.observe(i);
    now += 10_000;
    rep.reportNow();
    t.messagesIn.mark(100);
    now += 10_000;
    rep.reportNow();
    expect(await rep.flush()).toBe(true);
    const q = (name: string, agg: 'last' | 'max' | 'sum', labels: Record<string, string> = {}) =>
      app.metrics.query({ name, from: 0, to: now + 1, step: 5000, agg, labels });
    const rate = await q('sluice_task_messages_in', 'last');
    expect(rate[0]!.points.map((p) => p.value)).toEqual([50, 10]); // 500/10 s, then 100/10 s
    expect((await q('sluice_task_queue_depth', 'last'))[0]!.points.map((p) => p.value)).toEqual([4, 4]);
    const p99 = await q('sluice_task_latency_ms', 'max', { stat: 'p99' });
    expect(p99[0]!.points).toHaveLength(1); // second window had no observations
    expect(Math.abs(p99[0]!.points[0]!.value - 99) / 99).toBeLessThan(0.05);
    const count = await q('sluice_task_latency_ms', 'sum', { stat: 'count' });
    expect(count[0]!.points.map((p) => p.value)).toEqual([100, 0]);
    const series = await app.metrics.listSeries({ name: 'sluice_task_restarts_total' });
    expect(series).toEqual([{ name: 'sluice_task_restarts_total', labels: { app: 'app1', executor: 'e1', processor: 'split', task: '0.0' }, kind: 'counter' }]);
    await rep.stop();
    await storage.close();
  });

  it('buffers while the store fails, drops the oldest beyond the cap (counted), then catches up', async () => {
    const { storage, app } = await memoryApp();
    let down = true;
    const failing: MetricsStore = {
      ...app.metrics,
      write: async (pts: MetricPoint[]) => {
        if (down) throw new StorageError('down', { code: 'STORAGE_UNAVAILABLE' });
        await app.metrics.write(pts);
      },
    };
    const reg = new MetricsRegistry();
    for (let i = 0; i < 10; i++) reg.gauge('g', 'g', { i: String(i) }).set(i);
    let now = 0;
    const rep = new MetricsReporter({ registry: reg, store: failing, maxBufferPoints: 25, now: () => (now += 1000) });
    for (let k = 0; k < 5; k++) rep.reportNow(); // 5 × 11 points (10 gauges + the drop counter)
    expect(await rep.flush(100)).toBe(false);
    const s = rep.stats();
    expect(s.buffered).toBe(25);
    expect(s.dropped).toBe(55 - 25);
    expect(s.failures).toBeGreaterThan(0);
    down = false;
    expect(await rep.flush()).toBe(true);
    expect(rep.stats().written).toBe(25);
    const dropped = reg.snapshot().find((m) => m.name === 'sluice_metrics_points_dropped_total');
    expect(dropped?.value).toBe(30);
    await storage.close();
  });
});

describe('Prometheus exposition', () => {
  function sources() {
    const a = new MetricsRegistry({ executor: 'e1' });
    const t = a.task('split', '0.0');
    t.messagesIn.mark(42);
    t.queueDepth.set(3);
    for (let i = 1; i <= 100; i++) t.latency.observe(i);
    a.gauge('sluice_weird_label', 'label escaping', { note: 'say "hi"\\n' }).set(1);
    const b = new MetricsRegistry();
    b.task('count', '1.0').messagesIn.mark(7);
    return {
      cluster: {
        uptimeSeconds: 12,
        workers: [{ id: 'w1', host: '127.0.0.1', alive: true, slots: 4, usedSlots: 2, standbysReady: 1 }],
        apps: [{ appId: 'wc', appName: 'wordcount', status: 'running', executors: 2, restarts: 1, epoch: 3 }],
      },
      apps: new Map([
        ['wc', a],
        ['other', b],
      ]),
    };
  }

  it('renders valid text format: HELP/TYPE per family, labelled samples, summaries with quantiles', async () => {
    const { body, contentType } = await renderPrometheus(sources());
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheus(body);
    expect(fams.get('sluice_cluster_workers')?.samples[0]?.value).toBe(1);
    expect(fams.get('sluice_worker_slots_used')?.samples).toEqual([{ name: 'sluice_worker_slots_used', labels: { worker: 'w1' }, value: 2 }]);
    expect(fams.get('sluice_worker_standbys_ready')?.samples).toEqual([{ name: 'sluice_worker_standbys_ready', labels: { worker: 'w1' }, value: 1 }]);
    expect(fams.get('sluice_app_info')?.samples[0]?.labels).toEqual({ app: 'wc', name: 'wordcount', status: 'running' });
    expect(fams.get('sluice_app_restarts_total')?.type).toBe('counter');
    const msgs = fams.get('sluice_task_messages_in')!;
    expect(msgs.type).toBe('counter');
    expect(msgs.samples.map((s) => [s.labels.app, s.labels.processor, s.value]).sort()).toEqual([
      ['other', 'count', 7],
      ['wc', 'split', 42],
    ]);
    expect(fams.get('sluice_task_queue_depth')?.type).toBe('gauge');
    const lat = fams.get('sluice_task_latency_ms')!;
    expect(lat.type).toBe('summary');
    const q99 = lat.samples.find((s) => s.labels.quantile === '0.99');
    expect(q99 && Math.abs(q99.value - 99) / 99).toBeLessThan(0.05);
    expect(lat.samples.find((s) => s.name === 'sluice_task_latency_ms_count')?.value).toBe(100);
    expect(lat.samples.find((s) => s.name === 'sluice_task_latency_ms_sum')?.value).toBe(5050);
    expect(fams.get('sluice_weird_label')?.samples[0]?.labels.note).toBe('say "hi"\\n');
  });

  it('serves /metrics over HTTP with process metrics', async () => {
    const handler = prometheusHandler(() => sources(), { processMetrics: true });
    const server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
      expect(res.status).toBe(200);
      const fams = parsePrometheus(await res.text());
      expect(fams.has('sluice_master_process_cpu_seconds_total')).toBe(true);
      expect(fams.has('sluice_task_messages_in')).toBe(true);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('exposes the latest stored values of apps whose registries live in other processes', async () => {
    const { storage, app } = await memoryApp('wc');
    let now = 5_000_000;
    const reg = new MetricsRegistry({ app: 'wc', executor: 'e2' });
    const t = reg.task('count', '0.1');
    const rep = new MetricsReporter({ registry: reg, store: app.metrics, now: () => now });
    t.messagesIn.mark(30);
    t.restarts.inc(2);
    t.latency.observe(12);
    now += 10_000;
    rep.reportNow();
    expect(await rep.flush()).toBe(true);
    const samples = await storedSamples(app.metrics, { now, windowMs: 30_000 });
    const fams = parsePrometheus((await renderPrometheus({ samples: [['wc', samples]] })).body);
    expect(fams.get('sluice_task_messages_in_per_second')?.samples[0]).toMatchObject({ value: 3, labels: { app: 'wc', executor: 'e2', processor: 'count', task: '0.1' } });
    expect(fams.get('sluice_task_restarts_total')).toMatchObject({ type: 'counter', samples: [{ value: 2 }] });
    const p50 = fams.get('sluice_task_latency_ms')?.samples.find((x) => x.labels.stat === 'p50');
    expect(p50 && Math.abs(p50.value - 12) / 12).toBeLessThan(0.05);
    // Outside the window nothing is stale-reported.
    expect(await storedSamples(app.metrics, { now: now + 60_000, windowMs: 30_000 })).toEqual([]);
    await rep.stop();
    await storage.close();
  });

  it('the strict parser rejects malformed text (so the checks above can fail)', () => {
    expect(() => parsePrometheus('x 1\n')).toThrow(/before any family/);
    expect(() => parsePrometheus('# HELP a h\n# TYPE a gauge\nb 1\n')).toThrow(/outside its family/);
    expect(() => parsePrometheus('# HELP a h\n# TYPE a gauge\na{x=1} 1\n')).toThrow(/bad labels/);
  });
});
