// Keyed state at scale (issue 18): a keyed count over 1k vs 2M keys (heap), the
// incremental checkpoints of 2M keys with 1% of them changing per 1 s interval (bytes
// per checkpoint, task pause, commit delay, retained space), a restore of that state,
// and per-key get/put of the heap backend beside a plain Map. All in one run, on the
// fs backend. Sizes: SLUICE_BENCH_STATE_KEYS (default 2,000,000).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dag, InProcessApp } from '../packages/engine/dist/index.js';
import { HeapKeyedState } from '../packages/engine/dist/state/heap-state.js';
import { openStorage, loadStorageModule } from '../packages/storage-api/dist/index.js';
import { report } from './lib.mjs';

const KEYS = Number(process.env.SLUICE_BENCH_STATE_KEYS ?? 2_000_000);
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-state-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mix = (i) => {
  let x = Math.imul(i + 1, 0x9e3779b1) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  return (x ^ (x >>> 15)) >>> 0;
};

/** Keys `k<n>`: record i has key mix(i) % keys; `perSecond` paces it (0 = as fast as it goes). */
function keySource({ records, keys, perSecond = 0, offset = 0, sequential = false }) {
  return () => {
    let next = 0;
    let t0 = 0;
    return {
      open(_ctx, position) {
        next = typeof position === 'number' ? position : 0;
        t0 = performance.now() - (perSecond ? (next / perSecond) * 1000 : 0);
      },
      read(max) {
        if (next >= records) return null;
        let n = Math.min(max, records - next);
        if (perSecond) n = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * perSecond) - next);
        if (n <= 0) return [];
        const out = new Array(n);
        for (let j = 0; j < n; j++) out[j] = `k${sequential ? next + j : mix(next + j + offset) % keys}`;
        next += n;
        return out;
      },
      position: () => next,
    };
  };
}

const storage = await openStorage(await loadStorageModule('@sluice/storage-fs'), { root: join(dir, 'store') });
let run = 0;

async function countRun({ records, keys, perSecond, intervalMs = 1000, app, epoch = 1, timeoutMs = 600_000, offset = 0, sequential = false, source = 'keys' }) {
  const a = app ?? (await storage.createAppStorage('bench', `state-${++run}`, { owner: 'bench' }));
  const d = dag('keyed-count', { checkpointIntervalMs: intervalMs })
    .source(source, keySource({ records, keys, perSecond, offset, sequential }))
    .groupBy((k) => k)
    .count('count')
    .sink('out', () => ({ onNext() {} }));
  const x = new InProcessApp({ dag: d, app: a, epoch, intervalMs, batchSize: 4000 });
  const t0 = performance.now();
  await x.start();
  const restoreMs = performance.now() - t0;
  const seen = [];
  let lastT;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counted = x.core.status().filter((s) => s.task.startsWith('count.')).reduce((n, s) => n + s.messages, 0);
    const c = x.committer.last;
    if (c && c.t !== lastT) {
      lastT = c.t;
      seen.push(c);
    }
    if (counted >= records) break;
    if (x.error) throw x.error;
    if (Date.now() > deadline) throw new Error(`keyed count over ${keys} keys did not finish within ${timeoutMs} ms`);
    await sleep(2);
  }
  const ms = performance.now() - t0 - restoreMs;
  return { x, app: a, ms, restoreMs, seen, rate: records / (ms / 1000) };
}

/**
 * The same app for the same wall time over `keys` keys: records counted between `warmMs`
 * and `warmMs + ms` after start, so both key counts span the same checkpoints (a fixed
 * record count let 1k keys finish before the first boundary: a path without checkpoints).
 */
async function steadyRun({ keys, warmMs = 3000, ms = 12_000, backend }) {
  const a = await storage.createAppStorage('bench', `state-${++run}`, { owner: 'bench' });
  const d = dag('keyed-count', { checkpointIntervalMs: 1000, ...(backend ? { stateBackend: backend } : {}) })
    .source('keys', keySource({ records: Number.MAX_SAFE_INTEGER, keys }))
    .groupBy((k) => k)
    .count('count')
    .sink('out', () => ({ onNext() {} }));
  const x = new InProcessApp({ dag: d, app: a, epoch: 1, intervalMs: 1000, batchSize: 4000 });
  const counted = () => x.core.status().filter((s) => s.task.startsWith('count.')).reduce((n, s) => n + s.messages, 0);
  await x.start();
  await sleep(warmMs);
  const c0 = counted();
  const t0 = performance.now();
  await sleep(ms);
  const rate = (counted() - c0) / ((performance.now() - t0) / 1000);
  if (x.error) throw x.error;
  await x.stop();
  await a.close();
  return rate;
}

const PARTS = new Set((process.env.SLUICE_BENCH_STATE_PARTS ?? 'throughput,churn,getput').split(','));
const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

