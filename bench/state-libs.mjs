// Embedded key-value libraries for the on-disk keyed state backend, measured in one run
// beside a plain JS Map (the heap baseline): classic-level (what `level` resolves to in
// Node), lmdb (lmdb-js) and better-sqlite3 (WITHOUT ROWID table, prepared statements, WAL,
// synchronous=OFF).
//
// None of the three is asked for durability per write: a keyed state backend is made
// durable by checkpoints, not by each put. So level writes with sync:false (its default),
// SQLite with synchronous=OFF and LMDB with noSync:true.
//
// Run standalone: node bench/state-libs.mjs [--keys N] [--write]
//   prints the JSON result; --write also writes bench/results/state-libs-latest.json.
// Or import: const r = await benchStateLibs({ keys: 1_000_000 });
import { mkdtemp, readdir, rm, stat, mkdir, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ClassicLevel } from 'classic-level';
import { open as openLmdb } from 'lmdb';
import Database from 'better-sqlite3';

/** How long each time-boxed single-op figure runs (ms); 1M-key loads and scans are not time-boxed. */
const OP_MS = Number(process.env.SLUICE_BENCH_STATE_LIBS_OP_MS ?? 1200);
/** Rows per batch / transaction, as the brief asks (and what an operator's micro-batch flush would write). */
const BATCH = 1000;
/** During a snapshot scan, one write round every this many entries read. */
const WRITE_EVERY = 10_000;
/** Writes per round during a snapshot scan: updates of keys already read / not yet read, and inserts. */
const WRITES_PER_ROUND = 10;

const gc = exposeGc();

/**
 * @param {{ keys?: number, dir?: string }} [options]
 * @returns {Promise<object>} figures per lib per op, ratios to the Map baseline, snapshot checks, disk and RSS
 */
export async function benchStateLibs({ keys = 1_000_000, dir } = {}) {
  const ownDir = dir === undefined;
  const root = ownDir ? await mkdtemp(join(tmpdir(), 'sluice-state-libs-')) : dir;
  const started = performance.now();
  const order = shuffled(keys); // the load order: every key once, random order
  const rnd = randomIndices(keys); // random existing keys for single puts and gets
  const libs = {};
  try {
    // Map last: a freed 1M-entry heap would be reused by the later libs' JS allocations and hide their RSS.
    libs.lmdb = await benchLmdb(join(root, 'lmdb'), keys, order, rnd);
    libs.level = await benchLevel(join(root, 'level'), keys, order, rnd);
    libs.sqlite = await benchSqlite(join(root, 'sqlite'), keys, order, rnd);
    libs.map = await benchMap(keys, order, rnd);
  } finally {
    if (ownDir) await rm(root, { recursive: true, force: true });
  }
  const elapsedS = Math.round((performance.now() - started) / 100) / 10;
  return summarise(libs, keys, elapsedS);
}

// ---------------------------------------------------------------------------------------------
// Per library

async function benchMap(keys, order, rnd) {
  const r = phase('map');
  const m = new Map();
  r.put.load = loadRate(keys, order, (i) => m.set(key(i), i));
  r.afterLoad();
  r.put.single = syncRate(rnd, (i) => m.set(key(i), i + 1));
  r.get.single = syncRate(rnd, (i) => m.get(key(i)));
  let n = 0;
  const t0 = performance.now();
  for (const [k, v] of m) if (k !== undefined && v !== undefined) n++;
  r.scan = { ms: performance.now() - t0, entries: n, snapshot: false, note: 'plain iteration (no snapshot): the cost floor of a full scan' };
  r.end();
  m.clear();
  return r.result({ diskBytes: 0 });
}

