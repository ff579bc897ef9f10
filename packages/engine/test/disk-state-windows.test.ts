// Event-time windows (their windows and timers in keyed state) on the disk backend: a
// windowed count over out-of-order events, stopped mid-run and restored from its last checkpoint, equals the
// plain-JS reference; the window tasks' state is lmdb's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { dag, type Dag } from '../src/dsl/dag.js';
import { windows } from '../src/dsl/windows.js';
import { fileSink } from '../src/connectors/file-sink.js';
import { fileSource } from '../src/connectors/file-source.js';
import { InProcessApp } from '../src/runtime/in-process.js';
import { isStatefulTask } from '../src/state/keyed-api.js';
import { DiskKeyedState } from '../src/state/disk-state.js';
import { committedLines, makeEvents, referenceWindowCount, writeEvents, type Ev } from '../../../test/e2e/helpers/event-time-data.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const O = { size: 500, lateness: 200, bound: 300, every: 100 };

function app(input: string, out: string, late: string, maxLinesPerSec?: number): Dag {
  const d = dag('wcount-disk', { checkpointIntervalMs: 50, stateBackend: 'disk' });
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

describe('event-time windows on the disk keyed-state backend', () => {
  it('count exactly once across a stop mid-run and a restore, state in lmdb', async () => {
    const evs = makeEvents(20_000, 7, { keys: 50, bound: O.bound, beyond: 0.02, farMs: 3000 });
    const ref = referenceWindowCount(evs, O);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-win-disk-'));
    dirs.push(dir);
    const input = join(dir, 'events.jsonl');
    writeEvents(input, evs);
    const out = join(dir, 'out');
    const late = join(dir, 'late');
    const storage = await openStorage(memoryModule, { volume: `win-disk-${process.pid}` });
    const store = await storage.createAppStorage('wcount', 'wcount-disk', { owner: 'test' });
    const first = new InProcessApp({ dag: app(input, out, late, 15_000), app: store, epoch: 1, intervalMs: 50, batchSize: 173 });
    await first.start();
    const counts = [...first.core.runners.values()].filter((r) => r.meta.processor === 'counts');
    expect(counts.length).toBe(2);
    for (const r of counts) expect(isStatefulTask(r.task) && r.task.keyedState instanceof DiskKeyedState).toBe(true);
    const deadline = Date.now() + 20_000;
    while (first.committer.commits < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await first.stop();
    expect(first.committer.commits).toBeGreaterThanOrEqual(3);
    const run = new InProcessApp({ dag: app(input, out, late), app: store, epoch: 2, intervalMs: 50, batchSize: 256 });
    await run.start();
    expect(run.restoredFrom).toBeDefined();
    await run.waitFinished(60_000);
    await run.stop();
    expect(committedLines(late)).toEqual(ref.late);
    expect(committedLines(out)).toEqual(ref.results);
  }, 90_000);
});
