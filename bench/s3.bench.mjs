// S3 backend vs the raw AWS SDK on the same endpoint, same part size, same run, per TARGET:
//   1. s3rver + conditional-write shim (which also counts requests server-side)
//   2. Ceph RGW (test/servers/ceph-rgw/start.sh: memstore OSD + radosgw) when Ceph is installed;
//      requests are counted client-side there (no shim). If Ceph is missing the RGW figures are
//      NOT reported (a loud line says so).
// `node bench/run.mjs s3`. Figure names are prefixed with the target ('s3rver: …', 'rgw: …').
//   jar put/get 256 MiB vs lib-storage Upload / GetObject stream  (goal ≥ 0.9×)
//   requests per checkpoint commit for 1/10/100 parts              (goal ≤ 3, flat)
//   offset appends/s batched vs raw PutObject/s
//   peak RSS of a 1 GiB jar put vs a raw Upload (child processes)
// Env: BENCH_S3_TARGETS=s3rver,rgw (default both) picks targets.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { openStorage } from '@sluice/storage-api';
import s3Module, { createS3Storage } from '@sluice/storage-s3';
import { report, opsPerSec } from './lib.mjs';

const MiB = 1024 * 1024;
const PART = 8 * MiB;
const QUEUE = 4;
const BUCKET = 'sluice-bench';
const here = fileURLToPath(new URL('.', import.meta.url));
const launcher = join(here, '..', 'test', 'servers', 's3', 'launcher.mjs');
const rgwDir = join(here, '..', 'test', 'servers', 'ceph-rgw');
const CEPH_BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'ceph-authtool'];

function chunks(total, seed = 1) {
  const block = Buffer.alloc(MiB, seed & 0xff);
  return (async function* () {
    for (let sent = 0; sent < total; sent += MiB) yield block.subarray(0, Math.min(MiB, total - sent));
  })();
}

/** conn = { endpoint, region, credentials } */
function clientFor(conn, extra = {}) {
  return new S3Client({
    // a copy: the SDK tags the credentials object it is given ($source), which the backend's
    // strict options schema would then reject if the same object were reused there
    endpoint: conn.endpoint, region: conn.region, forcePathStyle: true, credentials: { ...conn.credentials },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', ...extra,
  });
}

function storageOptions(conn, prefix) {
  return {
    bucket: BUCKET, prefix, endpoint: conn.endpoint, region: conn.region, forcePathStyle: true, credentials: { ...conn.credentials },
    checksums: 'WHEN_REQUIRED', createBucket: true, partSize: PART, multipartThreshold: 16 * MiB, queueSize: QUEUE,
  };
}

/**
 * An S3Client that counts every HTTP attempt: the middleware sits in 'finalizeRequest' at
 * priority 'low', i.e. inside the SDK's retry middleware (finalizeRequest/high), so each
 * retry is counted too (checked by attemptCounterSelfTest()). Configured like the backend's
 * own request client (one SDK attempt: the backend's retry loop owns retries).
 */
function countingClient(conn) {
  const client = clientFor(conn, { maxAttempts: 1, requestHandler: { requestTimeout: 30_000, connectionTimeout: 10_000 } });
  const counter = { total: 0, byOp: {} };
  addCounter(client, counter);
  return { client, counter };
}

function addCounter(client, counter) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      counter.total++;
      counter.byOp[context.commandName] = (counter.byOp[context.commandName] ?? 0) + 1;
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'sluiceBenchAttemptCounter' },
  );
}