async function benchLmdb(path, keys, order, rnd) {
  const r = phase('lmdb');
  const db = openLmdb({ path, noSync: true });
  // (a) load: put() is async-batched by design (all puts of one event turn go into one
  // transaction); issue BATCH puts, await the last one.
  r.put.load = await loadRateAsync(keys, order, async (from, to) => {
    let p;
    for (let j = from; j < to; j++) p = db.put(key(order[j]), order[j]);
    await p;
  });
  r.afterLoad();
  r.put.single = await asyncRate(rnd, (i) => db.put(key(i), i + 1), { note: 'awaited one by one (each await is a commit)' });
  r.put.singleSync = syncRate(rnd, (i) => db.putSync(key(i), i + 2), { note: 'putSync outside a transaction: one commit per put' });
  r.put.batchAsync = await batchRate(rnd, async (base) => {
    let p;
    for (let j = 0; j < BATCH; j++) p = db.put(key(rnd[(base + j) % rnd.length]), j);
    await p;
  }, { note: `${BATCH} put() in one event turn, await the last` });
  r.put.batchSync = await batchRate(rnd, (base) => db.transactionSync(() => {
    for (let j = 0; j < BATCH; j++) db.putSync(key(rnd[(base + j) % rnd.length]), j);
  }), { note: `transactionSync of ${BATCH} putSync` });
  // (b) get is synchronous in lmdb-js.
  r.get.single = syncRate(rnd, (i) => db.get(key(i)), { note: 'get() is sync' });
  // (c) explicit read transaction; writes keep committing (putSync) while the scan runs.
  r.scan = scanCheck(keys, {
    begin: () => db.useReadTransaction(),
    read: (txn, k) => db.get(k, { transaction: txn }),
    *entries(txn) {
      for (const { key: k, value: v } of db.getRange({ transaction: txn })) yield [k, v];
    },
    write: (k, v) => db.putSync(k, v),
    end: (txn) => txn.done(),
  });
  r.end();
  await db.close();
  return r.result({ diskBytes: await du(path) });
}

async function benchLevel(path, keys, order, rnd) {
  const r = phase('level');
  const db = new ClassicLevel(path, { valueEncoding: 'json' });
  await db.open();
  r.put.load = await loadRateAsync(keys, order, (from, to) => {
    const ops = new Array(to - from);
    for (let j = from; j < to; j++) ops[j - from] = { type: 'put', key: key(order[j]), value: order[j] };
    return db.batch(ops);
  });
  r.afterLoad();
  r.put.single = await asyncRate(rnd, (i) => db.put(key(i), i + 1), { note: 'awaited one by one, sync:false' });
  r.put.batchChained = await batchRate(rnd, (base) => {
    const b = db.batch();
    for (let j = 0; j < BATCH; j++) b.put(key(rnd[(base + j) % rnd.length]), j);
    return b.write();
  }, { note: `chained batch of ${BATCH}` });
  r.put.batchArray = await batchRate(rnd, (base) => {
    const ops = new Array(BATCH);
    for (let j = 0; j < BATCH; j++) ops[j] = { type: 'put', key: key(rnd[(base + j) % rnd.length]), value: j };
    return db.batch(ops);
  }, { note: `db.batch(array of ${BATCH})` });
  r.get.single = await asyncRate(rnd, (i) => db.get(key(i)), { note: 'awaited get()' });
  r.get.singleSync = db.supports.getSync
    ? syncRate(rnd, (i) => db.getSync(key(i)), { note: 'getSync() (abstract-level 3 / classic-level 3)' })
    : null;
  r.get.many = await batchRate(rnd, (base) => {
    const ks = new Array(BATCH);
    for (let j = 0; j < BATCH; j++) ks[j] = key(rnd[(base + j) % rnd.length]);
    return db.getMany(ks);
  }, { note: `getMany of ${BATCH}` });
  // (c) explicit snapshot, iterator read in chunks of BATCH with nextv(); writes are awaited
  // between chunks so they really land while the iterator is open.
  r.scan = await scanCheckLevel(db, keys);
  r.end();
  await db.close();
  return r.result({ diskBytes: await du(path) });
}

