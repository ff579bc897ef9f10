import { describe, expect, it } from 'vitest';
import { windows } from '../src/dsl/windows.js';
import { dag, validateDag, type Stream } from '../src/dsl/dag.js';
import type { WindowedStream } from '../src/dsl/windows-stream.js';
import { HeapKeyedState } from '../src/state/heap-state.js';
import { WindowOperator, type WindowFunction, type WindowOutput } from '../src/state/window-operator.js';
import { InputWatermarks } from '../src/runtime/watermark.js';
import { ClockService } from '../src/runtime/clock-service.js';
import { encodeWatermark, FrameDecoder, FrameKind } from '../src/runtime/framing.js';
import { isEngineError } from '../src/errors.js';
import { timestampTask } from '../src/runtime/watermark-assigner.js';
import type { EventTimeContext } from '../src/runtime/watermark.js';
import type { TaskContext } from '../src/dsl/task.js';
import type { EventTimeTask } from '../src/runtime/watermark.js';

/** A context that records what an assigner emits, in order. */
function recorder(): { ctx: TaskContext; log: Array<[string, unknown, number, boolean?]> } {
  const log: Array<[string, unknown, number, boolean?]> = [];
  const ctx = {
    processor: 'stamp', taskId: 'stamp.0',
    emit: (values: unknown[], ts: number) => void log.push(['data', values, ts]),
    emitWatermark: (wm: number, ts: number, idle = false) => void log.push(['wm', wm, ts, idle]),
  } as unknown as EventTimeContext;
  return { ctx, log };
}

const count: WindowFunction = { add: (a) => ((a as number | undefined) ?? 0) + 1, merge: (a, b) => (a as number) + (b as number), result: (a) => a };
const list: WindowFunction = {
  add: (a, v) => [...((a as unknown[] | undefined) ?? []), v],
  merge: (a, b) => [...(a as unknown[]), ...(b as unknown[])],
  result: (a) => a,
};
type Rec = { k: string; t: number };
const op = (assigner: ReturnType<typeof windows.tumbling>, lateness = 0, fn = count): WindowOperator =>
  new WindowOperator({ assigner, allowedLatenessMs: lateness, fn, key: (v) => (v as Rec).k, time: (v) => (v as Rec).t, backend: new HeapKeyedState(8) });
const out = (): WindowOutput => ({ results: [], late: [] });

describe('window assignment', () => {
  it('tumbling: one window per record, aligned (also below zero)', () => {
    const w = windows.tumbling(1000);
    expect(w.assign(0)).toEqual([[0, 1000]]);
    expect(w.assign(999)).toEqual([[0, 1000]]);
    expect(w.assign(1000)).toEqual([[1000, 2000]]);
    expect(w.assign(-1)).toEqual([[-1000, 0]]);
    expect(windows.tumbling(1000, 250).assign(100)).toEqual([[-750, 250]]);
  });

  it('sliding: size/slide windows, oldest first', () => {
    const w = windows.sliding(1000, 250);
    expect(w.assign(1100)).toEqual([[250, 1250], [500, 1500], [750, 1750], [1000, 2000]]);
    expect(windows.sliding(10, 10).assign(15)).toEqual([[10, 20]]);
  });

  it('bad sizes are DAG_INVALID naming the key', () => {
    for (const f of [() => windows.tumbling(0), () => windows.sliding(10, 20), () => windows.session(-5), () => windows.tumbling(1.5)]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isEngineError(err) && err.code === 'DAG_INVALID', String(err)).toBe(true);
    }
    expect(() => windows.sliding(10, 20)).toThrow(/slideMs/);
    expect(() => windows.session(0)).toThrow(/gapMs/);
  });
});