/** A server that answers every request 503: a client with maxAttempts 3 must count 3 attempts. */
async function attemptCounterSelfTest() {
  let served = 0;
  const srv = http.createServer((req, res) => {
    served++;
    req.resume();
    res.writeHead(503, { 'content-type': 'application/xml' });
    res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>bench self-test</Message></Error>');
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const conn = { endpoint: `http://127.0.0.1:${srv.address().port}`, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } };
  const client = clientFor(conn, { maxAttempts: 3 });
  const counter = { total: 0, byOp: {} };
  addCounter(client, counter);
  await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k' })).catch(() => {});
  client.destroy();
  await new Promise((r) => srv.close(r));
  const ok = counter.total === 3 && served === 3;
  process.stdout.write(`attempt-counter self-test: maxAttempts 3 against an always-503 server -> counted ${counter.total}, server saw ${served}: ${ok ? 'OK' : 'MISMATCH'}\n`);
  if (!ok) throw new Error('client-side attempt counter does not count every attempt');
}

// ---- child mode: peak RSS of one put ------------------------------------------------
if (process.argv[2] === '--rss-child') {
  const [, , , mode, connJson, sizeStr] = process.argv;
  const conn = JSON.parse(connJson);
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const size = Number(sizeStr);
  if (mode === 'ours') {
    const s = await openStorage(s3Module, storageOptions(conn, 'rss/'));
    const app = (await s.getAppStorage('bench')) ?? (await s.createAppStorage('bench', 'bench', { owner: 'bench' }));
    await app.jars.put('gib', chunks(size, 5));
    await app.jars.delete('gib');
    await s.close();
  } else {
    const c = clientFor(conn);
    await new Upload({ client: c, params: { Bucket: BUCKET, Key: 'rss/raw-gib', Body: Readable.from(chunks(size, 6)) }, partSize: PART, queueSize: QUEUE }).done();
    c.destroy();
  }
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  process.stdout.write(`${JSON.stringify({ peakRss: peak })}\n`);
  process.exit(0);
}

// ---- targets ----------------------------------------------------------------------------
async function startS3rver() {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-s3bench-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', launcher, '--dir', dir, '--shim'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('s3rver did not start')), 20_000);
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) {
        clearTimeout(t);
        resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
      }
    });
  });
  const endpoint = `http://127.0.0.1:${info.port}`;
  return {
    name: 's3rver',
    conn: { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } },
    shim: {
      stats: async () => (await fetch(`${endpoint}/_shim/stats`)).json(),
      reset: async () => void (await fetch(`${endpoint}/_shim/reset`, { method: 'POST' })),
    },
    reclaim: async () => {},
    rssSizes: [1024 * MiB],
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(info.pid, 'SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function cephMissing() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/sbin', '/bin', '/sbin'];
  const missing = CEPH_BINARIES.filter((b) => !dirs.some((d) => {
    try {
      accessSync(join(d, b), fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  }));
  if (typeof process.getuid === 'function' && process.getuid() !== 0) missing.push('root (start.sh must run as root)');
  return missing;
}

async function startRgw() {
  const workdir = await mkdtemp(join(tmpdir(), 'sluice-rgwbench-'));
  const stop = async () => {
    await new Promise((resolve) => {
      const c = spawn('bash', [join(rgwDir, 'stop.sh'), workdir], { stdio: ['ignore', 'inherit', 'inherit'] });
      c.on('exit', resolve);
      c.on('error', resolve);
    });
  };
  const t0 = performance.now();
  let info;
  try {
    info = await new Promise((resolve, reject) => {
      const c = spawn('bash', [join(rgwDir, 'start.sh'), workdir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => {
        err += d;
        process.stderr.write(d);
      });
      c.on('error', reject);
      c.on('exit', (code) => {
        const line = out.trim().split('\n').pop();
        if (code === 0 && line) resolve(JSON.parse(line));
        else reject(new Error(`start.sh exited ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`));
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  process.stdout.write(`rgw started in ${Math.round(performance.now() - t0)} ms at ${info.endpoint} (pids ${info.pids.join(',')})\n`);
  return {
    name: 'rgw',
    conn: { endpoint: info.endpoint, region: info.region, credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey } },
    shim: null,
    // memstore keeps everything in RAM and RGW only garbage-collects deleted tails after
    // rgw_gc_obj_min_wait (2 h): run the GC now so deleted jars really free the OSD's memory.
    reclaim: async () => {
      const r = spawnSync('radosgw-admin', ['-c', join(workdir, 'ceph.conf'), 'gc', 'process', '--include-all'], { timeout: 120_000, encoding: 'utf8' });
      if (r.status !== 0) process.stdout.write(`rgw gc process failed (status ${r.status}): ${(r.stderr ?? '').trim().slice(0, 300)}\n`);
    },
    // 1 GiB as on s3rver; 512 MiB only if memstore (2 GiB cap) runs out of space.
    rssSizes: [1024 * MiB, 512 * MiB],
    stop,
  };
}

// ---- helpers ----------------------------------------------------------------------------
async function drain(iterable) {
  let n = 0;
  for await (const c of iterable) n += c.byteLength;
  return n;
}

async function timed(fn) {
  const s = performance.now();
  await fn();
  return performance.now() - s;
}

/** Physically deletes every key under `prefix` matching `re` (one DeleteObject each). */
async function purge(raw, prefix, re = /./) {
  let token;
  let n = 0;
  do {
    const page = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (!re.test(o.Key)) continue;
      await raw.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: o.Key }));
      n++;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return n;
}

function rssChild(mode, conn, size) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--rss-child', mode, JSON.stringify(conn), String(size)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      process.stderr.write(d);
    });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()).peakRss) : reject(new Error(`rss child ${mode} exited ${code}: ${err.trim().split('\n').slice(0, 3).join(' | ').slice(0, 400)}`))));
  });
}

