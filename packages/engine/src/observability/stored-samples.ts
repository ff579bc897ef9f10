import type { MetricsStore } from '@sluice/storage-api';
import type { MetricSample } from './metrics-registry.js';

/**
 * The latest value of every series an app's reporters wrote in the last `windowMs`, as
 * samples for /metrics. For a master whose apps' registries live in executor processes:
 * the store is where their values meet. Meters (stored as rates) become gauges named
 * `<name>_per_second`; histogram stats stay gauges labelled `stat`.
 */
export async function storedSamples(store: MetricsStore, options: { now?: number; windowMs?: number; maxSeries?: number } = {}): Promise<MetricSample[]> {
  const now = options.now ?? Date.now();
  const from = now - (options.windowMs ?? 30_000);
  const series = await store.listSeries();
  const names = new Map<string, string>();
  for (const s of series.slice(0, options.maxSeries ?? 10_000)) names.set(s.name, s.kind);
  const out: MetricSample[] = [];
  for (const [name, kind] of names) {
    const res = await store.query({ name, from, to: now + 1, agg: 'last', resolution: 'raw' });
    for (const r of res) {
      const last = r.points[r.points.length - 1];
      if (!last || !Number.isFinite(last.value)) continue;
      if (kind === 'meter') out.push({ name: `${name}_per_second`, help: `${name} (rate per second, last report)`, kind: 'gauge', labels: r.labels, value: last.value });
      else if (kind === 'histogram') out.push({ name, help: `${name} (last report window)`, kind: 'gauge', labels: r.labels, value: last.value });
      else out.push({ name, help: `${name} (last report)`, kind: kind === 'counter' ? 'counter' : 'gauge', labels: r.labels, value: last.value });
    }
  }
  return out;
}
