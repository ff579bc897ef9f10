import type { TaskContext } from './task.js';
import { asEventTimeContext } from '../runtime/watermark.js';
import { newKeyedBackend, type StateTable } from '../state/backend.js';
import { normalizeKey, type StateKey } from '../state/key-groups.js';
import { TimerHeap } from '../state/window-timers.js';
import { LEFT, type JoinStats, type Tagged } from './join-tag.js';
import type { JoinTask } from './join-interval.js';

export interface TableJoinTaskOptions {
  /** 'eventTime': the row version valid at the record's event time; 'latest': the latest row received. */
  asOf: 'eventTime' | 'latest';
  /** Records without a row still give fn(record, null) (a left outer join); else they give nothing. */
  outer: boolean;
  fn: (record: unknown, row: unknown) => unknown;
  lateOutput?: string;
  maxParallelism: number;
}

/** A key's row versions, oldest first ([event time, row]), and its records waiting ([event time, record]). */
interface Versions {
  k: unknown;
  v: Array<[number, unknown]>;
}
interface Waiting {
  k: unknown;
  e: Array<[number, unknown]>;
}

const cloneWaiting = (w: Waiting): Waiting => ({ k: w.k, e: w.e.slice() });

/**
 * A keyed stream (left) joined with a changing table (right: the rows of a keyed stream,
 * the latest per key). With asOf 'eventTime' this is Flink's event-time temporal join
 * (`FOR SYSTEM_TIME AS OF`): a record at t waits in the keyed state until the watermark
 * reaches t, then meets the row version with the highest event time <= t; versions older
 * than the newest one at or below the watermark are dropped (no later record can need
 * them). Records or rows at or below the watermark on arrival are late (lateOutput).
 * With asOf 'latest' a record meets the latest row received for its key, waiting for the
 * first one if there is none yet; deterministic when each key's row is written once (a
 * regular join on a unique key, Nexmark q3/q20), arrival-ordered when rows change.
 */