// ---- the benchmark, per target ------------------------------------------------------------
async function benchTarget(target) {
  const P = `${target.name}: `;
  const raw = clientFor(target.conn);
  const storage = await openStorage(s3Module, storageOptions(target.conn, 'bench/'));
  const app = await storage.createAppStorage('bench', 'bench', { owner: 'bench' });

  // ---- jars: 256 MiB, best of 3 alternating runs each (the machine is shared) ----
  // Each round's objects are deleted (data and digest objects included: jars.delete only drops
  // the name) before the next, so RGW's memstore holds at most one round.
  const SIZE = 256 * MiB;
  const put = { ours: Infinity, raw: Infinity };
  const get = { ours: Infinity, raw: Infinity };
  for (let i = 0; i < 3; i++) {
    put.raw = Math.min(put.raw, await timed(() => new Upload({ client: raw, params: { Bucket: BUCKET, Key: `raw/jar-${i}`, Body: Readable.from(chunks(SIZE, 10 + i)) }, partSize: PART, queueSize: QUEUE }).done()));
    put.ours = Math.min(put.ours, await timed(() => app.jars.put(`jar-${i}`, chunks(SIZE, 20 + i))));
    get.raw = Math.min(get.raw, await timed(async () => drain((await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: `raw/jar-${i}` }))).Body)));
    get.ours = Math.min(get.ours, await timed(async () => drain(await app.jars.get(`jar-${i}`))));
    await app.jars.delete(`jar-${i}`);
    await raw.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `raw/jar-${i}` }));
    await purge(raw, 'bench/', /\/jars\/(data|digests)\//);
    await target.reclaim();
  }
  const mbps = (ms) => SIZE / MiB / (ms / 1000);
  report({ name: `${P}s3 jar put 256 MiB`, value: mbps(put.ours), unit: 'MiB/s', baseline: 'lib-storage Upload (same part size)', baselineValue: mbps(put.raw), goal: '≥0.9× baseline' });
  report({ name: `${P}s3 jar get 256 MiB (verified)`, value: mbps(get.ours), unit: 'MiB/s', baseline: 'raw GetObject stream', baselineValue: mbps(get.raw), goal: '≥0.9× baseline' });

  // ---- requests per checkpoint commit ----
  // Counted client-side on every target (a storage built by createS3Storage on a counting
  // S3Client); on s3rver also at the shim, which is the reported value there (the client
  // count is in the notes as a cross-check).
  const { client: counted, counter } = countingClient(target.conn);
  const cpStorage = await createS3Storage({ client: counted, ...storageOptions(target.conn, 'cp/') });
  const cpApp = await cpStorage.createAppStorage('bench', 'bench', { owner: 'bench' });
  const cps = cpApp.checkpoints('bench', { numRetained: 2 });
  const w = await cps.writer(1);
  const perCommit = { client: {}, shim: {} };
  let t = 0;
  // numRetained 2: from the third commit on, retention's DeleteObjects is part of every commit.
  for (const n of [1, 1, 1, 10, 100]) {
    t++;
    const parts = [];
    for (let i = 0; i < n; i++) parts.push(await w.stage(t, `p${i}`, Buffer.from(`part ${i}`)));
    if (target.shim) await target.shim.reset();
    counter.total = 0;
    counter.byOp = {};
    await w.commit(t, parts);
    perCommit.client[n] = counter.total;
    if (target.shim) perCommit.shim[n] = (await target.shim.stats()).total;
    process.stdout.write(`${P}commit of ${n} part(s): client-side ${counter.total} ${JSON.stringify(counter.byOp)}` + (target.shim ? `, shim ${perCommit.shim[n]}` : '') + '\n');
  }
  await cpStorage.close();
  counted.destroy();
  const src = target.shim ? perCommit.shim : perCommit.client;
  for (const n of [10, 100]) {
    const notes = target.shim
      ? `counted at the shim; client-side count (every HTTP attempt): ${perCommit.client[n]} (1 part: ${perCommit.client[1]})` + (perCommit.client[n] === perCommit.shim[n] && perCommit.client[1] === perCommit.shim[1] ? ', agrees' : ', DISAGREES')
      : 'counted client-side (every HTTP attempt, SDK middleware at finalizeRequest/low); no shim on this target';
    report({ name: `${P}s3 requests per checkpoint commit (${n} parts)`, value: src[n], unit: 'requests', baseline: 'same, 1 part (with retention)', baselineValue: src[1], higherIsBetter: false, goal: '≤3 and flat in parts', notes });
  }

  // ---- appends/s: batched segments vs one PutObject per entry ----
  const ow = await app.offsets('bench').writer(1);
  let ot = 0;
  const value = Buffer.from('offset-value-0123456789');
  const rawPuts = await opsPerSec((n) => raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: `raw/offset-${n}`, Body: value })), { ms: 3000 });
  const batched = (await opsPerSec(() => ow.appendBatch(Array.from({ length: 100 }, () => ({ t: ++ot, value }))), { ms: 3000 })) * 100;
  const single = await opsPerSec(() => ow.append(++ot, value), { ms: 3000 });
  report({ name: `${P}s3 offset appends/s (batches of 100)`, value: batched, unit: 'entries/s', baseline: 'raw PutObject/s (one object per entry)', baselineValue: rawPuts });
  report({ name: `${P}s3 offset appends/s (unbatched, durable each)`, value: single, unit: 'entries/s', baseline: 'raw PutObject/s (one object per entry)', baselineValue: rawPuts, notes: 'epoch check GET + segment PUT per append' });
  await storage.close();

  // ---- peak RSS of a big jar put, child processes; objects deleted after each child ----
  let rss;
  const failures = [];
  for (const size of target.rssSizes) {
    try {
      const rawRss = await rssChild('raw', target.conn, size);
      await purge(raw, 'rss/');
      await target.reclaim();
      const ourRss = await rssChild('ours', target.conn, size);
      rss = { size, rawRss, ourRss };
      break;
    } catch (e) {
      failures.push(`${size / MiB} MiB failed: ${e.message}`);
      process.stdout.write(`${P}RSS run of ${size / MiB} MiB failed: ${e.message}\n`);
    } finally {
      await purge(raw, 'rss/').catch(() => {});
      await target.reclaim();
    }
  }
  raw.destroy();
  if (!rss) throw new Error(`${P}peak RSS figure not measured: ${failures.join('; ')}`);
  const label = rss.size >= 1024 * MiB ? `${rss.size / 1024 / MiB} GiB` : `${rss.size / MiB} MiB`;
  report({
    name: `${P}s3 peak RSS during ${label} jar put`, value: rss.ourRss / MiB, unit: 'MiB', baseline: `raw lib-storage Upload of ${label}`, baselineValue: rss.rawRss / MiB, higherIsBetter: false,
    goal: `bounded (≈ queueSize×partSize = ${(QUEUE * PART) / MiB} MiB + runtime)`,
    notes: failures.length ? `smaller than 1 GiB because memstore ran out: ${failures.join('; ')}` : null,
  });
}

