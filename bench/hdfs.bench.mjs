// @sluice/storage-hdfs against the WebHDFS test server (run in its own process so it does
// not share the bench's CPU). Every figure has its raw baseline measured in this run:
//  - jar put/get of 256 MiB vs a raw two-step WebHDFS CREATE/OPEN of the same bytes;
//  - requests per checkpoint commit vs the minimum (CREATE 2 + RENAME 1);
//  - floor/lookUp requests with 1000 segments (goal ≤ 3), and floor latency vs a raw
//    LISTSTATUS + two-step OPEN (the least any index-by-listing design can do).
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { openStorage } from '@sluice/storage-api';
import hdfsModule from '@sluice/storage-hdfs';
import { report, medianMs } from './lib.mjs';

const MiB = 1024 * 1024;
const SIZE_MIB = 256;
const noop = () => {};
const logger = { debug: noop, info: noop, warn: noop, error: noop };

const main = fileURLToPath(new URL('../test/webhdfs-server/dist/main.js', import.meta.url));
const child = spawn(process.execPath, [main], { stdio: ['ignore', 'pipe', 'inherit'] });
const urls = await new Promise((resolve, reject) => {
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    const i = buf.indexOf('\n');
    if (i >= 0) resolve(JSON.parse(buf.slice(0, i)));
  });
  child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
});
const nn = urls.namenode;

async function* source() {
  const chunk = Buffer.alloc(MiB, 0x5a);
  for (let i = 0; i < SIZE_MIB; i++) yield chunk;
}

// ---- raw two-step WebHDFS (the baseline), with the same HTTP libraries as the backend:
// undici for the NameNode and downloads, node:http for the upload (the DataNode sends an
// unsolicited 100 Continue that undici rejects).
async function rawLocation(method, path, op) {
  const r = await request(`${nn}/webhdfs/v1${path}?op=${op}&user.name=bench&noredirect=true&overwrite=true`, { method });
  return (await r.body.json()).Location;
}
async function* hashing(src) {
  const h = createHash('sha256');
  for await (const c of src) {
    h.update(c);
    yield c;
  }
  h.digest('hex');
}
async function rawPut(path, hash = false) {
  const loc = await rawLocation('PUT', path, 'CREATE');
  await new Promise((resolve, reject) => {
    const req = http.request(loc, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`raw PUT ${res.statusCode}`))));
    });
    req.on('error', reject);
    (async () => {
      for await (const c of hash ? hashing(source()) : source()) if (!req.write(c)) await new Promise((r) => req.once('drain', r));
      req.end();
    })().catch(reject);
  });
}
async function rawGet(path, hash = false) {
  const loc = await rawLocation('GET', path, 'OPEN');
  const r = await request(loc);
  let n = 0;
  for await (const c of hash ? hashing(r.body) : r.body) n += c.byteLength;
  if (n !== SIZE_MIB * MiB) throw new Error(`raw GET read ${n}`);
}

