// Soak: an app that runs for months, compressed. Per target (fs; S3 on Ceph RGW, or on
// s3rver when Ceph is missing, said loudly; HDFS on the WebHDFS test server):
//   SOAK_CHECKPOINTS (default 10 000) checkpoints back to back, each with an offset append,
//   a log record every 10 commits, and the master's retention (runGc) every 500 commits.
// Figures, each beside a baseline from the same run:
//   commit latency and requests per commit over the last 500 commits ÷ the first 500 (goal ≤ 1.2);
//   store size at the end ÷ store size once retention first applied (levels off: goal ≤ 1.2);
//   listApps latency with 1 000 apps beside listApps with 1 app.
// `node bench/run.mjs soak`; SOAK_TARGETS=fs,s3,hdfs picks targets.
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { guardStorage, openStorage, runGc, unwrapStorage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
import { createS3Storage } from '@sluice/storage-s3';
import hdfsModule from '@sluice/storage-hdfs';
import { report } from './lib.mjs';

const N = Number(process.env.SOAK_CHECKPOINTS ?? 10_000);
const WINDOW = Math.min(500, Math.floor(N / 4));
const GC_EVERY = 500;
const APPS = Number(process.env.SOAK_APPS ?? 1000);
const TARGETS = (process.env.SOAK_TARGETS ?? 'fs,s3,hdfs').split(',');
const here = fileURLToPath(new URL('.', import.meta.url));
const noop = () => {};
const logger = { debug: noop, info: noop, warn: noop, error: noop };
const state = Buffer.alloc(4096, 7);

// ---- targets: { name, storage, requests(): number | undefined, size(): Promise<number>, stop() }

async function fsTarget() {
  const root = await mkdtemp(join(tmpdir(), 'sluice-soak-fs-'));
  const storage = await openStorage(fsModule, { root });
  const du = async (dir) => {
    let n = 0;
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      n += e.isDirectory() ? await du(p) : (await stat(p)).size;
    }
    return n;
  };
  return { name: 'fs', storage, requests: () => undefined, size: () => du(root), stop: async () => (await storage.close(), await rm(root, { recursive: true, force: true })) };
}

function line(child) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('server did not start in 60 s')), 60_000);
    child.stdout.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(t);
        resolve(JSON.parse(buf.slice(0, i)));
      }
    });
    child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
}

function cephMissing() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/sbin'];
  const need = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph'];
  const missing = need.filter((b) => !dirs.some((d) => { try { accessSync(join(d, b), fsConstants.X_OK); return true; } catch { return false; } }));
  if (typeof process.getuid === 'function' && process.getuid() !== 0) missing.push('root');
  return missing;
}

