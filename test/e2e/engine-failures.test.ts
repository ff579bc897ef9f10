import type { TestJson } from './helpers/engine-cluster.js';
// Failures that must be visible and bounded, and the race that must never happen: a real
// master (in this process, so the seed store can be slowed down), real workers, real
// executor processes. The master is the thing under test; nothing of it is mocked.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openConfiguredStorage, type Storage } from '@sluice/storage-api';
import { createWorker, FileSeedStore, loadClusterConfig, Master, readCommittedOutput, type AppSeed, type LoadedClusterConfig, type SeedStore, type VersionedSeed, type Worker } from '@sluice/engine';
import { api, cli, referenceCount, waitFor, WORD_COUNT, writeClusterYaml, writeWords } from './helpers/engine-cluster.js';

/** The seed store as a slow etcd or disk would be: every write takes 20-120 ms. */
class SlowSeedStore implements SeedStore {
  constructor(readonly inner: SeedStore) {}
  #delay(): Promise<void> {
    return new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 100)));
  }
  load(): Promise<VersionedSeed[]> {
    return this.inner.load();
  }
  async create(seed: AppSeed): Promise<string> {
    await this.#delay();
    return this.inner.create(seed);
  }
  async update(seed: AppSeed, rev: string): Promise<string> {
    await this.#delay();
    return this.inner.update(seed, rev);
  }
  async delete(appId: string, rev: string): Promise<void> {
    await this.#delay();
    return this.inner.delete(appId, rev);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Cluster {
  master: Master;
  storage: Storage;
  workers: Worker[];
  base: string;
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

let dir: string;
let loaded: LoadedClusterConfig;
const clusters: Cluster[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-failures-'));
  writeClusterYaml(join(dir, 'cluster.yaml'));
  loaded = await loadClusterConfig(join(dir, 'cluster.yaml'));
});

afterEach(async () => {
  await Promise.allSettled(clusters.splice(0).map((c) => c.stop()));
});

afterAll(() => {
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

async function startCluster(name: string, o: { workers?: number; slots?: number; slow?: boolean; maxArtifactBytes?: number } = {}): Promise<Cluster> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) logs.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const storage = await openConfiguredStorage(loaded.config.storage, { baseDir: loaded.baseDir });
  const files = new FileSeedStore(join(dir, `${name}-seed.json`));
  const master = new Master({
    host: '127.0.0.1', port: 0, storage, logger, seeds: o.slow ? new SlowSeedStore(files) : files,
    maxExecutors: loaded.config.apps.maxExecutors, ...(o.maxArtifactBytes ? { maxArtifactBytes: o.maxArtifactBytes } : {}),
  });
  await master.start();
  const workers: Worker[] = [];
  for (let i = 0; i < (o.workers ?? 2); i++) {
    const w = createWorker(loaded, master.address, `${name}-w${i}`, { slots: o.slots ?? 4 });
    await w.start();
    workers.push(w);
  }
  const c: Cluster = {
    master, storage, workers, base: `http://${master.address}`, logs,
    async stop() {
      await Promise.allSettled(workers.map((w) => w.stop()));
      await master.stop();
      await storage.close();
    },
  };
  clusters.push(c);
  return c;
}

async function submit(c: Cluster, file: string, config: Record<string, unknown>, name = 'app'): Promise<{ status: number; body: TestJson }> {
  const res = await fetch(`${c.base}/apps?name=${name}&config=${encodeURIComponent(JSON.stringify(config))}`, { method: 'POST', body: readFileSync(file) });
  return { status: res.status, body: await res.json() };
}

async function ended(c: Cluster, appId: string, timeoutMs: number): Promise<TestJson> {
  return waitFor(`app ${appId} to end`, timeoutMs, async () => {
    const a = await api(c.base, 'GET', `/apps/${appId}`);
    return ['running', 'pending'].includes(a.status) ? undefined : a;
  });
}

function writeApp(file: string, body: string): string {
  const path = join(dir, file);
  writeFileSync(path, body);
  return path;
}

describe('epochs under races', () => {
  it('20 concurrent submits on a slow seed store: every launch has its own epoch, never two live AppMasters', async () => {
    const c = await startCluster('race', { slow: true, workers: 2, slots: 12 });
    const input = join(dir, 'race-words.txt');
    writeWords(input, 60);
    // Sample the live AppMaster processes while the apps run.
    let maxLiveAms = 0;
    let maxPerWorker = 0;
    const sampler = setInterval(() => {
      const per = new Map<string, number>();
      for (const w of c.workers) maxPerWorker = Math.max(maxPerWorker, w.running.length);
      for (const w of c.workers) for (const e of w.running) if (e.role === 'appmaster') per.set(e.appId, (per.get(e.appId) ?? 0) + 1);
      for (const n of per.values()) maxLiveAms = Math.max(maxLiveAms, n);
    }, 25);
    try {
      const subs = await Promise.all(
        [...Array(20).keys()].map((i) => submit(c, WORD_COUNT, { input, output: join(dir, `race-out-${i}`), executors: 1, parallelism: 1, checkpointIntervalMs: 200 }, `race${i}`)),
      );
      for (const s of subs) expect(s.status, JSON.stringify(s.body)).toBe(200);
      const ids = subs.map((s) => s.body.appId as string);
      const ends = await Promise.all(ids.map((id) => ended(c, id, 240_000).catch(async (err: unknown) => {
        throw new Error(`${String(err)}; state: ${JSON.stringify(await api(c.base, 'GET', `/apps/${id}`))}; workers: ${JSON.stringify((await api(c.base, 'GET', '/workers')).workers.map((w: TestJson) => [w.id, w.usedSlots, w.executors.length]))}`);
      })));
      for (const e of ends) expect(e.status, e.error).toBe('stopped');
      const reference = await referenceCount(readFileSync(input, 'utf8'));
      for (let i = 0; i < 20; i++) expect(readCommittedOutput(join(dir, `race-out-${i}`))).toEqual(reference);
    } finally {
      clearInterval(sampler);
    }
    const launches = c.logs.filter((l) => l.msg === 'launching AppMaster').map((l) => `${String(l.appId)}@${String(l.epoch)}`);
    expect(launches.length).toBeGreaterThanOrEqual(20);
    expect(new Set(launches).size).toBe(launches.length);
    // A normal run launches exactly one AppMaster per app.
    expect(launches.length).toBe(20);
    expect(maxLiveAms).toBe(1);
    // Slots are enforced: never more processes on a worker than its 12 slots.
    expect(maxPerWorker).toBeGreaterThan(0);
    expect(maxPerWorker).toBeLessThanOrEqual(12);
  }, 300_000);

  it('a heartbeat the current AppMaster sent before its own epoch bump does not fence it; an older AppMaster is fenced', async () => {
    // The test plays the worker and the AppMaster through the master's HTTP API.
    const c = await startCluster('fence', { workers: 0 });
    const reg = await api(c.base, 'POST', '/workers/register', { name: 'fake', host: '127.0.0.1', slots: 8 });
    const sub = await submit(c, WORD_COUNT, { input: '/dev/null', output: join(dir, 'fence-out') }, 'fence');
    expect(sub.status).toBe(200);
    const appId = sub.body.appId as string;
    const hb = await waitFor('the AppMaster launch', 10_000, async () => {
      const r = await api(c.base, 'POST', `/workers/${reg.workerId}/heartbeat`, { executors: [], exited: [] });
      return (r.commands as TestJson[]).find((x) => x.type === 'launch' && x.role === 'appmaster');
    });
    const amEpoch = hb.epoch as number;
    const status = { epoch: amEpoch, amEpoch, control: '127.0.0.1:1', pid: process.pid, restarts: 0, commits: 0, executors: 1, connected: 0, phase: 'starting' };
    await api(c.base, 'POST', `/apps/${appId}/am/heartbeat`, status);
    const r = await api(c.base, 'POST', `/apps/${appId}/restart`, { epoch: amEpoch, amEpoch, reason: 'test restart' });
    expect(r.epoch).toBe(amEpoch + 1);
    // The stale heartbeat (old epoch, same AppMaster) lands after the bump: accepted.
    await expect(api(c.base, 'POST', `/apps/${appId}/am/heartbeat`, status)).resolves.toMatchObject({ ok: true });
    // A replaced AppMaster (older launch epoch) is fenced with 409.
    await expect(api(c.base, 'POST', `/apps/${appId}/am/heartbeat`, { ...status, epoch: r.epoch, amEpoch: amEpoch - 1 })).rejects.toMatchObject({ status: 409 });
    // The same restart again (its reply lost in a failover) gets the same answer: no new epoch.
    await expect(api(c.base, 'POST', `/apps/${appId}/restart`, { epoch: amEpoch, amEpoch, reason: 'test restart' })).resolves.toMatchObject({ epoch: amEpoch + 1 });
    // A restart that names an older epoch is refused: an epoch is never issued twice.
    await expect(api(c.base, 'POST', `/apps/${appId}/restart`, { epoch: amEpoch - 1, amEpoch, reason: 'stale' })).rejects.toMatchObject({ status: 409 });
    const a = await api(c.base, 'GET', `/apps/${appId}`);
    expect(a.epoch).toBe(amEpoch + 1);
    expect(a.restarts).toBe(1);
    expect(a.lastFailure.reason).toBe('test restart');
  }, 60_000);
});

const POISON = `export default ({ dag, generatorSource }) =>
  dag('poison', { checkpointIntervalMs: 200 })
    .source('lines', generatorSource({ lines: 50, wordsPerLine: 2 }))
    .map('check', (line) => {
      if (line.includes('w7 ')) throw new Error('poison record: ' + line);
      return line;
    })
    .sink('out', () => ({ onNext() {} }));
`;

const CHATTY_CRASH = `export default ({ dag, generatorSource }) =>
  dag('chatty', { checkpointIntervalMs: 200 })
    .source('lines', generatorSource({ lines: 5 }))
    .process('talk', () => ({
      onStart(ctx) { for (let i = 1; i <= 25; i++) ctx.logger.warn({ i }, 'last words ' + i); },
      onNext() { throw new Error('crash right after logging'); },
    }))
    .sink('out', () => ({ onNext() {} }));
`;

describe('failures are visible and bounded', () => {
  it('a poison record fails the app after a bounded number of backed-off restarts, with its reason and stack in the logs', async () => {
    const c = await startCluster('poison');
    const file = writeApp('poison.mjs', POISON.replace('generatorSource({', "generatorSource({ vocabulary: ['w1', 'w7', 'w9'], "));
    const t0 = Date.now();
    const sub = await submit(c, file, { executors: 1, maxRestarts: 2, restartBackoffMs: 200 }, 'poison');
    expect(sub.status).toBe(200);
    const appId = sub.body.appId as string;
    const end = await ended(c, appId, 120_000);
    expect(end.status).toBe('failed');
    expect(end.error).toMatch(/restart budget exhausted/);
    expect(end.error).toMatch(/poison record/);
    expect(end.restarts).toBe(3);
    expect(end.lastFailure.reason).toMatch(/task check\S* \(processor check\) failed: onNext threw: poison record/);
    // Back-off: 200 + 400 ms at least between the attempts.
    expect(Date.now() - t0).toBeGreaterThan(600);
    // The error, with its stack and labels, is in the app's log store.
    const cfg = join(dir, 'cluster.yaml');
    const logs = await waitFor('the error in the log store', 20_000, async () => {
      const r = await cli(['logs', appId, '-c', cfg, '--level', 'error', '--json', '--since', '1h'], dir);
      const recs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, TestJson>);
      return recs.some((x) => JSON.stringify(x).includes('poison record')) ? recs : undefined;
    });
    const rec = logs.find((x) => JSON.stringify(x).includes('poison record'))!;
    const text = JSON.stringify(rec);
    expect(text).toMatch(/at Object\.|at .*poison\.mjs|\\n\s+at /);
    expect(rec.labels?.processor ?? rec.processor).toBe('check');
    expect(String(rec.labels?.task ?? rec.task)).toMatch(/^check/);
    expect(String(rec.labels?.executor ?? rec.executor)).toBe('0');
    // Bounded: the epoch moved once per attempt, not forever.
    expect(end.epoch).toBeLessThanOrEqual(5);
  }, 180_000);

  it('no log line is lost when an executor crashes: every line before the crash reaches the store', async () => {
    const c = await startCluster('chatty');
    const file = writeApp('chatty.mjs', CHATTY_CRASH);
    const sub = await submit(c, file, { executors: 1, maxRestarts: 0 }, 'chatty');
    const appId = sub.body.appId as string;
    const end = await ended(c, appId, 60_000);
    expect(end.status).toBe('failed');
    const cfg = join(dir, 'cluster.yaml');
    const r = await cli(['logs', appId, '-c', cfg, '--json', '--since', '1h', '--limit', '10000'], dir);
    const msgs = r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);
    for (let i = 1; i <= 25; i++) expect(msgs, `line ${i}`).toContain(`last words ${i}`);
    expect(msgs.some((m) => /task talk\S* failed/.test(m))).toBe(true);
    // A normal finish elsewhere logs no warning: checked in the next test.
  }, 90_000);

  it('a normal finish logs no warning and reaches the store completely', async () => {
    const c = await startCluster('normal');
    const input = join(dir, 'normal-words.txt');
    writeWords(input, 100);
    const sub = await submit(c, WORD_COUNT, { input, output: join(dir, 'normal-out'), executors: 2 }, 'normal');
    const appId = sub.body.appId as string;
    const end = await ended(c, appId, 60_000);
    expect(end.status).toBe('stopped');
    const cfg = join(dir, 'cluster.yaml');
    const r = await cli(['logs', appId, '-c', cfg, '--json', '--since', '1h', '--limit', '10000'], dir);
    const recs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; level: string | number });
    expect(recs.map((x) => x.msg)).toContain('app finished');
    const warnings = recs.filter((x) => x.level === 'warn' || x.level === 'error' || (typeof x.level === 'number' && x.level >= 40));
    expect(warnings.map((x) => x.msg)).toEqual([]);
  }, 90_000);

  it('an executor that dies before connecting is noticed from its exit, not after the start timeout', async () => {
    const c = await startCluster('early');
    const file = writeApp('early-exit.mjs', `if (process.env.SLUICE_ROLE === 'executor') process.exit(7);
export default ({ dag, generatorSource }) => dag('early').source('s', generatorSource({ lines: 10 })).sink('out', () => ({ onNext() {} }));
`);
    const t0 = Date.now();
    const sub = await submit(c, file, { executors: 1, maxRestarts: 1, restartBackoffMs: 100 }, 'early');
    const end = await ended(c, sub.body.appId as string, 60_000);
    expect(end.status).toBe('failed');
    expect(end.error).toMatch(/executor 0 exited with code 7 before connecting/);
    // Two attempts, each noticed from the worker's exit report: far below 2 × 30 s.
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);

  it('a large random file submitted as an app fails once, clearly', async () => {
    const c = await startCluster('junk');
    const file = join(dir, 'junk.bin');
    writeFileSync(file, randomBytes(24 * 1024 * 1024));
    const sub = await submit(c, file, {}, 'junk');
    expect(sub.status).toBe(200);
    const end = await ended(c, sub.body.appId as string, 90_000);
    expect(end.status).toBe('failed');
    expect(end.error).toMatch(/artifact failed to load/);
    expect(end.restarts).toBe(0);
    expect(c.logs.filter((l) => l.msg === 'launching AppMaster' && l.appId === sub.body.appId)).toHaveLength(1);
  }, 120_000);
});

