// Storage proxy bench (issue 21): what an executor pays for reaching storage through its
// worker (runtime/storage-proxy-*.ts) beside opening the store itself, in the same run, on
// fs stores: offset appends, checkpoint part stages (64 KiB) and checkpoint commits.
// The worker side runs in a child process, as in a cluster; the two paths alternate in rounds
// so drift of the shared machine hits both. Figures: p50 and p99 per operation; goal: the
// proxy adds <= 10% at p50. Writes bench/results/storage-proxy-latest.json.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { openStorage } from '../packages/storage-api/dist/index.js';
import fsModule from '../packages/storage-fs/dist/index.js';
import { openProxyStorage, StorageProxySession } from '../packages/engine/dist/index.js';
import { report } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = 6;
const PER_ROUND = 150;
const PART = new Uint8Array(64 * 1024).fill(7);
const OFFSET = new Uint8Array(32).fill(3);

if (process.argv[2] === 'worker') {
  // The worker's side: the guarded fs store behind a proxy session per connection.
  const [, , , root, sock] = process.argv;
  const storage = await openStorage(fsModule, { root });
  const logger = pino({ level: 'silent' });
  const server = createServer((s) => new StorageProxySession(s, { storage, logger }).bind({ kind: 'all' }));
  server.listen(sock, () => process.send?.('ready'));
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function timed(samples, fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  samples.push(Number(process.hrtime.bigint() - t0) / 1000);
}

/** One path's state: an app, an offsets writer, a checkpoints writer and its stager. */
async function setup(storage, appId) {
  const app = await storage.createAppStorage('bench', appId, { owner: 'bench' });
  const offsets = await app.offsets('src').writer(1);
  const cps = app.checkpoints('state');
  const writer = await cps.writer(1);
  return { app, offsets, writer, stager: cps.stager(1), t: 0, samples: { append: [], stage: [], commit: [] } };
}

async function round(p) {
  for (let i = 0; i < PER_ROUND; i++) {
    const t = ++p.t;
    await timed(p.samples.append, () => p.offsets.append(t, OFFSET));
    let part;
    await timed(p.samples.stage, async () => {
      part = await p.stager.stage(t, 'task-0', PART);
    });
    await timed(p.samples.commit, () => p.writer.commit(t, [part]));
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-proxy-'));
  // One store per path: two processes writing one fs store contend for its locks, which is not the proxy's cost.
  const root = join(dir, 'store-direct');
  const proxiedRoot = join(dir, 'store-proxied');
  const localRoot = join(dir, 'store-local');
  for (const r of [root, proxiedRoot, localRoot]) mkdirSync(r);
  const sock = join(dir, 'proxy.sock');
  const worker = spawn(process.execPath, [fileURLToPath(import.meta.url), 'worker', proxiedRoot, sock], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('exit', (c) => reject(new Error(`worker side exited ${c}`)));
    });
    const direct = await openStorage(fsModule, { root });
    const { storage: proxied } = await openProxyStorage(createConnection(sock));
    // The same protocol with the worker side in this process: the proxy's own cost without
    // the hop between processes (which, on a loaded machine, is mostly scheduler latency).
    const localStore = await openStorage(fsModule, { root: localRoot });
    const localSock = join(dir, 'local.sock');
    const localServer = createServer((s) => new StorageProxySession(s, { storage: localStore, logger: pino({ level: 'silent' }) }).bind({ kind: 'all' }));
    await new Promise((r) => localServer.listen(localSock, r));
    const { storage: local } = await openProxyStorage(createConnection(localSock));
    const d = await setup(direct, 'direct');
    const x = await setup(proxied, 'proxied');
    const l = await setup(local, 'local');
    const paths = [d, x, l];
    // Warm-up round each (JIT, file handles), not counted.
    for (const p of paths) await round(p);
    for (const p of paths) for (const k of Object.keys(p.samples)) p.samples[k] = [];
    for (let r = 0; r < ROUNDS; r++) for (let i = 0; i < paths.length; i++) await round(paths[(r + i) % paths.length]);
    const lines = [];
    const labels = { append: 'offset append (32 B, durable)', stage: 'checkpoint stage (64 KiB part)', commit: 'checkpoint commit (1 part, retention 3)' };
    const notes = `${ROUNDS} rounds x ${PER_ROUND} per path, rotating; fs stores; load average ${(await import('node:os')).loadavg()[0].toFixed(1)} on ${(await import('node:os')).cpus().length} cores at the end`;
    for (const k of ['append', 'stage', 'commit']) {
      for (const p of [50, 99]) {
        for (const [via, path] of [['worker in a child process', x], ['worker side in this process', l]]) {
          lines.push(
            report({
              name: `${labels[k]} through the storage proxy, ${via} (p${p})`,
              value: pct(path.samples[k], p),
              unit: 'µs',
              baseline: 'same operation on the store opened directly',
              baselineValue: pct(d.samples[k], p),
              higherIsBetter: false,
              goal: p === 50 ? 'ratio >= 0.91 (the proxy adds <= 10% at p50)' : null,
              notes,
            }),
          );
        }
      }
    }
    await local.close();
    await new Promise((r) => localServer.close(r));
    await localStore.close();
    await proxied.close();
    await direct.close();
    mkdirSync(join(here, 'results'), { recursive: true });
    const out = { date: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length, results: lines.map((l) => ({ file: 'storage-proxy.bench.mjs', ...l })), failures: [] };
    writeFileSync(join(here, 'results', 'storage-proxy-latest.json'), JSON.stringify(out, null, 2) + '\n');
  } finally {
    worker.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
