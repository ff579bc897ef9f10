import { z } from 'zod';
import { EngineError } from '../errors.js';
import type { Dag } from './dag.js';
import type { Task } from './task.js';
import { intervalJoinTask } from './join-interval.js';
import { tableJoinTask } from './join-table.js';
import { LEFT, RIGHT, tagTask, type Tagged } from './join-tag.js';
import { windowJoinTask, type JoinedWindow } from './join-window.js';
import { isWindowAssigner, type WindowAssigner } from './windows.js';

/** One input of a join, as the DSL knows it: a keyed stream's processor, key and event time. */
export interface JoinSide {
  dag: Dag;
  from: string;
  key: (v: unknown) => unknown;
  eventTime?: (v: unknown) => number;
  port?: string;
}

/** Options every join takes. */
export interface JoinOptions {
  /** The join processor's name (default join<n>); its tagging tasks are <name>-left and <name>-right. */
  name?: string;
  parallelism?: number;
  uid?: string;
  /**
   * Side output for records (of either side) at or below the watermark when they arrive,
   * read with `dag.sideOutput(name)`; without one they are counted and logged.
   */
  lateOutput?: string;
}

export interface IntervalJoinOptions extends JoinOptions {
  /** A right record at tr meets a left one at tl when tl + lowerMs <= tr <= tl + upperMs. */
  lowerMs: number;
  upperMs: number;
}

export interface WindowJoinOptions extends JoinOptions {
  /** As for windows: late records within it update the window, whose output is emitted again. */
  allowedLatenessMs?: number;
}

export interface TableJoinOptions extends JoinOptions {
  /**
   * 'eventTime' (default): Flink's event-time temporal join, the row version valid at the
   * record's event time (records wait for the watermark). 'latest': the latest row
   * received (a record with none yet waits for the first).
   */
  asOf?: 'eventTime' | 'latest';
  /** Records that meet no row give fn(record, null) instead of nothing (left outer join). */
  outer?: boolean;
}

const ms = z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const common = {
  name: z.string().min(1).max(128).optional(),
  parallelism: z.number().int().optional(),
  uid: z.string().optional(),
  lateOutput: z.string().min(1).max(128).optional(),
};
const intervalSchema = z.object({ ...common, lowerMs: ms, upperMs: ms }).strict().refine((o) => o.lowerMs <= o.upperMs, { path: ['upperMs'], message: 'must not be below lowerMs' });
const windowSchema = z.object({ ...common, allowedLatenessMs: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0) }).strict();
const tableSchema = z.object({ ...common, asOf: z.enum(['eventTime', 'latest']).default('eventTime'), outer: z.boolean().default(false) }).strict();

function parse<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  throw new EngineError('DAG_INVALID', `${what}: ${i.path.length ? i.path.join('.') : 'value'}: ${i.message}`);
}

/**
 * Adds a join: a tagging task per side (forward from it, same parallelism) and the join
 * processor, fed by both over hash edges on the key (so both sides of a key meet in one
 * task and its state is in that key's key group). Returns the join processor's name.
 */
function addJoin(kind: string, left: JoinSide, right: JoinSide, o: JoinOptions, needsTime: boolean, task: (maxParallelism: () => number) => () => Task): string {
  const d = left.dag;
  if (right.dag !== d) throw new EngineError('DAG_INVALID', `${kind}: both sides must be streams of the same dag`);
  if (needsTime && (!left.eventTime || !right.eventTime)) {
    throw new EngineError('DAG_INVALID', `dag ${d.name}: ${kind} needs event time on both sides: call withTimestamps(fn, ...) on the ${!left.eventTime ? 'left' : 'right'} stream before groupBy (after any map)`);
  }
  if (typeof (right as Partial<JoinSide>).key !== 'function') throw new EngineError('DAG_INVALID', `dag ${d.name}: ${kind}: the other side must be a keyed stream (groupBy first)`);
  const name = o.name ?? d.autoName('join');
  if (o.lateOutput !== undefined && d.sideOutputs.has(o.lateOutput)) throw new EngineError('DAG_INVALID', `dag ${d.name}: side output ${JSON.stringify(o.lateOutput)} is declared twice`);
  const mp = (): number => d.maxParallelism;
  d.processor({ name, kind: 'task', parallelism: o.parallelism ?? 1, task: task(mp), ...(o.uid === undefined ? {} : { uid: o.uid }) });
  for (const [side, s] of [[LEFT, left], [RIGHT, right]] as const) {
    const tag = `${name}-${side === LEFT ? 'left' : 'right'}`;
    const time = needsTime ? s.eventTime : undefined;
    d.processor({ name: tag, kind: 'task', parallelism: d.processors.get(s.from)?.parallelism ?? 1, task: () => tagTask(side, s.key, time, name) });
    d.edge(s.from, tag, { partition: 'forward', ...(s.port === undefined ? {} : { port: s.port }) });
    d.edge(tag, name, { partition: 'hash', key: (t) => (t as Tagged)[1] });
  }
  if (o.lateOutput !== undefined) d.sideOutputs.set(o.lateOutput, name);
  return name;
}

