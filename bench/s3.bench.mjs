// S3 backend vs the raw AWS SDK on the same s3rver (+ conditional-write shim, which also
// counts requests), same part size, same run. `node bench/run.mjs s3`.
//   jar put/get 256 MiB vs lib-storage Upload / GetObject stream  (goal ≥ 0.9×)
//   requests per checkpoint commit for 1/10/100 parts              (goal ≤ 3, flat)
//   offset appends/s batched vs raw PutObject/s
//   peak RSS of a 1 GiB jar put vs a raw Upload (child processes)
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { openStorage } from '@sluice/storage-api';
import s3Module from '@sluice/storage-s3';
import { report, opsPerSec } from './lib.mjs';

const MiB = 1024 * 1024;
const PART = 8 * MiB;
const QUEUE = 4;
const BUCKET = 'sluice-bench';
const here = fileURLToPath(new URL('.', import.meta.url));
const launcher = join(here, '..', 'test', 'servers', 's3', 'launcher.mjs');

function chunks(total, seed = 1) {
  const block = Buffer.alloc(MiB, seed & 0xff);
  return (async function* () {
    for (let sent = 0; sent < total; sent += MiB) yield block.subarray(0, Math.min(MiB, total - sent));
  })();
}

function clientFor(endpoint) {
  return new S3Client({
    endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function storageOptions(endpoint, prefix) {
  return {
    bucket: BUCKET, prefix, endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    checksums: 'WHEN_REQUIRED', createBucket: true, partSize: PART, multipartThreshold: 16 * MiB, queueSize: QUEUE,
  };
}

// ---- child mode: peak RSS of one 1 GiB put ------------------------------------------
if (process.argv[2] === '--rss-child') {
  const [, , , mode, endpoint] = process.argv;
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const size = 1024 * MiB;
  if (mode === 'ours') {
    const s = await openStorage(s3Module, storageOptions(endpoint, 'rss/'));
    const app = (await s.getAppStorage('bench')) ?? (await s.createAppStorage('bench', 'bench', { owner: 'bench' }));
    await app.jars.put('gib', chunks(size, 5));
    await app.jars.delete('gib');
    await s.close();
  } else {
    const c = clientFor(endpoint);
    await new Upload({ client: c, params: { Bucket: BUCKET, Key: 'rss/raw-gib', Body: Readable.from(chunks(size, 6)) }, partSize: PART, queueSize: QUEUE }).done();
    c.destroy();
  }
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  process.stdout.write(`${JSON.stringify({ peakRss: peak })}\n`);
  process.exit(0);
}

async function startServer() {
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
    endpoint,
    stats: async () => (await fetch(`${endpoint}/_shim/stats`)).json(),
    reset: async () => void (await fetch(`${endpoint}/_shim/reset`, { method: 'POST' })),
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(info.pid, 'SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

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

function rssChild(mode, endpoint) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--rss-child', mode, endpoint], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()).peakRss) : reject(new Error(`rss child ${mode} exited ${code}`))));
  });
}

const server = await startServer();
try {
  const raw = clientFor(server.endpoint);
  const storage = await openStorage(s3Module, storageOptions(server.endpoint, 'bench/'));
  const app = await storage.createAppStorage('bench', 'bench', { owner: 'bench' });

  // ---- jars: 256 MiB, best of 3 alternating runs each (the machine is shared) ----
  const SIZE = 256 * MiB;
  const put = { ours: Infinity, raw: Infinity };
  const get = { ours: Infinity, raw: Infinity };
  for (let i = 0; i < 3; i++) {
    put.raw = Math.min(put.raw, await timed(() => new Upload({ client: raw, params: { Bucket: BUCKET, Key: `raw/jar-${i}`, Body: Readable.from(chunks(SIZE, 10 + i)) }, partSize: PART, queueSize: QUEUE }).done()));
    put.ours = Math.min(put.ours, await timed(() => app.jars.put(`jar-${i}`, chunks(SIZE, 20 + i))));
    get.raw = Math.min(get.raw, await timed(async () => drain((await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: `raw/jar-${i}` }))).Body)));
    get.ours = Math.min(get.ours, await timed(async () => drain(await app.jars.get(`jar-${i}`))));
  }
  const mbps = (ms) => SIZE / MiB / (ms / 1000);
  report({ name: 's3 jar put 256 MiB', value: mbps(put.ours), unit: 'MiB/s', baseline: 'lib-storage Upload (same part size)', baselineValue: mbps(put.raw), goal: '≥0.9× baseline' });
  report({ name: 's3 jar get 256 MiB (verified)', value: mbps(get.ours), unit: 'MiB/s', baseline: 'raw GetObject stream', baselineValue: mbps(get.raw), goal: '≥0.9× baseline' });
  for (const i of [0, 1, 2]) await app.jars.delete(`jar-${i}`);

  // ---- requests per checkpoint commit, counted at the shim ----
  const cps = app.checkpoints('bench', { numRetained: 2 });
  const w = await cps.writer(1);
  const perCommit = {};
  let t = 0;
  // numRetained 2: from the third commit on, retention's DeleteObjects is part of every commit.
  for (const n of [1, 1, 1, 10, 100]) {
    t++;
    const parts = [];
    for (let i = 0; i < n; i++) parts.push(await w.stage(t, `p${i}`, Buffer.from(`part ${i}`)));
    await server.reset();
    await w.commit(t, parts);
    perCommit[n] = (await server.stats()).total;
  }
  for (const n of [10, 100]) {
    report({ name: `s3 requests per checkpoint commit (${n} parts)`, value: perCommit[n], unit: 'requests', baseline: 'same, 1 part (with retention)', baselineValue: perCommit[1], higherIsBetter: false, goal: '≤3 and flat in parts' });
  }

  // ---- appends/s: batched segments vs one PutObject per entry ----
  const ow = await app.offsets('bench').writer(1);
  let ot = 0;
  const value = Buffer.from('offset-value-0123456789');
  const rawPuts = await opsPerSec((n) => raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: `raw/offset-${n}`, Body: value })), { ms: 3000 });
  const batched = (await opsPerSec(() => ow.appendBatch(Array.from({ length: 100 }, () => ({ t: ++ot, value }))), { ms: 3000 })) * 100;
  const single = await opsPerSec(() => ow.append(++ot, value), { ms: 3000 });
  report({ name: 's3 offset appends/s (batches of 100)', value: batched, unit: 'entries/s', baseline: 'raw PutObject/s (one object per entry)', baselineValue: rawPuts });
  report({ name: 's3 offset appends/s (unbatched, durable each)', value: single, unit: 'entries/s', baseline: 'raw PutObject/s (one object per entry)', baselineValue: rawPuts, notes: 'epoch check GET + segment PUT per append' });
  await storage.close();
  raw.destroy();

  // ---- peak RSS, 1 GiB put, child processes ----
  const rawRss = await rssChild('raw', server.endpoint);
  const ourRss = await rssChild('ours', server.endpoint);
  report({ name: 's3 peak RSS during 1 GiB jar put', value: ourRss / MiB, unit: 'MiB', baseline: 'raw lib-storage Upload of 1 GiB', baselineValue: rawRss / MiB, higherIsBetter: false, goal: `bounded (≈ queueSize×partSize = ${(QUEUE * PART) / MiB} MiB + runtime)` });
} finally {
  await server.stop();
}