// ---- main ---------------------------------------------------------------------------------
const wanted = (process.env.BENCH_S3_TARGETS ?? 's3rver,rgw').split(',').map((s) => s.trim());
const t0 = performance.now();
await attemptCounterSelfTest();

if (wanted.includes('s3rver')) {
  const target = await startS3rver();
  try {
    await benchTarget(target);
  } finally {
    await target.stop();
  }
  process.stdout.write(`s3rver target done after ${Math.round((performance.now() - t0) / 1000)} s\n`);
}

if (wanted.includes('rgw')) {
  const missing = cephMissing();
  if (missing.length) {
    process.stdout.write(`\n!!!!!!!! RGW benchmarks NOT RUN: missing ${missing.join(', ')} !!!!!!!!\n`);
    process.stderr.write(`RGW benchmarks NOT RUN: missing ${missing.join(', ')} (apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common)\n`);
  } else {
    let target;
    try {
      target = await startRgw();
    } catch (e) {
      process.stdout.write(`\n!!!!!!!! RGW benchmarks NOT RUN: Ceph RGW did not start: ${e.message} !!!!!!!!\n`);
      process.exitCode = 1;
    }
    if (target) {
      try {
        await benchTarget(target);
      } finally {
        await target.stop();
      }
    }
  }
  process.stdout.write(`rgw target done after ${Math.round((performance.now() - t0) / 1000)} s\n`);
}
process.stdout.write(`s3 bench total ${Math.round((performance.now() - t0) / 1000)} s\n`);
