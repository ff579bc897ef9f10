// A windowed count over out-of-order events in one process (memory store): the committed
// results and late output equal the plain-JS reference, also across a crash and restore.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorage, type AppStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { dag, type Dag } from '../src/dsl/dag.js';
import { windows } from '../src/dsl/windows.js';
import { fileSink } from '../src/connectors/file-sink.js';
import { fileSource } from '../src/connectors/file-source.js';
import { InProcessApp } from '../src/runtime/in-process.js';
import { MetricsRegistry } from '../src/observability/metrics-registry.js';
import { registerEventTimeMetrics } from '../src/runtime/watermark-metrics.js';
import { TASKS_STORE } from '../src/runtime/committer.js';
import { watermarkPart } from '../src/runtime/executor-core.js';
import { decodeState } from '../src/runtime/state-codec.js';
import type { WatermarkSnapshot } from '../src/runtime/watermark.js';
import { committedLines, makeEvents, referenceWindowCount, writeEvents, type Ev } from '../../../test/e2e/helpers/event-time-data.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const O = { size: 500, lateness: 200, bound: 300, every: 100 };

function app(input: string, out: string, late: string, maxLinesPerSec?: number): Dag {
  const d = dag('wcount', { checkpointIntervalMs: 50 });
  d.source('events', fileSource({ path: input, ...(maxLinesPerSec ? { maxLinesPerSec } : {}) }))
    .map('parse', (l: string) => JSON.parse(l) as Ev)
    .withTimestamps((e: Ev) => e.ts, { maxOutOfOrdernessMs: O.bound, watermarkEveryRecords: O.every, name: 'stamp' })
    .groupBy((e: Ev) => e.key)
    .window(windows.tumbling(O.size), { allowedLatenessMs: O.lateness, lateOutput: 'late' })
    .count('counts', { parallelism: 2 })
    .sink('out', fileSink({ dir: out }), { parallelism: 2 });
  d.sideOutput('late').sink('late-out', fileSink({ dir: late }));
  return d;
}

async function memoryApp(volume: string): Promise<AppStorage> {
  const storage = await openStorage(memoryModule, { volume });
  return storage.createAppStorage('wcount', `wcount-${volume}`, { owner: 'test' });
}

describe('event-time windows, exactly once in one process', () => {
  const evs = makeEvents(30_000, 42, { keys: 20, bound: O.bound, beyond: 0.02, farMs: 3000 });
  const ref = referenceWindowCount(evs, O);

  it('the reference exercises lateness (late records and updated results)', () => {
    expect(ref.late.length).toBeGreaterThan(50);
    const windowsSeen = new Set(ref.results.map((r) => { const x = JSON.parse(r) as { key: string; start: number }; return `${x.key}@${x.start}`; }));
    expect(ref.results.length).toBeGreaterThan(windowsSeen.size); // some windows fired again
  });

  for (const crash of [false, true]) {
    it(crash ? 'after a crash and restore' : 'without failures', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-win-'));
      dirs.push(dir);
      const input = join(dir, 'events.jsonl');
      writeEvents(input, evs);
      const out = join(dir, 'out');
      const late = join(dir, 'late');
      const store = await memoryApp(`win-${process.pid}-${String(crash)}`);
      let epoch = 1;
      let committedWm = -Infinity;
      if (crash) {
        // Throttled so the crash lands mid-run (a finite watermark in the checkpoint, not the end).
        const first = new InProcessApp({ dag: app(input, out, late, 20_000), app: store, epoch: epoch++, intervalMs: 50, batchSize: 173 });
        await first.start();
        const deadline = Date.now() + 20_000;
        while (first.committer.commits < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        await first.stop();
        expect(first.committer.commits).toBeGreaterThanOrEqual(3);
        // The committed checkpoint holds the window tasks' watermarks (its own part, exec-0.wm).
        const t = first.committer.lastCommitted!;
        const cp = store.checkpoints(TASKS_STORE);
        expect((await cp.get(t))?.parts.map((p) => p.name)).toContain(watermarkPart(0));
        const wms = decodeState(await cp.readPart(t, watermarkPart(0))) as Record<string, WatermarkSnapshot>;
        committedWm = Number(wms['counts.0']?.watermark);
        expect(Number.isFinite(committedWm)).toBe(true);
      }
      const run = new InProcessApp({ dag: app(input, out, late), app: store, epoch, intervalMs: 50, batchSize: 256 });
      await run.start();
      if (crash) {
        expect(run.restoredFrom).toBeDefined();
        // Restored, never below what the checkpoint held.
        expect([...run.core.runners.values()].find((r) => r.meta.name === 'counts.0')!.watermarks.watermark).toBeGreaterThanOrEqual(committedWm);
      }
      await run.waitFinished(60_000);
      const registry = new MetricsRegistry();
      for (const r of run.core.runners.values()) registerEventTimeMetrics(registry, r, { processor: r.meta.processor, task: r.meta.name });
      const lateCount = registry.snapshot().filter((s) => s.name === 'sluice_late_records_total').reduce((a, s) => a + s.value, 0);
      // Counted since this run started: all of them without a crash, the replayed share after one.
      if (crash) expect(lateCount).toBeLessThanOrEqual(ref.late.length);
      else expect(lateCount).toBe(ref.late.length);
      await run.stop();
      expect(committedLines(late)).toEqual(ref.late);
      expect(committedLines(out)).toEqual(ref.results);
    }, 90_000);
  }
});
