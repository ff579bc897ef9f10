// connectors.redisStreamSource throughput beside a raw XREAD loop over the same entries, in the
// same run against the same redis-server (issue 22's budget: >= 0.7 of raw). The raw loop is what
// a hand-written consumer does: XREAD COUNT 1000 from the last id, touch each entry's field,
// remember the last id. The source does that plus its buffer, the per-fetch trim check (MULTI
// with XINFO STREAM and a peeked entry) and read() into the engine's batch shape.
//
// Run: node bench/redis.bench.mjs [--entries N] (writes bench/results/redis-latest.json).
// The bench cannot import the TypeScript test launcher, so it starts redis-server itself.
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { connectors } from '@sluice/engine';
import { report } from './lib.mjs';

const args = process.argv.slice(2);
const at = args.indexOf('--entries');
const ENTRIES = at >= 0 ? Number(args[at + 1]) : Number(process.env.SLUICE_BENCH_REDIS_ENTRIES ?? 200_000);
const ROUNDS = 5;
const COUNT = 1000;

function redisBinary() {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/sbin']) {
    try {
      accessSync(join(d, 'redis-server'), fsConstants.X_OK);
      return join(d, 'redis-server');
    } catch {
      /* not here */
    }
  }
  return undefined;
}

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.on('error', reject);
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

const pings = (port) => new Promise((resolve) => {
  const sock = connect({ host: '127.0.0.1', port });
  const done = (ok) => {
    sock.destroy();
    resolve(ok);
  };
  sock.setTimeout(1000, () => done(false));
  sock.once('error', () => done(false));
  sock.once('connect', () => sock.write('PING\r\n'));
  sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
});

async function startRedis() {
  const bin = redisBinary();
  if (!bin) throw new Error('redis-server missing (apt-get install -y --no-install-recommends redis-server)');
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-redis-'));
  const port = await freePort();
  // no persistence: the bench measures reads; an AOF rewrite would only add noise
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
  for (let i = 0; i < 300 && !(await pings(port)); i++) await new Promise((r) => setTimeout(r, 50));
  return {
    url: `redis://127.0.0.1:${port}`,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const ctx = {
  appId: 'bench', taskId: 'lines.0', processor: 'lines', index: 0, parallelism: 1, config: undefined,
  logger: { debug() {}, info() {}, warn() {}, error() {} },
  blobs: { path: () => { throw new Error('no blobs'); }, version: () => 0 },
  emit() {},
};

/** Runs fn; returns entries/s (wall) and this process's CPU µs per entry (user + system: steadier on a shared box). */
async function measure(n, fn) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { rate: (n * 1000) / wall, cpuUsPerEntry: (cpu.user + cpu.system) / n };
}

async function rawXread(c, stream, n) {
  let id = '0-0';
  let got = 0;
  let bytes = 0;
  while (got < n) {
    const r = await c.xRead({ key: stream, id }, { COUNT });
    if (!r) continue;
    for (const m of r[0].messages) bytes += m.message.line.length;
    got += r[0].messages.length;
    id = r[0].messages[r[0].messages.length - 1].id;
  }
  if (bytes === 0) throw new Error('raw read nothing');
}

async function viaSource(url, stream, n, field) {
  const src = connectors.redisStreamSource({ url, stream, count: COUNT, ...(field ? { field } : {}) })();
  await src.open(ctx, undefined);
  let got = 0;
  // as the engine's source loop: read(1000), then yield (setImmediate) or wait briefly when empty
  while (got < n) {
    const v = src.read(1000);
    if (v === null) throw new Error('source ended early');
    got += v.length;
    await new Promise((r) => (v.length ? setImmediate(r) : setTimeout(r, 1)));
  }
  await src.close();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const redis = await startRedis();
try {
  const c = createClient({ url: redis.url });
  c.on('error', () => {});
  await c.connect();
  const stream = 'bench-lines';
  const line = 'the quick brown fox jumps over the lazy dog again';
  for (let i = 0; i < ENTRIES; i += 1000) {
    const m = c.multi();
    for (let j = i; j < Math.min(ENTRIES, i + 1000); j++) m.xAdd(stream, '*', { line: `${j} ${line}` });
    await m.exec();
  }
  const raw = [];
  const field = [];
  const records = [];
  for (let r = 0; r < ROUNDS; r++) {
    raw.push(await measure(ENTRIES, () => rawXread(c, stream, ENTRIES)));
    field.push(await measure(ENTRIES, () => viaSource(redis.url, stream, ENTRIES, 'line')));
    records.push(await measure(ENTRIES, () => viaSource(redis.url, stream, ENTRIES, undefined)));
  }
  c.destroy();
  const rates = (xs) => median(xs.map((x) => x.rate));
  const cpus_ = (xs) => median(xs.map((x) => x.cpuUsPerEntry));
  const notes = `${ENTRIES} entries of ~60 B, COUNT ${COUNT}, median of ${ROUNDS} alternating rounds, ${cpus().length} cpus, load ${loadavg()[0].toFixed(1)}; raw rounds ${raw.map((x) => Math.round(x.rate)).join('/')}`;
  const base = 'raw node-redis XREAD COUNT 1000 loop';
  const lines = [
    report({ name: 'redisStreamSource read (field: line)', value: rates(field), unit: 'entries/s', baseline: base, baselineValue: rates(raw), goal: '>= 0.7x', notes }),
    report({ name: 'redisStreamSource read ({ stream, id, fields } records)', value: rates(records), unit: 'entries/s', baseline: base, baselineValue: rates(raw), goal: '>= 0.7x', notes }),
    report({ name: 'redisStreamSource CPU per entry (field: line)', value: cpus_(field), unit: 'µs/entry', baseline: base, baselineValue: cpus_(raw), higherIsBetter: false, notes: 'this process only (the source loop and its reader), informative' }),
    report({ name: 'redisStreamSource CPU per entry (records)', value: cpus_(records), unit: 'µs/entry', baseline: base, baselineValue: cpus_(raw), higherIsBetter: false, notes: 'this process only (the source loop and its reader), informative' }),
  ];
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'redis-latest.json');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, results: lines.map((l) => ({ file: 'redis.bench.mjs', ...l })) }, null, 2) + '\n');
} finally {
  await redis.close();
}
