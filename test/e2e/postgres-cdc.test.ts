// connectors.postgresSource on a real local cluster (`sluice local`: master + 2 workers, executors
// as child processes) and a real PostgreSQL (started here): CDC of a table (a snapshot of 2000
// rows, then inserts, updates and deletes written while the app runs) into files, while
// executors are SIGKILLed about every 2 s. The committed files must hold every snapshot row and
// every change exactly once, in commit order; and the replication slot must never be confirmed
// past what a committed checkpoint covers (sampled all through the run).
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openConfiguredStorage, parseStorageConfig } from '@sluice/storage-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, cli, LocalCluster, REPO, waitFor, type TestJson } from './helpers/engine-cluster.js';
import { postgresLeg, startPostgres, type PostgresHandle } from '../servers/postgres.js';

const APP = resolve(REPO, 'test/e2e/fixtures/cdc-files.mjs');

interface Change {
  op: string;
  table: string;
  row: { id: number; v: number };
  lsn: string;
  snapshot?: boolean;
}

const lsnNum = (l: string): bigint => {
  const [a, b] = l.split('/');
  return (BigInt(`0x${a}`) << 32n) | BigInt(`0x${b}`);
};

/** The committed output: records of parts with checkpoint t ≤ upTo (all by default), in checkpoint order. */
function committed(out: string, upTo = Infinity): Change[] {
  let files: string[];
  try {
    files = readdirSync(out).filter((f) => f.startsWith('part-') && f.endsWith('.txt')).sort();
  } catch {
    return [];
  }
  const recs: Change[] = [];
  for (const f of files) {
    if (Number(f.split('-')[1]) > upTo) continue;
    for (const line of readFileSync(join(out, f), 'utf8').split('\n')) if (line) recs.push(JSON.parse(line) as Change);
  }
  return recs;
}

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
    cluster = await LocalCluster.start('sluice-e2e-cdc-');
    ({ dir, addr, base } = cluster);
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    if (failed && pg) process.stderr.write(`--- postgres log ---\n${pg.logTail(4000)}\n`);
    await pg?.close();
  });

  describe('PostgreSQL CDC into files through executor SIGKILLs', () => {
    it('the files hold the snapshot and every change exactly once; the slot never passes the committed checkpoint', async (t) => {
      t.onTestFailed(() => {
        failed = true;
      });
      const slot = 'cdc_e2e';
      const out = join(dir, 'out');
      await pg.sql('CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL)');
      await pg.sql('INSERT INTO items SELECT g, 0 FROM generate_series(1, 2000) g');
      const sub = await cli(['submit', APP, '--master', addr, '--config', `pgUrl=${pg.url()}`, '--config', 'table=items', '--config', `slot=${slot}`, '--config', `output=${out}`, '--config', 'executors=2'], dir);
      expect(sub.code, sub.stderr).toBe(0);
      const appId = sub.stdout.trim();
      // the writer starts once the snapshot is committed, so every change it makes is a stream record
      await waitFor('the snapshot in the committed files', 60_000, async () => (committed(out).length >= 2000 ? true : undefined), 200);

      // 300 transactions: 10 inserts each, an update of 5 live rows, a delete of 2 (from the oldest)
      const expected = { insert: 0, update: 0, delete: 0 };
      let nextId = 2001;
      let oldest = 1;
      let writing = true;
      const writer = (async () => {
        for (let k = 1; k <= 300; k++) {
          await pg.sql(`BEGIN; INSERT INTO items SELECT g, 0 FROM generate_series(${nextId}, ${nextId + 9}) g; UPDATE items SET v = ${k} WHERE id IN (SELECT id FROM items ORDER BY id DESC LIMIT 5); DELETE FROM items WHERE id IN (${oldest}, ${oldest + 1}); COMMIT;`);
          nextId += 10;
          oldest += 2;
          expected.insert += 10;
          expected.update += 5;
          expected.delete += 2;
          await new Promise((r) => setTimeout(r, 40));
        }
        writing = false;
      })();

      // chaos: SIGKILL a random executor about every 2 s (after a commit since the last kill);
      // meanwhile sample the slot: its confirmed LSN, then the last committed checkpoint in the
      // store (committed there before any executor hears of it; the API's figure lags)
      const storage = await openConfiguredStorage(parseStorageConfig({ default: { module: '@sluice/storage-fs', options: { root: join(dir, 'store') } } }), { baseDir: dir });
      const store = (await storage.getAppStorage(appId))!;
      const lastCommitted = async (): Promise<number> => (await store.checkpoints('tasks').last())?.t ?? -1;
      const kills: string[] = [];
      const samples: Array<{ confirmed: string; committedT: number }> = [];
      let lastKill = 0;
      let killedAt = -1;
      let last: TestJson = {};
      for (let i = 0; i < 800 && (writing || kills.length < 3); i++) {
        await new Promise((r) => setTimeout(r, 250));
        const s = (await pg.sql<{ l: string }>('SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows[0];
        const c = await lastCommitted();
        if (s && c > 0) samples.push({ confirmed: s.l, committedT: c });
        const a = await api(base, 'GET', `/apps/${appId}`);
        last = a;
        if (a.status !== 'running' && a.status !== 'pending') break;
        if (a.status === 'pending' || Date.now() - lastKill < 2000 || c <= killedAt || a.appMaster?.phase !== 'running' || kills.length >= 6) continue;
        const victims = (a.executors as Array<{ role: string; pid: number }>).filter((e) => e.role === 'executor');
        const victim = victims[Math.floor(Math.random() * victims.length)];
        if (!victim) continue;
        lastKill = Date.now();
        killedAt = c;
        try {
          process.kill(victim.pid, 'SIGKILL');
          kills.push(String(victim.pid));
        } catch {
          // already gone
        }
      }
      await writer;
      expect(kills.length, `kills ${kills.join(',')}; app ${String(last.status)} ${String(last.lastFailure?.reason ?? '')}`).toBeGreaterThanOrEqual(3);
      const total = 2000 + expected.insert + expected.update + expected.delete;
      await waitFor('every change in the committed files', 90_000, async () => (committed(out).length >= total ? true : undefined), 500);
      // a little longer: nothing more may arrive (a duplicate would)
      await new Promise((r) => setTimeout(r, 2000));
      const recs = committed(out);
      const end = await api(base, 'GET', `/apps/${appId}`);
      expect(end.status, String(end.lastFailure?.reason ?? '')).toBe('running');
      expect(end.epoch).toBeGreaterThan(3);
      expect(recs.length).toBe(total);

      // exact: the snapshot once, then every change once, in commit order (LSNs never go back)
      const snap = recs.filter((r) => r.snapshot);
      expect(snap.map((r) => r.row.id).sort((x, y) => x - y)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
      const stream = recs.filter((r) => !r.snapshot);
      expect(recs.slice(0, 2000).every((r) => r.snapshot)).toBe(true);
      const counts = { insert: 0, update: 0, delete: 0 };
      for (const r of stream) counts[r.op as keyof typeof counts]++;
      expect(counts).toEqual(expected);
      for (let i = 1; i < stream.length; i++) expect(lsnNum(stream[i]!.lsn) >= lsnNum(stream[i - 1]!.lsn)).toBe(true);
      // replaying the records gives the table
      const state = new Map<number, number>();
      for (const r of recs) {
        if (r.op === 'insert') {
          expect(state.has(r.row.id)).toBe(false);
          state.set(r.row.id, r.row.v);
        } else if (r.op === 'update') {
          expect(state.has(r.row.id)).toBe(true);
          state.set(r.row.id, r.row.v);
        } else {
          expect(state.delete(r.row.id)).toBe(true);
        }
      }
      const table = new Map((await pg.sql<{ id: number; v: number }>('SELECT id, v FROM items')).rows.map((r) => [r.id, r.v]));
      expect(state).toEqual(table);

      // the slot never ran ahead: each confirmed LSN sampled is at most the end LSN of what the
      // checkpoint committed at that moment covers (the records in its parts, t ≤ committed)
      expect(samples.length).toBeGreaterThan(20);
      let checked = 0;
      // the slot starts at the snapshot's consistent point (the snapshot rows' LSN)
      let maxLsn = lsnNum(snap[0]!.lsn);
      const byT = [...samples].sort((a, b) => a.committedT - b.committedT);
      const files = readdirSync(out).filter((f) => f.startsWith('part-') && f.endsWith('.txt')).sort();
      let fi = 0;
      for (const s of byT) {
        // grow the covered prefix up to s.committedT
        while (fi < files.length && Number(files[fi]!.split('-')[1]) <= s.committedT) {
          for (const line of readFileSync(join(out, files[fi]!), 'utf8').split('\n')) if (line) maxLsn = maxLsn > lsnNum((JSON.parse(line) as Change).lsn) ? maxLsn : lsnNum((JSON.parse(line) as Change).lsn);
          fi++;
        }
        if (!(lsnNum(s.confirmed) <= maxLsn)) process.stderr.write(`SAMPLES ${JSON.stringify(samples)}\nFILES ${files.join(' ')}\nSNAP ${snap[0]!.lsn} FIRST STREAM ${JSON.stringify(stream.slice(0, 3))}\n`);
        expect(lsnNum(s.confirmed) <= maxLsn, `slot confirmed ${s.confirmed} with checkpoint ${s.committedT} committed (covers up to ${maxLsn.toString(16)})`).toBe(true);
        checked++;
      }
      expect(checked).toBe(samples.length);
      // and it did advance with the commits (not stuck at the snapshot's point)
      const final = (await pg.sql<{ l: string }>('SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows[0]!.l;
      expect(lsnNum(final)).toBeGreaterThan(lsnNum(snap[0]!.lsn));
      await cli(['kill', appId, '--master', addr], dir);
      await storage.close?.();
    }, 240_000);
  });
}
