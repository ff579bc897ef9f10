// Metrics: raw points and 1m/1h rollup partials, each in its own partition tree
// (`metrics/raw|1m|1h/<hour>/<segment>`, see partitions.ts), written together per
// write() call; rollups keep count/sum/min/max/last so they merge exactly. A series
// registry (`metrics/series/<hash>`, create-only) answers listSeries without reading data.
import { createHash } from 'node:crypto';
import type { MetricPoint, MetricQuery, MetricResolution, MetricSeries, MetricsStore, OpOptions, SeriesInfo, MetricKind } from '@sluice/storage-api';
import {
  Aggregator, RESOLUTION_MS, ROLLUP_RESOLUTIONS, StorageError, addValue, chooseResolution, emptyPartial, labelsMatch, seriesKey,
  type MetricPartial,
} from '@sluice/storage-api';
import type { HdfsCtx } from './context.js';
import { ImmutableCache, commitFile, committed, jsonBytes, readJson } from './files.js';
import { HOUR_MS, Partitions, newSegmentId, type PSeg } from './partitions.js';

type SeriesHead = [name: string, labels: Record<string, string>, kind: MetricKind];
/** raw row: [series index, ts, value]; rollup row: [series index, bucket ts, count, sum, min, max, last, lastTs]. */
type Row = number[];
interface SegmentData {
  s: SeriesHead[];
  r: Row[];
}

function encode(d: SegmentData): Buffer {
  return jsonBytes(d);
}

export class HdfsMetricsStore implements MetricsStore {
  readonly #trees: Record<MetricResolution, Partitions>;
  readonly #seriesDir: string;
  readonly #known = new Set<string>();
  readonly #cache = new ImmutableCache<SegmentData>(256);
  readonly #seriesCache = new ImmutableCache<SeriesInfo>(4096);

  constructor(private readonly ctx: HdfsCtx) {
    const base = `${ctx.appDir}/metrics`;
    this.#trees = { raw: new Partitions(ctx, `${base}/raw`), '1m': new Partitions(ctx, `${base}/1m`), '1h': new Partitions(ctx, `${base}/1h`) };
    this.#seriesDir = `${base}/series`;
  }