async function benchSqlite(path, keys, order, rnd) {
  const r = phase('sqlite');
  await mkdir(path, { recursive: true });
  const file = join(path, 'state.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID');
  const put = db.prepare('INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v');
  const get = db.prepare('SELECT v FROM kv WHERE k = ?').pluck();
  const putMany = db.transaction((from, to, pick) => {
    for (let j = from; j < to; j++) {
      const i = pick(j);
      put.run(key(i), JSON.stringify(i));
    }
  });
  r.put.load = loadRate(keys, order, null, (from, to) => putMany(from, to, (j) => order[j]));
  r.afterLoad();
  r.put.single = syncRate(rnd, (i) => put.run(key(i), JSON.stringify(i + 1)), { note: 'autocommit, one transaction per put' });
  r.put.batchTx = await batchRate(rnd, (base) => putMany(0, BATCH, (j) => rnd[(base + j) % rnd.length]), { note: `transaction of ${BATCH}` });
  r.get.single = syncRate(rnd, (i) => {
    const v = get.get(key(i));
    return v === undefined ? undefined : JSON.parse(v);
  }, { note: 'prepared SELECT, pluck, JSON.parse' });
  // (c) a second connection holds a read transaction (WAL snapshot) while the first writes.
  const reader = new Database(file, { readonly: true });
  const rget = reader.prepare('SELECT v FROM kv WHERE k = ?').pluck();
  const scanStmt = reader.prepare('SELECT k, v FROM kv').raw();
  r.scan = scanCheck(keys, {
    begin: () => { reader.exec('BEGIN'); rget.get('k0'); return null; }, // the first read starts the snapshot
    read: (_txn, k) => { const v = rget.get(k); return v === undefined ? undefined : JSON.parse(v); },
    *entries() {
      for (const [k, v] of scanStmt.iterate()) yield [k, JSON.parse(v)];
    },
    write: (k, v) => put.run(k, JSON.stringify(v)),
    end: () => reader.exec('COMMIT'),
    // The reader connection is busy while its iterator is open, so mid-scan probes read after the scan.
    probeAfter: true,
  });
  reader.close();
  r.end();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return r.result({ diskBytes: await du(path) });
}

// ---------------------------------------------------------------------------------------------
// Snapshot scans (c): verify isolation, time a full scan of all keys while writes continue.

/**
 * Synchronous scan driver (lmdb, sqlite). Every WRITE_EVERY entries it updates keys (some
 * already read, some not yet), inserts keys that sort after every loaded key and, where the
 * API allows reads while the iterator is open, checks that snapshot reads still see the old
 * values. After the scan: entry count must equal `keys` and no written value may be visible.
 */
function scanCheck(keys, api) {
  const txn = api.begin();
  const before = api.read(txn, 'k0');
  let entries = 0;
  let sawWrite = 0;
  let writes = 0;
  const written = [];
  const t0 = performance.now();
  for (const [k, v] of api.entries(txn)) {
    entries++;
    if (v < 0 || (typeof k === 'string' && k.startsWith('z'))) sawWrite++;
    if (entries % WRITE_EVERY === 0) {
      for (let w = 0; w < WRITES_PER_ROUND; w++) {
        const target = key((entries * 7919 + w * 104729) % keys);
        api.write(target, -1);
        api.write(`z${entries}-${w}`, -2);
        written.push(target);
        writes += 2;
      }
      if (!api.probeAfter && api.read(txn, 'k0') !== before) sawWrite++;
    }
  }
  const ms = performance.now() - t0;
  let probeMismatch = 0;
  for (const k of written.slice(0, 100)) {
    const v = api.read(txn, k);
    if (v === -1) probeMismatch++;
  }
  api.end(txn);
  const isolated = entries === keys && sawWrite === 0 && probeMismatch === 0;
  return { ms, entries, writesDuringScan: writes, snapshot: true, isolated, sawWrite, probeMismatch };
}

async function scanCheckLevel(db, keys) {
  const snapshot = db.snapshot();
  const before = await db.get('k0', { snapshot });
  let entries = 0;
  let sawWrite = 0;
  let writes = 0;
  const written = [];
  const t0 = performance.now();
  const it = db.iterator({ snapshot });
  try {
    for (;;) {
      const chunk = await it.nextv(BATCH);
      if (chunk.length === 0) break;
      for (const [k, v] of chunk) {
        entries++;
        if (v < 0 || k.startsWith('z')) sawWrite++;
        if (entries % WRITE_EVERY === 0) {
          const ops = [];
          for (let w = 0; w < WRITES_PER_ROUND; w++) {
            const target = key((entries * 7919 + w * 104729) % keys);
            ops.push({ type: 'put', key: target, value: -1 }, { type: 'put', key: `z${entries}-${w}`, value: -2 });
            written.push(target);
          }
          await db.batch(ops);
          writes += ops.length;
          if ((await db.get('k0', { snapshot })) !== before) sawWrite++;
        }
      }
    }
  } finally {
    await it.close();
  }
  const ms = performance.now() - t0;
  let probeMismatch = 0;
  for (const k of written.slice(0, 100)) if ((await db.get(k, { snapshot })) === -1) probeMismatch++;
  await snapshot.close();
  const isolated = entries === keys && sawWrite === 0 && probeMismatch === 0;
  return { ms, entries, writesDuringScan: writes, snapshot: true, isolated, sawWrite, probeMismatch, note: `iterator({ snapshot }) read with nextv(${BATCH})` };
}

