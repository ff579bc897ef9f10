// Nexmark on a local cluster: each query Sluice can express (bench/nexmark-queries.mjs) runs
// on `sluice local` (master + 2 workers in one process, executors as its child processes),
// exactly-once with checkpoints on (1 s), its committed output checked against the plain-JS
// reference, and its CPU seconds (all Sluice processes: the local cluster and every executor
// it reaped) turned into events/s per core, beside Flink's published figure (GUIDE_V1).
//   node bench/run.mjs nexmark --events 200000 [--queries q0,q1] [--parallelism 2] [--results nexmark-latest.json]
// Writes bench/results/nexmark-latest.json. The full run uses --events 10000000 (default).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { nexmark, formatRecord } from '../packages/engine/dist/index.js';
import { report } from './lib.mjs';
import { QUERY_NAMES } from './nexmark-queries.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '../packages/engine/dist/cli/main.js');
const APP = join(here, 'nexmark-queries.mjs');
const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : process.env[`NEXMARK_${name.toUpperCase()}`] ?? d;
};
const EVENTS = Number(arg('events', 10_000_000));
const PARALLELISM = Number(arg('parallelism', 2));
const QUERIES = String(arg('queries', QUERY_NAMES.join(','))).split(',').filter((q) => QUERY_NAMES.includes(q));
/** Above this the whole stream no longer fits in memory: stateless queries are then checked by a streamed digest. */
const IN_MEMORY_REFERENCE_MAX = 500_000;
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** utime+stime of pid and of its reaped children (executors), in seconds: /proc/<pid>/stat fields 14-17. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICK;
}
function childrenOf(pid) {
  let kids = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      kids = kids.concat(readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(' ').filter(Boolean));
    } catch {
      // thread gone
    }
  }
  return kids;
}

/** Order-free digest of a multiset of lines: the sum of 48-bit prefixes of their SHA-1, and the count. */
class Digest {
  sum = 0n;
  count = 0;
  add(line) {
    this.sum = (this.sum + BigInt(`0x${createHash('sha1').update(line).digest('hex').slice(0, 12)}`)) & 0xffffffffffffn;
    this.count++;
  }
  get value() {
    return `${this.count}:${this.sum.toString(16)}`;
  }
}

function partFiles(out) {
  return existsSync(out) ? readdirSync(out).filter((n) => n.startsWith('part-') && n.endsWith('.txt')).sort().map((n) => join(out, n)) : [];
}
async function* committedLines(out) {
  for (const f of partFiles(out)) for await (const l of createInterface({ input: createReadStream(f), crlfDelay: Infinity })) if (l) yield l;
}

