import { LOG_LEVEL_VALUES, decodeCursor, effectiveLimit, encodeCursor, sleep } from '@sluice/storage-api';
import type { FollowOptions, LogLevel, LogPage, LogQuery, LogRecord, LogStats, LogStore } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapped } from './errors.js';

interface Row {
  seq: number;
  ts: number;
  level: number;
  msg: string;
  labels: string;
  fields: string | null;
}

const LEVEL_NAMES = new Map<number, LogLevel>(Object.entries(LOG_LEVEL_VALUES).map(([k, v]) => [v, k as LogLevel]));
const COLUMNS = 'seq, ts, level, msg, labels, fields';
/** Rows a follow poll reads at most before yielding: bounds memory when far behind. */
const FOLLOW_BATCH = 1000;

function decode(r: Row): LogRecord {
  const rec: LogRecord = { ts: r.ts, level: LEVEL_NAMES.get(r.level)!, msg: r.msg, labels: JSON.parse(r.labels) as Record<string, string> };
  if (r.fields !== null) rec.fields = JSON.parse(r.fields) as Record<string, unknown>;
  return rec;
}

/**
 * Length of JSON.stringify(record) (the reference backend's size measure), assembled from
 * the label and field JSON already built for the row instead of serialising twice:
 * {"ts":_,"level":"_","msg":_,"labels":_,"fields":_}
 */
function serialisedLength(r: LogRecord, labels: string, fields: string | null): number {
  return 6 + String(r.ts).length + 9 + r.level.length + 2 + 7 + JSON.stringify(r.msg).length + 10 + labels.length + (fields === null ? 0 : 10 + fields.length) + 1;
}

// Same fixed width as the reference backend, so compareSeq orders numerically.
const seqStr = (seq: number): string => seq.toString().padStart(16, '0');

/** Label filters run in SQL via json_extract; a key that cannot be a JSON path goes to a JS function. */
function labelClause(labels: Record<string, string> | undefined, args: unknown[]): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (/^[^"\\]*$/.test(k)) {
      out.push(`json_extract(labels, ?) = ?`);
      args.push(`$."${k}"`, v);
    } else {
      out.push(`sluice_label(labels, ?) = ?`);
      args.push(k, v);
    }
  }
  return out;
}

/**
 * Logs in one table: seq (AUTOINCREMENT rowid: never reused, so it is also the arrival
 * order follow() polls by), indexes on ts and (level, ts) for time and level windows.
 */
export class FsLogStore implements LogStore {
  readonly #insert;

  constructor(private readonly db: Db) {
    this.#insert = db.prepare('INSERT INTO logs (ts, level, msg, labels, fields, bytes) VALUES (?, ?, ?, ?, ?, ?)');
    // Same semantics as matchesLogQuery: JS toLowerCase on both sides (SQLite lower() is ASCII-only).
    db.function('sluice_icontains', { deterministic: true }, (msg: unknown, text: unknown) => (String(msg).toLowerCase().includes(String(text)) ? 1 : 0));
    db.function('sluice_label', { deterministic: true }, (labels: unknown, key: unknown) => {
      const v = (JSON.parse(String(labels)) as Record<string, string>)[String(key)];
      return v === undefined ? null : v;
    });
  }

  append(records: LogRecord[]): Promise<void> {
    return mapped('logs append', () => {
      writeTx(this.db, () => {
        for (const r of records) {
          const labels = JSON.stringify(r.labels ?? {});
          const fields = r.fields === undefined ? null : JSON.stringify(r.fields);
          const bytes = serialisedLength(r, labels, fields);
          this.#insert.run(r.ts, LOG_LEVEL_VALUES[r.level], r.msg, labels, fields, bytes);
        }
      });
    });
  }

  #where(q: LogQuery, args: unknown[]): string[] {
    const where: string[] = [];
    if (q.from !== undefined) {
      where.push('ts >= ?');
      args.push(q.from);
    }
    if (q.to !== undefined) {
      where.push('ts < ?');
      args.push(q.to);
    }
    if (q.minLevel !== undefined) {
      where.push('level >= ?');
      args.push(LOG_LEVEL_VALUES[q.minLevel]);
    }
    where.push(...labelClause(q.labels, args));
    if (q.text) {
      where.push('sluice_icontains(msg, ?)');
      args.push(q.text.toLowerCase());
    }
    return where;
  }

  query(q: LogQuery): Promise<LogPage> {
    return mapped('logs query', () => {
      const order = q.order ?? 'asc';
      const limit = effectiveLimit(q.limit);
      const args: unknown[] = [];
      const where = this.#where(q, args);
      if (q.cursor) {
        const c = decodeCursor(q.cursor);
        where.push(order === 'asc' ? '(ts, seq) > (?, ?)' : '(ts, seq) < (?, ?)');
        args.push(c.ts, Number(c.seq));
      }
      const dir = order === 'asc' ? 'ASC' : 'DESC';
      const sql = `SELECT ${COLUMNS} FROM logs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ${dir}, seq ${dir} LIMIT ?`;
      const rows = this.db.prepare(sql).all(...args, limit + 1) as Row[];
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        records: page.map(decode),
        cursor: rows.length > limit && last ? encodeCursor({ ts: last.ts, seq: seqStr(last.seq), order }) : undefined,
      };
    });
  }

  async *follow(q: LogQuery, options: FollowOptions = {}): AsyncIterable<LogRecord> {
    const poll = options.pollIntervalMs ?? 500;
    // Arrival order = seq; start after what exists now unless `from` asks for history.
    let seen = q.from === undefined ? await mapped('logs follow', () => (this.db.prepare('SELECT coalesce(max(seq), 0) FROM logs').pluck().get() as number)) : 0;
    const args: unknown[] = [];
    const where = this.#where(q, args);
    const stmt = this.db.prepare(`SELECT ${COLUMNS} FROM logs WHERE seq > ? ${where.length ? `AND ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ${FOLLOW_BATCH}`);
    const maxSeq = this.db.prepare('SELECT coalesce(max(seq), 0) FROM logs').pluck();
    while (!options.signal?.aborted && this.db.open) {
      // Rows and the newest seq from one snapshot, so skipping non-matching arrivals
      // cannot skip a matching row committed in between.
      const { rows, top } = await mapped('logs follow', () => {
        let out = { rows: [] as Row[], top: 0 };
        this.db.transaction(() => {
          out = { rows: stmt.all(seen, ...args) as Row[], top: maxSeq.get() as number };
        }).deferred();
        return out;
      });
      for (const r of rows) {
        seen = r.seq;
        yield decode(r);
        if (options.signal?.aborted) return;
      }
      if (rows.length === FOLLOW_BATCH) continue;
      seen = Math.max(seen, top);
      try {
        await sleep(poll, options.signal);
      } catch {
        return;
      }
    }
  }

  stats(): Promise<LogStats> {
    return mapped('logs stats', () => {
      const r = this.db.prepare('SELECT count(*) AS count, coalesce(sum(bytes), 0) AS bytes, min(ts) AS oldest, max(ts) AS newest FROM logs').get() as {
        count: number; bytes: number; oldest: number | null; newest: number | null;
      };
      return { count: r.count, bytes: r.bytes, oldestTs: r.oldest ?? undefined, newestTs: r.newest ?? undefined };
    });
  }

  deleteBefore(t: number): Promise<number> {
    return mapped('logs deleteBefore', () => this.db.prepare('DELETE FROM logs WHERE ts < ?').run(t).changes);
  }
}
