import { assert, rejectsWith, type ConformanceCase } from '../harness.js';
import type { MetricPoint } from '../../types.js';

const T0 = 1_700_000_040_000 - (1_700_000_040_000 % 3_600_000); // an hour boundary

function pts(): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (let i = 0; i < 180; i++) {
    // two tasks of one processor, one of another; a point every second for three minutes
    out.push({ name: 'latency_ms', labels: { processor: 'count', task: '0' }, ts: T0 + i * 1000, value: i % 10, kind: 'histogram' });
    out.push({ name: 'latency_ms', labels: { processor: 'count', task: '1' }, ts: T0 + i * 1000 + 100, value: 100 + (i % 7), kind: 'histogram' });
    out.push({ name: 'latency_ms', labels: { processor: 'split', task: '0' }, ts: T0 + i * 1000 + 500, value: 1000, kind: 'histogram' });
  }
  out.push({ name: 'restarts', labels: { executor: 'e1' }, ts: T0, value: 1, kind: 'counter' });
  return out;
}

function expected(values: number[], agg: string): number {
  const s = [...values].sort((a, b) => a - b);
  const rank = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  switch (agg) {
    case 'avg': return values.reduce((a, b) => a + b, 0) / values.length;
    case 'sum': return values.reduce((a, b) => a + b, 0);
    case 'min': return s[0]!;
    case 'max': return s[s.length - 1]!;
    case 'count': return values.length;
    case 'last': return values[values.length - 1]!;
    case 'p50': return rank(0.5);
    case 'p99': return rank(0.99);
    default: throw new Error(agg);
  }
}

export const metricCases: ConformanceCase[] = [
  {
    group: 'metrics',
    name: 'raw query: every aggregation per step bucket matches the definition',
    async run({ app }) {
      const a = await app();
      const points = pts();
      await a.metrics.write(points);
      const sel = points.filter((p) => p.name === 'latency_ms' && p.labels.task === '0' && p.labels.processor === 'count');
      for (const agg of ['avg', 'sum', 'min', 'max', 'count', 'last', 'p50', 'p99'] as const) {
        const res = await a.metrics.query({ name: 'latency_ms', labels: { processor: 'count', task: '0' }, from: T0, to: T0 + 180_000, step: 30_000, agg, resolution: 'raw' });
        assert.equal(res.length, 1, agg);
        assert.equal(res[0]!.points.length, 6);
        for (const p of res[0]!.points) {
          const vals = sel.filter((x) => x.ts >= p.ts && x.ts < p.ts + 30_000).map((x) => x.value);
          assert.ok(Math.abs(p.value - expected(vals, agg)) < 1e-9, `${agg} at ${p.ts}: ${p.value} vs ${expected(vals, agg)}`);
        }
      }
    },
  },
  {
    group: 'metrics',
    name: 'series are kept apart by default and merged with by',
    async run({ app }) {
      const a = await app();
      await a.metrics.write(pts());
      const each = await a.metrics.query({ name: 'latency_ms', from: T0, to: T0 + 180_000, agg: 'count', resolution: 'raw' });
      assert.equal(each.length, 3);
      const by = await a.metrics.query({ name: 'latency_ms', from: T0, to: T0 + 180_000, agg: 'count', by: ['processor'], resolution: 'raw' });
      assert.deepEqual(by.map((s) => [s.labels, s.points[0]!.value]), [
        [{ processor: 'count' }, 360],
        [{ processor: 'split' }, 180],
      ]);
      const series = await a.metrics.listSeries({ name: 'latency_ms' });
      assert.equal(series.length, 3);
      assert.ok(series.every((s) => s.kind === 'histogram'));
      assert.equal((await a.metrics.listSeries({ labels: { executor: 'e1' } }))[0]?.name, 'restarts');
      assert.deepEqual(await a.metrics.query({ name: 'nope', from: T0, to: T0 + 1 }), []);
    },
  },
  {
    group: 'metrics',
    name: 'rollups answer coarse queries and outlive raw retention',
    needs: ['metricsRollups'],
    async run({ app }) {
      const a = await app();
      await a.metrics.write(pts());
      const q = { name: 'latency_ms', from: T0, to: T0 + 180_000, step: 60_000, by: ['processor'] };
      for (const agg of ['avg', 'sum', 'min', 'max', 'count', 'last'] as const) {
        const raw = await a.metrics.query({ ...q, agg, resolution: 'raw' });
        const rolled = await a.metrics.query({ ...q, agg, resolution: '1m' });
        assert.deepEqual(rolled, raw, `1m rollup ${agg} equals raw`);
      }
      const hour = await a.metrics.query({ ...q, step: 3_600_000, to: T0 + 3_600_000, agg: 'count', resolution: '1h' });
      assert.equal(hour.find((s) => s.labels.processor === 'count')?.points[0]?.value, 360);
      assert.ok((await a.metrics.deleteBefore(T0 + 180_000, { resolution: 'raw' })) >= 540);
      assert.deepEqual(await a.metrics.query({ ...q, agg: 'count', resolution: 'raw' }), []);
      const after = await a.metrics.query({ ...q, agg: 'count' }); // auto picks the 1m rollup
      assert.equal(after.find((s) => s.labels.processor === 'split')?.points.length, 3);
      await a.metrics.deleteBefore(T0 + 120_000, { resolution: '1m' });
      assert.equal((await a.metrics.query({ ...q, agg: 'count', resolution: '1m' }))[0]?.points.length, 1);
    },
  },
  {
    group: 'metrics',
    name: 'malformed points and queries are typed errors',
    async run({ app }) {
      const a = await app();
      const p: MetricPoint = { name: 'x', labels: {}, ts: 1, value: 1, kind: 'gauge' };
      await rejectsWith(a.metrics.write([{ ...p, value: Number.NaN }]), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.metrics.write([{ ...p, kind: 'timer' as never }]), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.metrics.write([{ ...p, ts: -1 }]), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.metrics.query({ name: 'x', from: 10, to: 10 }), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.metrics.query({ name: 'x', from: 0, to: 10, agg: 'median' as never }), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.metrics.query({ name: 'x', from: 0, to: 10_000_000, step: 1 }), 'STORAGE_INVALID_ARGUMENT');
      assert.deepEqual(await a.metrics.listSeries(), []);
    },
  },
];
