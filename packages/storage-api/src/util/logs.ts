import type { LogLevel, LogPage, LogQuery, LogRecord } from '../types.js';
import { LIMITS, LOG_LEVEL_VALUES } from '../limits.js';
import { StorageError } from '../errors.js';

export function levelValue(level: LogLevel): number {
  return LOG_LEVEL_VALUES[level];
}

export function isLogLevel(x: unknown): x is LogLevel {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(LOG_LEVEL_VALUES, x);
}

/** The reference filter: backends that filter natively must agree with this. */
export function matchesLogQuery(r: LogRecord, q: LogQuery): boolean {
  if (q.from !== undefined && r.ts < q.from) return false;
  if (q.to !== undefined && r.ts >= q.to) return false;
  if (q.minLevel !== undefined && levelValue(r.level) < levelValue(q.minLevel)) return false;
  if (q.labels) {
    for (const [k, v] of Object.entries(q.labels)) if (r.labels[k] !== v) return false;
  }
  if (q.text && !r.msg.toLowerCase().includes(q.text.toLowerCase())) return false;
  return true;
}

export function effectiveLimit(limit: number | undefined): number {
  return Math.min(limit ?? LIMITS.defaultLimit, LIMITS.maxLimit);
}

/**
 * Cursors are positions in (ts, seq) order: seq is the backend's tie-breaker
 * (a row id, a segment offset ...). Opaque to callers; base64url JSON.
 */
export interface LogCursor {
  ts: number;
  seq: string;
  order: 'asc' | 'desc';
}

export function encodeCursor(c: LogCursor): string {
  return Buffer.from(JSON.stringify([c.ts, c.seq, c.order])).toString('base64url');
}

export function decodeCursor(s: string): LogCursor {
  try {
    const [ts, seq, order] = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as [unknown, unknown, unknown];
    if (typeof ts === 'number' && typeof seq === 'string' && (order === 'asc' || order === 'desc')) return { ts, seq, order };
  } catch {
    // fall through to the typed error
  }
  throw new StorageError('malformed log cursor', { code: 'STORAGE_INVALID_ARGUMENT' });
}

/** Compares seq strings of equal-width encodings first by length so '10' > '9'. */
export function compareSeq(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Is (ts, seq) strictly after the cursor position in the cursor's order? */
export function afterCursor(ts: number, seq: string, c: LogCursor): boolean {
  const cmp = ts - c.ts || compareSeq(seq, c.seq);
  return c.order === 'asc' ? cmp > 0 : cmp < 0;
}

/**
 * Builds a page from matching rows (already filtered, cursor applied): sorts them in
 * (ts, seq) order, keeps `limit`, and sets the cursor when more remain. Rows are
 * sorted in place.
 */
export function logPage(rows: Array<{ seq: string; record: LogRecord }>, order: 'asc' | 'desc', limit: number): LogPage {
  const dir = order === 'asc' ? 1 : -1;
  rows.sort((a, b) => (a.record.ts - b.record.ts || compareSeq(a.seq, b.seq)) * dir);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    records: page.map((r) => structuredClone(r.record)),
    cursor: rows.length > limit && last ? encodeCursor({ ts: last.record.ts, seq: last.seq, order }) : undefined,
  };
}
