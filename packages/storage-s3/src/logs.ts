import {
  afterCursor, decodeCursor, effectiveLimit, logPage, matchesLogQuery, pollForNew, type FollowOptions, type LogPage, type LogQuery,
  type LogRecord, type LogStats, type LogStore, type OpOptions, type StorageLogger,
} from '@sluice/storage-api';
import { SegmentDir } from './segments.js';
import type { Shared } from './shared.js';

/** Each append is one segment object; a record's seq is its segment id + index (arrival order). */
export class S3LogStore implements LogStore {
  readonly #segs: SegmentDir<LogRecord>;
  readonly #logger: StorageLogger;

  constructor(sh: Shared, dir: string) {
    this.#segs = new SegmentDir<LogRecord>(sh, dir, (r) => r.ts);
    this.#logger = sh.context.logger;
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
      .filter((e) => matchesLogQuery(e.record, q) && (!cursor || afterCursor(e.record.ts, e.seq, { ...cursor, order })));
    return logPage(rows, order, limit);
  }

  async *follow(q: LogQuery, options: FollowOptions = {}): AsyncIterable<LogRecord> {
    const seen = new Set<string>();
    if (q.from === undefined) for (const s of await this.#segs.list(options.signal)) seen.add(s.id);
    // Each round is one LIST plus GETs of the segments not seen yet.
    yield* pollForNew(async () => {
      const out: LogRecord[] = [];
      const read: string[] = [];
      for (const s of await this.#segs.overlapping(0, Number.MAX_SAFE_INTEGER, options.signal)) {
        if (seen.has(s.id)) continue;
        for (const r of await this.#segs.read(s, options.signal)) if (matchesLogQuery(r, q)) out.push(structuredClone(r));
        read.push(s.id);
      }
      // Marked seen only once the whole round succeeded: a failed round is redone, nothing lost or doubled.
      for (const id of read) seen.add(id);
      return out;
    }, { ...options, logger: this.#logger });
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
