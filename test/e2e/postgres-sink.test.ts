// connectors.postgresSink on a real local cluster (`sluice local`: master + 2 workers, executors
// as child processes) and a real PostgreSQL (started here): a keyed word count into a table,
// from a file and from Redis streams (issue 22's headline), while executors are SIGKILLed about
// every 2 s and PostgreSQL itself is SIGKILLed and restarted; the table must equal the reference
// count. A poison row fails the app with SINK_POISON_ROW in `sluice status` and in its logs.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, cli, LocalCluster, REPO, referenceCount, waitFor, wordLines, wordOf, type TestJson } from './helpers/engine-cluster.js';
import { postgresLeg, startPostgres, type PostgresHandle } from '../servers/postgres.js';
import { redisLeg, startRedis, type RedisHandle } from '../servers/redis.js';

const APP = resolve(REPO, 'test/e2e/fixtures/word-count-pg.mjs');

const leg = postgresLeg();
if (!leg.run) {
  if (leg.required) describe('PostgreSQL leg (SLUICE_REQUIRE_POSTGRES=1)', () => it('has PostgreSQL installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs PostgreSQL', () => undefined));
} else {
  let cluster: LocalCluster;
  let dir: string;
  let addr: string;
  let base: string;
  let pg: PostgresHandle;
  let failed = false;

  beforeAll(async () => {
    pg = await startPostgres();
    cluster = await LocalCluster.start('sluice-e2e-pg-');
    ({ dir, addr, base } = cluster);
  });

  afterAll(async () => {
    await cluster?.stop();
    if (failed && pg) process.stderr.write(`--- postgres log ---\n${pg.logTail(4000)}\n`);
    await pg?.close();
  });

  const table = async (name: string, extra = ''): Promise<void> => {
    await pg.sql(`CREATE TABLE ${name} (word text PRIMARY KEY, n bigint NOT NULL${extra})`);
  };
  const tableCounts = async (name: string): Promise<Map<string, string>> =>
    new Map((await pg.sql<{ word: string; n: string }>(`SELECT word, n::text AS n FROM ${name}`)).rows.map((r) => [r.word, r.n]));
  const submit = async (config: string[]): Promise<string> => {
    const sub = await cli(['submit', APP, '--master', addr, '--config', `pgUrl=${pg.url()}`, '--config', 'executors=2', '--config', 'checkpointIntervalMs=300', ...config.flatMap((c) => ['--config', c])], dir);
    expect(sub.code, sub.stderr).toBe(0);
    return sub.stdout.trim();
  };
  const finished = (appId: string, ms: number): Promise<TestJson> =>
    waitFor('the app to finish', ms, async () => {
      const a = await api(base, 'GET', `/apps/${appId}`);
      return ['running', 'pending'].includes(a.status) ? undefined : a;
    }, 300);

  /**
   * SIGKILLs a random executor about every 2 s (only after a commit since the last kill, so the
   * run moves forward), and once, after the first kill, SIGKILLs PostgreSQL and restarts it 1 s
   * later. Returns what it killed.
   */
  async function chaos(appId: string, opts: { executorKills: number; until: () => boolean }): Promise<string[]> {
    const kills: string[] = [];
    let last: TestJson;
    let lastCommitted = -1;
    let lastKill = 0;
    let pgRestart: Promise<void> | undefined;
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < 600 && (kills.filter((k) => k.startsWith('executor')).length < opts.executorKills || !pgRestart) && Date.now() < deadline && !opts.until(); i++) {
      await new Promise((r) => setTimeout(r, 250));
      const a = await api(base, 'GET', `/apps/${appId}`);
      last = a;
      // pending: between attempts after a kill; anything else has ended
      if (a.status === 'pending') continue;
      if (a.status !== 'running') break;
      const committed = a.appMaster?.committed ?? -1;
      if (Date.now() - lastKill < 2000 || committed <= lastCommitted || a.appMaster?.phase !== 'running') continue;
      lastKill = Date.now();
      lastCommitted = committed;
      if (kills.length === 1 && !pgRestart) {
        kills.push(`postgres:${pg.pid}`);
        pgRestart = (async () => {
          await pg.kill();
          await new Promise((r) => setTimeout(r, 1_000));
          await pg.start();
        })();
        continue;
      }
      const candidates = (a.executors as Array<{ role: string; pid: number }>).filter((e) => e.role === 'executor');
      const victim = candidates[Math.floor(Math.random() * candidates.length)];
      if (!victim) continue;
      try {
        process.kill(victim.pid, 'SIGKILL');
        kills.push(`executor:${victim.pid}`);
      } catch {
        // already gone
      }
    }
    await pgRestart;
    // what the app looked like at the end, for the assertion messages
    kills.push(`app ${String(last?.status)} epoch ${String(last?.epoch)} ${String(last?.lastFailure?.reason ?? last?.error ?? '')}`.trim());
    return kills;
  }

  describe('word count into PostgreSQL through executor SIGKILLs and a PostgreSQL restart', () => {
    it('from a file: the table equals the reference count', async (t) => {
      t.onTestFailed(() => {
        failed = true;
      });
      await table('wc_file');
      const input = join(dir, 'words.txt');
      writeFileSync(input, wordLines(25_000, 5).join('\n') + '\n');
      const appId = await submit([`input=${input}`, 'table=wc_file', 'linesPerSec=2500']);
      const kills = await chaos(appId, { executorKills: 3, until: () => false });
      expect(kills.filter((k) => k.startsWith('executor')).length, kills.join(', ')).toBeGreaterThanOrEqual(3);
      expect(kills.some((k) => k.startsWith('postgres'))).toBe(true);
      const end = await finished(appId, 90_000);
      expect(end.status, end.error).toBe('stopped');
      expect(end.epoch).toBeGreaterThan(3);
      const reference = await referenceCount(readFileSync(input, 'utf8'));
      expect(reference.size).toBe(400);
      expect(await tableCounts('wc_file')).toEqual(reference);
      // one progress row per sink task, held by the last epoch
      const prog = (await pg.sql<{ task: string; epoch: string }>('SELECT task, epoch::text FROM sluice_sink_progress WHERE app = $1 ORDER BY task', [appId])).rows;
      expect(prog).toEqual([{ task: 'out.0', epoch: String(end.epoch) }, { task: 'out.1', epoch: String(end.epoch) }]);
    }, 180_000);

    const redis = redisLeg();
    if (!redis.run) {
      if (redis.required) it('from Redis streams (SLUICE_REQUIRE_REDIS=1): has redis-server installed', () => expect.fail(redis.reason));
      else it.skip(`from Redis streams: ${redis.reason}`, () => undefined);
    } else {
      it('from Redis streams while a writer appends (the headline of issue 22): the table equals the reference count', async (t) => {
        t.onTestFailed(() => {
          failed = true;
        });
        let server: RedisHandle | undefined;
        try {
          server = await startRedis();
          await table('wc_redis');
          const streams = ['pg-a', 'pg-b', 'pg-c'];
          const all = wordLines(24_000, 23);
          const c = createClient({ url: server.url });
          c.on('error', () => undefined);
          await c.connect();
          let written = 0;
          const writeBatch = async (): Promise<void> => {
            const m = c.multi();
            for (let k = 0; k < 100 && written < all.length; k++, written++) m.xAdd(streams[written % streams.length]!, '*', { line: all[written]! });
            await m.exec();
          };
          while (written < all.length / 4) await writeBatch();
          const appId = await submit([`redisUrl=${server.url}`, `streams=${streams.join(',')}`, 'table=wc_redis']);
          let writerDone = false;
          let chaosDone = false;
          const writer = (async () => {
            while (written < all.length) {
              await writeBatch();
              await new Promise((r) => setTimeout(r, 50));
            }
            // The streams end only once the kills are done (bounded): on a loaded box recovery
            // is slow, and an app that finished first would leave the kills untested.
            for (let i = 0; i < 1200 && !chaosDone; i++) await new Promise((r) => setTimeout(r, 100));
            for (const s of streams) await c.xAdd(s, '*', { eof: '1' });
            writerDone = true;
          })();
          const kills = await chaos(appId, { executorKills: 2, until: () => false }).finally(() => {
            chaosDone = true;
          });
          await writer;
          expect(writerDone).toBe(true);
          expect(kills.filter((k) => k.startsWith('executor')).length, kills.join(', ')).toBeGreaterThanOrEqual(2);
          expect(kills.some((k) => k.startsWith('postgres'))).toBe(true);
          const end = await finished(appId, 90_000);
          expect(end.status, end.error).toBe('stopped');
          c.destroy();
          const reference = await referenceCount(all.join('\n'));
          expect(reference.size).toBe(400);
          expect(await tableCounts('wc_redis')).toEqual(reference);
        } finally {
          await server?.close();
        }
      }, 180_000);
    }
  });

  describe('a poison row', () => {
    it('fails the app with SINK_POISON_ROW naming the row, in sluice status and in its error logs; nothing of that checkpoint is written', async (t) => {
      t.onTestFailed(() => {
        failed = true;
      });
      // the table refuses one word: every checkpoint holding it is refused as a whole
      const poison = wordOf(7);
      await table('wc_poison', `, CHECK (word <> '${poison}')`);
      const input = join(dir, 'poison.txt');
      const text = wordLines(500, 9).join('\n') + '\n';
      expect(text).toContain(` ${poison} `);
      writeFileSync(input, text);
      const appId = await submit([`input=${input}`, 'table=wc_poison', 'maxRestarts=1', 'restartBackoffMs=100', 'pgBudgetMs=2000']);
      const end = await finished(appId, 60_000);
      expect(end.status).toBe('failed');
      const status = await cli(['status', appId, '--master', addr], dir);
      expect(status.stdout).toMatch(/SINK_POISON_ROW: postgresSink out\.\d → wc_poison: row \d+ of checkpoint \d+ \["wh",\d+\] was refused.*check constraint "wc_poison_word_check".*SQLSTATE 23514/);
      const logs = await cli(['logs', appId, '--master', addr, '--level', 'error'], dir);
      expect(logs.stdout).toMatch(/SINK_POISON_ROW/);
      expect((await tableCounts('wc_poison')).has(poison)).toBe(false);
    }, 120_000);
  });
}
