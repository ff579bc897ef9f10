import type { Task } from '../dsl/task.js';
import { EngineError } from '../errors.js';
import { asEventTimeContext, type EventTimeTask } from './watermark.js';

export interface AssignerOptions {
  maxOutOfOrdernessMs: number;
  idleTimeoutMs?: number;
  watermarkEveryRecords: number;
}

interface AssignerState {
  max: string;
  n: number;
  emitted: string;
  idle: boolean;
}

/**
 * The task of `stream.withTimestamps(fn, ...)`: passes records through unchanged and
 * emits watermarks with bounded out-of-orderness, W = (highest event time seen) - bound
 * - 1, after every `watermarkEveryRecords` records (fixed positions of the record
 * sequence, split out of the batch, so replay after a failure reproduces them). Going
 * idle (no record for idleTimeoutMs of processing time) it sends the watermark its
 * records allow, marked idle; the end of its input (+Infinity) passes through.
 */
export function timestampTask(fn: (v: unknown) => number, o: AssignerOptions): EventTimeTask {
  const bound = o.maxOutOfOrdernessMs;
  let max = -Infinity;
  let n = 0;
  let emitted = -Infinity;
  let idle = false;
  let lastRecordAt: number | undefined;
  const task: EventTimeTask & Required<Pick<Task, 'snapshot' | 'restore'>> = {
    generatesWatermarks: true,
    onNext(values, ts, ctx) {
      const ectx = asEventTimeContext(ctx);
      lastRecordAt = ts;
      if (idle) {
        idle = false;
        ectx.emitWatermark(emitted, ts, false);
      }
      let from = 0;
      for (let i = 0; i < values.length; i++) {
        const t = fn(values[i]);
        if (typeof t !== 'number' || !Number.isFinite(t)) {
          throw new EngineError('EVENT_TIME_INVALID', `withTimestamps: the function returned ${String(t)} (not a finite number of ms) for a record of ${ctx.processor}`);
        }
        if (t > max) max = t;
        if (++n < o.watermarkEveryRecords) continue;
        n = 0;
        const wm = max - bound - 1;
        if (wm <= emitted) continue;
        ctx.emit(from === 0 && i === values.length - 1 ? values : values.slice(from, i + 1), ts);
        from = i + 1;
        emitted = wm;
        ectx.emitWatermark(wm, ts);
      }
      if (from < values.length) ctx.emit(from === 0 ? values : values.slice(from), ts);
    },
    onWatermark(wm, ts, ctx) {
      // Upstream sources send +Infinity at the end of their input; nothing else passes.
      if (wm !== Infinity || emitted === Infinity) return;
      emitted = Infinity;
      idle = false;
      asEventTimeContext(ctx).emitWatermark(Infinity, ts, false);
    },
    onProcessingTime(now, ctx) {
      if (o.idleTimeoutMs === undefined || idle || emitted === Infinity) return;
      lastRecordAt ??= now;
      if (now - lastRecordAt < o.idleTimeoutMs) return;
      idle = true;
      emitted = Math.max(emitted, max - bound - 1);
      asEventTimeContext(ctx).emitWatermark(emitted, now, true);
    },
    snapshot: (): AssignerState => ({ max: String(max), n, emitted: String(emitted), idle }),
    restore(state) {
      const s = state as AssignerState;
      max = Number(s.max);
      n = s.n;
      emitted = Number(s.emitted);
      idle = s.idle;
    },
  };
  return task;
}
