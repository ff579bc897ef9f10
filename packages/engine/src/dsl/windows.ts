import { z } from 'zod';
import { EngineError } from '../errors.js';

/**
 * Event-time windows (`sluice.windows.*`). A window is the half-open interval
 * [start, end) of event time; it fires once the watermark reaches end - 1 (no record at
 * or before it can still arrive on time). Sessions merge windows closer than the gap.
 */
export interface WindowAssigner {
  readonly kind: 'tumbling' | 'sliding' | 'session';
  /** Sessions merge; the others assign fixed windows. */
  readonly merging: boolean;
  /** The windows a record at event time `ts` belongs to, as [start, end). */
  assign(ts: number): Array<[number, number]>;
}

/** A session window per key: records closer than gapMs share one. */
export interface SessionAssigner extends WindowAssigner {
  readonly kind: 'session';
  readonly gapMs: number;
}

const positiveMs = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

function parse<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  const path = i.path.length ? i.path.join('.') : 'value';
  throw new EngineError('DAG_INVALID', `${what}: ${path}: ${i.message}`);
}

/** Fixed windows of sizeMs, aligned to offsetMs (default epoch-aligned). */
function tumbling(sizeMs: number, offsetMs = 0): WindowAssigner {
  const o = parse(z.object({ sizeMs: positiveMs, offsetMs: z.number().int().nonnegative() }), 'windows.tumbling', { sizeMs, offsetMs });
  return {
    kind: 'tumbling',
    merging: false,
    assign(ts) {
      const start = ts - mod(ts - o.offsetMs, o.sizeMs);
      return [[start, start + o.sizeMs]];
    },
  };
}

/** Overlapping windows of sizeMs starting every slideMs (a record is in ceil(size/slide) of them). */
function sliding(sizeMs: number, slideMs: number): WindowAssigner {
  const o = parse(z.object({ sizeMs: positiveMs, slideMs: positiveMs }).refine((x) => x.slideMs <= x.sizeMs, { path: ['slideMs'], message: 'must not exceed sizeMs' }), 'windows.sliding', { sizeMs, slideMs });
  return {
    kind: 'sliding',
    merging: false,
    assign(ts) {
      const out: Array<[number, number]> = [];
      const last = ts - mod(ts, o.slideMs);
      for (let start = last; start > ts - o.sizeMs; start -= o.slideMs) out.push([start, start + o.sizeMs]);
      return out.reverse();
    },
  };
}

/** Per-key sessions: a record opens [ts, ts + gapMs); overlapping or touching windows merge. */
function session(gapMs: number): SessionAssigner {
  const o = parse(z.object({ gapMs: positiveMs }), 'windows.session', { gapMs });
  return { kind: 'session', merging: true, gapMs: o.gapMs, assign: (ts) => [[ts, ts + o.gapMs]] };
}

/** Floor modulo (negative event times still land in the window below them). */
function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

export const windows = { tumbling, sliding, session };

export interface WindowOptions {
  /** How long after a window fired late records still update it (default 0). */
  allowedLatenessMs?: number;
  /**
   * The side output that receives records later than that (read it with
   * `dag.sideOutput(name)`). Without one, such records are counted (metric
   * sluice_late_records_total) and logged, not emitted.
   */
  lateOutput?: string;
}

export const windowOptionsSchema = z.object({
  allowedLatenessMs: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
  lateOutput: z.string().min(1).max(128).optional(),
}).strict();

export function parseWindowOptions(o: unknown): z.infer<typeof windowOptionsSchema> {
  return parse(windowOptionsSchema, 'window options', o ?? {});
}

export function isWindowAssigner(a: unknown): a is WindowAssigner {
  const w = a as Partial<WindowAssigner> | null;
  return typeof w === 'object' && w !== null && typeof w.assign === 'function' && typeof w.merging === 'boolean';
}

/** A window's result record. */
export interface WindowResult<V = unknown> {
  key: unknown;
  start: number;
  end: number;
  value: V;
}

/** A user aggregate (Flink's AggregateFunction): treat accumulators as values (return a new one). */
export interface WindowAggregate<A = unknown, V = unknown, R = unknown> {
  create(): A;
  add(acc: A, value: V): A;
  /** Needed by session windows (two windows merge into one). */
  merge?(a: A, b: A): A;
  result(acc: A): R;
}

export interface TimestampOptions {
  /** Bound on out-of-orderness: the watermark trails the highest event time seen by this much (+1 ms). */
  maxOutOfOrdernessMs: number;
  /** No record for this long (processing time): the task stops holding back its consumers until the next record. */
  idleTimeoutMs?: number;
  /**
   * A watermark is emitted after every this many records (default 100), at fixed
   * positions of the record sequence, so which records are late does not depend on how
   * the source batched them (the same results after a failure and replay).
   */
  watermarkEveryRecords?: number;
  /** The assigning processor's name (default timestamps<n>). */
  name?: string;
}

export const timestampOptionsSchema = z.object({
  maxOutOfOrdernessMs: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  idleTimeoutMs: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  watermarkEveryRecords: z.number().int().positive().max(1_000_000).default(100),
  name: z.string().optional(),
}).strict();

export function parseTimestampOptions(o: unknown): z.infer<typeof timestampOptionsSchema> {
  return parse(timestampOptionsSchema, 'withTimestamps options', o);
}