const checkFn = (kind: string, fn: unknown): void => {
  if (typeof fn !== 'function') throw new EngineError('DAG_INVALID', `${kind}: needs a join function`);
};

export function intervalJoin(left: JoinSide, right: JoinSide, options: IntervalJoinOptions, fn: (l: unknown, r: unknown) => unknown): string {
  checkFn('intervalJoin', fn);
  const o = parse(intervalSchema, 'intervalJoin options', options);
  return addJoin('intervalJoin', left, right, o, true, (mp) => () => intervalJoinTask({ lowerMs: o.lowerMs, upperMs: o.upperMs, fn, maxParallelism: mp(), ...(o.lateOutput === undefined ? {} : { lateOutput: o.lateOutput }) }));
}

function windowed(kind: string, left: JoinSide, right: JoinSide, assigner: WindowAssigner, options: WindowJoinOptions | undefined, fn: (w: JoinedWindow) => unknown[]): string {
  if (!isWindowAssigner(assigner)) throw new EngineError('DAG_INVALID', `${kind} needs sluice.windows.tumbling(ms), sliding(size, slide) or session(gap)`);
  const o = parse(windowSchema, `${kind} options`, options);
  return addJoin(kind, left, right, o, true, (mp) => () => windowJoinTask({ assigner, allowedLatenessMs: o.allowedLatenessMs, fn, maxParallelism: mp(), ...(o.lateOutput === undefined ? {} : { lateOutput: o.lateOutput }) }));
}

/** fn(l, r, window) for every pair of a key's left and right records in one window. */
export function windowJoin(left: JoinSide, right: JoinSide, assigner: WindowAssigner, fn: (l: unknown, r: unknown, w: { key: unknown; start: number; end: number }) => unknown, options?: WindowJoinOptions): string {
  checkFn('windowJoin', fn);
  return windowed('windowJoin', left, right, assigner, options, (w) => {
    const out: unknown[] = [];
    const at = { key: w.key, start: w.start, end: w.end };
    for (const l of w.left) for (const r of w.right) {
      const x = fn(l, r, at);
      if (x !== undefined) out.push(x);
    }
    return out;
  });
}

/** fn({ key, start, end, left, right }) once per window of a key (either list may be empty); its records are emitted. */
export function windowCoGroup(left: JoinSide, right: JoinSide, assigner: WindowAssigner, fn: (w: JoinedWindow) => Iterable<unknown> | undefined, options?: WindowJoinOptions): string {
  checkFn('windowCoGroup', fn);
  return windowed('windowCoGroup', left, right, assigner, options, (w) => {
    const r = fn(w);
    return r === undefined ? [] : Array.isArray(r) ? (r as unknown[]) : [...r];
  });
}

export function joinTable(left: JoinSide, table: JoinSide, fn: (record: unknown, row: unknown) => unknown, options?: TableJoinOptions): string {
  checkFn('joinTable', fn);
  const o = parse(tableSchema, 'joinTable options', options);
  return addJoin('joinTable', left, table, o, o.asOf === 'eventTime', (mp) => () => tableJoinTask({ asOf: o.asOf, outer: o.outer, fn, maxParallelism: mp(), ...(o.lateOutput === undefined ? {} : { lateOutput: o.lateOutput }) }));
}

export type { JoinedWindow };
