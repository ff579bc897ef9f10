import { EngineError } from '../errors.js';
import type { Task } from './task.js';

/**
 * A record on its way into a two-input join: [side (0 left, 1 right), key, event time,
 * record]. The runtime hands a task batches without saying which input they came from, so
 * each side passes a tagging task (forward, same parallelism as its upstream) that also
 * computes the key and event time once, for the hash edge and the join alike.
 */
export type Tagged = [0 | 1, unknown, number, unknown];

export const LEFT = 0;
export const RIGHT = 1;

/** The tagging task of one join side; `time` undefined: the join needs no event time (NaN). */
export function tagTask(side: 0 | 1, key: (v: unknown) => unknown, time: ((v: unknown) => number) | undefined, join: string): Task {
  return {
    onNext(values, ts, ctx) {
      const out = new Array<Tagged>(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        let t = NaN;
        if (time) {
          t = time(v);
          if (typeof t !== 'number' || !Number.isFinite(t)) {
            throw new EngineError('EVENT_TIME_INVALID', `join ${join}: the timestamp function of its ${side === LEFT ? 'left' : 'right'} side returned ${String(t)} (not a finite number of ms)`);
          }
        }
        out[i] = [side, key(v), t, v];
      }
      ctx.emit(out, ts);
    },
  };
}

/** The join tasks' counters, read by the executor's metrics like a window task's (sluice_late_records_total). */
export interface JoinStats {
  lateRecords: number;
  /** Windows open (window joins); keys with records waiting for the watermark (interval and event-time table joins). */
  openWindows(): number;
}
