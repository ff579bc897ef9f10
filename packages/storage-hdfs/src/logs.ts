// Logs: one immutable segment per append batch and hour (see partitions.ts). follow()
// polls: one LISTSTATUS of the logs directory, then only the hour directories whose
// child count or modification time changed (and those that changed on the previous poll,
// since HDFS times have millisecond granularity).
import type { FollowOptions, LogPage, LogQuery, LogRecord, LogStats, LogStore, OpOptions } from '@sluice/storage-api';
import { StorageError, afterCursor, decodeCursor, effectiveLimit, logPage, matchesLogQuery, pollForNew } from '@sluice/storage-api';
import type { HdfsCtx } from './context.js';
import { ImmutableCache, jsonBytes } from './files.js';
import { HOUR_MS, Partitions, liveSegs, newSegmentId, type PSeg } from './partitions.js';

interface Row {
  record: LogRecord;
  seq: string;
}

export class HdfsLogStore implements LogStore {
  readonly #parts: Partitions;
  readonly #cache = new ImmutableCache<LogRecord[]>(128);

  constructor(private readonly ctx: HdfsCtx) {
    this.#parts = new Partitions(ctx, `${ctx.appDir}/logs`);
  }

  async #load(s: PSeg, signal?: AbortSignal): Promise<LogRecord[]> {
    const key = this.#cache.key(this.#parts.base, s.status);
    const hit = this.#cache.get(key);
    if (hit) return hit;
    let buf: Buffer;
    try {
      buf = await this.ctx.client.readAll(this.#parts.path(s), signal);
    } catch (err) {
      if ((err as StorageError).code === 'STORAGE_NOT_FOUND') return []; // removed by retention meanwhile
      throw err;
    }
    let records: LogRecord[];
    try {
      records = JSON.parse(buf.toString('utf8')) as LogRecord[];
    } catch (err) {
      throw new StorageError(`log segment ${s.name} is corrupt`, { code: 'STORAGE_CORRUPT', cause: err });
    }
    this.#cache.set(key, records);
    return records;
  }

  #rows(s: PSeg, records: LogRecord[]): Row[] {
    return records.map((record, i) => ({ record, seq: `${s.id}.${i.toString().padStart(6, '0')}` }));
  }

  async append(records: LogRecord[], o: OpOptions = {}): Promise<void> {
    const copy = records.map((r) => ({ ts: r.ts, level: r.level, msg: r.msg, labels: { ...r.labels }, ...(r.fields !== undefined ? { fields: r.fields } : {}) }));
    await this.#parts.write(copy, (r) => r.ts, (xs) => jsonBytes(xs), newSegmentId(this.ctx.now()), o);
  }

  async query(q: LogQuery, o: OpOptions = {}): Promise<LogPage> {
    const order = q.order ?? 'asc';
    const dir = order === 'asc' ? 1 : -1;
    const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
    const limit = effectiveLimit(q.limit);
    const hours = (await this.#parts.hours(o.signal))
      .map((h) => Number(h.pathSuffix))
      .filter((h) => (q.from === undefined || h + HOUR_MS > q.from) && (q.to === undefined || h < q.to))
      .filter((h) => !cursor || (order === 'asc' ? h + HOUR_MS > cursor.ts : h <= cursor.ts))
      .sort((a, b) => (a - b) * dir);
    const rows: Row[] = [];
    for (const hour of hours) {
      // Hours are disjoint in time: once a full page (plus one) is collected, stop.
      if (rows.length > limit) break;
      for (const s of await this.#parts.segments(hour, o.signal)) {
        if ((q.from !== undefined && s.max < q.from) || (q.to !== undefined && s.min >= q.to)) continue;
        for (const row of this.#rows(s, await this.#load(s, o.signal))) {
          if (matchesLogQuery(row.record, q) && (!cursor || afterCursor(row.record.ts, row.seq, { ...cursor, order }))) rows.push(row);
        }
      }
    }
    return logPage(rows, order, limit);
  }

  async *follow(q: LogQuery, options: FollowOptions = {}): AsyncIterable<LogRecord> {
    const seen = new Set<string>();
    const sig = new Map<string, string>();
    let recent = new Set<string>();
    let primed = false;
    const history = q.from !== undefined;
    yield* pollForNew(async () => {
      // The round's bookkeeping is applied only once the round succeeded, so a failed
      // round is redone whole: nothing lost, nothing doubled.
      const fresh: PSeg[] = [];
      const keys: string[] = [];
      const sigs = new Map<string, string>();
      const nowRecent = new Set<string>();
      for (const h of await this.#parts.hours(options.signal)) {
        const s = `${h.childrenNum ?? ''}:${h.modificationTime}`;
        const changed = sig.get(h.pathSuffix) !== s;
        // An hour directory is listed again the round after it changed: mtimes are coarse.
        if (!changed && !recent.has(h.pathSuffix)) continue;
        if (changed) nowRecent.add(h.pathSuffix);
        sigs.set(h.pathSuffix, s);
        const hour = Number(h.pathSuffix);
        if (history && !primed && hour + HOUR_MS <= q.from!) continue;
        const { live } = liveSegs(hour, await this.ctx.client.list(`${this.#parts.base}/${h.pathSuffix}`, options.signal));
        for (const seg of live) {
          const key = `${hour}/${seg.id}`;
          if (seen.has(key)) continue;
          keys.push(key);
          if (primed || history) fresh.push(seg); // without `from`, start after what exists now
        }
      }
      fresh.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.hour - b.hour));
      const out: LogRecord[] = [];
      for (const seg of fresh) for (const r of await this.#load(seg, options.signal)) if (matchesLogQuery(r, q)) out.push(structuredClone(r));
      for (const k of keys) seen.add(k);
      for (const [k, v] of sigs) sig.set(k, v);
      recent = nowRecent;
      primed = true;
      return out;
    }, { ...options, logger: this.ctx.logger });
  }

  async stats(o: OpOptions = {}): Promise<LogStats> {
    let count = 0;
    let bytes = 0;
    let oldestTs: number | undefined;
    let newestTs: number | undefined;
    for (const h of await this.#parts.hours(o.signal)) {
      for (const s of await this.#parts.segments(Number(h.pathSuffix), o.signal)) {
        count += s.count;
        bytes += s.status.length;
        oldestTs = oldestTs === undefined ? s.min : Math.min(oldestTs, s.min);
        newestTs = newestTs === undefined ? s.max : Math.max(newestTs, s.max);
      }
    }
    return { count, bytes, oldestTs, newestTs };
  }

  async deleteBefore(t: number, o: OpOptions = {}): Promise<number> {
    return this.#parts.deleteBefore(t, (s) => this.#load(s, o.signal), (r) => r.ts, (xs) => jsonBytes(xs), o);
  }
}

