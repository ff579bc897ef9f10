import type { TaskContext } from '../dsl/task.js';
import type { WindowAssigner, WindowResult } from '../dsl/windows.js';
import { asEventTimeContext, type EventTimeTask } from '../runtime/watermark.js';
import { newKeyedBackend } from './backend.js';
import type { StatefulTask } from './keyed-api.js';
import { WindowOperator, type WindowFunction, type WindowOutput } from './window-operator.js';

export interface WindowTaskOptions {
  assigner: WindowAssigner;
  allowedLatenessMs: number;
  lateOutput?: string;
  fn: WindowFunction;
  key: (v: unknown) => unknown;
  time: (v: unknown) => number;
  maxParallelism: number;
}

/** Late records and open windows of a window task, read by the executor's metrics. */
export interface WindowTaskStats {
  lateRecords: number;
  openWindows(): number;
}

export type WindowTask = StatefulTask & EventTimeTask & { readonly windowStats: WindowTaskStats };

export function isWindowTask(t: unknown): t is WindowTask {
  return typeof (t as Partial<WindowTask>).windowStats === 'object';
}

/**
 * The task of `keyed.window(...).count(...)` and friends: results `{ key, start, end,
 * value }` are emitted stamped with the processing time of the batch or watermark that
 * produced them; late records go to the side output `lateOutput`.
 */
export function windowTask(o: WindowTaskOptions): WindowTask {
  const backend = newKeyedBackend(o.maxParallelism);
  const op = new WindowOperator({ assigner: o.assigner, allowedLatenessMs: o.allowedLatenessMs, fn: o.fn, key: o.key, time: o.time, backend });
  const stats: WindowTaskStats = { lateRecords: 0, openWindows: () => op.openWindows() };
  let unreported = 0;
  const flush = (out: WindowOutput, ts: number, ctx: TaskContext): void => {
    if (out.results.length) ctx.emit(out.results as WindowResult[], ts);
    if (out.late.length === 0) return;
    stats.lateRecords += out.late.length;
    if (o.lateOutput !== undefined) asEventTimeContext(ctx).emitSide(o.lateOutput, out.late, ts);
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
      // Without a lateOutput, late records are not emitted: say so, once per interval.
      if (unreported === 0) return;
      ctx.logger.warn({ lateRecords: unreported, total: stats.lateRecords }, 'records later than the allowed lateness were not emitted (no lateOutput on this window)');
      unreported = 0;
    },
  };
}