const raw = await hdfsModule.create(hdfsModule.optionsSchema.safeParse({ url: nn, root: '/bench' }).data, { logger, now: Date.now });
const storage = await openStorage(hdfsModule, { url: nn, root: '/bench' }, { logger });
try {
  const app = await storage.createAppStorage('bench', 'bench1', { owner: 'bench' });

  // ---- jar throughput, alternating ours / raw, median of 5 (the machine is shared: medians, not means)
  const ours = { put: [], get: [] };
  const base = { put: [], get: [], putHash: [], getHash: [] };
  const oursRound = async (i) => {
    let s = performance.now();
    await app.jars.put(`big${i}.bin`, source());
    ours.put.push(performance.now() - s);
    s = performance.now();
    let n = 0;
    for await (const c of await app.jars.get(`big${i}.bin`)) n += c.byteLength;
    if (n !== SIZE_MIB * MiB) throw new Error('short read');
    ours.get.push(performance.now() - s);
    await app.jars.delete(`big${i}.bin`);
  };
  const rawRound = async (i) => {
    let s = performance.now();
    await rawPut(`/bench-raw/big${i}.bin`);
    base.put.push(performance.now() - s);
    s = performance.now();
    await rawGet(`/bench-raw/big${i}.bin`);
    base.get.push(performance.now() - s);
    // The same with the SHA-256 the contract requires (hash on put, verify on get).
    s = performance.now();
    await rawPut(`/bench-raw/big${i}.bin`, true);
    base.putHash.push(performance.now() - s);
    s = performance.now();
    await rawGet(`/bench-raw/big${i}.bin`, true);
    base.getHash.push(performance.now() - s);
  };
  // Alternate which goes first so page-cache writeback does not favour one side.
  for (let i = 0; i < 5; i++) {
    if (i % 2 === 0) (await oursRound(i), await rawRound(i));
    else (await rawRound(i), await oursRound(i));
  }
  const med = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const mibs = (ms) => (SIZE_MIB * 1000) / ms;
  report({ name: 'hdfs jar put 256 MiB (stream, SHA-256, temp+rename)', value: mibs(med(ours.put)), unit: 'MiB/s', baseline: 'raw two-step CREATE', baselineValue: mibs(med(base.put)), goal: 'ratio ≥ 0.7' });
  report({ name: 'hdfs jar get 256 MiB (stream, SHA-256 verify)', value: mibs(med(ours.get)), unit: 'MiB/s', baseline: 'raw two-step OPEN', baselineValue: mibs(med(base.get)), goal: 'ratio ≥ 0.7' });
  report({ name: 'hdfs jar put 256 MiB vs raw + SHA-256', value: mibs(med(ours.put)), unit: 'MiB/s', baseline: 'raw two-step CREATE + SHA-256', baselineValue: mibs(med(base.putHash)), goal: 'ratio ≥ 0.9' });
  report({ name: 'hdfs jar get 256 MiB vs raw + SHA-256', value: mibs(med(ours.get)), unit: 'MiB/s', baseline: 'raw two-step OPEN + SHA-256', baselineValue: mibs(med(base.getHash)), goal: 'ratio ≥ 0.9' });

  // ---- requests per checkpoint commit (stage + commit), on the raw backend's counter
  const rapp = await raw.getAppStorage('bench1');
  const cw = await rapp.checkpoints('cp', { numRetained: 3 }).writer(1);
  for (let t = 1; t <= 5; t++) await cw.append(t, Buffer.from('warm'));
  const commits = 20;
  let stageReq = 0;
  let commitReq = 0;
  for (let t = 100; t < 100 + commits; t++) {
    let before = raw.client.requests;
    const part = await cw.stage(t, 'state', Buffer.from(`state-${t}`));
    stageReq += raw.client.requests - before;
    before = raw.client.requests;
    await cw.commit(t, [part]);
    commitReq += raw.client.requests - before;
  }
  report({ name: 'hdfs requests per checkpoint commit (incl. retention)', value: commitReq / commits, unit: 'requests', baseline: 'bare CREATE(2)+RENAME(1)', baselineValue: 3, higherIsBetter: false, goal: '≤ 6' });
  report({ name: 'hdfs requests per checkpoint stage', value: stageReq / commits, unit: 'requests', baseline: 'bare CREATE(2)+RENAME(1)', baselineValue: 3, higherIsBetter: false, goal: '≤ 4' });

  // ---- floor/lookUp over 1000 segments
  const ow = await rapp.offsets('src').writer(1);
  for (let i = 1; i <= 1000; i++) await ow.append(i * 10, Buffer.from(`o${i}`));
  const fresh = async () => (await (await hdfsModule.create(hdfsModule.optionsSchema.safeParse({ url: nn, root: '/bench' }).data, { logger, now: Date.now })));
  const counts = {};
  for (const op of ['floor', 'lookUp']) {
    const r2 = await fresh();
    const st = (await r2.getAppStorage('bench1')).offsets('src');
    const before = r2.client.requests;
    await st[op](5005);
    counts[op] = r2.client.requests - before;
    await r2.close();
  }
  report({ name: 'hdfs floor requests (1000 segments, cold)', value: counts.floor, unit: 'requests', baseline: 'LISTSTATUS + two-step OPEN', baselineValue: 3, higherIsBetter: false, goal: '≤ 3' });
  report({ name: 'hdfs lookUp requests (1000 segments, cold)', value: counts.lookUp, unit: 'requests', baseline: 'LISTSTATUS + two-step OPEN', baselineValue: 3, higherIsBetter: false, goal: '≤ 3' });

  const r3 = await fresh();
  const st3 = (await r3.getAppStorage('bench1')).offsets('src');
  let k = 0;
  const oursFloor = await medianMs(async () => {
    await st3.floor(10 * (1 + ((k++ * 7919) % 1000)) + 3); // mostly cache misses
  }, 31);
  await r3.close();
  const rawFloor = await medianMs(async () => {
    const l = await request(`${nn}/webhdfs/v1/bench/apps/bench1/offsets/src?op=LISTSTATUS&user.name=bench`);
    const names = (await l.body.json()).FileStatuses.FileStatus.filter((s) => s.pathSuffix.startsWith('s.'));
    const loc = await rawLocation('GET', `/bench/apps/bench1/offsets/src/${names[500].pathSuffix}`, 'OPEN');
    await (await request(loc)).body.arrayBuffer();
  }, 31);
  report({ name: 'hdfs offsets floor latency (1000 segments)', value: oursFloor, unit: 'ms', baseline: 'raw LISTSTATUS + OPEN', baselineValue: rawFloor, higherIsBetter: false, goal: 'ratio ≥ 0.7' });
} finally {
  await storage.close();
  await raw.close();
  child.kill('SIGTERM');
}