try {
  // ---------------------------------------------------------------- throughput, 1k vs 2M keys
  // Interleaved, the same wall time each (12 checkpoints after a 3 s warm-up).
  if (PARTS.has('throughput')) {
  const rates = { small: [], big: [] };
  for (let i = 0; i < 3; i++) {
    for (const which of i % 2 ? ['big', 'small'] : ['small', 'big']) rates[which].push(await steadyRun({ keys: which === 'small' ? 1000 : KEYS }));
  }
  const med = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  report({
    name: `keyed count over ${KEYS} keys (heap, checkpoints every 1 s, 12 s steady state)`, value: med(rates.big), unit: 'records/s',
    baseline: 'the same app over 1,000 keys', baselineValue: med(rates.small), goal: 'ratio >= 0.7',
    notes: `runs ${rates.big.map((r) => Math.round(r)).join(', ')} vs ${rates.small.map((r) => Math.round(r)).join(', ')}`,
  });
  }

  // ---------------------------------------------------------------- 1% churn per interval
  if (PARTS.has('churn')) {
  // Load every key once, then 1% of the keys change per second for 40 s.
  const churnPerSec = Math.round(KEYS / 100);
  const SECONDS = Number(process.env.SLUICE_BENCH_STATE_SECONDS ?? 40);
  const app = await storage.createAppStorage('bench', `state-churn`, { owner: 'bench' });
  const load = await countRun({ records: KEYS, keys: KEYS, app, sequential: true });
  await sleep(2500); // the last boundary's commit
  await load.x.stop();
  const store = app.checkpoints('tasks');
  const churn = await countRun({ records: churnPerSec * SECONDS, keys: KEYS, perSecond: churnPerSec, app, epoch: 2, offset: 7 * KEYS, source: 'churn', timeoutMs: (SECONDS + 120) * 1000 });
  const restoreOf = churn.restoreMs;
  await sleep(2500);
  await churn.x.stop();
  // Every checkpoint's cost is in its manifest's meta; only the retained ones are left, so
  // the per-checkpoint figures come from the committer's reports collected while running.
  const steady = churn.seen.slice(3);
  const all = await store.range(0, Number.MAX_SAFE_INTEGER);
  const stateBytes = (s) => s.newBytes + s.sharedBytes;
  const last = all[all.length - 1].meta.stats;
  // Commit delay after the boundary: the committer's last figure per checkpoint is in status only; use manifests' committedAt.
  const commitDelays = steady.map((c) => c.commitMs);
  // Every part the retained checkpoints list, each counted once (shared ones are one file).
  const uniq = new Map();
  for (const c of all) for (const p of c.parts) uniq.set(p.ref, p.size);
  const retained = [...uniq.values()].reduce((a, b) => a + b, 0);
  const upload = steady.map((s) => s.newBytes);
  const pauses = steady.map((s) => s.pauseMs);
  report({
    name: `bytes uploaded per checkpoint, ${KEYS} keys, 1% changing per 1 s (median)`, value: pct(upload, 0.5), unit: 'bytes', higherIsBetter: false,
    baseline: 'one full state (every segment the last checkpoint lists)', baselineValue: stateBytes(last), goal: '<= 2% of the full state (ratio >= 50)',
    notes: `p90 ${pct(upload, 0.9)} B, max ${Math.max(...upload)} B over ${steady.length} checkpoints; retained ${all.length}`,
  });
  report({
    name: 'task pause to freeze keyed state per checkpoint (p99)', value: pct(pauses, 0.99), unit: 'ms', higherIsBetter: false,
    baseline: 'budget', baselineValue: 5, goal: '<= 5 ms',
  });
  report({
    name: 'commit after the boundary (p99)', value: pct(commitDelays, 0.99), unit: 'ms', higherIsBetter: false,
    baseline: 'budget', baselineValue: 1000, goal: '<= 1000 ms', notes: `first part staged → committed, over ${commitDelays.length} checkpoints`,
  });
  report({
    name: `space of the ${all.length} retained checkpoints (each part once)`, value: retained, unit: 'bytes', higherIsBetter: false,
    baseline: 'one full state', baselineValue: stateBytes(last), goal: '<= 1.5x (ratio >= 0.667)',
  });
  const mb = stateBytes(last) / 1e6;
  report({
    name: `restore of ${mb.toFixed(1)} MB of keyed state (fs, in process)`, value: restoreOf, unit: 'ms', higherIsBetter: false,
    baseline: 'budget for 1 GB', baselineValue: 10_000, goal: '<= 10 s per GB', notes: `${(mb / (restoreOf / 1000)).toFixed(1)} MB/s`,
  });
  await app.close();
  }

  // ---------------------------------------------------------------- per-key get/put
  if (PARTS.has('getput')) {
  const N = 1_000_000;
  const keys = Array.from({ length: N }, (_, i) => `k${mix(i) % N}`);
  const time = (fn) => {
    const t0 = performance.now();
    fn();
    return N / ((performance.now() - t0) / 1000);
  };
  const m = new Map();
  const mapPut = time(() => { for (let i = 0; i < N; i++) m.set(keys[i], i); });
  const mapGet = time(() => { let s = 0; for (let i = 0; i < N; i++) s += m.get(keys[i]); if (s < 0) throw new Error(); });
  const h = new HeapKeyedState(128).table('v:x');
  const heapPut = time(() => { for (let i = 0; i < N; i++) h.put(keys[i], i); });
  const heapGet = time(() => { let s = 0; for (let i = 0; i < N; i++) s += h.get(keys[i]); if (s < 0) throw new Error(); });
  report({ name: 'heap state put per key (1M keys)', value: heapPut, unit: 'ops/s', baseline: 'Map.set', baselineValue: mapPut });
  report({ name: 'heap state get per key (1M keys)', value: heapGet, unit: 'ops/s', baseline: 'Map.get', baselineValue: mapGet });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