async function startRgw() {
  const rgwDir = join(here, '..', 'test', 'servers', 'ceph-rgw');
  const workdir = await mkdtemp(join(tmpdir(), 'sluice-soak-rgw-'));
  const run = (script) => new Promise((resolve, reject) => {
    const c = spawn('bash', [join(rgwDir, script), workdir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').pop()) : reject(new Error(`${script} exited ${code}`))));
  });
  const info = JSON.parse(await run('start.sh'));
  return {
    conn: { endpoint: info.endpoint, region: info.region, credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey } },
    label: 'rgw',
    stop: async () => void (await run('stop.sh').catch(() => undefined)),
  };
}

async function startS3rver() {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-soak-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', join(here, '..', 'test', 'servers', 's3', 'launcher.mjs'), '--dir', dir, '--shim'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await line(child);
  return {
    conn: { endpoint: `http://127.0.0.1:${info.port}`, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } },
    label: 's3rver',
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(info.pid, 'SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function s3Target() {
  const missing = cephMissing();
  if (missing.length) process.stdout.write(`Ceph RGW NOT RUN for the soak: missing ${missing.join(', ')}; S3 figures are on s3rver\n`);
  const server = missing.length ? await startS3rver() : await startRgw();
  const mk = () => new S3Client({ endpoint: server.conn.endpoint, region: server.conn.region, forcePathStyle: true, credentials: { ...server.conn.credentials }, maxAttempts: 1, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const client = mk();
  let requests = 0;
  client.middlewareStack.add((next) => async (args) => (requests++, next(args)), { step: 'finalizeRequest', priority: 'low', name: 'soakCounter' });
  const options = { bucket: 'sluice-soak', prefix: 'soak/', endpoint: server.conn.endpoint, region: server.conn.region, forcePathStyle: true, credentials: { ...server.conn.credentials }, checksums: 'WHEN_REQUIRED', createBucket: true };
  const storage = guardStorage(await createS3Storage({ ...options, client }, { logger }));
  const lister = mk();
  const size = async () => {
    let n = 0;
    let token;
    for (let page = 0; page < 100_000; page++) {
      const r = await lister.send(new ListObjectsV2Command({ Bucket: 'sluice-soak', Prefix: 'soak/', ContinuationToken: token }));
      for (const o of r.Contents ?? []) n += o.Size ?? 0;
      if (!r.IsTruncated) break;
      token = r.NextContinuationToken;
    }
    return n;
  };
  return { name: `s3 (${server.label})`, storage, requests: () => requests, size, stop: async () => (await storage.close(), lister.destroy(), await server.stop()) };
}

async function hdfsTarget() {
  const child = spawn(process.execPath, [join(here, '..', 'test', 'webhdfs-server', 'dist', 'main.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const urls = await line(child);
  const storage = await openStorage(hdfsModule, { url: urls.namenode, root: '/soak', timeoutMs: 30_000 }, { logger });
  const raw = unwrapStorage(storage);
  const size = async () => {
    let n = 0;
    const walk = async (p) => {
      for (const s of (await raw.client.list(p)) ?? []) {
        if (s.type === 'DIRECTORY') await walk(`${p}/${s.pathSuffix}`);
        else n += s.length;
      }
    };
    await walk('/soak');
    return n;
  };
  return {
    name: 'hdfs (WebHDFS test server)', storage, requests: () => raw.client.requests, size,
    stop: async () => {
      await storage.close();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// ---- the soak -----------------------------------------------------------------------------

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;

async function soak(target) {
  const { storage, name } = target;
  const app = await storage.createAppStorage('soak', 'soak-app', { owner: 'bench' });
  const ow = await app.offsets('src').writer(1);
  const cps = app.checkpoints('state', { numRetained: 5 });
  const cw = await cps.writer(1);
  const lat = [];
  const req = [];
  const sizes = [];
  // Offsets: an append and a lookUp per checkpoint, their latency and requests.
  const offLat = [];
  const offReq = [];
  const lookLat = [];
  const policy = { logs: { maxAgeMs: 60_000 } };
  const started = performance.now();
  for (let i = 1; i <= N; i++) {
    const t = i * 10;
    const o0 = target.requests();
    const os = performance.now();
    await ow.append(t, Buffer.from(`offset-${i}`));
    offLat.push(performance.now() - os);
    if (o0 !== undefined) offReq.push(target.requests() - o0);
    const ls = performance.now();
    await app.offsets('src').lookUp(t - 5);
    lookLat.push(performance.now() - ls);
    if (i % 10 === 0) await app.logs.append([{ ts: Date.now(), level: 'info', msg: `commit ${i}`, labels: { task: '0' } }]);
    const r0 = target.requests();
    const s = performance.now();
    await cw.commit(t, [await cw.stage(t, 'task-0', state)]);
    lat.push(performance.now() - s);
    if (r0 !== undefined) req.push(target.requests() - r0);
    if (i % GC_EVERY === 0) {
      // The master's retention daemon, compressed: offsets before the oldest kept checkpoint, old logs.
      await runGc(storage, policy, { appIds: [app.appId], now: Date.now() + 3_600_000 });
      sizes.push({ i, bytes: await target.size() });
    }
  }
  const secs = (performance.now() - started) / 1000;
  process.stdout.write(`${name}: ${N} checkpoints in ${secs.toFixed(0)} s; store size by commit: ${sizes.map((x) => `${x.i}:${(x.bytes / 1024).toFixed(0)}KiB`).join(' ')}\n`);
  const first = lat.slice(0, WINDOW);
  const last = lat.slice(-WINDOW);
  report({ name: `${name}: checkpoint commit latency, last ${WINDOW} of ${N}`, value: median(last), unit: 'ms', baseline: `the first ${WINDOW} commits (same run)`, baselineValue: median(first), higherIsBetter: false, goal: 'end/start ≤ 1.2 (ratio ≥ 0.83)', notes: `stage+commit incl. retention; mean ${mean(last).toFixed(2)} vs ${mean(first).toFixed(2)} ms` });
  if (req.length) {
    report({ name: `${name}: requests per checkpoint (stage+commit), last ${WINDOW} of ${N}`, value: mean(req.slice(-WINDOW)), unit: 'requests', baseline: `the first ${WINDOW} commits (same run)`, baselineValue: mean(req.slice(0, WINDOW)), higherIsBetter: false, goal: 'end/start ≤ 1.2 (ratio ≥ 0.83)' });
  }
  report({ name: `${name}: offset append latency, last ${WINDOW} of ${N}`, value: median(offLat.slice(-WINDOW)), unit: 'ms', baseline: `the first ${WINDOW} appends (same run)`, baselineValue: median(offLat.slice(0, WINDOW)), higherIsBetter: false, goal: 'end/start ≤ 1.2 (ratio ≥ 0.83)', notes: `mean ${mean(offLat.slice(-WINDOW)).toFixed(2)} vs ${mean(offLat.slice(0, WINDOW)).toFixed(2)} ms; segments compacted, offsets truncated by retention` });
  if (offReq.length) {
    report({ name: `${name}: requests per offset append (compaction included), last ${WINDOW} of ${N}`, value: mean(offReq.slice(-WINDOW)), unit: 'requests', baseline: `the first ${WINDOW} appends (same run)`, baselineValue: mean(offReq.slice(0, WINDOW)), higherIsBetter: false, goal: 'end/start ≤ 1.2 (ratio ≥ 0.83)' });
  }
  report({ name: `${name}: offset lookUp latency, last ${WINDOW} of ${N}`, value: median(lookLat.slice(-WINDOW)), unit: 'ms', baseline: `the first ${WINDOW} lookUps (same run)`, baselineValue: median(lookLat.slice(0, WINDOW)), higherIsBetter: false, goal: 'end/start ≤ 1.2 (ratio ≥ 0.83)' });
  const settled = sizes[Math.min(1, sizes.length - 1)];
  report({ name: `${name}: store size after ${N} checkpoints`, value: sizes[sizes.length - 1].bytes / 1024, unit: 'KiB', baseline: `store size at commit ${settled.i} (retention applied)`, baselineValue: settled.bytes / 1024, higherIsBetter: false, goal: 'levels off: end/settled ≤ 1.2 (ratio ≥ 0.83)' });
}

async function listAppsAt(target) {
  const { storage, name } = target;
  const time = async () => {
    const t = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      await storage.listApps();
      t.push(performance.now() - s);
    }
    return median(t);
  };
  const one = await time(); // the soak app only
  for (let i = 0; i < APPS - 1; i += 16) {
    await Promise.all(Array.from({ length: Math.min(16, APPS - 1 - i) }, (_, k) => storage.createAppStorage('many', `app-${String(i + k).padStart(5, '0')}`, { owner: 'bench' })));
  }
  const many = await time();
  report({ name: `${name}: listApps with ${APPS} apps (what \`sluice apps\` reads)`, value: many, unit: 'ms', baseline: 'listApps with 1 app (same run)', baselineValue: one, higherIsBetter: false, notes: `${(many / APPS).toFixed(3)} ms per app` });
}

for (const which of TARGETS) {
  const make = { fs: fsTarget, s3: s3Target, hdfs: hdfsTarget }[which];
  if (!make) throw new Error(`unknown soak target ${which}`);
  const target = await make();
  try {
    await soak(target);
    await listAppsAt(target);
  } finally {
    await target.stop();
  }
}
