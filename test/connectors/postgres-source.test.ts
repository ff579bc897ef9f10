// connectors.postgresSource against a real PostgreSQL (started here, wal_level=logical): the
// snapshot-then-stream boundary under a concurrent writer (no gap, no duplicate), recovery from
// a position mid-stream and mid-snapshot (the same records as without the crash), the slot
// confirmed only by onCommit, and the typed failures (wal_level, slot gone, credentials, a dead
// server, a missing table).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectors, isEngineError, type SourceTask, type TaskContext, type TaskLogger } from '@sluice/engine';

type PostgresChange = connectors.PostgresChange;
import { postgresLeg, startPostgres, type PostgresHandle } from '../servers/postgres.js';

const say = (m: unknown, o: unknown): void => void (process.env.SLUICE_TEST_VERBOSE && process.stderr.write(`${new Date().toISOString()} ${String(m)} ${JSON.stringify(o)}\n`));
const quiet: TaskLogger = { debug: (o, m) => say(m, o), info: (o, m) => say(m, o), warn: (o, m) => say(m, o), error: (o, m) => say(m, o) };

function ctxOf(index = 0, appId = 'app-cdc'): TaskContext {
  return {
    appId, taskId: `cdc.${index}`, processor: 'cdc', index, parallelism: 2, config: undefined, logger: quiet,
    blobs: { path: () => { throw new Error('no blobs'); }, version: () => 0 },
    emit: () => { throw new Error('a source task emits through read()'); },
  };
}

/** Reads until `done(all)` (polling read(), as the runtime does), or fails after timeoutMs. */
async function drain(src: SourceTask, done: (all: PostgresChange[]) => boolean, timeoutMs = 30_000, max = 1000): Promise<PostgresChange[]> {
  const all: PostgresChange[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!done(all)) {
    if (Date.now() > deadline) throw new Error(`drain: timed out with ${all.length} records`);
    const got = src.read(max) as PostgresChange[] | null;
    if (got && got.length) all.push(...got);
    else await new Promise((r) => setTimeout(r, 10));
  }
  return all;
}

async function failure(p: unknown): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a failure, got success');
}

describe('postgresSource options (no server needed)', () => {
  it('validates with zod and names the key (CONFIG_INVALID)', () => {
    const bad = (o: unknown): string => {
      try {
        connectors.postgresSource(o as Parameters<typeof connectors.postgresSource>[0]);
      } catch (err) {
        expect(isEngineError(err, 'CONFIG_INVALID')).toBe(true);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ url: 'mysql://x', table: 't' })).toMatch(/postgresSource\.url/);
    expect(bad({ url: 'postgres://h/db' })).toMatch(/exactly one of publication or table/);
    expect(bad({ url: 'postgres://h/db', table: 't', publication: 'p' })).toMatch(/exactly one of publication or table/);
    expect(bad({ url: 'postgres://h/db', table: 't', slot: 'Bad-Slot' })).toMatch(/postgresSource\.slot/);
    expect(() => connectors.postgresSource({ url: 'postgres://h/db', table: ['a', 'public.b'], slot: 's_1' })).not.toThrow();
  });

  it('names a default slot per app and processor, a legal slot name', () => {
    const a = connectors.defaultSlotName('app-1', 'Changes.X');
    expect(a).toMatch(/^sluice_changes_x_[0-9a-f]{12}$/);
    expect(connectors.defaultSlotName('app-2', 'Changes.X')).not.toBe(a);
  });
});

