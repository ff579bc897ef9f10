import {
  afterCursor, decodeCursor, effectiveLimit, encodeCursor, matchesLogQuery, sleep, type FollowOptions, type LogPage, type LogQuery,
  type LogRecord, type LogStats, type LogStore, type OpOptions,
} from '@sluice/storage-api';
import { SegmentDir } from './segments.js';
import type { Shared } from './shared.js';

/** Each append is one segment object; a record's seq is its segment id + index (arrival order). */
export class S3LogStore implements LogStore {
  readonly #segs: SegmentDir<LogRecord>;

  constructor(sh: Shared, dir: string) {
    this.#segs = new SegmentDir<LogRecord>(sh, dir, (r) => r.ts);
  }

  async append(records: LogRecord[], o: OpOptions = {}): Promise<void> {
    await this.#segs.write(records.map((r) => structuredClone(r)), o.signal);
  }

  async #rows(from: number, to: number, signal?: AbortSignal): Promise<Array<{ seq: string; record: LogRecord }>> {
    const out: Array<{ seq: string; record: LogRecord }> = [];
    for (const { seg, rows } of await this.#segs.readAll(await this.#segs.overlapping(from, to, signal), signal)) {
      rows.forEach((record, i) => out.push({ seq: `${seg.id}${i.toString().padStart(6, '0')}`, record }));
    }
    return out;
  }

  async query(q: LogQuery, o: OpOptions = {}): Promise<LogPage> {
    const order = q.order ?? 'asc';
    const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
    const limit = effectiveLimit(q.limit);
    const rows = (await this.#rows(q.from ?? 0, q.to ?? Number.MAX_SAFE_INTEGER, o.signal))
      .filter((e) => matchesLogQuery(e.record, q) && (!cursor || afterCursor(e.record.ts, e.seq, { ...cursor, order })))
      .sort((a, b) => (a.record.ts - b.record.ts || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0)) * (order === 'asc' ? 1 : -1));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      records: page.map((e) => structuredClone(e.record)),
      cursor: rows.length > limit && last ? encodeCursor({ ts: last.record.ts, seq: last.seq, order }) : undefined,
    };
  }

  async *follow(q: LogQuery, options: FollowOptions = {}): AsyncIterable<LogRecord> {
    const poll = options.pollIntervalMs ?? 500;
    const seen = new Set<string>();
    if (q.from === undefined) for (const s of await this.#segs.list(options.signal)) seen.add(s.id);
    // Bounded by the caller's signal; each round is one LIST plus GETs of new segments.
    while (!options.signal?.aborted) {
      let fresh;
      try {
        fresh = (await this.#segs.overlapping(0, Number.MAX_SAFE_INTEGER, options.signal)).filter((s) => !seen.has(s.id));
      } catch (err) {
        if (options.signal?.aborted) return;
        throw err;
      }
      for (const s of fresh) {
        seen.add(s.id);
        let rows: LogRecord[];
        try {
          rows = await this.#segs.read(s, options.signal);
        } catch (err) {
          if (options.signal?.aborted) return;
          throw err;
        }
        for (const r of rows) if (matchesLogQuery(r, q)) yield structuredClone(r);
      }
      try {
        await sleep(poll, options.signal);
      } catch {
        return;
      }
    }
  }

  async stats(o: OpOptions = {}): Promise<LogStats> {
    let count = 0;
    let bytes = 0;
    let oldestTs: number | undefined;
    let newestTs: number | undefined;
    for (const { record } of await this.#rows(0, Number.MAX_SAFE_INTEGER, o.signal)) {
      count++;
      bytes += JSON.stringify(record).length;
      oldestTs = oldestTs === undefined ? record.ts : Math.min(oldestTs, record.ts);
      newestTs = newestTs === undefined ? record.ts : Math.max(newestTs, record.ts);
    }
    return { count, bytes, oldestTs, newestTs };
  }

  deleteBefore(t: number, o: OpOptions = {}): Promise<number> {
    return this.#segs.deleteBefore(t, o.signal);
  }
}
