import { Aggregator, RESOLUTION_MS, ROLLUP_RESOLUTIONS, addValue, chooseResolution, emptyPartial, labelsMatch, needsValues, seriesKey } from '@sluice/storage-api';
import type { MetricKind, MetricPartial, MetricPoint, MetricQuery, MetricResolution, MetricSeries, MetricsStore, SeriesInfo } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapped } from './errors.js';

interface SeriesRow {
  id: number;
  name: string;
  labels: string;
  kind: MetricKind;
}

type Rollup = (typeof ROLLUP_RESOLUTIONS)[number];
/** Fold key = id * this + bucket index: 1m buckets stay below 1e9 until the year 3871; ids below 9e6 keep it a safe integer. */
const BUCKETS_PER_SERIES = 1e9;
const MAX_NUMERIC_ID = 9e6;

/**
 * Series table + points clustered by (series_id, ts) + one rollup table per resolution,
 * maintained on write. A batch is folded per (series, bucket) in JS first, so a write of
 * 1000 points costs 1000 point inserts but only one rollup upsert per touched bucket.
 */
export class FsMetricsStore implements MetricsStore {
  readonly #ids = new Map<string, number>();
  readonly #s;

  constructor(private readonly db: Db) {
    const p = (sql: string) => db.prepare(sql);
    const upsert = (table: string) =>
      p(`INSERT INTO ${table} (series_id, ts, count, sum, min, max, last, last_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (series_id, ts) DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum,
           min = min(min, excluded.min), max = max(max, excluded.max),
           last = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last ELSE last END, last_ts = max(last_ts, excluded.last_ts)`);
    this.#s = {
      seriesInsert: p('INSERT INTO series (key, name, labels, kind) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING'),
      seriesId: p('SELECT id FROM series WHERE key = ?').pluck(),
      point: p('INSERT OR IGNORE INTO points (series_id, ts, n, value) VALUES (?, ?, 0, ?)'),
      pointDup: p('INSERT INTO points (series_id, ts, n, value) VALUES (?, ?, (SELECT max(n) + 1 FROM points WHERE series_id = ? AND ts = ?), ?)'),
      rollup: { '1m': upsert('rollup_1m'), '1h': upsert('rollup_1h') } as Record<Rollup, ReturnType<typeof p>>,
      seriesByName: p('SELECT id, name, labels, kind FROM series WHERE name = ? ORDER BY id'),
      allSeries: p('SELECT id, name, labels, kind FROM series ORDER BY id'),
      // JS numbers bind as REAL: cast so the bucket is an integer division.
      rawBuckets: p(`SELECT (ts - CAST(@from AS INTEGER)) / CAST(@step AS INTEGER) AS b, count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max, max(ts) AS lastTs
                     FROM points WHERE series_id = @id AND ts >= @from AND ts < @to GROUP BY b`),
      lastIn: p('SELECT value FROM points WHERE series_id = ? AND ts >= ? AND ts < ? ORDER BY ts DESC, n DESC LIMIT 1').pluck(),
      rawRows: p('SELECT ts, value FROM points WHERE series_id = ? AND ts >= ? AND ts < ? ORDER BY ts, n').raw(),
      rollupRows: {
        '1m': p('SELECT ts, count, sum, min, max, last, last_ts AS lastTs FROM rollup_1m WHERE series_id = ? AND ts >= ? AND ts < ? ORDER BY ts'),
        '1h': p('SELECT ts, count, sum, min, max, last, last_ts AS lastTs FROM rollup_1h WHERE series_id = ? AND ts >= ? AND ts < ? ORDER BY ts'),
      } as Record<Rollup, ReturnType<typeof p>>,
    };
  }

  /**
   * Cached by name + labels as given (no key sort: cheap per point); a miss computes the
   * canonical seriesKey, so label order only costs an extra cache entry.
   */
  #seriesId(p: MetricPoint): number {
    const labels = p.labels ?? {};
    const fast = `${p.name}\u0000${JSON.stringify(labels)}`;
    let id = this.#ids.get(fast);
    if (id === undefined) {
      const key = seriesKey(p.name, labels);
      this.#s.seriesInsert.run(key, p.name, JSON.stringify(labels), p.kind);
      id = this.#s.seriesId.get(key) as number;
      this.#ids.set(fast, id);
    }
    return id;
  }

  write(points: MetricPoint[]): Promise<void> {
    return mapped('metrics write', () => {
      try {
        this.#writeTx(points);
      } catch (err) {
        this.#ids.clear(); // ids cached inside a rolled-back transaction may not exist
        throw err;
      }
    });
  }

  #writeTx(points: MetricPoint[]): void {
      writeTx(this.db, () => {
        // Numeric keys (series id, bucket index) keep the per-point fold cheap.
        const folded = { '1m': new Map<number | string, { id: number; ts: number; part: MetricPartial }>(), '1h': new Map<number | string, { id: number; ts: number; part: MetricPartial }>() };
        for (const p of points) {
          const id = this.#seriesId(p);
          if (this.#s.point.run(id, p.ts, p.value).changes === 0) this.#s.pointDup.run(id, p.ts, id, p.ts, p.value);
          for (const r of ROLLUP_RESOLUTIONS) {
            const idx = Math.floor(p.ts / RESOLUTION_MS[r]);
            const b = idx * RESOLUTION_MS[r];
            const k = id < MAX_NUMERIC_ID ? id * BUCKETS_PER_SERIES + idx : `${id}:${idx}`;
            let f = folded[r].get(k);
            if (!f) folded[r].set(k, (f = { id, ts: b, part: emptyPartial() }));
            addValue(f.part, p.ts, p.value, false);
          }
        }
        for (const r of ROLLUP_RESOLUTIONS) {
          for (const { id, ts, part } of folded[r].values()) this.#s.rollup[r].run(id, ts, part.count, part.sum, part.min, part.max, part.last, part.lastTs);
        }
      });
  }

  #series(name?: string): Array<SeriesRow & { parsed: Record<string, string> }> {
    const rows = (name === undefined ? this.#s.allSeries.all() : this.#s.seriesByName.all(name)) as SeriesRow[];
    return rows.map((r) => ({ ...r, parsed: JSON.parse(r.labels) as Record<string, string> }));
  }

  query(q: MetricQuery): Promise<MetricSeries[]> {
    return mapped('metrics query', () => {
      const res = chooseResolution(q);
      const agg = new Aggregator(q);
      const step = q.step ?? Math.max(1, q.to - q.from);
      const kind = q.agg ?? 'avg';
      this.db.transaction(() => {
        for (const s of this.#series(q.name)) {
          if (!labelsMatch(s.parsed, q.labels)) continue;
          if (res !== 'raw') {
            for (const r of this.#s.rollupRows[res].all(s.id, q.from, q.to) as Array<MetricPartial & { ts: number }>) agg.addRollup(s.parsed, r.ts, r);
          } else if (needsValues(kind)) {
            for (const [ts, value] of this.#s.rawRows.iterate(s.id, q.from, q.to) as Iterable<[number, number]>) agg.addRaw(s.parsed, ts, value);
          } else {
            // count/sum/min/max in SQL per bucket; `last` needs the newest row of each bucket.
            const rows = this.#s.rawBuckets.all({ id: s.id, from: q.from, to: q.to, step }) as Array<{ b: number; count: number; sum: number; min: number; max: number; lastTs: number }>;
            for (const r of rows) {
              const start = q.from + r.b * step;
              const last = kind === 'last' ? (this.#s.lastIn.get(s.id, start, Math.min(start + step, q.to)) as number) : NaN;
              agg.addRollup(s.parsed, start, { count: r.count, sum: r.sum, min: r.min, max: r.max, last, lastTs: r.lastTs });
            }
          }
        }
      }).deferred();
      return agg.result();
    });
  }

  listSeries(filter: { name?: string; labels?: Record<string, string> } = {}): Promise<SeriesInfo[]> {
    return mapped('metrics listSeries', () =>
      this.#series(filter.name || undefined)
        .filter((s) => labelsMatch(s.parsed, filter.labels))
        .map((s) => ({ name: s.name, labels: s.parsed, kind: s.kind })),
    );
  }

  deleteBefore(t: number, options: { resolution?: MetricResolution } = {}): Promise<number> {
    const res = options.resolution ?? 'raw';
    return mapped('metrics deleteBefore', () => {
      const table = res === 'raw' ? 'points' : `rollup_${res}`;
      // Per series so each delete is a range on the clustered key, not a full scan.
      const del = this.db.prepare(`DELETE FROM ${table} WHERE series_id = ? AND ts < ?`);
      let n = 0;
      this.db.transaction(() => {
        for (const id of this.db.prepare('SELECT id FROM series').pluck().all() as number[]) n += del.run(id, t).changes;
      }).immediate();
      return n;
    });
  }
}