const leg = postgresLeg();
if (!leg.run) {
  if (leg.required) describe('PostgreSQL leg (SLUICE_REQUIRE_POSTGRES=1)', () => it('has PostgreSQL installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs PostgreSQL', () => undefined));
} else {
  describe('postgresSource on a real PostgreSQL', () => {
    let pg: PostgresHandle;
    let n = 0;
    const open: SourceTask[] = [];
    const source = async (o: Record<string, unknown>, position?: unknown, ctx = ctxOf()): Promise<SourceTask> => {
      const s = connectors.postgresSource({ url: pg.url(), retry: { initialDelayMs: 20, maxDelayMs: 200, budgetMs: 3000 }, ...o } as Parameters<typeof connectors.postgresSource>[0])();
      open.push(s);
      await s.open(ctx, position);
      return s;
    };
    const confirmed = async (slot: string): Promise<string | null> =>
      (await pg.sql<{ l: string | null }>('SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows[0]?.l ?? null;
    const lsnNum = (l: string): bigint => {
      const [a, b] = l.split('/');
      return (BigInt(`0x${a}`) << 32n) | BigInt(`0x${b}`);
    };

    beforeAll(async () => {
      pg = await startPostgres();
    }, 60_000);
    afterAll(async () => {
      for (const s of open) await s.close?.();
      await pg?.close();
    });

    it('snapshot then stream under a concurrent writer: every row exactly once; updates and deletes carry op, row, old key and LSN', async () => {
      const t = `cdc${++n}`;
      await pg.sql(`CREATE TABLE ${t} (id int PRIMARY KEY, v text NOT NULL)`);
      await pg.sql(`INSERT INTO ${t} SELECT g, 'v' || g FROM generate_series(1, 500) g`);
      // a writer inserts 1 row per statement all through the snapshot's creation
      let next = 501;
      let writing = true;
      const writer = (async () => {
        while (writing && next <= 3000) {
          await pg.sql(`INSERT INTO ${t} VALUES ($1, $2)`, [next, `v${next}`]);
          next++;
        }
      })();
      await new Promise((r) => setTimeout(r, 100));
      const s = await source({ table: t, slot: `s${n}` });
      await new Promise((r) => setTimeout(r, 200));
      writing = false;
      await writer;
      const last = next - 1;
      await pg.sql(`UPDATE ${t} SET v = 'changed' WHERE id = 2`);
      await pg.sql(`DELETE FROM ${t} WHERE id = 3`);
      const all = await drain(s, (a) => a.some((r) => r.op === 'delete'));
      const inserts = all.filter((r) => r.op === 'insert').map((r) => r.row.id as number);
      expect(inserts.length).toBe(last);
      expect(new Set(inserts).size).toBe(last);
      expect(Math.min(...inserts)).toBe(1);
      expect(Math.max(...inserts)).toBe(last);
      expect(all.filter((r) => r.snapshot).length).toBeGreaterThanOrEqual(500);
      expect(all.filter((r) => r.snapshot).length).toBeLessThan(last); // some came from the stream
      const upd = all.find((r) => r.op === 'update')!;
      expect(upd).toMatchObject({ table: `public.${t}`, row: { id: 2, v: 'changed' } });
      const del = all.find((r) => r.op === 'delete')!;
      expect(del).toMatchObject({ table: `public.${t}`, row: { id: 3 } });
      expect(lsnNum(del.lsn)).toBeGreaterThan(lsnNum(upd.lsn));
    }, 60_000);

    it('confirms the slot only on onCommit, to the committed position; recovery from a position mid-transaction replays exactly the rest', async () => {
      const t = `cdc${++n}`;
      const slot = `s${n}`;
      await pg.sql(`CREATE TABLE ${t} (id int PRIMARY KEY, v int NOT NULL)`);
      const s1 = await source({ table: t, slot, bufferRecords: 50 });
      const start = await confirmed(slot);
      // 20 transactions of 30 rows
      for (let k = 0; k < 20; k++) await pg.sql(`INSERT INTO ${t} SELECT g, ${k} FROM generate_series(${k * 30 + 1}, ${k * 30 + 30}) g`);
      const reference: number[] = [];
      const first = await drain(s1, (a) => a.length >= 245, 30_000, 7);
      reference.push(...first.map((r) => r.row.id as number));
      // s1 stopped mid-transaction: read() delivered 245 (or a few more) records
      const pos = s1.position() as { phase: string; lsn: string; skip: number };
      expect(pos.phase).toBe('stream');
      expect(pos.skip).toBe(first.length % 30);
      // nothing committed yet: the slot has not moved although far more was received
      expect(await confirmed(slot)).toBe(start);
      await s1.onCommit!(1, pos);
      await new Promise((r) => setTimeout(r, 300));
      const acked = await confirmed(slot);
      expect(acked).toBe(pos.lsn);
      // "crash": the rest that s1 buffered is dropped; a new task resumes from pos
      await s1.close!();
      const s2 = await source({ table: t, slot }, pos);
      const rest = await drain(s2, (a) => a.length >= 600 - first.length);
      await new Promise((r) => setTimeout(r, 200));
      expect(s2.read(1000)).toEqual([]);
      const ids = [...reference, ...rest.map((r) => r.row.id as number)];
      expect(ids).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
      // the slot is still where the last commit put it
      expect(await confirmed(slot)).toBe(acked);
    }, 60_000);

    it('recovers mid-snapshot from its spool: the same rows, then the stream; a committed stream position drops the spool', async () => {
      const t = `cdc${++n}`;
      const slot = `s${n}`;
      await pg.sql(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
      await pg.sql(`INSERT INTO ${t} SELECT g, md5(g::text) FROM generate_series(1, 2000) g`);
      const o = { table: t, slot, snapshotBatch: 100, bufferRecords: 200 };
      const s1 = await source(o);
      const first = await drain(s1, (a) => a.length >= 700, 30_000, 50);
      const pos = s1.position() as { phase: string; n: number };
      expect(pos).toMatchObject({ phase: 'snapshot', n: first.length });
      await s1.close!();
      // changes made while "down" arrive after the snapshot
      await pg.sql(`UPDATE ${t} SET v = 'x' WHERE id = 1`);
      const s2 = await source(o, pos);
      const rest = await drain(s2, (a) => a.some((r) => r.op === 'update'));
      const snapIds = [...first, ...rest].filter((r) => r.snapshot).map((r) => r.row.id as number);
      expect(snapIds.length).toBe(2000);
      expect(new Set(snapIds).size).toBe(2000);
      const spools = async (): Promise<number> => Number((await pg.sql<{ n: string }>("SELECT count(*)::text AS n FROM pg_tables WHERE tablename LIKE $1", [`${slot}\\_snap\\_%`])).rows[0]!.n);
      expect(await spools()).toBe(1);
      await s2.onCommit!(2, s2.position());
      expect(await spools()).toBe(0);
    }, 60_000);

    it('parallel tasks: task 1 is idle (one task reads the slot)', async () => {
      const t = `cdc${++n}`;
      await pg.sql(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
      await pg.sql(`INSERT INTO ${t} VALUES (1)`);
      const idle = await source({ table: t, slot: `s${n}` }, undefined, ctxOf(1));
      await new Promise((r) => setTimeout(r, 300));
      expect(idle.read(10)).toEqual([]);
      expect((await pg.sql('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`s${n}`])).rowCount).toBe(0);
    });

    it('typed failures: slot gone (SOURCE_SLOT_MISSING), missing table (SOURCE_SCHEMA), bad password (SOURCE_AUTH_FAILED), dead server (SOURCE_UNAVAILABLE, bounded)', async () => {
      const t = `cdc${++n}`;
      const slot = `s${n}`;
      await pg.sql(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
      const s = await source({ table: t, slot });
      const pos = s.position();
      await s.close!();
      await pg.sql('SELECT pg_drop_replication_slot($1)', [slot]);
      const gone = await failure(source({ table: t, slot }, pos));
      expect(gone.code).toBe('SOURCE_SLOT_MISSING');
      expect(gone.message).toMatch(new RegExp(`SOURCE_SLOT_MISSING: .*slot ${slot} .*gone`));
      expect((await failure(source({ table: 'no_such_table', slot: 'sx' }))).code).toBe('SOURCE_SCHEMA');
      const auth = await failure(source({ table: t, slot: 'sy', url: pg.url({ password: 'wrong' }) }));
      expect(auth.code).toBe('SOURCE_AUTH_FAILED');
      expect(auth.message).not.toMatch(/wrong/);
      const t0 = Date.now();
      const dead = await failure(source({ table: t, slot: 'sz', url: 'postgres://postgres:pw@127.0.0.1:1/postgres', retry: { initialDelayMs: 20, maxDelayMs: 100, budgetMs: 800 } }));
      expect(dead.code).toBe('SOURCE_UNAVAILABLE');
      expect(dead.message).toMatch(/retry budget 800 ms/);
      expect(Date.now() - t0).toBeLessThan(20_000);
    }, 60_000);

    it('a server restart while streaming: reconnects and loses nothing', async () => {
      const t = `cdc${++n}`;
      await pg.sql(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
      const s = await source({ table: t, slot: `s${n}`, retry: { initialDelayMs: 50, maxDelayMs: 500, budgetMs: 30_000 } });
      await pg.sql(`INSERT INTO ${t} SELECT generate_series(1, 100)`);
      const a = await drain(s, (x) => x.length >= 100);
      await pg.kill();
      await pg.start();
      await pg.sql(`INSERT INTO ${t} SELECT generate_series(101, 200)`);
      const b = await drain(s, (x) => x.length >= 100);
      expect([...a, ...b].map((r) => r.row.id)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    }, 90_000);
  });

  describe('postgresSource on a server without wal_level=logical', () => {
    let pg: PostgresHandle;
    beforeAll(async () => {
      pg = await startPostgres({ settings: { wal_level: 'replica' } });
    }, 60_000);
    afterAll(async () => {
      await pg?.close();
    });
    it('fails at open with SOURCE_UNSUPPORTED naming wal_level', async () => {
      await pg.sql('CREATE TABLE t (id int PRIMARY KEY)');
      const s = connectors.postgresSource({ url: pg.url(), table: 't' })();
      const err = await failure(s.open(ctxOf(), undefined));
      expect(err.code).toBe('SOURCE_UNSUPPORTED');
      expect(err.message).toMatch(/wal_level=replica/);
    });
  });
}
