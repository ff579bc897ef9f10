// Idle sources, a year-long backfill (checkpoints stay on wall-clock intervals) and the
// event-time metrics, in one process on the memory store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorage, type AppStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { dag } from '../src/dsl/dag.js';
import type { SourceFactory } from '../src/dsl/task.js';
import { windows } from '../src/dsl/windows.js';
import { fileSink } from '../src/connectors/file-sink.js';
import { InProcessApp } from '../src/runtime/in-process.js';
import { MetricsRegistry } from '../src/observability/metrics-registry.js';
import { registerEventTimeMetrics } from '../src/runtime/watermark-metrics.js';
import { committedLines, referenceWindowCount, type Ev } from '../../../test/e2e/helpers/event-time-data.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'sluice-win-idle-'));
  dirs.push(d);
  return d;
};
let volumes = 0;
async function memoryApp(): Promise<AppStorage> {
  const storage = await openStorage(memoryModule, { volume: `idle-${process.pid}-${++volumes}` });
  return storage.createAppStorage('w', `w-${volumes}`, { owner: 'test' });
}

/** Events from a list; task `index` of the source reads only its share; `endless` never reports the end. */
function listSource(evs: Ev[], o: { endless?: boolean; onlyIndex?: number } = {}): SourceFactory {
  return () => {
    let i = 0;
    let mine: Ev[] = [];
    return {
      open(ctx, position) {
        mine = o.onlyIndex === undefined || ctx.index === o.onlyIndex ? evs : [];
        i = typeof position === 'number' ? position : 0;
      },
      read(max) {
        if (i >= mine.length) return o.endless ? [] : null;
        const out = mine.slice(i, i + max);
        i += out.length;
        return out;
      },
      position: () => i,
    };
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('idle sources', () => {
  const evs: Ev[] = Array.from({ length: 2000 }, (_, i) => ({ id: i, key: `k${i % 5}`, ts: i * 10 }));

  for (const idleTimeoutMs of [undefined, 200]) {
    it(idleTimeoutMs ? 'an idle source task stops holding back the windows after idleTimeoutMs' : 'without idleTimeoutMs a silent source task holds them back', async () => {
      const out = join(tmp(), 'out');
      const d = dag('idle', { checkpointIntervalMs: 50 });
      d.source('events', listSource(evs, { endless: true, onlyIndex: 0 }), { parallelism: 2 })
        .withTimestamps((e: Ev) => e.ts, { maxOutOfOrdernessMs: 0, watermarkEveryRecords: 10, ...(idleTimeoutMs ? { idleTimeoutMs } : {}) })
        .groupBy((e: Ev) => e.key)
        .window(windows.tumbling(100))
        .count('counts')
        .sink('out', fileSink({ dir: out }));
      const run = new InProcessApp({ dag: d, app: await memoryApp(), epoch: 1, intervalMs: 50 });
      await run.start();
      // Every window but the last closes once task 0's records are all read (bounded wait).
      const want = (20_000 / 100 - 1) * 5;
      for (let i = 0; i < (idleTimeoutMs ? 100 : 30); i++) {
        if (committedLines(out).length >= want) break;
        await sleep(50);
      }
      await sleep(idleTimeoutMs ? 0 : 500);
      await run.stop();
      const got = committedLines(out);
      if (idleTimeoutMs) {
        expect(got.length).toBeGreaterThanOrEqual(want);
        expect(got).toContain(JSON.stringify({ key: 'k0', start: 0, end: 100, value: 2 }));
      } else expect(got).toEqual([]);
    }, 30_000);
  }
});

describe('a backfill of a year of event time', () => {
  it('checkpoints every wall-clock interval, not every event-time interval, and counts exactly', async () => {
    const year = 365 * 24 * 3600 * 1000;
    const n = 40_000;
    const evs: Ev[] = Array.from({ length: n }, (_, i) => ({ id: i, key: `k${i % 7}`, ts: Math.floor((i * year) / n) }));
    const out = join(tmp(), 'out');
    const day = 24 * 3600 * 1000;
    const d = dag('backfill', { checkpointIntervalMs: 50 });
    d.source('events', listSource(evs))
      .withTimestamps((e: Ev) => e.ts, { maxOutOfOrdernessMs: 1000, watermarkEveryRecords: 100, name: 'stamp' })
      .groupBy((e: Ev) => e.key)
      .window(windows.tumbling(day), { lateOutput: 'late' })
      .count('counts', { parallelism: 2 })
      .sink('out', fileSink({ dir: out }));
    d.sideOutput('late').sink('late-out', fileSink({ dir: join(tmp(), 'late') }));
    const run = new InProcessApp({ dag: d, app: await memoryApp(), epoch: 1, intervalMs: 50 });
    const t0 = Date.now();
    await run.start();
    await run.waitFinished(60_000);
    const wallMs = Date.now() - t0;
    const registry = new MetricsRegistry();
    for (const r of run.core.runners.values()) registerEventTimeMetrics(registry, r, { processor: r.meta.processor, task: r.meta.name });
    await run.stop();
    // One checkpoint per 50 ms of wall time at most (event time spans 365 days: 6e8 intervals of 50 ms).
    expect(run.committer.commits).toBeGreaterThanOrEqual(1);
    expect(run.committer.commits).toBeLessThanOrEqual(Math.ceil(wallMs / 50) + 2);
    expect(committedLines(out)).toEqual(referenceWindowCount(evs, { size: day, lateness: 0, bound: 1000, every: 100 }).results);
    const samples = registry.snapshot();
    const wm = samples.filter((s) => s.name === 'sluice_task_watermark_ms' && s.labels.processor === 'counts');
    expect(wm.map((s) => s.value)).toEqual([8.64e15, 8.64e15]); // end of input
    expect(samples.filter((s) => s.name === 'sluice_late_records_total').reduce((a, s) => a + s.value, 0)).toBe(0);
  }, 90_000);
});