describe('window operator', () => {
  it('fires a window when the watermark reaches end - 1, then drops it', () => {
    const o = op(windows.tumbling(10));
    const a = out();
    o.onRecords([{ k: 'a', t: 1 }, { k: 'a', t: 9 }, { k: 'b', t: 5 }, { k: 'a', t: 10 }], -Infinity, a);
    expect(a).toEqual({ results: [], late: [] });
    const b = out();
    o.onWatermark(8, b);
    expect(b.results).toEqual([]);
    o.onWatermark(9, b);
    expect(b.results.sort((x, y) => String(x.key).localeCompare(String(y.key)))).toEqual([{ key: 'a', start: 0, end: 10, value: 2 }, { key: 'b', start: 0, end: 10, value: 1 }]);
    expect(o.openWindows()).toBe(1);
    const c = out();
    o.onRecords([{ k: 'a', t: 3 }], 9, c); // window [0,10) is gone: late
    expect(c).toEqual({ results: [], late: [{ k: 'a', t: 3 }] });
  });

  it('allowed lateness: late records update and re-fire the window until end - 1 + lateness', () => {
    const o = op(windows.tumbling(10), 5);
    const r = out();
    o.onRecords([{ k: 'a', t: 1 }], -Infinity, r);
    o.onWatermark(10, r);
    expect(r.results).toEqual([{ key: 'a', start: 0, end: 10, value: 1 }]);
    const late = out();
    o.onRecords([{ k: 'a', t: 2 }], 10, late);
    expect(late.results).toEqual([{ key: 'a', start: 0, end: 10, value: 2 }]);
    // A late record of a window that had none yet still counts within the lateness.
    o.onRecords([{ k: 'b', t: 4 }], 13, late);
    expect(late.results.at(-1)).toEqual({ key: 'b', start: 0, end: 10, value: 1 });
    const after = out();
    o.onWatermark(14, after); // 9 + 5 <= 14: both cleaned, no second firing
    expect(after.results).toEqual([]);
    expect(o.openWindows()).toBe(0);
    o.onRecords([{ k: 'a', t: 9 }], 14, after);
    expect(after.late).toEqual([{ k: 'a', t: 9 }]);
  });

  it('sliding windows: a record counts in each of its windows; late only when all are gone', () => {
    const o = op(windows.sliding(20, 10));
    const r = out();
    o.onRecords([{ k: 'a', t: 15 }], -Infinity, r);
    o.onWatermark(19, r);
    expect(r.results).toEqual([{ key: 'a', start: 0, end: 20, value: 1 }]);
    const l = out();
    o.onRecords([{ k: 'a', t: 12 }], 19, l); // [0,20) gone, [10,30) open
    expect(l.late).toEqual([]);
    o.onWatermark(29, l);
    expect(l.results).toEqual([{ key: 'a', start: 10, end: 30, value: 2 }]);
  });

  it('session windows merge records closer than the gap, in start order', () => {
    const o = op(windows.session(10), 0, list);
    const r = out();
    o.onRecords([{ k: 'a', t: 0 }, { k: 'a', t: 25 }, { k: 'a', t: 5 }, { k: 'b', t: 2 }], -Infinity, r);
    expect(o.openWindows()).toBe(3); // a:[0,15) a:[25,35) b:[2,12)
    o.onRecords([{ k: 'a', t: 15 }], -Infinity, r); // [15,25) touches both: one session
    expect(o.openWindows()).toBe(2);
    o.onWatermark(100, r);
    const byKey = Object.fromEntries(r.results.map((x) => [x.key as string, x]));
    expect(byKey.a).toEqual({ key: 'a', start: 0, end: 35, value: [{ k: 'a', t: 0 }, { k: 'a', t: 5 }, { k: 'a', t: 15 }, { k: 'a', t: 25 }] });
    expect(byKey.b).toEqual({ key: 'b', start: 2, end: 12, value: [{ k: 'b', t: 2 }] });
  });

  it('a non-finite event time is EVENT_TIME_INVALID', () => {
    const o = op(windows.tumbling(10));
    expect(() => o.onRecords([{ k: 'a', t: Number.NaN }], -Infinity, out())).toThrow(expect.objectContaining({ code: 'EVENT_TIME_INVALID' }) as Error);
  });

  it('rebuilds its timers from the keyed state (after a restore)', () => {
    const backend = new HeapKeyedState(8);
    const mk = (): WindowOperator => new WindowOperator({ assigner: windows.tumbling(10), allowedLatenessMs: 0, fn: count, key: (v) => (v as Rec).k, time: (v) => (v as Rec).t, backend });
    mk().onRecords([{ k: 'a', t: 1 }, { k: 'b', t: 12 }], -Infinity, out());
    const again = mk(); // same state, fresh heap
    const r = out();
    again.onWatermark(19, r);
    expect(r.results.map((x) => x.key).sort()).toEqual(['a', 'b']);
  });
});