// ---------------------------------------------------------------------------------------------
// Timing helpers. Sync ops are timed in a plain loop (awaiting a sync call would add a
// microtask per op and hide the difference that matters here).

function syncRate(rnd, fn, { note } = {}) {
  const n = rnd.length;
  let i = 0;
  const t0 = performance.now();
  let t;
  do {
    for (let j = 0; j < BATCH; j++, i++) fn(rnd[i % n]);
    t = performance.now();
  } while (t - t0 < OP_MS);
  return { opsPerSec: (i * 1000) / (t - t0), ops: i, note: note ?? null };
}

async function asyncRate(rnd, fn, { note } = {}) {
  const n = rnd.length;
  let i = 0;
  const t0 = performance.now();
  let t;
  do {
    for (let j = 0; j < 100; j++, i++) await fn(rnd[i % n]);
    t = performance.now();
  } while (t - t0 < OP_MS);
  return { opsPerSec: (i * 1000) / (t - t0), ops: i, note: note ?? null };
}

/** fn(base) does BATCH ops starting at rnd[base]; returns keys per second. */
async function batchRate(rnd, fn, { note } = {}) {
  let base = 0;
  const t0 = performance.now();
  let t;
  do {
    await fn(base);
    base += BATCH;
    t = performance.now();
  } while (t - t0 < OP_MS);
  return { opsPerSec: (base * 1000) / (t - t0), ops: base, note: note ?? null };
}

/** The 1M-key load: per key (one) or per batch of BATCH (many); sync. */
function loadRate(keys, order, one, many) {
  const t0 = performance.now();
  if (one) for (let j = 0; j < keys; j++) one(order[j]);
  else for (let from = 0; from < keys; from += BATCH) many(from, Math.min(keys, from + BATCH));
  const ms = performance.now() - t0;
  return { opsPerSec: (keys * 1000) / ms, ops: keys, ms, note: one ? 'set() per key' : `transaction of ${BATCH}` };
}

async function loadRateAsync(keys, order, many) {
  const t0 = performance.now();
  for (let from = 0; from < keys; from += BATCH) await many(from, Math.min(keys, from + BATCH));
  const ms = performance.now() - t0;
  return { opsPerSec: (keys * 1000) / ms, ops: keys, ms, note: `batches of ${BATCH}` };
}

/** RSS and heap growth of one library's phase, measured from a collected heap. */
function phase(name) {
  gc?.();
  const m0 = process.memoryUsage();
  const r = { name, put: {}, get: {}, scan: null, rss: {} };
  const delta = () => {
    const m = process.memoryUsage();
    return { rssMiB: mib(m.rss - m0.rss), heapUsedMiB: mib(m.heapUsed - m0.heapUsed), externalMiB: mib(m.external - m0.external) };
  };
  process.stderr.write(`state-libs: ${name}\n`);
  return Object.assign(r, {
    afterLoad() { gc?.(); r.rss.afterLoad = delta(); },
    end() { gc?.(); r.rss.atEnd = delta(); },
    result(extra) { return { name, put: r.put, get: r.get, scan: r.scan, rss: r.rss, ...extra }; },
  });
}

// ---------------------------------------------------------------------------------------------
// Summary: figures per lib per op, ratio to the Map baseline, and bench/lib.mjs-shaped lines.

