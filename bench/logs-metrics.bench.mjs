// Central logs and metrics (packages/engine/src/observability) against raw baselines
// measured in the same run (see bench/lib.mjs). Run: node bench/run.mjs logs-metrics
// (after `npx tsc -b packages/engine`).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStorage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
import { createAppLogger, readLogs, resolveLogFilter } from '../packages/engine/dist/observability/index.js';
import { medianMs, report } from './lib.mjs';

const work = await mkdtemp(join(tmpdir(), 'sluice-obs-bench-'));
const tick = () => new Promise((r) => setImmediate(r));
try {
  const storage = await openStorage(fsModule, { root: join(work, 'store'), synchronous: 'NORMAL' });

  // ---- 1. appender ingest into the fs store vs raw pino to a file (sync destination)
  {
    const N = 200_000;
    const BURST = 5_000;
    const ingest = async (appId, n) => {
      const app = await storage.createAppStorage('bench', appId, { owner: 'bench' });
      const log = createAppLogger({ appStorage: app, labels: { app: appId, executor: 'e1', host: 'h' }, batchSize: 5000, maxBufferRecords: 50_000, flushIntervalMs: 50, spoolDir: join(work, `spool-${appId}`) });
      const task = log.logger.child({ processor: 'split', task: '0.0' });
      const t0 = performance.now();
      for (let i = 0; i < n; i += BURST) {
        for (let k = i; k < i + BURST; k++) task.info({ k, word: 'sluice' }, 'processed a message');
        await tick(); // a task yields between batches; the appender ships in between
      }
      const ok = await log.flush({ toStore: true, timeoutMs: 120_000 });
      const ms = performance.now() - t0;
      const s = log.stats();
      await log.close();
      return { ok, ms, s, count: (await app.logs.stats()).count };
    };
    await ingest('warmup', 50_000); // JIT and SQLite warm, as in a running executor
    const { ok, ms, s, count } = await ingest('ingest', N);

    const warm = pino(pino.destination({ dest: join(work, 'warm.log'), sync: true }));
    for (let k = 0; k < 50_000; k++) warm.info({ k, word: 'sluice' }, 'processed a message');
    const dest = pino.destination({ dest: join(work, 'raw.log'), sync: true });
    const raw = pino({ base: { app: 'ingest', executor: 'e1', host: 'h' } }, dest).child({ processor: 'split', task: '0.0' });
    const r0 = performance.now();
    for (let k = 0; k < N; k++) raw.info({ k, word: 'sluice' }, 'processed a message');
    dest.flushSync();
    const rawMs = performance.now() - r0;
    report({
      name: 'appender ingest into fs store',
      value: (count * 1000) / ms,
      unit: 'lines/s',
      baseline: 'pino to a file (sync destination)',
      baselineValue: (N * 1000) / rawMs,
      higherIsBetter: true,
      goal: '>= 100000 lines/s',
      notes: `${N} lines in bursts of ${BURST}; stored ${count}, dropped ${s.droppedTotal}, flushed ${ok}; load avg ${(await import('node:os')).loadavg()[0].toFixed(1)}`,
    });
  }

  // ---- 2. cost to a task of one log call: appender (hot path = serialise + enqueue) vs pino to /dev/null
  {
    const N = 200_000;
    const app = await storage.createAppStorage('bench', 'hot', { owner: 'bench' });
    const log = createAppLogger({ appStorage: app, labels: { app: 'hot', executor: 'e1', host: 'h' }, maxBufferRecords: 1_000_000, maxBufferBytes: 1 << 30, flushIntervalMs: 60_000 });
    const nul = pino({ base: { app: 'hot', executor: 'e1', host: 'h' } }, pino.destination({ dest: '/dev/null', sync: true }));
    const measure = (logger) => {
      const t = performance.now();
      for (let k = 0; k < N; k++) logger.info({ k }, 'processed a message');
      return ((performance.now() - t) * 1e6) / N;
    };
    measure(nul); // warm-up
    measure(log.logger);
    await log.flush({ toStore: true, timeoutMs: 120_000 });
    const ns = [];
    const base = [];
    for (let r = 0; r < 3; r++) {
      base.push(measure(nul));
      ns.push(measure(log.logger));
      await log.flush({ toStore: true, timeoutMs: 120_000 }); // drain between runs, outside the timing
    }
    ns.sort((a, b) => a - b);
    base.sort((a, b) => a - b);
    await log.close();
    report({ name: 'log call cost on the hot path (appender)', value: ns[1], unit: 'ns/call', baseline: 'pino to /dev/null (sync)', baselineValue: base[1], higherIsBetter: false, goal: 'close to the baseline; never waits for the store' });
  }

  // ---- 3. log query over 1M lines: level + time window (fs) vs a JS scan of the same records in memory
  {
    const N = 1_000_000;
    const T0 = Date.UTC(2026, 0, 1);
    const app = await storage.createAppStorage('bench', 'query', { owner: 'bench' });
    const levels = ['debug', 'info', 'info', 'info', 'warn', 'error'];
    const all = new Array(N);
    for (let i = 0; i < N; i++) {
      all[i] = { ts: T0 + i * 10, level: levels[i % levels.length], msg: `message ${i} about word ${i % 1000}`, labels: { app: 'query', executor: `e${i % 4}`, processor: `p${i % 8}`, task: String(i % 32) }, fields: { i } };
    }
    for (let i = 0; i < N; i += 50_000) await app.logs.append(all.slice(i, i + 50_000));
    const since = String(T0 + 5_000_000); // middle of the 10 000 s range
    const until = String(T0 + 5_060_000); // one minute: 6000 lines, 1000 of them errors
    const f = resolveLogFilter({ since, until, level: 'error', limit: 1000 }, T0 + N * 10);
    const got = await readLogs(app.logs, f);
    const ms = await medianMs(() => readLogs(app.logs, f), 7);
    const scanMs = await medianMs(() => all.filter((r) => r.ts >= f.query.from && r.ts < f.query.to && r.level === 'error').slice(0, 1000), 7);
    report({ name: 'log query 1M lines (error, 1-min window)', value: ms, unit: 'ms', baseline: 'JS filter over the records in memory', baselineValue: scanMs, higherIsBetter: false, goal: '<= 200 ms', notes: `${got.length} lines returned` });
    const tail = resolveLogFilter({ level: 'warn', limit: 1000 }, T0 + N * 10);
    const tailMs = await medianMs(() => readLogs(app.logs, tail), 7);
    report({ name: 'log query 1M lines (newest 1000 warn+)', value: tailMs, unit: 'ms', higherIsBetter: false, goal: '<= 200 ms' });
  }

  // ---- 4. metrics: 1M-point aggregate and a one-series 10k range (fs) vs JS loops over arrays
  {
    const SERIES = 100;
    const PER = 10_000;
    const T0 = Date.UTC(2026, 0, 1);
    const app = await storage.createAppStorage('bench', 'metrics', { owner: 'bench' });
    const vals = new Float64Array(SERIES * PER);
    let batch = [];
    for (let s = 0; s < SERIES; s++) {
      for (let k = 0; k < PER; k++) {
        const v = (s * 7 + k) % 1000;
        vals[s * PER + k] = v;
        batch.push({ name: 'sluice_task_latency_ms', labels: { app: 'metrics', processor: `p${s % 10}`, task: String(s) }, ts: T0 + k * 1000, value: v, kind: 'gauge' });
        if (batch.length === 50_000) {
          await app.metrics.write(batch);
          batch = [];
        }
      }
    }
    if (batch.length) await app.metrics.write(batch);
    const to = T0 + PER * 1000;
    const aggQ = { name: 'sluice_task_latency_ms', from: T0, to, step: 600_000, agg: 'avg', by: ['processor'], resolution: 'raw' };
    const aggMs = await medianMs(() => app.metrics.query(aggQ), 5);
    const jsAgg = await medianMs(() => {
      const sums = new Float64Array(10 * 17);
      const counts = new Float64Array(10 * 17);
      for (let s = 0; s < SERIES; s++)
        for (let k = 0; k < PER; k++) {
          const b = (s % 10) * 17 + Math.floor((k * 1000) / 600_000);
          sums[b] += vals[s * PER + k];
          counts[b]++;
        }
      return sums.map((x, i) => x / counts[i]);
    }, 5);
    report({ name: 'metrics aggregate 1M points (avg by processor, 10-min buckets)', value: aggMs, unit: 'ms', baseline: 'JS loop over a Float64Array', baselineValue: jsAgg, higherIsBetter: false });
    const oneQ = { name: 'sluice_task_latency_ms', labels: { task: '42' }, from: T0, to, step: 1000, agg: 'last', resolution: 'raw' };
    const oneMs = await medianMs(() => app.metrics.query(oneQ), 7);
    const jsOne = await medianMs(() => Array.from(vals.subarray(42 * PER, 43 * PER), (v, k) => ({ ts: T0 + k * 1000, value: v })), 7);
    report({ name: 'metrics one series 10k-point range', value: oneMs, unit: 'ms', baseline: 'JS copy of 10k points', baselineValue: jsOne, higherIsBetter: false });
  }
  await storage.close();
} finally {
  await rm(work, { recursive: true, force: true });
}