describe('timestamp assigner', () => {
  it('splits batches at fixed record positions: the same watermarks however the input is batched', () => {
    const ts = [5, 3, 9, 8, 20, 1, 22, 30];
    const run = (batches: number[][]): Array<[string, unknown, number, boolean?]> => {
      const t = timestampTask((v) => v as number, { maxOutOfOrdernessMs: 2, watermarkEveryRecords: 3 });
      const { ctx, log } = recorder();
      for (const b of batches) t.onNext(b, 100, ctx);
      // Flatten data so only the positions of the watermarks matter.
      const flat: Array<[string, unknown, number, boolean?]> = [];
      for (const e of log) if (e[0] === 'data') for (const v of e[1] as number[]) flat.push(['v', v, 0]); else flat.push(e);
      return flat;
    };
    const one = run([ts]);
    expect(one).toEqual([['v', 5, 0], ['v', 3, 0], ['v', 9, 0], ['wm', 6, 100, false], ['v', 8, 0], ['v', 20, 0], ['v', 1, 0], ['wm', 17, 100, false], ['v', 22, 0], ['v', 30, 0]]);
    expect(run([[5], [3, 9, 8, 20], [1, 22], [30]])).toEqual(one);
  });

  it('snapshot/restore continues the record count; end of input passes +Infinity; a bad time is EVENT_TIME_INVALID', () => {
    const a = timestampTask((v) => v as number, { maxOutOfOrdernessMs: 0, watermarkEveryRecords: 2 });
    const r1 = recorder();
    a.onNext([10], 1, r1.ctx);
    const b = timestampTask((v) => v as number, { maxOutOfOrdernessMs: 0, watermarkEveryRecords: 2 });
    void b.restore!(JSON.parse(JSON.stringify(a.snapshot!())), r1.ctx);
    const r2 = recorder();
    b.onNext([12], 2, r2.ctx);
    expect(r2.log).toEqual([['data', [12], 2], ['wm', 11, 2, false]]);
    b.onWatermark!(Infinity, 3, r2.ctx);
    b.onWatermark!(Infinity, 4, r2.ctx);
    expect(r2.log.filter((e) => e[0] === 'wm').at(-1)).toEqual(['wm', Infinity, 3, false]);
    expect(r2.log.filter((e) => e[1] === Infinity)).toHaveLength(1);
    expect(() => b.onNext(['x'], 5, r2.ctx)).toThrow(expect.objectContaining({ code: 'EVENT_TIME_INVALID' }) as Error);
  });

  it('goes idle after idleTimeoutMs of processing time with the watermark its records allow, active again on the next record', () => {
    const t = timestampTask((v) => v as number, { maxOutOfOrdernessMs: 5, watermarkEveryRecords: 100, idleTimeoutMs: 50 });
    const { ctx, log } = recorder();
    t.onNext([40, 30], 1000, ctx);
    t.onProcessingTime!(1049, ctx);
    expect(log.filter((e) => e[0] === 'wm')).toEqual([]);
    t.onProcessingTime!(1050, ctx);
    expect(log.at(-1)).toEqual(['wm', 34, 1050, true]);
    t.onProcessingTime!(2000, ctx); // already idle: nothing more
    expect(log.filter((e) => e[0] === 'wm')).toHaveLength(1);
    t.onNext([41], 2001, ctx);
    expect(log.slice(-2)).toEqual([['wm', 34, 2001, false], ['data', [41], 2001]]);
  });
});

describe('watermarks', () => {
  it('a task watermark is the min over active inputs, monotone, idle inputs skipped', () => {
    const w = new InputWatermarks([1, 2]);
    expect(w.apply(1, { watermark: 100, idle: false })).toBeUndefined(); // input 2 still at -Infinity
    expect(w.apply(2, { watermark: 50, idle: false })).toEqual({ watermark: 50, idle: false, advanced: true });
    expect(w.apply(2, { watermark: 40, idle: false })).toBeUndefined(); // never back
    expect(w.apply(2, { watermark: 50, idle: true })).toEqual({ watermark: 100, idle: false, advanced: true });
    expect(w.apply(1, { watermark: 100, idle: true })).toEqual({ watermark: 100, idle: true, advanced: false });
    expect(w.apply(2, { watermark: 60, idle: false })).toEqual({ watermark: 100, idle: false, advanced: false }); // active again, below: no regression
    const restored = new InputWatermarks([1, 2], w.snapshot());
    expect(restored.watermark).toBe(100);
    // Restored: input 1 is still idle, so input 2 alone moves the task.
    expect(restored.apply(2, { watermark: 200, idle: false })).toEqual({ watermark: 200, idle: false, advanced: true });
  });

  it('the clock service keeps the app watermark: the min over the tasks that report one, monotone per task', () => {
    const c = new ClockService(new Map([['src.0', []], ['stamp.0', ['src.0']], ['win.0', ['stamp.0']]]));
    expect(c.appWatermark()).toBeUndefined();
    c.update('src.0', 100);
    c.update('stamp.0', 100, undefined, 50);
    c.update('win.0', 100, undefined, 40);
    expect(c.appWatermark()).toBe(40);
    c.update('win.0', 120, undefined, 30); // a stale report does not move it back
    c.update('stamp.0', 120, undefined, 70);
    expect(c.appWatermark()).toBe(40);
    c.update('win.0', 130, undefined, 60);
    expect(c.appWatermark()).toBe(60);
  });

  it('WATERMARK frames round-trip, ±Infinity included', () => {
    const d = new FrameDecoder();
    const frames = d.push(Buffer.concat([encodeWatermark(1234, Infinity, false, 3, [4, 5]), encodeWatermark(99, -5, true, 1, [])]));
    expect(frames).toEqual([
      { kind: FrameKind.WATERMARK, ts: 1234, watermark: Infinity, idle: false, from: 3, to: [4, 5] },
      { kind: FrameKind.WATERMARK, ts: 99, watermark: -5, idle: true, from: 1, to: [] },
    ]);
  });
});

