import type { TaskContext } from './task.js';
import type { WindowAssigner } from './windows.js';
import { asEventTimeContext } from '../runtime/watermark.js';
import { HeapKeyedState } from '../state/heap-state.js';
import { WindowOperator, type WindowOutput } from '../state/window-operator.js';
import type { JoinStats, Tagged } from './join-tag.js';
import type { JoinTask } from './join-interval.js';

/** What a window join's coGroup function sees: the key, the window and each side's records in it (arrival order). */
export interface JoinedWindow {
  key: unknown;
  start: number;
  end: number;
  left: readonly unknown[];
  right: readonly unknown[];
}

export interface WindowJoinTaskOptions {
  assigner: WindowAssigner;
  allowedLatenessMs: number;
  lateOutput?: string;
  /** The window's output records (a pair join flattens its pairs into this). */
  fn: (w: JoinedWindow) => unknown[];
  maxParallelism: number;
}

/** A window's accumulator: the records of each side. */
type Sides = [unknown[], unknown[]];

/**
 * Window join (Flink's `join(...).where(...).equalTo(...).window(...)` and coGroup): the
 * records of both sides go into the key's windows of one WindowOperator (the window state
 * of `keyed.window`, so the same keyed state, timers, lateness and late output), each
 * window holding a list per side; when the watermark passes the window's end - 1 its
 * output is emitted (fired again, updated, for a late record within allowedLatenessMs).
 */
export function windowJoinTask(o: WindowJoinTaskOptions): JoinTask {
  const backend = new HeapKeyedState(o.maxParallelism);
  const op = new WindowOperator({
    assigner: o.assigner,
    allowedLatenessMs: o.allowedLatenessMs,
    backend,
    key: (t) => (t as Tagged)[1],
    time: (t) => (t as Tagged)[2],
    fn: {
      add(acc, t) {
        const s = (acc as Sides | undefined) ?? [[], []];
        const [side, , , v] = t as Tagged;
        s[side].push(v);
        return s;
      },
      merge: (a, b) => [[...(a as Sides)[0], ...(b as Sides)[0]], [...(a as Sides)[1], ...(b as Sides)[1]]],
      result: (acc, key, start, end) => o.fn({ key, start, end, left: (acc as Sides)[0], right: (acc as Sides)[1] }),
    },
  });
  const stats: JoinStats = { lateRecords: 0, openWindows: () => op.openWindows() };
  let unreported = 0;
  const flush = (out: WindowOutput, ts: number, ctx: TaskContext): void => {
    const rows: unknown[] = [];
    for (const r of out.results) for (const x of r.value as unknown[]) rows.push(x);
    if (rows.length) ctx.emit(rows, ts);
    if (out.late.length === 0) return;
    stats.lateRecords += out.late.length;
    if (o.lateOutput !== undefined) asEventTimeContext(ctx).emitSide(o.lateOutput, out.late.map((t) => (t as Tagged)[3]), ts);
    else unreported += out.late.length;
  };
  return {
    keyedState: backend,
    windowStats: stats,
    onNext(values, ts, ctx) {
      const out: WindowOutput = { results: [], late: [] };
      op.onRecords(values, asEventTimeContext(ctx).watermark, out);
      flush(out, ts, ctx);
    },
    onWatermark(wm, ts, ctx) {
      const out: WindowOutput = { results: [], late: [] };
      op.onWatermark(wm, out);
      flush(out, ts, ctx);
    },
    onClock(_t, ctx) {
      if (unreported === 0) return;
      ctx.logger.warn({ lateRecords: unreported, total: stats.lateRecords }, 'window join: records later than the allowed lateness were not joined (no lateOutput on this join)');
      unreported = 0;
    },
  };
}
