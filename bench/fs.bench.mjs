// @sluice/storage-fs against raw baselines measured in the same run (see bench/lib.mjs).
// Run: node bench/run.mjs fs   (builds are not run here: `npm run build` first)
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { openStorage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { medianMs, opsPerSec, report } from './lib.mjs';

/** What a jar put must do at least: stream the bytes through SHA-256 into a new file and fsync it. */
async function streamedCopyHashFsync(src, dst) {
  const hash = createHash('sha256');
  const out = await open(dst, 'wx');
  try {
    for await (const chunk of createReadStream(src, { highWaterMark: MiB })) {
      hash.update(chunk);
      for (let off = 0; off < chunk.byteLength; ) off += (await out.write(chunk, off)).bytesWritten;
    }
    await out.sync();
  } finally {
    await out.close();
  }
  return hash.digest('hex');
}

const MiB = 1024 * 1024;
const here = fileURLToPath(import.meta.url);

// ---- child mode: peak RSS of a 1 GiB jar put (own process, so nothing else inflates RSS)
if (process.argv[2] === 'rss-child') {
  const [, , , root, mode] = process.argv;
  const s = await openStorage(fsModule, { root });
  const app = await s.createAppStorage('rss', `rss-${mode}`, { owner: 'bench' });
  globalThis.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  async function* gen() {
    for (let i = 0; i < 1024; i++) yield Buffer.alloc(MiB, i & 0xff);
  }
  if (mode === 'jar') await app.jars.put('big.bin', gen());
  else {
    // Baseline: the same chunks written straight to a file + fsync.
    const fh = await open(join(root, 'raw.bin'), 'w');
    for await (const c of gen()) await fh.write(c);
    await fh.sync();
    await fh.close();
  }
  clearInterval(timer);
  await s.close();
  process.stdout.write(`${JSON.stringify({ growthMiB: (peak - base) / MiB })}\n`);
  process.exit(0);
}

function child(root, mode) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--expose-gc', here, 'rss-child', root, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`rss child ${mode} exited ${code}`))));
  });
}

function rawDb(file) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  return db;
}