  async #load(tree: Partitions, s: PSeg, signal?: AbortSignal): Promise<SegmentData> {
    const key = this.#cache.key(tree.base, s.status);
    const hit = this.#cache.get(key);
    if (hit) return hit;
    let d: SegmentData;
    try {
      d = await readJson<SegmentData>(this.ctx.client, tree.path(s), signal);
    } catch (err) {
      if ((err as StorageError).code === 'STORAGE_NOT_FOUND') return { s: [], r: [] };
      throw err;
    }
    this.#cache.set(key, d);
    return d;
  }

  async write(points: MetricPoint[], o: OpOptions = {}): Promise<void> {
    const heads: SeriesHead[] = [];
    const index = new Map<string, number>();
    const raw: Row[] = [];
    const rollups = { '1m': new Map<string, { si: number; b: number; p: MetricPartial }>(), '1h': new Map<string, { si: number; b: number; p: MetricPartial }>() };
    for (const p of points) {
      const key = seriesKey(p.name, p.labels);
      let si = index.get(key);
      if (si === undefined) {
        si = heads.length;
        index.set(key, si);
        heads.push([p.name, { ...p.labels }, p.kind]);
      }
      raw.push([si, p.ts, p.value]);
      for (const r of ROLLUP_RESOLUTIONS) {
        const b = Math.floor(p.ts / RESOLUTION_MS[r]) * RESOLUTION_MS[r];
        const k = `${si}:${b}`;
        let e = rollups[r].get(k);
        if (!e) rollups[r].set(k, (e = { si, b, p: emptyPartial() }));
        addValue(e.p, p.ts, p.value, false);
      }
    }
    await this.#register(heads, o.signal);
    const id = newSegmentId(this.ctx.now());
    // Each resolution is a separate tree: a crash between them loses nothing acknowledged,
    // at worst a rollup is missing for an unacknowledged write (documented).
    await Promise.all([
      this.#trees.raw.write(raw, (r) => r[1]!, (rs) => encode(segmentData(heads, rs)), id, o),
      ...ROLLUP_RESOLUTIONS.map((res) => {
        const rows: Row[] = [...rollups[res].values()].map(({ si, b, p }) => [si, b, p.count, p.sum, p.min, p.max, p.last, p.lastTs]);
        return this.#trees[res].write(rows, (r) => r[1]!, (rs) => encode(segmentData(heads, rs)), id, o);
      }),
    ]);
  }

  async #register(heads: SeriesHead[], signal?: AbortSignal): Promise<void> {
    for (const [name, labels, kind] of heads) {
      const key = seriesKey(name, labels);
      if (this.#known.has(key)) continue;
      const file = `${this.#seriesDir}/${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
      try {
        await commitFile(this.ctx, file, jsonBytes({ name, labels, kind } satisfies SeriesInfo), 'create-only', signal);
      } catch (err) {
        if ((err as StorageError).code !== 'STORAGE_ALREADY_EXISTS') throw err;
      }
      this.#known.add(key);
    }
  }

  async query(q: MetricQuery, o: OpOptions = {}): Promise<MetricSeries[]> {
    const res = chooseResolution(q);
    const tree = this.#trees[res];
    const agg = new Aggregator(q);
    for (const h of await tree.hours(o.signal)) {
      const hour = Number(h.pathSuffix);
      if (hour + HOUR_MS <= q.from || hour >= q.to) continue;
      for (const s of await tree.segments(hour, o.signal)) {
        if (s.max < q.from || s.min >= q.to) continue;
        const d = await this.#load(tree, s, o.signal);
        const match = d.s.map(([name, labels]) => name === q.name && labelsMatch(labels, q.labels));
        for (const r of d.r) {
          const si = r[0]!;
          const ts = r[1]!;
          if (!match[si] || ts < q.from || ts >= q.to) continue;
          const labels = d.s[si]![1];
          if (res === 'raw') agg.addRaw(labels, ts, r[2]!);
          else agg.addRollup(labels, ts, { count: r[2]!, sum: r[3]!, min: r[4]!, max: r[5]!, last: r[6]!, lastTs: r[7]! });
        }
      }
    }
    return agg.result();
  }

  async listSeries(filter: { name?: string; labels?: Record<string, string> } = {}, o: OpOptions = {}): Promise<SeriesInfo[]> {
    const out: SeriesInfo[] = [];
    for (const s of committed(await this.ctx.client.list(this.#seriesDir, o.signal))) {
      const key = this.#seriesCache.key(this.#seriesDir, s);
      let info = this.#seriesCache.get(key);
      if (!info) {
        info = await readJson<SeriesInfo>(this.ctx.client, `${this.#seriesDir}/${s.pathSuffix}`, o.signal);
        this.#seriesCache.set(key, info);
      }
      if ((!filter.name || info.name === filter.name) && labelsMatch(info.labels, filter.labels)) out.push({ name: info.name, labels: { ...info.labels }, kind: info.kind });
    }
    return out.sort((a, b) => (seriesKey(a.name, a.labels) < seriesKey(b.name, b.labels) ? -1 : 1));
  }

  async deleteBefore(t: number, o: OpOptions & { resolution?: MetricResolution } = {}): Promise<number> {
    const tree = this.#trees[o.resolution ?? 'raw'];
    let heads: SeriesHead[] = [];
    return tree.deleteBefore<Row>(
      t,
      async (s) => {
        const d = await this.#load(tree, s, o.signal);
        heads = d.s;
        return d.r;
      },
      (r) => r[1]!,
      (rs) => encode(segmentData(heads, rs)),
      o,
    );
  }
}

/** A segment carries the whole series table of its write batch, so row indexes stay valid. */
function segmentData(heads: SeriesHead[], rows: Row[]): SegmentData {
  return { s: heads, r: rows };
}
