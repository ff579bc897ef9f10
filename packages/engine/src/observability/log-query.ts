import { isLogLevel, type LogQuery, type LogRecord, type LogStore } from '@sluice/storage-api';
import { ObservabilityError } from './errors.js';
import { parsePositiveInt, parseTimeArg } from './time-args.js';

/** The filters of `sluice logs` and GET /apps/:id/logs, as the user typed them. */
export interface LogFilter {
  since?: string;
  until?: string;
  level?: string;
  grep?: string;
  processor?: string;
  task?: string;
  executor?: string;
  limit?: string | number;
}

export const DEFAULT_LOG_LIMIT = 1000;
export const MAX_LOG_LIMIT = 100_000;

export interface ResolvedLogFilter {
  query: LogQuery;
  /** No --since: show the newest `limit` records rather than the oldest. */
  tail: boolean;
  limit: number;
}

/** Validates and turns filters into a store query (typed INVALID_ARGUMENT errors). */
export function resolveLogFilter(f: LogFilter, now = Date.now()): ResolvedLogFilter {
  const q: LogQuery = {};
  if (f.since !== undefined) q.from = parseTimeArg(f.since, now, '--since');
  if (f.until !== undefined) q.to = parseTimeArg(f.until, now, '--until');
  if (q.from !== undefined && q.to !== undefined && q.to <= q.from) throw new ObservabilityError('INVALID_ARGUMENT', '--until must be after --since');
  if (f.level !== undefined) {
    if (!isLogLevel(f.level)) throw new ObservabilityError('INVALID_ARGUMENT', `invalid level ${JSON.stringify(f.level)}: one of trace, debug, info, warn, error, fatal`);
    q.minLevel = f.level;
  }
  if (f.grep) q.text = f.grep;
  const labels: Record<string, string> = {};
  if (f.processor) labels.processor = f.processor;
  if (f.task) labels.task = f.task;
  if (f.executor) labels.executor = f.executor;
  if (Object.keys(labels).length) q.labels = labels;
  const limit = f.limit === undefined ? DEFAULT_LOG_LIMIT : parsePositiveInt(f.limit, '--limit', MAX_LOG_LIMIT);
  return { query: q, tail: q.from === undefined, limit };
}

/**
 * Reads matching records in ascending time: from --since forward, or (without it) the
 * newest `limit`. Pages through the store, at most `limit` records in all.
 */
export async function readLogs(store: LogStore, r: ResolvedLogFilter, options: { signal?: AbortSignal } = {}): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let cursor: string | undefined;
  const order = r.tail ? 'desc' : 'asc';
  // Bounded by limit / page size.
  for (let page = 0; page < 1 + Math.ceil(r.limit / 1000); page++) {
    const want = Math.min(10_000, r.limit - out.length);
    if (want <= 0) break;
    const res = await store.query({ ...r.query, order, limit: want, cursor }, options);
    out.push(...res.records);
    cursor = res.cursor;
    if (!cursor) break;
  }
  return r.tail ? out.reverse() : out;
}

/** How far behind "now" a follow without --since starts looking, for late or skewed writers. */
export const FOLLOW_SKEW_MS = 60_000;

/** Identity of a record for skipping what a follow re-delivers after the initial read. */
function recordKey(r: LogRecord): string {
  return JSON.stringify([r.ts, r.level, r.msg, r.labels, r.fields ?? null]);
}

/**
 * `-f`: the initial read, then live records as they arrive, polling every
 * `pollIntervalMs` (default 250 ms, so a line shows within well under 2 s).
 */
export async function* followLogs(
  store: LogStore,
  r: ResolvedLogFilter,
  options: { signal?: AbortSignal; pollIntervalMs?: number; initial?: boolean } = {},
): AsyncIterable<LogRecord> {
  let from = r.query.from;
  const seenAtFrom = new Set<string>();
  if (options.initial !== false) {
    // Nothing matched before this instant, so tailing from a little earlier cannot repeat
    // a line, and it catches lines stored between the read and the start of the tail
    // (with a margin for writers whose clocks run behind).
    from ??= Date.now() - FOLLOW_SKEW_MS;
    const first = await readLogs(store, r, options);
    for (const rec of first) yield rec;
    const last = first[first.length - 1];
    if (last) {
      from = last.ts;
      for (const rec of first) if (rec.ts === last.ts) seenAtFrom.add(recordKey(rec));
    }
  }
  // Start at the last shown time so nothing between the read and the tail is missed.
  const q: LogQuery = { ...r.query };
  if (from !== undefined) q.from = from;
  for await (const rec of store.follow(q, { signal: options.signal, pollIntervalMs: options.pollIntervalMs ?? 250 })) {
    if (from !== undefined && rec.ts === from && seenAtFrom.size > 0) {
      const k = recordKey(rec);
      if (seenAtFrom.delete(k)) continue;
    }
    yield rec;
  }
}