const work = await mkdtemp(join(tmpdir(), 'sluice-fs-bench-'));
try {
  const storage = await openStorage(fsModule, { root: join(work, 'store') });
  const app = await storage.createAppStorage('bench', 'bench', { owner: 'bench' });

  // ---- 1. durable time-keyed append, 1000 per commit
  {
    const BATCHES = 300;
    const w = await app.offsets('append').writer(1);
    const value = Buffer.alloc(24, 7);
    let t = 0;
    const batch = () => Array.from({ length: 1000 }, () => ({ t: ++t, value }));
    const ours = (await opsPerSec(() => w.appendBatch(batch()), { ms: 0, min: BATCHES, max: BATCHES })) * 1000;
    const db = rawDb(join(work, 'raw-append.db'));
    db.exec('CREATE TABLE offsets (store TEXT NOT NULL, t INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, t)) WITHOUT ROWID');
    const ins = db.prepare('INSERT INTO offsets VALUES (?, ?, ?)');
    let rt = 0;
    const tx = db.transaction(() => {
      for (let i = 0; i < 1000; i++) ins.run('append', ++rt, value);
    });
    const raw = (await opsPerSec(() => tx.immediate(), { ms: 0, min: BATCHES, max: BATCHES })) * 1000;
    report({ name: 'offsets appendBatch(1000), synchronous=FULL', value: ours, unit: 'rows/s', baseline: 'better-sqlite3 1000-row tx, WAL FULL', baselineValue: raw, goal: '>= 0.9x' });

    // ---- 2. floor / lookUp on 1M rows vs a raw point query
    const N = 1_000_000;
    for (let i = 300; i < N / 1000; i++) await w.appendBatch(batch());
    const tx2 = db.transaction(() => {
      for (let i = 0; i < 1000; i++) ins.run('append', ++rt, value);
    });
    for (let i = 300; i < N / 1000; i++) tx2.immediate();
    const store = app.offsets('append');
    const rnd = () => 1 + Math.floor(Math.random() * N);
    const fl = db.prepare('SELECT t, value FROM offsets WHERE store = ? AND t <= ? ORDER BY t DESC LIMIT 1');
    // Interleaved rounds, best of each: load drift on a shared machine hits both sides alike.
    let floorOurs = 0, lookOurs = 0, floorRaw = 0;
    for (let round = 0; round < 4; round++) {
      floorOurs = Math.max(floorOurs, await opsPerSec(() => store.floor(rnd()), { ms: 400 }));
      lookOurs = Math.max(lookOurs, await opsPerSec(() => store.lookUp(rnd()), { ms: 400 }));
      floorRaw = Math.max(floorRaw, await opsPerSec(() => fl.get('append', rnd()), { ms: 400 }));
    }
    report({ name: 'offsets floor (1M rows)', value: floorOurs, unit: 'ops/s', baseline: 'better-sqlite3 floor query', baselineValue: floorRaw, goal: '>= 0.8x' });
    report({ name: 'offsets lookUp (1M rows)', value: lookOurs, unit: 'ops/s', baseline: 'better-sqlite3 floor query', baselineValue: floorRaw, goal: '>= 0.8x' });
    db.close();
  }

  // ---- 3. jar put 256 MiB from a local file vs the same work done raw
  // copyFile + fsync alone swung 325-1272 MiB/s run to run (kernel copy offload, page
  // cache), so the ratio is taken against a baseline doing what a jar put must do: a
  // streamed copy that hashes every byte with SHA-256, then fsync. Runs alternate (ours,
  // raw, ours, raw ...) so drift hits both; copyFile + fsync is reported beside for reference.
  {
    const src = join(work, 'src.bin');
    const fh = await open(src, 'w');
    for (let i = 0; i < 256; i++) await fh.write(Buffer.alloc(MiB, i));
    await fh.sync();
    await fh.close();
    const oursT = [];
    const sameWorkT = [];
    const copyT = [];
    for (let i = 0; i < 5; i++) {
      let t = performance.now();
      // A fresh app per run: dedupe on identical content would skip the link.
      const a = await storage.createAppStorage('bench', `jar-${i}-${Date.now()}`, { owner: 'bench' });
      await a.jars.copyFromLocal(src, 'j.bin');
      oursT.push(performance.now() - t);
      t = performance.now();
      await streamedCopyHashFsync(src, join(work, `same${i}.bin`));
      sameWorkT.push(performance.now() - t);
      t = performance.now();
      const dst = join(work, `copy${i}.bin`);
      await copyFile(src, dst);
      const h = await open(dst, 'r+');
      await h.sync();
      await h.close();
      copyT.push(performance.now() - t);
      await rm(join(work, `same${i}.bin`));
      await rm(dst);
    }
    const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const spread = (a) => `${Math.round(256 / (Math.max(...a) / 1000))}-${Math.round(256 / (Math.min(...a) / 1000))} MiB/s`;
    report({
      name: 'jar copyFromLocal 256 MiB', value: 256 / (med(oursT) / 1000), unit: 'MiB/s', baseline: 'streamed copy + SHA-256 + fsync (same work)',
      baselineValue: 256 / (med(sameWorkT) / 1000), goal: '>= 0.7x', notes: `median of 5 alternating runs; ours ${spread(oursT)}, raw ${spread(sameWorkT)}`,
    });
    report({
      name: 'jar copyFromLocal 256 MiB vs copyFile + fsync (reference only)', value: 256 / (med(oursT) / 1000), unit: 'MiB/s', baseline: 'fs.copyFile + fsync',
      baselineValue: 256 / (med(copyT) / 1000), notes: `copyFile does no hashing and may use copy offload; its spread this run: ${spread(copyT)}`,
    });
    await rm(src);
  }

  // ---- 4. peak RSS of a 1 GiB jar put (child processes)
  {
    const jar = await child(join(work, 'rss-jar'), 'jar');
    const raw = await child(join(work, 'rss-raw'), 'raw');
    report({ name: 'jar put 1 GiB: peak RSS growth', value: jar.growthMiB, unit: 'MiB', baseline: 'same chunks to a file + fsync', baselineValue: raw.growthMiB, higherIsBetter: false, goal: '<= +64 MiB' });
    await rm(join(work, 'rss-jar'), { recursive: true, force: true });
    await rm(join(work, 'rss-raw'), { recursive: true, force: true });
  }

  // ---- 5/6. logs: ingest 1M lines, then a level + time-window query
  {
    const N = 1_000_000;
    const levels = ['debug', 'info', 'info', 'info', 'info', 'info', 'info', 'warn', 'info', 'debug'];
    const rec = (i) => ({ ts: 1_700_000_000_000 + i * 10, level: i % 100 === 0 ? 'error' : levels[i % 10], msg: `processed batch ${i} in ${i % 97} ms`, labels: { executor: `e${i % 4}`, task: `t${i % 16}` } });
    let i = 0;
    const start = performance.now();
    while (i < N) {
      const batch = [];
      for (let k = 0; k < 1000; k++) batch.push(rec(i++));
      await app.logs.append(batch);
    }
    const ours = N / ((performance.now() - start) / 1000);
    const db = rawDb(join(work, 'raw-logs.db'));
    db.exec(`CREATE TABLE logs (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, level INTEGER NOT NULL, msg TEXT NOT NULL, labels TEXT NOT NULL, fields TEXT, bytes INTEGER NOT NULL);
             CREATE INDEX logs_ts ON logs (ts); CREATE INDEX logs_level_ts ON logs (level, ts);`);
    const ins = db.prepare('INSERT INTO logs (ts, level, msg, labels, fields, bytes) VALUES (?, ?, ?, ?, ?, ?)');
    const lv = { debug: 20, info: 30, warn: 40, error: 50 };
    const s2 = performance.now();
    for (let j = 0; j < N; j += 1000) {
      db.transaction(() => {
        for (let k = j; k < j + 1000; k++) {
          const r = rec(k);
          ins.run(r.ts, lv[r.level], r.msg, JSON.stringify(r.labels), null, 100);
        }
      }).immediate();
    }
    const raw = N / ((performance.now() - s2) / 1000);
    report({ name: 'logs append (1000/batch)', value: ours, unit: 'lines/s', baseline: 'better-sqlite3 same table+indexes, 1000-row tx', baselineValue: raw, goal: '>= 100k lines/s' });

    // A one-hour window (10% of the data) at level >= warn: 10k matches, first page of 1000.
    const from = 1_700_000_000_000 + 4_000_000;
    const to = from + 1_000_000;
    const qOurs = await medianMs(() => app.logs.query({ from, to, minLevel: 'warn', limit: 1000 }), 7);
    const stmt = db.prepare('SELECT seq, ts, level, msg, labels, fields FROM logs WHERE ts >= ? AND ts < ? AND level >= ? ORDER BY ts, seq LIMIT 1000');
    const qRaw = await medianMs(() => stmt.all(from, to, 40), 7);
    report({ name: 'logs level+time query over 1M lines (page of 1000)', value: qOurs, unit: 'ms', baseline: 'better-sqlite3 same SQL', baselineValue: qRaw, higherIsBetter: false, goal: '<= 200 ms' });
    db.close();
  }

  // ---- 7/8/9. metrics: 1M points over 100 series, aggregate, one-series range
  {
    const SERIES = 100;
    const PER = 10_000;
    const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 3_600_000);
    const point = (s, j) => ({ name: 'latency_ms', labels: { processor: `p${s % 10}`, task: String(s) }, ts: T0 + j * 1000, value: (s * 31 + j) % 1000, kind: 'histogram' });
    const start = performance.now();
    for (let j = 0; j < PER; j += 10) {
      const batch = [];
      for (let s = 0; s < SERIES; s++) for (let k = j; k < j + 10; k++) batch.push(point(s, k));
      await app.metrics.write(batch);
    }
    const ours = (SERIES * PER) / ((performance.now() - start) / 1000);
    const db = rawDb(join(work, 'raw-metrics.db'));
    db.exec('CREATE TABLE points (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID');
    const ins = db.prepare('INSERT INTO points VALUES (?, ?, ?)');
    const s2 = performance.now();
    for (let j = 0; j < PER; j += 10) {
      db.transaction(() => {
        for (let s = 0; s < SERIES; s++) for (let k = j; k < j + 10; k++) ins.run(s, T0 + k * 1000, point(s, k).value);
      }).immediate();
    }
    const raw = (SERIES * PER) / ((performance.now() - s2) / 1000);
    report({ name: 'metrics write (1000/batch, raw + 1m + 1h rollups)', value: ours, unit: 'points/s', baseline: 'better-sqlite3 raw points only, 1000-row tx', baselineValue: raw, goal: '>= 100k points/s' });

    const to = T0 + PER * 1000;
    const aggOurs = await medianMs(() => app.metrics.query({ name: 'latency_ms', from: T0, to, step: 60_000, agg: 'avg', resolution: 'raw' }), 5);
    const aggStmt = db.prepare('SELECT series_id, (ts - CAST(? AS INTEGER)) / 60000 AS b, avg(value) FROM points WHERE ts >= ? AND ts < ? GROUP BY series_id, b');
    const aggRaw = await medianMs(() => aggStmt.all(T0, T0, to), 5);
    report({ name: 'metrics avg per minute over 1M raw points (100 series)', value: aggOurs, unit: 'ms', baseline: 'better-sqlite3 GROUP BY series, minute', baselineValue: aggRaw, higherIsBetter: false, goal: '<= 500 ms' });
    const oneOurs = await medianMs(() => app.metrics.query({ name: 'latency_ms', labels: { task: '42' }, from: T0, to, step: 60_000, agg: 'max', resolution: 'raw' }), 9);
    const oneStmt = db.prepare('SELECT (ts - CAST(? AS INTEGER)) / 60000 AS b, max(value) FROM points WHERE series_id = ? AND ts >= ? AND ts < ? GROUP BY b');
    const oneRaw = await medianMs(() => oneStmt.all(T0, 42, T0, to), 9);
    report({ name: 'metrics one series, 10k-point range', value: oneOurs, unit: 'ms', baseline: 'better-sqlite3 one-series GROUP BY', baselineValue: oneRaw, higherIsBetter: false, goal: '<= 10 ms' });
    const pOurs = await medianMs(() => app.metrics.query({ name: 'latency_ms', from: T0, to, step: 600_000, agg: 'p99', resolution: 'raw' }), 3);
    report({ name: 'metrics p99 per 10 min over 1M raw points (JS percentile)', value: pOurs, unit: 'ms', higherIsBetter: false, notes: 'no raw baseline: SQLite has no percentile' });
    db.close();
  }
  await storage.close();
} finally {
  await rm(work, { recursive: true, force: true });
}