describe('limits instead of runaway processes', () => {
  it('refuses bad or excessive executors, oversized artifacts; keeps apps pending until slots free up', async () => {
    const c = await startCluster('limits', { workers: 1, slots: 2, maxArtifactBytes: 64 * 1024 });
    for (const bad of [{ executors: 'abc' }, { executors: 0 }, { executors: 1.5 }]) {
      const r = await submit(c, WORD_COUNT, bad, 'bad');
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.error.code).toBe('BAD_REQUEST');
    }
    const big = await submit(c, WORD_COUNT, { executors: 100_000 }, 'big');
    expect(big.status).toBe(400);
    expect(big.body.error.code).toBe('LIMIT_EXCEEDED');
    expect(big.body.error.message).toMatch(/apps\.maxExecutors/);
    const nullCfg = await fetch(`${c.base}/apps?name=n&config=null`, { method: 'POST', body: 'x' });
    expect(nullCfg.status).toBe(400);
    const huge = join(dir, 'huge.mjs');
    writeFileSync(huge, `// ${'x'.repeat(100 * 1024)}\nexport default 1;\n`);
    const tooBig = await submit(c, huge, {}, 'huge');
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error.code).toBe('ARTIFACT_TOO_LARGE');
    // No app was created by any of the refused submits.
    expect((await api(c.base, 'GET', '/apps')).apps).toHaveLength(0);

    // 2 slots; the app needs 1 (AppMaster) + 2 executors: it is not admitted, and waits visibly.
    const input = join(dir, 'limits-words.txt');
    writeWords(input, 50);
    const sub = await submit(c, WORD_COUNT, { input, output: join(dir, 'limits-out'), executors: 2 }, 'pend');
    const appId = sub.body.appId as string;
    const pending = await waitFor('pending', 20_000, async () => {
      const a = await api(c.base, 'GET', `/apps/${appId}`);
      return a.status === 'pending' ? a : undefined;
    });
    expect(pending.waiting).toMatch(/needs 3 slots \(AppMaster \+ executors\), 2 free/);
    expect(pending.appMaster).toBeNull();
    const workers = await api(c.base, 'GET', '/workers');
    expect(workers.workers[0].usedSlots).toBeLessThanOrEqual(2);
    const w = createWorker(loaded, c.master.address, 'limits-extra', { slots: 2 });
    await w.start();
    c.workers.push(w);
    const end = await ended(c, appId, 60_000);
    expect(end.status).toBe('stopped');
    expect(readCommittedOutput(join(dir, 'limits-out'))).toEqual(await referenceCount(readFileSync(input, 'utf8')));
  }, 120_000);
});