describe('DSL', () => {
  it('window needs event time; sideOutput needs a declared lateOutput', () => {
    const src = dag('x').source('s', () => ({ open() {}, read: () => null, position: () => 0 }));
    expect(() => src.groupBy((v) => v).window(windows.tumbling(10))).toThrow(/withTimestamps/);
    const d = dag('y');
    const s = d.source('s', () => ({ open() {}, read: () => null, position: () => 0 })).withTimestamps((v) => Number(v), { maxOutOfOrdernessMs: 5 });
    s.groupBy((v) => v).window(windows.tumbling(10), { lateOutput: 'late' }).count('c');
    expect(() => d.sideOutput('nope')).toThrow(/no side output/);
    expect(() => validateDag(d)).toThrow(/side output "late" of c is never read/);
    expect(d.sideOutput('late').from).toBe('c');
    expect(() => s.withTimestamps((v) => Number(v), { maxOutOfOrdernessMs: -1 })).toThrow(/maxOutOfOrdernessMs/);
    expect(() => s.groupBy((v) => v).window(windows.tumbling(10), { allowedLatenessMs: 1.5 })).toThrow(/allowedLatenessMs/);
  });
});

describe('window aggregates through the DSL', () => {
  /** Builds `window(assigner).<agg>` and runs its task: records at -Infinity, then the end of input. */
  function results(assigner: ReturnType<typeof windows.tumbling>, agg: (w: WindowedStream<Stream>) => void, recs: Rec[]): unknown[] {
    const d = dag('agg');
    const keyed = d.source('s', () => ({ open() {}, read: () => null, position: () => 0 })).withTimestamps((v) => (v as Rec).t, { maxOutOfOrdernessMs: 0 }).groupBy((v) => (v as Rec).k);
    agg(keyed.window(assigner));
    const task = d.processors.get('w')!.task!() as EventTimeTask;
    const out: unknown[] = [];
    let wm = -Infinity;
    const ctx = { emit: (v: unknown[]) => void out.push(...v), get watermark() { return wm; }, logger: { warn() {} } } as unknown as TaskContext;
    task.onNext(recs, 1, ctx);
    wm = Infinity;
    task.onWatermark!(Infinity, 2, ctx);
    return out.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }
  const recs: Rec[] = [{ k: 'a', t: 1 }, { k: 'a', t: 4 }, { k: 'a', t: 12 }, { k: 'b', t: 2 }];

  it('sum, reduce, aggregate and process per tumbling window', () => {
    expect(results(windows.tumbling(10), (w) => w.sum('w', (v) => (v as Rec).t), recs)).toEqual([
      { key: 'a', start: 0, end: 10, value: 5 }, { key: 'a', start: 10, end: 20, value: 12 }, { key: 'b', start: 0, end: 10, value: 2 }]);
    expect(results(windows.tumbling(10), (w) => w.reduce('w', (a, v) => ({ k: (a as Rec).k, t: Math.max((a as Rec).t, (v as Rec).t) })), recs).map((r) => (r as { value: Rec }).value.t)).toEqual([4, 12, 2]);
    const avg = { create: () => ({ n: 0, s: 0 }), add: (a: unknown, v: unknown) => ({ n: (a as { n: number }).n + 1, s: (a as { s: number }).s + (v as Rec).t }), result: (a: unknown) => (a as { s: number }).s / (a as { n: number }).n };
    expect(results(windows.tumbling(10), (w) => w.aggregate('w', avg), recs).map((r) => (r as { value: number }).value)).toEqual([2.5, 12, 2]);
    expect(results(windows.tumbling(10), (w) => w.process('w', ({ key, start, elements }) => `${String(key)}@${start}:${elements.length}`), recs).map((r) => (r as { value: string }).value)).toEqual(['a@0:2', 'a@10:1', 'b@0:1']);
  });

  it('sessions merge sums; an aggregate without merge is refused for sessions', () => {
    expect(results(windows.session(5), (w) => w.sum('w', (v) => (v as Rec).t), [{ k: 'a', t: 1 }, { k: 'a', t: 10 }, { k: 'a', t: 6 }])).toEqual([{ key: 'a', start: 1, end: 15, value: 17 }]);
    expect(() => results(windows.session(5), (w) => w.aggregate('w', { create: () => 0, add: (a) => a, result: (a) => a }), recs)).toThrow(/session windows need merge/);
  });
});

