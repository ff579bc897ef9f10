import {
  Aggregator, RESOLUTION_MS, ROLLUP_RESOLUTIONS, addValue, chooseResolution, emptyPartial, labelsMatch, seriesKey,
  type MetricKind, type MetricPoint, type MetricQuery, type MetricResolution, type MetricSeries, type MetricsStore, type OpOptions,
  type SeriesInfo, type MetricPartial,
} from '@sluice/storage-api';
import { SegmentDir } from './segments.js';
import type { Shared } from './shared.js';

interface RawRow {
  name: string;
  labels: Record<string, string>;
  kind: MetricKind;
  ts: number;
  value: number;
}

interface RollupRow {
  name: string;
  labels: Record<string, string>;
  kind: MetricKind;
  /** Bucket start. */
  ts: number;
  p: Omit<MetricPartial, 'values'>;
}

/**
 * Each write is one raw segment plus one segment per rollup (1m, 1h) holding the batch's
 * partial aggregates; queries merge partials across segments (merging is associative).
 */
export class S3MetricsStore implements MetricsStore {
  readonly #raw: SegmentDir<RawRow>;
  readonly #rollups: Record<'1m' | '1h', SegmentDir<RollupRow>>;

  constructor(sh: Shared, dir: string) {
    this.#raw = new SegmentDir<RawRow>(sh, `${dir}raw/`, (r) => r.ts);
    this.#rollups = {
      '1m': new SegmentDir<RollupRow>(sh, `${dir}1m/`, (r) => r.ts),
      '1h': new SegmentDir<RollupRow>(sh, `${dir}1h/`, (r) => r.ts),
    };
  }

  async write(points: MetricPoint[], o: OpOptions = {}): Promise<void> {
    const raw: RawRow[] = points.map((p) => ({ name: p.name, labels: { ...p.labels }, kind: p.kind, ts: p.ts, value: p.value }));
    const writes = [this.#raw.write(raw, o.signal)];
    for (const res of ROLLUP_RESOLUTIONS) {
      const ms = RESOLUTION_MS[res];
      const rows = new Map<string, RollupRow>();
      for (const p of points) {
        const b = Math.floor(p.ts / ms) * ms;
        const k = `${seriesKey(p.name, p.labels)}@${b}`;
        let row = rows.get(k);
        if (!row) rows.set(k, (row = { name: p.name, labels: { ...p.labels }, kind: p.kind, ts: b, p: emptyPartial() }));
        addValue(row.p, p.ts, p.value, false);
      }
      writes.push(this.#rollups[res].write([...rows.values()], o.signal) as Promise<never>);
    }
    await Promise.all(writes);
  }

  async query(q: MetricQuery, o: OpOptions = {}): Promise<MetricSeries[]> {
    const res = chooseResolution(q);
    const agg = new Aggregator(q);
    if (res === 'raw') {
      for (const { rows } of await this.#raw.readAll(await this.#raw.overlapping(q.from, q.to, o.signal), o.signal)) {
        for (const r of rows) if (r.name === q.name && r.ts >= q.from && r.ts < q.to && labelsMatch(r.labels, q.labels)) agg.addRaw(r.labels, r.ts, r.value);
      }
    } else {
      const dir = this.#rollups[res];
      for (const { rows } of await dir.readAll(await dir.overlapping(q.from, q.to, o.signal), o.signal)) {
        for (const r of rows) if (r.name === q.name && r.ts >= q.from && r.ts < q.to && labelsMatch(r.labels, q.labels)) agg.addRollup(r.labels, r.ts, r.p);
      }
    }
    return agg.result();
  }

  async listSeries(filter: { name?: string; labels?: Record<string, string> } = {}, o: OpOptions = {}): Promise<SeriesInfo[]> {
    const out = new Map<string, SeriesInfo>();
    for (const dir of [this.#raw, this.#rollups['1m'], this.#rollups['1h']] as Array<SegmentDir<RawRow | RollupRow>>) {
      for (const { rows } of await dir.readAll(await dir.overlapping(0, Number.MAX_SAFE_INTEGER, o.signal), o.signal)) {
        for (const r of rows) {
          if ((filter.name && r.name !== filter.name) || !labelsMatch(r.labels, filter.labels)) continue;
          const k = seriesKey(r.name, r.labels);
          if (!out.has(k)) out.set(k, { name: r.name, labels: { ...r.labels }, kind: r.kind });
        }
      }
    }
    return [...out.values()];
  }

  async deleteBefore(t: number, o: OpOptions & { resolution?: MetricResolution } = {}): Promise<number> {
    const res = o.resolution ?? 'raw';
    if (res === 'raw') return this.#raw.deleteBefore(t, o.signal);
    // A rollup row is one (series, bucket) however many segments hold partials of it.
    const distinct = new Set<string>();
    await this.#rollups[res].deleteBefore(t, o.signal, (rows) => {
      for (const r of rows) distinct.add(`${seriesKey(r.name, r.labels)}@${r.ts}`);
    });
    return distinct.size;
  }
}
