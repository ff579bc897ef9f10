// Timers of keyed processors: event-time ones fire as the watermark passes, processing-time
// ones on the processing clock, each with its key current; they live in the keyed state.
import { describe, expect, it } from 'vitest';
import { openStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { dag } from '../src/dsl/dag.js';
import type { SourceFactory, TaskContext } from '../src/dsl/task.js';
import { InProcessApp } from '../src/runtime/in-process.js';
import type { EventTimeContext } from '../src/runtime/watermark.js';
import { timedKeyedProcessTask, type TimedKeyedTask, type TimerContext } from '../src/state/window-keyed-timers.js';

type E = { k: string; t: number };

/** Counts per key and hundred of event time; the hundred's timer emits [key, t, count]. */
const perHundred = (): TimedKeyedTask => ({
  onElement(v, _ts, ctx: TimerContext) {
    const end = Math.floor((v as E).t / 100) * 100 + 99;
    const n = ctx.state.map<number, number>('n');
    n.set(end, (n.get(end) ?? 0) + 1);
    ctx.timers.registerEventTime(end);
  },
  onTimer(t, ts, ctx, domain) {
    const n = ctx.state.map<number, number>('n');
    ctx.emit([[ctx.key, t, n.get(t) ?? 0, domain]], ts);
    n.delete(t);
  },
});

describe('keyed timers', () => {
  it('event timers fire in time order as the watermark passes, with their key and state', () => {
    let wm = -Infinity;
    const out: unknown[] = [];
    const ctx = { emit: (v: unknown[]) => void out.push(...v), get watermark() { return wm; } } as unknown as EventTimeContext;
    const task = timedKeyedProcessTask((v) => (v as E).k, perHundred(), 8);
    task.onNext([{ k: 'a', t: 5 }, { k: 'b', t: 150 }, { k: 'a', t: 50 }, { k: 'a', t: 120 }], 1, ctx as TaskContext);
    wm = 99;
    task.onWatermark!(wm, 2, ctx);
    expect(out).toEqual([['a', 99, 2, 'event']]);
    wm = 1000;
    task.onWatermark!(wm, 3, ctx);
    expect(out.slice(1)).toEqual([['a', 199, 1, 'event'], ['b', 199, 1, 'event']]);
    task.onWatermark!(2000, 4, ctx); // nothing left: no repeat
    expect(out).toHaveLength(3);
  });

  it('processing timers fire on the processing clock; deleted ones do not', () => {
    const out: unknown[] = [];
    const ctx = { emit: (v: unknown[]) => void out.push(...v), watermark: -Infinity } as unknown as TaskContext;
    const task = timedKeyedProcessTask((v) => v, {
      onElement(v, ts, c: TimerContext) {
        c.timers.registerProcessingTime(ts + 10);
        if (v === 'drop') c.timers.deleteProcessingTime(ts + 10);
      },
      onTimer(t, ts, c, domain) {
        c.emit([[c.key, t, domain]], ts);
      },
    }, 8);
    task.onNext(['x', 'drop'], 100, ctx);
    task.onProcessingTime!(109, ctx);
    expect(out).toEqual([]);
    task.onProcessingTime!(110, ctx);
    expect(out).toEqual([['x', 110, 'processing']]);
  });

  it('run through the DSL: end of input fires every event timer', async () => {
    const evs: E[] = Array.from({ length: 1000 }, (_, i) => ({ k: `k${i % 3}`, t: i }));
    const src: SourceFactory = () => {
      let i = 0;
      return { open(_c, p) { i = typeof p === 'number' ? p : 0; }, read(max) { if (i >= evs.length) return null; const o = evs.slice(i, i + max); i += o.length; return o; }, position: () => i };
    };
    const got: unknown[] = [];
    const d = dag('timers', { checkpointIntervalMs: 50 });
    d.source('events', src)
      .withTimestamps((e: E) => e.t, { maxOutOfOrdernessMs: 0, watermarkEveryRecords: 50 })
      .groupBy((e: E) => e.k)
      .process('hundreds', perHundred, { parallelism: 2 })
      .sink('out', () => ({ onNext(values) { got.push(...values); } }));
    const storage = await openStorage(memoryModule, { volume: `timers-${process.pid}` });
    const run = new InProcessApp({ dag: d, app: await storage.createAppStorage('t', 't-1', { owner: 'test' }), epoch: 1, intervalMs: 50 });
    await run.start();
    await run.waitFinished(30_000);
    await run.stop();
    const want: unknown[] = [];
    for (let h = 0; h < 10; h++) for (const k of ['k0', 'k1', 'k2']) want.push([k, h * 100 + 99, evs.filter((e) => e.k === k && Math.floor(e.t / 100) === h).length, 'event']);
    const key = (x: unknown): string => JSON.stringify(x);
    expect(got.map(key).sort()).toEqual(want.map(key).sort());
  }, 40_000);
});