export function tableJoinTask(o: TableJoinTaskOptions): JoinTask {
  const backend = newKeyedBackend(o.maxParallelism);
  const rows: StateTable = backend.table('tj:rows');
  const waiting: StateTable = backend.table('tj:wait');
  const timers = new TimerHeap();
  const scheduled = new Map<StateKey, number>();
  let built = false;
  const stats: JoinStats = { lateRecords: 0, openWindows: () => scheduled.size };
  let unreported = 0;
  const schedule = (sk: StateKey, t: number): void => {
    const cur = scheduled.get(sk);
    if (cur !== undefined && cur <= t) return;
    scheduled.set(sk, t);
    timers.push(t, sk);
  };
  const build = (): void => {
    if (built || o.asOf === 'latest') return;
    built = true;
    for (const sk of waiting.keys()) for (const [t] of (waiting.get(sk) as Waiting).e) schedule(sk, t);
  };
  /** The row valid at t: the last version at or before it. */
  const versionAt = (vs: Array<[number, unknown]>, t: number): unknown => {
    for (let i = vs.length - 1; i >= 0; i--) if (vs[i]![0] <= t) return vs[i]![1];
    return undefined;
  };
  /** Drops versions shadowed for every record still to come (all later than wm). */
  const trim = (vs: Array<[number, unknown]>, wm: number): Array<[number, unknown]> => {
    let newestAtOrBelow = -1;
    for (let i = 0; i < vs.length; i++) if (vs[i]![0] <= wm) newestAtOrBelow = i;
    return newestAtOrBelow > 0 ? vs.slice(newestAtOrBelow) : vs;
  };
  const meet = (v: unknown, row: unknown, out: unknown[]): void => {
    if (row === undefined && !o.outer) return;
    const r = o.fn(v, row === undefined ? null : row);
    if (r !== undefined) out.push(r);
  };
  const late = (values: unknown[], ts: number, ctx: TaskContext): void => {
    stats.lateRecords += values.length;
    if (o.lateOutput !== undefined) asEventTimeContext(ctx).emitSide(o.lateOutput, values, ts);
    else unreported += values.length;
  };

  const onLatest = (values: unknown[], out: unknown[]): void => {
    for (let i = 0; i < values.length; i++) {
      const [side, key, , v] = values[i] as Tagged;
      const sk = normalizeKey(key);
      if (side === LEFT) {
        const row = rows.get(sk);
        if (row !== undefined) meet(v, row, out);
        else waiting.mutable<Waiting>(sk, () => ({ k: key, e: [] }), cloneWaiting).e.push([NaN, v]);
        continue;
      }
      rows.put(sk, v);
      const w = waiting.get(sk) as Waiting | undefined;
      if (!w) continue;
      for (const [, x] of w.e) meet(x, v, out);
      waiting.delete(sk);
    }
  };

  const onEventTime = (values: unknown[], wm: number, out: unknown[], lateOnes: unknown[]): void => {
    for (let i = 0; i < values.length; i++) {
      const [side, key, t, v] = values[i] as Tagged;
      if (t <= wm) {
        lateOnes.push(v);
        continue;
      }
      const sk = normalizeKey(key);
      if (side === LEFT) {
        waiting.mutable<Waiting>(sk, () => ({ k: key, e: [] }), cloneWaiting).e.push([t, v]);
        schedule(sk, t);
        continue;
      }
      const cur = rows.get(sk) as Versions | undefined;
      const vs = cur ? cur.v.slice() : [];
      // Sorted by event time; a row at the same time as an earlier one replaces it for later records.
      let at = vs.length;
      while (at > 0 && vs[at - 1]![0] > t) at--;
      vs.splice(at, 0, [t, v]);
      rows.put(sk, { k: key, v: trim(vs, wm) });
    }
  };

  return {
    keyedState: backend,
    windowStats: stats,
    onNext(values, ts, ctx) {
      build();
      const out: unknown[] = [];
      const lateOnes: unknown[] = [];
      if (o.asOf === 'latest') onLatest(values, out);
      else onEventTime(values, asEventTimeContext(ctx).watermark, out, lateOnes);
      if (out.length) ctx.emit(out, ts);
      if (lateOnes.length) late(lateOnes, ts, ctx);
    },
    onWatermark(wm, ts, ctx) {
      const out: unknown[] = [];
      if (o.asOf === 'latest') {
        // End of input: records still waiting will never meet a row.
        if (wm !== Infinity) return;
        for (const sk of [...waiting.keys()]) {
          for (const [, x] of (waiting.get(sk) as Waiting).e) meet(x, undefined, out);
          waiting.delete(sk);
        }
        if (out.length) ctx.emit(out, ts);
        return;
      }
      build();
      while (timers.size > 0 && timers.peek() <= wm) {
        const due = timers.peek();
        const sk = timers.pop()!;
        if (scheduled.get(sk) !== due) continue;
        scheduled.delete(sk);
        const w = waiting.get(sk) as Waiting | undefined;
        if (!w) continue;
        const vs = (rows.get(sk) as Versions | undefined)?.v ?? [];
        const keep: Array<[number, unknown]> = [];
        const ready = w.e.filter((e) => e[0] <= wm || (keep.push(e), false)).sort((a, b) => a[0] - b[0]);
        for (const [t, x] of ready) meet(x, versionAt(vs, t), out);
        if (keep.length) {
          waiting.put(sk, { k: w.k, e: keep });
          let next = Infinity;
          for (const [t] of keep) next = Math.min(next, t);
          schedule(sk, next);
        } else waiting.delete(sk);
        const cur = rows.get(sk) as Versions | undefined;
        if (cur) {
          const trimmed = trim(cur.v, wm);
          if (trimmed !== cur.v) rows.put(sk, { k: cur.k, v: trimmed });
        }
      }
      if (out.length) ctx.emit(out, ts);
    },
    onClock(_t, ctx) {
      if (unreported === 0) return;
      ctx.logger.warn({ lateRecords: unreported, total: stats.lateRecords }, 'table join: records or rows at or below the watermark were not joined (no lateOutput on this join)');
      unreported = 0;
    },
  };
}
