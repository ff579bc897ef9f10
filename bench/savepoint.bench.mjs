// Savepoints (issue 20): take a savepoint of a keyed count's state, then "rescale" it
// (read the savepoint, redistribute by key group to 4 tasks, commit it as a new app's
// first checkpoint and restore that app), each beside a plain copy of the same bytes in
// the same run (read the checkpoint's parts / the savepoint, write one fsynced file).
// In process on the fs backend: the cluster's stop and executor start are not included.
// Size: SLUICE_BENCH_SAVEPOINT_KEYS (default 1,000,000 keys).
import { mkdtempSync, openSync, writeSync, fsyncSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dag, InProcessApp } from '../packages/engine/dist/index.js';
import { Committer } from '../packages/engine/dist/runtime/committer.js';
import { ExecutionPlan } from '../packages/engine/dist/runtime/plan.js';
import { executorPart } from '../packages/engine/dist/runtime/state-codec.js';
import { captureCheckpoint } from '../packages/engine/dist/runtime/savepoint-capture.js';
import { planSeed } from '../packages/engine/dist/runtime/savepoint-seed.js';
import { readSavepoint, writeSavepoint } from '../packages/engine/dist/runtime/savepoint-store.js';
import { openStorage, loadStorageModule } from '../packages/storage-api/dist/index.js';
import { report } from './lib.mjs';

const KEYS = Number(process.env.SLUICE_BENCH_SAVEPOINT_KEYS ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-savepoint-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Every key once (`k<n>`), then idle: the state is KEYS counts. */
function keySource(records) {
  return () => {
    let next = 0;
    return {
      open(_ctx, position) {
        next = typeof position === 'number' ? position : 0;
      },
      read(max) {
        if (next >= records) return [];
        const n = Math.min(max, records - next);
        const out = new Array(n);
        for (let j = 0; j < n; j++) out[j] = `k${next + j}`;
        next += n;
        return out;
      },
      position: () => next,
    };
  };
}

const countDag = (parallelism) =>
  dag('keyed-count', { checkpointIntervalMs: 1000 })
    .source('keys', keySource(KEYS))
    .groupBy((k) => k)
    .count('count', { parallelism })
    .sink('out', () => ({ onNext() {} }));

function writeFileSynced(path, chunks) {
  const fd = openSync(path, 'w');
  try {
    for (const c of chunks) writeSync(fd, c);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const storage = await openStorage(await loadStorageModule('@sluice/storage-fs'), { root: join(dir, 'store') });
try {
  // ---------------------------------------------------------------- the state: KEYS keys at parallelism 2
  const app = await storage.createAppStorage('bench', 'sp-source', { owner: 'bench' });
  const x = new InProcessApp({ dag: countDag(2), app, epoch: 1, intervalMs: 1000, batchSize: 4000 });
  await x.start();
  const deadline = Date.now() + 600_000;
  for (;;) {
    const counted = x.core.status().filter((s) => s.task.startsWith('count.')).reduce((n, s) => n + s.messages, 0);
    if (counted >= KEYS) break;
    if (x.error) throw x.error;
    if (Date.now() > deadline) throw new Error('load did not finish');
    await sleep(5);
  }
  const loadedAt = x.committer.lastCommitted ?? 0;
  while ((x.committer.lastCommitted ?? 0) <= loadedAt + 1000) await sleep(20); // a commit after every key is in
  await x.stop();
  const cp = await app.checkpoints('tasks').last();
  const cpBytes = cp.parts.reduce((n, p) => n + p.size, 0);

  // ---------------------------------------------------------------- savepoint vs plain copy of the checkpoint's bytes
  let t0 = performance.now();
  const parts = [];
  for (const p of cp.parts) parts.push(await app.checkpoints('tasks').readPart(cp.t, p.name));
  writeFileSynced(join(dir, 'copy-out.bin'), parts);
  const copyOutMs = performance.now() - t0;
  t0 = performance.now();
  const sp = await captureCheckpoint(app);
  const info = await writeSavepoint(storage, 'bench', sp, 'bench', []);
  const saveMs = performance.now() - t0;
  report({
    name: `savepoint of ${KEYS} keys (${(cpBytes / 1e6).toFixed(1)} MB of checkpoint parts -> ${(info.size / 1e6).toFixed(1)} MB savepoint)`, value: saveMs, unit: 'ms', higherIsBetter: false,
    baseline: 'plain copy of the checkpoint parts into one fsynced file', baselineValue: copyOutMs, goal: 'issue 20: 1 GB <= 20 s',
  });

  // ---------------------------------------------------------------- rescale 2 -> 4 vs plain copy of the savepoint's bytes
  t0 = performance.now();
  const got = await storage.blobs.get('savepoint@bench');
  const chunks = [];
  for await (const c of got.body) chunks.push(c);
  writeFileSynced(join(dir, 'copy-in.bin'), chunks);
  const copyInMs = performance.now() - t0;
  t0 = performance.now();
  const saved = await readSavepoint(storage, 'bench');
  const next = await storage.createAppStorage('bench', 'sp-rescaled', { owner: 'bench' });
  const d4 = countDag(4);
  const plan = new ExecutionPlan(d4, 1);
  const seed = planSeed(saved, plan, { allowUnmatchedState: false, isKeyed: (p) => p === 'count' });
  for (const [task, position] of seed.offsets) if (position !== null) await (await next.offsets(task).writer(1)).append(seed.t, Buffer.from(JSON.stringify(position)));
  const committer = new Committer(next, 1, [executorPart(0)], ['keys.0'], () => {}, (e) => { throw e; });
  await committer.open();
  await committer.seed(seed.t, seed.parts, {});
  const seededMs = performance.now() - t0;
  const y = new InProcessApp({ dag: d4, app: next, epoch: 2, intervalMs: 1000, batchSize: 4000 });
  await y.start();
  const rescaleMs = performance.now() - t0;
  const restored = y.core.runners.size;
  await y.stop();
  if (seed.entries !== KEYS) throw new Error(`restored ${seed.entries} keys, expected ${KEYS}`);
  report({
    name: `rescale 2 -> 4 of ${KEYS} keys: read savepoint, redistribute by key group, commit, restore (in process)`, value: rescaleMs, unit: 'ms', higherIsBetter: false,
    baseline: 'plain copy of the savepoint into one fsynced file', baselineValue: copyInMs, goal: 'issue 20: 1 GB downtime <= 15 s',
    notes: `seeded (read + redistribute + commit) in ${seededMs.toFixed(0)} ms; ${restored} tasks restored; ${seed.entries} keys`,
  });
  await app.close();
  await next.close();
} finally {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}
