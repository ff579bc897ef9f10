// A keyed word count from three Redis streams (connectors.redisStreamSource, two source tasks)
// on a real local cluster (`sluice local`: master + 2 workers, executors as child processes),
// into the file sink, while a writer keeps appending, executors are SIGKILLed about every 2 s
// and redis-server is SIGKILLed and restarted once; end markers close the streams. The
// committed output must equal the reference exactly.
import { join, resolve } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { api, cli, LocalCluster, REPO, referenceCount, waitFor, wordLines } from './helpers/engine-cluster.js';
import { redisLeg, startRedis, type RedisHandle } from '../servers/redis.js';

const APP = resolve(REPO, 'test/e2e/fixtures/redis-word-count.mjs');
const STREAMS = ['words-a', 'words-b', 'words-c'];
const LINES = 24_000;
const BATCH = 100;
/** A batch of 100 lines every this many ms: ~1000 lines/s, so the writer runs ~18 s while executors are killed. */
const BATCH_EVERY_MS = 100;

const lines = wordLines;

const leg = redisLeg();
if (!leg.run) {
  if (leg.required) describe('Redis leg (SLUICE_REQUIRE_REDIS=1)', () => it('has redis-server installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs redis-server', () => undefined));
} else {
  let cluster: LocalCluster;
  let dir: string;
  let addr: string;
  let redis: RedisHandle;
  let failed = false;

  beforeAll(async () => {
    redis = await startRedis();
    cluster = await LocalCluster.start('sluice-e2e-redis-');
    ({ dir, addr } = cluster);
  });

  afterAll(async () => {
    await cluster?.stop();
    if (failed && redis) process.stderr.write(`--- redis-server log ---\n${redis.logTail()}\n`);
    await redis?.close();
  });

  describe('Redis streams → keyed word count → file sink, executors and redis-server killed with SIGKILL', () => {
    it('commits exactly the reference count', async (t) => {
      t.onTestFailed(() => {
        failed = true;
      });
      const base = `http://${addr}`;
      const all = lines(LINES, 23);
      const c = createClient({ url: redis.url });
      c.on('error', () => undefined);
      await c.connect();
      // A first part before the app starts, the rest while it runs (and is killed).
      let written = 0;
      const writeBatch = async (): Promise<void> => {
        const m = c.multi();
        for (let k = 0; k < BATCH && written < all.length; k++, written++) m.xAdd(STREAMS[written % STREAMS.length]!, '*', { line: all[written]! });
        await m.exec();
      };
      while (written < LINES / 4) await writeBatch();

      const output = join(dir, 'out');
      const sub = await cli(['submit', APP, '--master', addr, '--config', `url=${redis.url}`, '--config', `streams=${STREAMS.join(',')}`,
        '--config', `output=${output}`, '--config', 'executors=2', '--config', 'checkpointIntervalMs=300'], dir);
      expect(sub.code, sub.stderr).toBe(0);
      const appId = sub.stdout.trim();

      // The rest is appended once the app runs (its first checkpoint committed), so kills land mid-stream.
      await waitFor('the first committed checkpoint', 90_000, async () => {
        const a = await api(base, 'GET', `/apps/${appId}`);
        if (a.status !== 'running' && a.status !== 'pending') throw new Error(`app ${a.status}: ${a.error}`);
        return (a.appMaster?.committed ?? -1) > 0 ? true : undefined;
      }, 300);
      const kills: string[] = [];
      const deadline = Date.now() + 90_000;
      let writerError: unknown;
      // The Redis outage below pauses the writer between batches: a batch in flight when the
      // server dies could be applied without its reply, and a retry would then duplicate it.
      let gate: Promise<void> = Promise.resolve();
      let inFlight: Promise<void> = Promise.resolve();
      const writer = (async () => {
        while (written < all.length) {
          await gate;
          inFlight = writeBatch();
          await inFlight;
          await new Promise((r) => setTimeout(r, BATCH_EVERY_MS));
        }
        // The streams end (and the app finishes) only after the kills: a loaded box recovers slowly.
        while (kills.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
        for (const s of STREAMS) await c.xAdd(s, '*', { eof: '1' });
      })().catch((err: unknown) => {
        writerError = err;
      });

      let lastCommitted = -1;
      let lastKill = 0;
      let last: unknown;
      let redisOutage = '';
      for (let i = 0; i < 400 && kills.length < 3 && Date.now() < deadline; i++) {
        await new Promise((r) => setTimeout(r, 250));
        const a = await api(base, 'GET', `/apps/${appId}`);
        last = a;
        if (a.status !== 'running') break;
        const committed = a.appMaster?.committed ?? -1;
        // Kill only after progress since the last kill, so the run always moves forward.
        if (Date.now() - lastKill < 2000 || committed <= lastCommitted || a.appMaster?.phase !== 'running') continue;
        if (kills.length === 1 && !redisOutage) {
          // Once, between executor kills: redis-server SIGKILLed and back 1.5 s later, within the
          // source's retry budget (AOF: what was acknowledged survives).
          let open!: () => void;
          gate = new Promise((r) => (open = r));
          await inFlight.catch(() => undefined);
          await redis.kill();
          await new Promise((r) => setTimeout(r, 1500));
          await redis.start();
          redisOutage = `redis@${written}`;
          open();
          lastKill = Date.now();
          lastCommitted = committed;
          continue;
        }
        const candidates = (a.executors as Array<{ role: string; pid: number }>).filter((e) => e.role === 'executor');
        if (candidates.length === 0) continue;
        const victim = candidates[Math.floor(Math.random() * candidates.length)]!;
        try {
          process.kill(victim.pid, 'SIGKILL');
          kills.push(`executor:${victim.pid}@${written}`);
        } catch {
          continue; // already gone
        }
        lastKill = Date.now();
        lastCommitted = committed;
      }
      await writer;
      expect(writerError).toBeUndefined();
      expect(kills.length, `kills: ${kills.join(', ')}; app: ${JSON.stringify(last)}`).toBeGreaterThanOrEqual(3);
      expect(redisOutage).not.toBe('');
      // at least one kill while the writer was still appending
      expect(kills.some((k) => Number(k.split('@')[1]) < LINES), kills.join(', ')).toBe(true);

      const end = await waitFor('the app to finish', 90_000, async () => {
        const a = await api(base, 'GET', `/apps/${appId}`);
        return ['running', 'pending'].includes(a.status) ? undefined : a;
      }, 300);
      expect(end.status, end.error).toBe('stopped');
      expect(end.epoch).toBeGreaterThan(kills.length);
      c.destroy();
      expect(readCommittedOutput(output)).toEqual(await referenceCount(all.join('\n')));
    }, 300_000);
  });

  describe('Redis down for good', () => {
    it('fails the app with the source\'s typed error once its outage budget is spent: reason in the app status, stack in the logs', async (t) => {
      t.onTestFailed(() => {
        failed = true;
      });
      const base = `http://${addr}`;
      const down = await startRedis();
      try {
        const c = createClient({ url: down.url });
        c.on('error', () => undefined);
        await c.connect();
        for (const l of lines(200, 5)) await c.xAdd('down', '*', { line: l });
        c.destroy();
        const sub = await cli(['submit', APP, '--master', addr, '--config', `url=${down.url}`, '--config', 'streams=down', '--config', `output=${join(dir, 'out-down')}`,
          '--config', 'executors=1', '--config', 'sourceParallelism=1', '--config', 'parallelism=1', '--config', 'retryMs=1500', '--config', 'maxRestarts=0'], dir);
        expect(sub.code, sub.stderr).toBe(0);
        const appId = sub.stdout.trim();
        await waitFor('the first committed checkpoint', 90_000, async () => {
          const a = await api(base, 'GET', `/apps/${appId}`);
          if (a.status !== 'running' && a.status !== 'pending') throw new Error(`app ${a.status}: ${a.error}`);
          return (a.appMaster?.committed ?? -1) > 0 ? true : undefined;
        }, 300);
        await down.kill();
        const end = await waitFor('the app to fail', 60_000, async () => {
          const a = await api(base, 'GET', `/apps/${appId}`);
          return ['running', 'pending'].includes(a.status) ? undefined : a;
        }, 300);
        expect(end.status).toBe('failed');
        expect(end.lastFailure.reason).toMatch(/task lines\S* \(processor lines\) failed: read threw: redisStreamSource \[SOURCE_UNAVAILABLE\]: Redis at redis:\/\/127\.0\.0\.1:\d+ unreachable for \d+ ms/);
        const logs = await waitFor('the error in the log store', 20_000, async () => {
          const r = await cli(['logs', appId, '-c', 'cluster.yaml', '--level', 'error', '--json', '--since', '1h'], dir);
          const recs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.stringify(JSON.parse(l)));
          return recs.find((x) => x.includes('unreachable for'));
        });
        expect(logs).toContain('SOURCE_UNAVAILABLE');
        expect(logs).toMatch(/\\n\s+at /); // the stack
      } finally {
        await down.close();
      }
    }, 180_000);
  });
}
