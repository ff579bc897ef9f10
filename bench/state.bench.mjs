// Keyed state at scale (issue 18), all in one run; SLUICE_BENCH_STATE_PARTS picks parts:
//   throughput  a keyed count over 1k vs 2M keys (heap), the same app for the same 12 s
//   churn       2M keys with 1% changing per 1 s: bytes per checkpoint, task pause,
//               event-loop delay, commit delay, retained space, the restore (fs)
//   getput      per-key get/put of the heap backend beside a plain Map
//   restore     restore of the 2M-key state on fs, Ceph RGW and the WebHDFS test server
//               (SLUICE_BENCH_STATE_RESTORE_TARGETS), each beside its no-engine floor
//   disk        per-key get/put of the disk backend beside raw lmdb; 20M keys on the disk
//               backend in a child with a 1024 MB heap (worker.executorMemoryMb 1024)
// Sizes: SLUICE_BENCH_STATE_KEYS (default 2,000,000), SLUICE_BENCH_STATE_DISK_KEYS (20M).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open as openLmdb } from 'lmdb';
import { DiskKeyedState } from '../packages/engine/dist/state/disk-state.js';
import { decodeSegment } from '../packages/engine/dist/state/segment-codec.js';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
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

async function countRun({ records, keys, perSecond, intervalMs = 1000, app, epoch = 1, timeoutMs = 600_000, offset = 0, sequential = false, source = 'keys', backend, st = storage, onStarted }) {
  const a = app ?? (await st.createAppStorage('bench', `state-${++run}`, { owner: 'bench' }));
  const d = dag('keyed-count', { checkpointIntervalMs: intervalMs, ...(backend ? { stateBackend: backend } : {}) })
    .source(source, keySource({ records, keys, perSecond, offset, sequential }))
    .groupBy((k) => k)
    .count('count')
    .sink('out', () => ({ onNext() {} }));
  const x = new InProcessApp({ dag: d, app: a, epoch, intervalMs, batchSize: 4000 });
  const t0 = performance.now();
  await x.start();
  const restoreMs = performance.now() - t0;
  onStarted?.();
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

const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** Starts the keyed count again on `app` (epoch 2): start() restores its last checkpoint. */
async function restoreRun(app, backend, epoch = 2) {
  const d = dag('keyed-count', { checkpointIntervalMs: 1000, ...(backend ? { stateBackend: backend } : {}) })
    .source('keys', keySource({ records: 0, keys: 1 }))
    .groupBy((k) => k)
    .count('count')
    .sink('out', () => ({ onNext() {} }));
  const x = new InProcessApp({ dag: d, app, epoch, intervalMs: 1000, batchSize: 4000 });
  const t0 = performance.now();
  await x.start();
  const restoreMs = performance.now() - t0;
  await x.stop();
  return { restoreMs };
}

/** A store to restore from: fs (the bench's), RGW (test/servers/ceph-rgw) or the WebHDFS test server. */
async function openTarget(target) {
  if (target === 'fs') return { storage, stop: async () => {} };
  if (target === 'hdfs') {
    const { default: hdfs } = await import('@sluice/storage-hdfs');
    const main = new URL('../test/webhdfs-server/dist/main.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [main], { stdio: ['ignore', 'pipe', 'inherit'] });
    const urls = await new Promise((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        const i = buf.indexOf('\n');
        if (i >= 0) resolve(JSON.parse(buf.slice(0, i)));
      });
      child.on('exit', (c) => reject(new Error(`webhdfs test server exited ${c}`)));
    });
    const st = await openStorage(hdfs, { url: urls.namenode, root: '/bench-state' });
    return { storage: st, stop: async () => { const gone = new Promise((r) => child.once('exit', r)); child.kill('SIGTERM'); await gone; } };
  }
  if (target === 'rgw') {
    const rgwDir = new URL('../test/servers/ceph-rgw/', import.meta.url).pathname;
    const workdir = mkdtempSync(join(tmpdir(), 'sluice-rgw-state-'));
    const stopRgw = () => { spawnSync('bash', [join(rgwDir, 'stop.sh'), workdir], { stdio: 'inherit' }); rmSync(workdir, { recursive: true, force: true }); };
    const r = spawnSync('bash', [join(rgwDir, 'start.sh'), workdir], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, MEMSTORE_BYTES: String(4 * 2 ** 30) } });
    const line = (r.stdout ?? '').trim().split('\n').pop();
    if (r.status !== 0 || !line) {
      stopRgw();
      throw new Error(`ceph-rgw start.sh exited ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    }
    const info = JSON.parse(line);
    const { default: s3 } = await import('@sluice/storage-s3');
    const st = await openStorage(s3, {
      bucket: 'sluice-bench-state', endpoint: info.endpoint, region: info.region, forcePathStyle: true, createBucket: true, checksums: 'WHEN_REQUIRED',
      credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    });
    return { storage: st, stop: async () => stopRgw() };
  }
  throw new Error(`unknown target ${target}`);
}

// ---------------------------------------------------------------- child: 20M keys on disk
// Run as a child with --max-old-space-size=1024 (what worker.executorMemoryMb sets).
if (process.env.SLUICE_BENCH_STATE_CHILD === 'disk') {
  const keys = Number(process.env.SLUICE_BENCH_STATE_DISK_KEYS ?? 20_000_000);
  let peakHeap = 0;
  const probe = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 250);
  const r = await countRun({ records: keys, keys, sequential: true, backend: 'disk', timeoutMs: 3_600_000 });
  await sleep(2500); // the last boundary's commit
  const last = r.x.committer.last;
  await r.x.stop();
  clearInterval(probe);
  const m = process.memoryUsage();
  process.stdout.write(`DISKRESULT ${JSON.stringify({ keys, ms: r.ms, rate: r.rate, checkpoints: r.seen.length, lastStats: last, pauseP99: pct(r.seen.map((c) => c.pauseMs), 0.99), commitP99: pct(r.seen.map((c) => c.commitMs), 0.99), peakHeapMb: peakHeap / 2 ** 20, rssMb: m.rss / 2 ** 20 })}\n`);
  await r.app.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

const PARTS = new Set((process.env.SLUICE_BENCH_STATE_PARTS ?? 'throughput,churn,getput,restore,disk').split(','));

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
  // What any Map-based heap backend can reach: the same keys counted in a plain Map, no
  // engine, 2M keys vs 1k (fresh key strings per record, as the source makes them).
  const mapCount = (keys) => {
    const m = new Map();
    const n = Math.max(4 * keys, 8_000_000);
    const t0 = performance.now();
    for (let b = 0; b < n; b += 4000) {
      const ks = new Array(4000);
      for (let j = 0; j < 4000; j++) ks[j] = `k${mix(b + j) % keys}`;
      for (let j = 0; j < 4000; j++) m.set(ks[j], (m.get(ks[j]) ?? 0) + 1);
    }
    return n / ((performance.now() - t0) / 1000);
  };
  const small = mapCount(1000);
  const big = mapCount(KEYS);
  report({ name: `plain Map count over ${KEYS} keys (no engine)`, value: big, unit: 'records/s', baseline: 'the same over 1,000 keys', baselineValue: small, notes: 'the ceiling of the heap ratio: cache misses per key at 2M keys' });
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
  // The event loop's longest stalls while checkpoints are encoded and staged (slices, not
  // one block); from after the restore (start() applies the segments in one go).
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const churn = await countRun({ onStarted: () => loop.enable(), records: churnPerSec * SECONDS, keys: KEYS, perSecond: churnPerSec, app, epoch: 2, offset: 7 * KEYS, source: 'churn', timeoutMs: (SECONDS + 120) * 1000 });
  const restoreOf = churn.restoreMs;
  loop.disable();
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
    notes: `event-loop delay over the churn run after its restore (encoding and staging in slices, GC included): p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms`,
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
  // The floor of a heap restore: the same parts read and decoded, each key into a Map (no engine).
  {
    const cp = all[all.length - 1];
    const t0 = performance.now();
    const m = new Map();
    for (const p of cp.parts.filter((x) => x.name.includes('.s'))) {
      decodeSegment(await store.readPart(cp.t, p.name), (_n, tis, ks, vals, exps) => {
        for (let i = 0; i < ks.length; i++) m.set(ks[i], { k: ks[i], v: vals[i], seg: 0, exp: exps[i], u: false, ti: tis[i] });
      });
    }
    const floorMs = performance.now() - t0;
    report({
      name: `restore of ${mb.toFixed(1)} MB of keyed state (fs, in process), again`, value: restoreOf, unit: 'ms', higherIsBetter: false,
      baseline: 'the same parts read, V8-deserialised and put in a Map (no engine)', baselineValue: floorMs, notes: `${m.size} keys; floor ${(mb / (floorMs / 1000)).toFixed(1)} MB/s`,
    });
  }
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

  // ---------------------------------------------------------------- restore per store
  // Load KEYS keys, stop, start again from the checkpoint (as after a SIGKILL: the new
  // epoch reads the last committed checkpoint); beside it, the no-engine floor.
  if (PARTS.has('restore')) {
    for (const target of (process.env.SLUICE_BENCH_STATE_RESTORE_TARGETS ?? 'fs,rgw,hdfs').split(',')) {
      let opened;
      try {
        opened = await openTarget(target);
      } catch (e) {
        process.stdout.write(`restore on ${target} NOT RUN: ${e.message}\n`);
        continue;
      }
      try {
        const app = await opened.storage.createAppStorage('bench', `restore-${target}`, { owner: 'bench' });
        const load = await countRun({ records: KEYS, keys: KEYS, app, sequential: true, st: opened.storage });
        await sleep(2500);
        await load.x.stop();
        // The new epoch's start() restores the last committed checkpoint: that is the figure.
        const again = await restoreRun(app);
        const store = app.checkpoints('tasks');
        const cp = await store.last();
        const segs = cp.parts.filter((x) => x.name.includes('.s'));
        const bytes = segs.reduce((n, x) => n + x.size, 0);
        const t0 = performance.now();
        const m = new Map();
        for (const p of segs) {
          decodeSegment(await store.readPart(cp.t, p.name), (_n, tis, ks, vals, exps) => {
            for (let i = 0; i < ks.length; i++) m.set(ks[i], { k: ks[i], v: vals[i], seg: 0, exp: exps[i], u: false, ti: tis[i] });
          });
        }
        const floorMs = performance.now() - t0;
        const mb = bytes / 1e6;
        report({
          name: `${target}: restore of ${mb.toFixed(1)} MB of keyed state (${KEYS} keys, heap, in process)`, value: again.restoreMs, unit: 'ms', higherIsBetter: false,
          baseline: 'the same parts read, V8-deserialised and put in a Map (no engine)', baselineValue: floorMs,
          notes: `${(mb / (again.restoreMs / 1000)).toFixed(1)} MB/s (floor ${(mb / (floorMs / 1000)).toFixed(1)} MB/s, ${m.size} keys); budget 1 GB <= 10 s = 100 MB/s`,
        });
        if (target === 'fs') {
          // The same checkpoint into the disk backend (lmdb writes instead of Map inserts).
          const onDisk = await restoreRun(app, 'disk', 3);
          report({
            name: `${target}: restore of ${mb.toFixed(1)} MB of keyed state into the disk backend`, value: onDisk.restoreMs, unit: 'ms', higherIsBetter: false,
            baseline: 'the same into the heap backend', baselineValue: again.restoreMs, notes: `${(mb / (onDisk.restoreMs / 1000)).toFixed(1)} MB/s`,
          });
        }
        await app.close();
      } finally {
        await opened.stop();
      }
    }
  }

  // ---------------------------------------------------------------- disk backend
  if (PARTS.has('disk')) {
  // Per-key get/put of the disk backend (lmdb behind a 100k-entry cache) beside raw lmdb, 1M keys.
  const N = 1_000_000;
  const keys = Array.from({ length: N }, (_, i) => `k${mix(i) % N}`);
  const rawDb = openLmdb({ path: join(dir, 'raw.mdb'), encoding: 'binary', noSync: true, compression: false });
  const val = (i) => { const b = Buffer.allocUnsafe(9); b[0] = 0; b.writeDoubleLE(i, 1); return b; };
  let t0 = performance.now();
  // As the backend writes: asynchronous puts (committed on lmdb's thread), await the last.
  let lastPut;
  for (let i = 0; i < N; i++) lastPut = rawDb.put([0, keys[i]], val(i));
  await lastPut;
  const rawPut = N / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  let sum = 0;
  for (let i = 0; i < N; i++) sum += rawDb.getBinaryFast([0, keys[i]]).readDoubleLE(1);
  const rawGet = N / ((performance.now() - t0) / 1000);
  await rawDb.close();
  const ds = new DiskKeyedState(128, { dir: join(dir, 'disk-backend'), cacheEntries: 100_000 });
  const dt = ds.table('v:x');
  // A put is only done once lmdb has it: the boundary's encode (which writes it) is timed too.
  t0 = performance.now();
  for (let i = 0; i < N; i++) dt.put(keys[i], i);
  const f = ds.freeze(1);
  await ds.encode(f.fresh, 64 << 20);
  const diskPut = N / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  for (let i = 0; i < N; i++) sum += dt.get(keys[i]);
  const diskGet = N / ((performance.now() - t0) / 1000);
  if (sum < 0) throw new Error('unreachable');
  ds.close();
  report({ name: 'disk state put per key (1M keys, 100k-entry cache, incl. the boundary write to lmdb)', value: diskPut, unit: 'ops/s', baseline: 'raw lmdb put (async, awaited at the end)', baselineValue: rawPut });
  report({ name: 'disk state get per key (1M keys, 100k-entry cache)', value: diskGet, unit: 'ops/s', baseline: 'raw lmdb getBinaryFast + decode', baselineValue: rawGet });
  // 20M keys with executorMemoryMb 1024 (the heap limit an executor gets).
  const child = spawnSync(process.execPath, ['--max-old-space-size=1024', new URL(import.meta.url).pathname], {
    env: { ...process.env, SLUICE_BENCH_STATE_CHILD: 'disk' }, encoding: 'utf8', maxBuffer: 1 << 26, timeout: 3_600_000,
  });
  const line = child.stdout.split('\n').find((l) => l.startsWith('DISKRESULT '));
  if (!line) throw new Error(`20M-key disk run failed (status ${child.status}, signal ${child.signal}): ${child.stderr.slice(-2000)}`);
  const d = JSON.parse(line.slice('DISKRESULT '.length));
  report({
    name: `keyed count loading ${d.keys} keys on the disk backend, heap limit 1024 MB (completes)`, value: d.rate, unit: 'records/s',
    goal: 'completes',
    notes: `${(d.ms / 1000).toFixed(1)} s, ${d.checkpoints} checkpoints, last state ${d.lastStats?.stateEntries ?? '?'} entries; pause p99 ${d.pauseP99?.toFixed(2)} ms, commit p99 ${d.commitP99?.toFixed(0)} ms; peak heap used ${d.peakHeapMb.toFixed(0)} MB, rss at end ${d.rssMb.toFixed(0)} MB`,
  });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