/** Checks a query's committed output; returns { checked, equal, why, refMs, outputLines }. */
async function check(query, out, events) {
  const t0 = performance.now();
  if (events <= IN_MEMORY_REFERENCE_MAX) {
    const ref = nexmark.referenceLines(query, eventsCache ??= [...nexmark.nexmarkEvents({ events })]);
    const refMs = performance.now() - t0;
    const lines = [];
    for await (const l of committedLines(out)) lines.push(l);
    const why = nexmark.diffOutput(ref.kind, lines, ref.lines);
    return { checked: 'full reference', equal: why === undefined, why: why ?? null, refMs, outputLines: lines.length };
  }
  const streamed = nexmark.STREAMED_REFERENCES[query];
  if (streamed) {
    // The join queries: two passes over the generator, no stream in memory.
    const ref = streamed.ref(() => nexmark.nexmarkEvents({ events }));
    if (streamed.kind === 'upsert') {
      const lines = [...ref].map(formatRecord);
      const refMs = performance.now() - t0;
      const got = [];
      for await (const l of committedLines(out)) got.push(l);
      const why = nexmark.diffOutput('upsert', got, lines);
      return { checked: 'streamed reference (two passes), last value per key', equal: why === undefined, why: why ?? null, refMs, outputLines: got.length };
    }
    const want = new Digest();
    for (const r of ref) want.add(formatRecord(r));
    const refMs = performance.now() - t0;
    const got = new Digest();
    for await (const l of committedLines(out)) got.add(l);
    return { checked: 'streamed reference (two passes), multiset digest', equal: got.value === want.value, why: got.value === want.value ? null : `digest ${got.value}, expected ${want.value}`, refMs, outputLines: got.count };
  }
  const row = nexmark.ROW_REFERENCES[query];
  if (!row) return { checked: `not checked: the reference of ${query} holds the whole stream in memory (above ${IN_MEMORY_REFERENCE_MAX} events)`, equal: null, why: null, refMs: null, outputLines: null };
  const want = new Digest();
  for (const e of nexmark.nexmarkEvents({ events })) {
    if (e.type !== 'bid') continue;
    const r = row(e);
    if (r !== undefined) want.add(formatRecord(r));
  }
  const refMs = performance.now() - t0;
  const got = new Digest();
  for await (const l of committedLines(out)) got.add(l);
  return { checked: 'streamed multiset digest', equal: got.value === want.value, why: got.value === want.value ? null : `digest ${got.value}, expected ${want.value}`, refMs, outputLines: got.count };
}
let eventsCache;

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-nexmark-'));
writeFileSync(join(dir, 'cluster.yaml'), "storage:\n  default:\n    module: '@sluice/storage-fs'\n    options:\n      root: ./store\nmaster:\n  host: 127.0.0.1\n  port: 0\n  seedFile: ./master/seed.json\nworker:\n  cacheDir: ./workers\n  heartbeatMs: 200\n  slots: 8\n");
const local = spawn(process.execPath, [CLI, 'local', '-c', 'cluster.yaml', '--workers', '2'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' } });
let localOut = '';
let localErr = '';
local.stdout.on('data', (d) => (localOut += d));
local.stderr.on('data', (d) => (localErr = (localErr + d).slice(-8000)));
const results = [];
let failed = false;
try {
  let addr;
  for (let i = 0; i < 600 && !addr; i++) {
    addr = /master on (\S+),/.exec(localOut)?.[1];
    if (local.exitCode !== null) throw new Error(`sluice local exited: ${localErr}`);
    if (!addr) await sleep(100);
  }
  if (!addr) throw new Error('sluice local did not start within 60 s');
  const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  const api = async (path) => (await fetch(`http://${addr}${path}`, { headers: { authorization: `Bearer ${token}` } })).json();

  // Raw baseline in the same run: the generator alone, one core, no engine.
  const gen = new nexmark.NexmarkGenerator(nexmark.parseNexmarkOptions({ events: EVENTS }));
  const genN = Math.min(EVENTS, 500_000);
  const g0 = process.cpuUsage();
  for (let n = 0; n < genN; n++) gen.event(n);
  const gu = process.cpuUsage(g0);
  const generatorPerCore = genN / ((gu.user + gu.system) / 1e6);
  process.stdout.write(`generator alone: ${Math.round(generatorPerCore)} events/s on one core\n`);

  /** Submits one query over `events` events and waits for it to stop; CPU and wall seconds from submit on. */
  async function runQuery(query, events, out) {
    await sleep(500); // let the cluster's idle work settle between runs
    const cpu0 = cpuSeconds(local.pid);
    const t0 = performance.now();
    const sub = spawnSync(process.execPath, [CLI, 'submit', APP, '--master', addr, '--config', `query=${query}`, '--config', `events=${events}`,
      '--config', `output=${out}`, '--config', `parallelism=${PARALLELISM}`, '--config', `executors=${PARALLELISM}`, '--config', 'checkpointIntervalMs=1000'],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, SLUICE_TOKEN: token } });
    if (sub.status !== 0) throw new Error(`submit ${query} failed: ${sub.stderr}`);
    const appId = sub.stdout.trim();
    let a;
    for (let i = 0; i < 36_000; i++) {
      a = await api(`/apps/${appId}`);
      if (!['running', 'pending'].includes(a.status)) break;
      await sleep(200);
    }
    const wall = (performance.now() - t0) / 1000;
    // Executors exit after the app stops: wait until the cluster reaped them (their CPU lands in cutime).
    for (let i = 0; i < 300 && childrenOf(local.pid).length > 0; i++) await sleep(100);
    return { a, cpu: cpuSeconds(local.pid) - cpu0, wall };
  }

  // The fixed cost of an app (bundle, AppMaster and executor start, first checkpoints, stop): q0 over 0 events.
  const fixed = await runQuery('q0', 0, join(dir, 'out-fixed'));
  process.stdout.write(`fixed cost of one app (0 events): ${round(fixed.cpu)} CPU s, ${round(fixed.wall)} s wall\n`);

  for (const query of QUERIES) {
    const out = join(dir, `out-${query}`);
    const { a, cpu, wall } = await runQuery(query, EVENTS, out);
    const commits = a.appMaster?.committed ?? null;
    const ok = a.status === 'stopped';
    const c = ok ? await check(query, out, EVENTS) : { checked: 'app did not stop', equal: false, why: a.error ?? a.status, refMs: null, outputLines: null };
    if (c.equal === false) failed = true;
    const info = nexmark.NEXMARK_QUERIES.find((q) => q.name === query);
    const perCore = EVENTS / cpu;
    const r = {
      query, events: EVENTS, status: a.status, epoch: a.epoch, checkpointsCommitted: commits, cpuSeconds: round(cpu), wallSeconds: round(wall),
      eventsPerSecWall: Math.round(EVENTS / wall), eventsPerSecPerCore: Math.round(perCore), flinkPerCore: info?.flinkPerCore ?? null,
      ratioToFlink: info?.flinkPerCore ? round(perCore / info.flinkPerCore) : null,
      eventsPerSecPerCoreWithoutFixedCost: cpu > fixed.cpu ? Math.round(EVENTS / (cpu - fixed.cpu)) : null, output: c,
    };
    results.push(r);
    report({
      name: `nexmark ${query}, ${EVENTS} events, exactly-once, local cluster (${PARALLELISM} executors)`, value: perCore, unit: 'events/s/core',
      baseline: 'Flink, nexmark GUIDE_V1 (published, 100M events, 8x8 cores)', baselineValue: info?.flinkPerCore ?? null,
      goal: '>= Flink per core (issue 19)', notes: `${c.checked}: ${c.equal === null ? 'n/a' : c.equal ? 'equal' : `DIFFERS (${c.why})`}; cpu ${round(cpu)} s (fixed cost of an app ${round(fixed.cpu)} s), wall ${round(wall)} s, generator alone ${Math.round(generatorPerCore)} events/s/core`,
    });
    rmSync(out, { recursive: true, force: true });
  }
  const file = {
    date: new Date().toISOString(), node: process.version, machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'} (shared with other work: figures are CPU seconds, not wall time)`,
    events: EVENTS, parallelism: PARALLELISM, checkpointIntervalMs: 1000, generatorAloneEventsPerSecPerCore: Math.round(generatorPerCore),
    fixedCostOfOneApp: { cpuSeconds: round(fixed.cpu), wallSeconds: round(fixed.wall), what: 'q0 over 0 events: bundle, AppMaster and executors start, checkpoints, stop' },
    cpuSecondsOf: 'sluice local (master + 2 workers) and every executor process it reaped, from submit to the app stopping',
    queries: results,
    notRun: nexmark.NEXMARK_QUERIES.filter((q) => q.sluice !== true).map((q) => ({ query: q.name, why: q.sluice, flinkPerCore: q.flinkPerCore })),
  };
  // A run of some queries (--queries) keeps the other queries' rows of an earlier run over as many events.
  const path = join(here, 'results', String(arg('results', 'nexmark-latest.json')));
  if (arg('queries', undefined) !== undefined && existsSync(path)) {
    const prev = JSON.parse(readFileSync(path, 'utf8'));
    if (prev.events === EVENTS) file.queries = [...prev.queries.filter((q) => !QUERIES.includes(q.query)), ...results].sort((x, y) => Number(x.query.slice(1)) - Number(y.query.slice(1)));
  }
  writeFileSync(path, JSON.stringify(file, null, 2) + '\n');
  process.stdout.write(`wrote ${path} (${results.length} queries)\n`);
} finally {
  local.kill('SIGTERM');
  await new Promise((r) => (local.exitCode !== null ? r() : local.once('exit', r)));
  if (failed) process.stderr.write(`sluice local stderr (tail):\n${localErr}\n`);
  rmSync(dir, { recursive: true, force: true });
}
if (failed) {
  process.stderr.write('nexmark: some query output differs from the reference\n');
  process.exitCode = 1;
}

function round(v) {
  return Math.round(v * 1000) / 1000;
}
