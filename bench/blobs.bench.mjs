// Shared blobs: upload (create/update) and verified download of BENCH_BLOB_MIB (default
// 1024 = 1 GiB) through storage.blobs, each beside the raw copy on the same target in the
// same run (goal ≥ 0.9×):
//   fs: blobs.create / blobs.get  vs  fs.copyFile-equivalent stream (read a source stream,
//       write + fsync a file) and a plain file read stream
//   s3 (s3rver + conditional-write shim): vs lib-storage Upload / raw GetObject stream,
//       same part size and queue
// Best of 2 alternating runs each (the machine is shared). `node bench/run.mjs blobs`.
// Not measured here: time from `blobs update` to executors using the new version
// (executors do not map blobs yet: see the engine README, "Shared blobs").
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { openStorage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
import s3Module from '@sluice/storage-s3';
import { report } from './lib.mjs';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_BLOB_MIB ?? 1024) * MiB;
const PART = 8 * MiB;
const QUEUE = 4;
const BUCKET = 'sluice-blob-bench';
const launcher = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'test', 'servers', 's3', 'launcher.mjs');

function chunks(total, seed) {
  const block = Buffer.alloc(MiB, seed & 0xff);
  return (async function* () {
    for (let sent = 0; sent < total; sent += MiB) yield block.subarray(0, Math.min(MiB, total - sent));
  })();
}

async function drain(body) {
  let n = 0;
  for await (const c of body) n += c.length;
  return n;
}

async function timed(fn) {
  const s = performance.now();
  await fn();
  return performance.now() - s;
}

const mbps = (ms) => SIZE / MiB / (ms / 1000);
const label = `${Math.round(SIZE / MiB)} MiB`;

async function benchFs() {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-blob-bench-'));
  const storage = await openStorage(fsModule, { root: join(dir, 'store') });
  const blobs = storage.blobs;
  const put = { ours: Infinity, raw: Infinity, rawHashed: Infinity };
  const get = { ours: Infinity, raw: Infinity, rawHashed: Infinity };
  try {
    for (let i = 0; i < 2; i++) {
      const rawFile = join(dir, `raw-${i}`);
      put.raw = Math.min(put.raw, await timed(async () => {
        const fh = await open(rawFile, 'wx');
        for await (const c of chunks(SIZE, i)) await fh.write(c);
        await fh.sync();
        await fh.close();
      }));
      put.ours = Math.min(put.ours, await timed(() => blobs.create(`b${i}`, chunks(SIZE, 10 + i), { owner: 'bench' })));
      get.raw = Math.min(get.raw, await timed(() => drain(createReadStream(rawFile, { highWaterMark: MiB }))));
      // The same copy with the SHA-256 any verified copy must compute: what bounds ours.
      get.rawHashed = Math.min(get.rawHashed, await timed(async () => {
        const h = createHash('sha256');
        for await (const c of createReadStream(rawFile, { highWaterMark: MiB })) h.update(c);
        h.digest();
      }));
      await rm(rawFile, { force: true });
      put.rawHashed = Math.min(put.rawHashed, await timed(async () => {
        const h = createHash('sha256');
        const fh = await open(rawFile, 'wx');
        for await (const c of chunks(SIZE, i)) {
          h.update(c);
          await fh.write(c);
        }
        await fh.sync();
        await fh.close();
        h.digest();
      }));
      get.ours = Math.min(get.ours, await timed(async () => drain((await blobs.get(`b${i}`)).body)));
      await blobs.delete(`b${i}`);
      await rm(rawFile, { force: true });
    }
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
  report({ name: `fs blob create ${label}`, value: mbps(put.ours), unit: 'MiB/s', baseline: 'write + fsync one file (same chunks)', baselineValue: mbps(put.raw), goal: '≥0.9× baseline' });
  report({ name: `fs blob get ${label} (verified)`, value: mbps(get.ours), unit: 'MiB/s', baseline: 'plain file read stream', baselineValue: mbps(get.raw), goal: '≥0.9× baseline', notes: 'ours hashes every byte (SHA-256) on the way' });
  report({ name: `fs blob create ${label} vs hashed copy`, value: mbps(put.ours), unit: 'MiB/s', baseline: 'write + fsync + SHA-256 of the same chunks', baselineValue: mbps(put.rawHashed), goal: '≥0.9× baseline' });
  report({ name: `fs blob get ${label} vs hashed read`, value: mbps(get.ours), unit: 'MiB/s', baseline: 'file read stream + SHA-256', baselineValue: mbps(get.rawHashed), goal: '≥0.9× baseline' });
}

async function startS3rver() {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-blob-s3-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', launcher, '--dir', dir, '--shim'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) {
        clearTimeout(t);
        resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
      }
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${info.port}`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function benchS3() {
  const s3 = await startS3rver();
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...credentials }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const storage = await openStorage(s3Module, {
    bucket: BUCKET, prefix: 'bench', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...credentials },
    checksums: 'WHEN_REQUIRED', createBucket: true, partSize: PART, multipartThreshold: 16 * MiB, queueSize: QUEUE,
  });
  const blobs = storage.blobs;
  const put = { ours: Infinity, raw: Infinity };
  const get = { ours: Infinity, raw: Infinity };
  try {
    for (let i = 0; i < 2; i++) {
      const key = `raw/blob-${i}`;
      put.raw = Math.min(put.raw, await timed(() => new Upload({ client: raw, params: { Bucket: BUCKET, Key: key, Body: Readable.from(chunks(SIZE, i)) }, partSize: PART, queueSize: QUEUE }).done()));
      put.ours = Math.min(put.ours, await timed(() => blobs.create(`b${i}`, chunks(SIZE, 10 + i), { owner: 'bench' })));
      get.raw = Math.min(get.raw, await timed(async () => drain((await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body)));
      get.ours = Math.min(get.ours, await timed(async () => drain((await blobs.get(`b${i}`)).body)));
      await blobs.delete(`b${i}`);
      await raw.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    }
  } finally {
    await storage.close();
    raw.destroy();
    await s3.stop();
  }
  report({ name: `s3rver blob create ${label}`, value: mbps(put.ours), unit: 'MiB/s', baseline: 'lib-storage Upload (same part size)', baselineValue: mbps(put.raw), goal: '≥0.9× baseline' });
  report({ name: `s3rver blob get ${label} (verified)`, value: mbps(get.ours), unit: 'MiB/s', baseline: 'raw GetObject stream', baselineValue: mbps(get.raw), goal: '≥0.9× baseline' });
}

// BENCH_BLOB_TARGETS=fs,s3 (default both).
const targets = (process.env.BENCH_BLOB_TARGETS ?? 'fs,s3').split(',').map((t) => t.trim());
if (targets.includes('fs')) await benchFs();
if (targets.includes('s3')) await benchS3();
