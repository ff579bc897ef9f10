import type { TaskContext } from './task.js';
import { asEventTimeContext, type EventTimeTask } from '../runtime/watermark.js';
import { newKeyedBackend, type StateTable } from '../state/backend.js';
import type { StatefulTask } from '../state/keyed-api.js';
import { normalizeKey, type StateKey } from '../state/key-groups.js';
import { TimerHeap } from '../state/window-timers.js';
import { LEFT, type JoinStats, type Tagged } from './join-tag.js';

export interface IntervalJoinTaskOptions {
  lowerMs: number;
  upperMs: number;
  fn: (l: unknown, r: unknown) => unknown;
  lateOutput?: string;
  maxParallelism: number;
}

/** One side's buffer of a key in the keyed state: the key as given, and [event time, record] pairs. */
interface Buffer {
  k: unknown;
  e: Array<[number, unknown]>;
}

export type JoinTask = StatefulTask & EventTimeTask & { readonly windowStats: JoinStats };

const cloneBuffer = (b: Buffer): Buffer => ({ k: b.k, e: b.e.slice() });

/**
 * Interval join (Flink's KeyedStream.intervalJoin): a left record at time tl and a right
 * record of the same key at tr meet when tl + lowerMs <= tr <= tl + upperMs; fn(l, r) is
 * emitted once, when the second of the two arrives. Both sides wait in the keyed state
 * (checkpointed and rescaled by key group) until the watermark makes a match impossible:
 * a left record until W >= tl + upperMs, a right one until W >= tr - lowerMs. A record
 * at or below the watermark when it arrives is late: it goes to `lateOutput` (or is
 * counted), never joined, so which pairs are emitted does not depend on timing.
 */
export function intervalJoinTask(o: IntervalJoinTaskOptions): JoinTask {
  const backend = newKeyedBackend(o.maxParallelism);
  const tables: [StateTable, StateTable] = [backend.table('ij:left'), backend.table('ij:right')];
  const timers = new TimerHeap();
  /** The one live cleanup timer per key (in memory: rebuilt from the state after a restore). */
  const scheduled = new Map<StateKey, number>();
  let built = false;
  const expiry = (side: number, ts: number): number => (side === LEFT ? ts + o.upperMs : ts - o.lowerMs);
  const schedule = (sk: StateKey, t: number): void => {
    const cur = scheduled.get(sk);
    if (cur !== undefined && cur <= t) return;
    scheduled.set(sk, t);
    timers.push(t, sk);
  };
  const build = (): void => {
    if (built) return;
    built = true;
    for (let side = 0; side < 2; side++) {
      const t = tables[side]!;
      for (const sk of t.keys()) for (const [ts] of (t.get(sk) as Buffer).e) schedule(sk, expiry(side, ts));
    }
  };
  const stats: JoinStats = { lateRecords: 0, openWindows: () => scheduled.size };
  let unreported = 0;
  const late = (values: unknown[], ts: number, ctx: TaskContext): void => {
    stats.lateRecords += values.length;
    if (o.lateOutput !== undefined) asEventTimeContext(ctx).emitSide(o.lateOutput, values, ts);
    else unreported += values.length;
  };
  return {
    keyedState: backend,
    windowStats: stats,
    onNext(values, ts, ctx) {
      build();
      const wm = asEventTimeContext(ctx).watermark;
      const out: unknown[] = [];
      let lateOnes: unknown[] | undefined;
      for (let i = 0; i < values.length; i++) {
        const [side, key, t, v] = values[i] as Tagged;
        if (t <= wm) {
          (lateOnes ??= []).push(v);
          continue;
        }
        const sk = normalizeKey(key);
        const other = tables[1 - side]!.get(sk) as Buffer | undefined;
        if (other) {
          for (const [t2, v2] of other.e) {
            const [tl, tr] = side === LEFT ? [t, t2] : [t2, t];
            if (tl + o.lowerMs <= tr && tr <= tl + o.upperMs) {
              const r = side === LEFT ? o.fn(v, v2) : o.fn(v2, v);
              if (r !== undefined) out.push(r);
            }
          }
        }
        const exp = expiry(side, t);
        if (exp <= wm) continue; // nothing of the other side can still match it
        tables[side]!.mutable<Buffer>(sk, () => ({ k: key, e: [] }), cloneBuffer).e.push([t, v]);
        schedule(sk, exp);
      }
      if (out.length) ctx.emit(out, ts);
      if (lateOnes) late(lateOnes, ts, ctx);
    },
    onWatermark(wm) {
      build();
      while (timers.size > 0 && timers.peek() <= wm) {
        const due = timers.peek();
        const sk = timers.pop()!;
        if (scheduled.get(sk) !== due) continue; // superseded by an earlier timer of the key
        scheduled.delete(sk);
        let next = Infinity;
        for (let side = 0; side < 2; side++) {
          const t = tables[side]!;
          const b = t.get(sk) as Buffer | undefined;
          if (!b) continue;
          const keep = b.e.filter(([ts]) => expiry(side, ts) > wm);
          if (keep.length === 0) t.delete(sk);
          else if (keep.length < b.e.length) t.put(sk, { k: b.k, e: keep });
          for (const [ts] of keep) next = Math.min(next, expiry(side, ts));
        }
        if (next !== Infinity) schedule(sk, next);
      }
    },
    onClock(_t, ctx) {
      if (unreported === 0) return;
      ctx.logger.warn({ lateRecords: unreported, total: stats.lateRecords }, 'join: records at or below the watermark were not joined (no lateOutput on this join)');
      unreported = 0;
    },
  };
}