function summarise(libs, keys, elapsedS) {
  const map = libs.map;
  const figures = {};
  const results = [];
  for (const [lib, r] of Object.entries(libs)) {
    const f = (figures[lib] = { put: {}, get: {}, scan: r.scan, diskMiB: mib(r.diskBytes), rss: r.rss });
    for (const kind of ['put', 'get']) {
      for (const [op, v] of Object.entries(r[kind])) {
        if (!v) continue;
        // Every put/get figure is per key; the Map baseline is its load (for load) or its single op.
        const base = map[kind][op === 'load' ? 'load' : 'single'].opsPerSec;
        const ratio = round3(v.opsPerSec / base);
        f[kind][op] = { opsPerSec: Math.round(v.opsPerSec), ratioToMap: ratio, note: v.note };
        results.push(line({
          name: `${lib} ${kind} ${op}${v.note ? ` (${v.note})` : ''}`,
          value: v.opsPerSec, unit: 'keys/s',
          baseline: `Map ${kind} ${op === 'load' ? 'load' : 'single'}`, baselineValue: base,
        }));
      }
    }
    if (r.scan) {
      results.push(line({
        name: `${lib} full scan of ${keys} keys${r.scan.snapshot ? ' in a snapshot, writes continuing' : ''}`,
        value: r.scan.ms, unit: 'ms', baseline: 'Map iteration', baselineValue: map.scan.ms, higherIsBetter: false,
        notes: r.scan.snapshot ? `isolated=${r.scan.isolated}, entries=${r.scan.entries}, writes during scan=${r.scan.writesDuringScan}` : null,
      }));
    }
    results.push(line({ name: `${lib} on-disk size after ${keys} keys (closed)`, value: mib(r.diskBytes), unit: 'MiB' }));
    results.push(line({
      name: `${lib} RSS growth after loading ${keys} keys`, value: r.rss.afterLoad.rssMiB, unit: 'MiB',
      baseline: 'Map', baselineValue: map.rss.afterLoad.rssMiB, higherIsBetter: false,
      notes: `heap ${r.rss.afterLoad.heapUsedMiB} MiB, at end of phase RSS ${r.rss.atEnd.rssMiB} MiB`,
    }));
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    keys,
    elapsedS,
    config: {
      key: '`k<number>` string', value: 'the integer as each lib encodes it: lmdb msgpack, level json, sqlite JSON text',
      lmdb: 'open({ noSync: true }), default msgpack values, ordered-binary keys',
      level: "classic-level, valueEncoding 'json', sync:false",
      sqlite: 'better-sqlite3, kv(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID, WAL, synchronous=OFF, upsert',
      opMs: OP_MS, batch: BATCH,
    },
    figures,
    results,
    failures: [],
  };
}

function line({ name, value, unit, baseline, baselineValue, higherIsBetter = true, goal, notes }) {
  let ratio = null;
  if (typeof baselineValue === 'number' && baselineValue > 0 && typeof value === 'number') ratio = round3(higherIsBetter ? value / baselineValue : baselineValue / value);
  return { file: 'state-libs.mjs', name, value: round3(value), unit, baseline: baseline ?? null, baselineValue: round3(baselineValue), ratio, goal: goal ?? null, notes: notes ?? null };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function key(i) {
  return 'k' + i;
}

/** A random permutation of 0..n-1 (xorshift32, fixed seed: the same order every run). */
function shuffled(n) {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  let s = 0x9e3779b9;
  for (let i = n - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    const t = a[i]; a[i] = a[j]; a[j] = t;
  }
  return a;
}

/** 2^20 random existing-key indices, cycled by the rate loops. */
function randomIndices(n) {
  const a = new Uint32Array(1 << 20);
  let s = 0x1234567;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = s % n;
  }
  return a;
}

async function du(path) {
  let total = 0;
  for (const e of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath ?? e.path, e.name))).size;
  }
  return total;
}

function mib(b) {
  return Math.round((b / 1048576) * 10) / 10;
}

function round3(v) {
  return typeof v === 'number' ? Math.round(v * 1000) / 1000 : v ?? null;
}

function exposeGc() {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc');
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Standalone

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const k = args.indexOf('--keys');
  const keys = k >= 0 ? Number(args[k + 1]) : Number(process.env.SLUICE_BENCH_STATE_LIBS_KEYS ?? 1_000_000);
  const out = await benchStateLibs({ keys });
  const json = JSON.stringify(out, null, 2) + '\n';
  if (args.includes('--write')) {
    const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'state-libs-latest.json');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, json);
    process.stderr.write(`wrote ${file}\n`);
  }
  process.stdout.write(json);
}
