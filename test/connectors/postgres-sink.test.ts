// connectors.postgresSink against a real PostgreSQL (started here): the write-ahead protocol
// driven hook by hook (replay after a crash, a zombie epoch, poison rows, schema and credential
// errors, a dead, a hung and a restarting server), then a whole word count in process through
// a "crash" and a server restart, the table equal to a reference count.
import { openStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectors, dag, InProcessApp, isEngineError, type SourceTask, type Task, type TaskContext, type TaskLogger } from '@sluice/engine';
import { postgresLeg, startPostgres, type PostgresHandle } from '../servers/postgres.js';

const quiet: TaskLogger = { debug() {}, info() {}, warn() {}, error() {} };

function ctxOf(task: string, epoch: number, appId = 'app-1'): TaskContext & { epoch: number } {
  return {
    appId, taskId: task, processor: task.split('.')[0]!, index: 0, parallelism: 1, config: undefined, logger: quiet, epoch,
    blobs: { path: () => { throw new Error('no blobs'); }, version: () => 0 },
    emit: () => { throw new Error('a sink emits nothing'); },
  };
}

/** What a rejected hook threw, so a test can look at its code and message. */
async function failure(p: unknown): Promise<{ code?: string; message: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error('expected a failure, got success');
}

describe('postgresSink options (no server needed)', () => {
  it('validates with zod and names the key path (CONFIG_INVALID)', () => {
    const bad = (o: unknown): string => {
      try {
        connectors.postgresSink(o as Parameters<typeof connectors.postgresSink>[0]);
      } catch (err) {
        expect(isEngineError(err, 'CONFIG_INVALID')).toBe(true);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ url: 'mysql://x', table: 't', columns: ['a'] })).toMatch(/postgresSink\.url: must be a postgres/);
    expect(bad({ url: 'postgres://h/db', table: 't', columns: ['a', 'b'], key: ['c'] })).toMatch(/postgresSink\.key\.0: key column "c" is not one of columns/);
    expect(bad({ url: 'postgres://h/db', table: 't', columns: [] })).toMatch(/postgresSink\.columns/);
    expect(bad({ url: 'postgres://h/db', table: 'a.b.c', columns: ['a'] })).toMatch(/postgresSink\.table: .*table or schema\.table/);
    expect(bad({ url: 'postgres://h/db', table: 't', columns: ['a'], retry: { budgetMs: -1 } })).toMatch(/postgresSink\.retry\.budgetMs/);
    expect(bad({ url: 'postgres://h/db', table: 't', columns: ['a'], batchSize: 3 })).toMatch(/batchSize/);
    expect(() => connectors.postgresSink({ url: 'postgresql://u:p@h:5/db', table: '"My Schema".t', columns: ['a'], key: ['a'] })).not.toThrow();
  });

  it('refuses a value that is not a row before anything is written (SINK_POISON_ROW)', () => {
    const task = connectors.postgresSink({ url: 'postgres://127.0.0.1:1/x', table: 't', columns: ['a', 'b'] })();
    expect(() => task.onNext(['just a string'], 1, ctxOf('out.0', 1))).toThrow(expect.objectContaining({ code: 'SINK_POISON_ROW', message: expect.stringMatching(/is a string, not an array or an object/) }));
    expect(() => task.onNext([['only one']], 1, ctxOf('out.0', 1))).toThrow(expect.objectContaining({ code: 'SINK_POISON_ROW', message: expect.stringMatching(/has 1 values for 2 columns/) }));
  });

  it('bounds memory: past maxPendingRows the task fails with SINK_BACKLOG', () => {
    const task = connectors.postgresSink({ url: 'postgres://127.0.0.1:1/x', table: 't', columns: ['a'], maxPendingRows: 5 })();
    task.onNext([[1], [2], [3]], 1, ctxOf('out.0', 1));
    task.onClock!(100, ctxOf('out.0', 1));
    expect(() => task.onNext([[4], [5], [6]], 100, ctxOf('out.0', 1))).toThrow(expect.objectContaining({ code: 'SINK_BACKLOG' }));
  });
});

const leg = postgresLeg();
if (!leg.run) {
  if (leg.required) describe('PostgreSQL leg (SLUICE_REQUIRE_POSTGRES=1)', () => it('has PostgreSQL installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs PostgreSQL', () => undefined));
} else {
  describe('postgresSink on a real PostgreSQL', () => {
    let pg: PostgresHandle;
    let n = 0;
    /** A fresh table per test: (word text, n int), keyed or not. */
    const table = async (keyed: boolean): Promise<string> => {
      const name = `t${++n}`;
      await pg.sql(`CREATE TABLE ${name} (word text ${keyed ? 'PRIMARY KEY' : 'NOT NULL'}, n int NOT NULL CHECK (n >= 0))`);
      return name;
    };
    const rows = async (name: string): Promise<Array<[string, number]>> =>
      (await pg.sql<{ word: string; n: number }>(`SELECT word, n FROM ${name} ORDER BY word, n`)).rows.map((r) => [r.word, r.n]);
    const progress = async (app: string, task: string): Promise<{ epoch: string; last_t: string } | undefined> =>
      (await pg.sql<{ epoch: string; last_t: string }>('SELECT epoch, last_t FROM sluice_sink_progress WHERE app = $1 AND task = $2', [app, task])).rows[0];
    const sink = (name: string, extra: Record<string, unknown> = {}): Task =>
      connectors.postgresSink({ url: pg.url(), table: name, columns: ['word', 'n'], retry: { initialDelayMs: 20, maxDelayMs: 200, budgetMs: 20_000 }, ...extra })();

    beforeAll(async () => {
      pg = await startPostgres();
    });
    afterAll(async (ctx) => {
      if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`--- postgres log ---\n${pg?.logTail(4000)}\n`);
      await pg?.close();
    });

    it('writes a checkpoint at onCommit, once: a replay of the same checkpoint after a crash adds nothing (append mode)', async () => {
      const name = await table(false);
      const a = sink(name);
      const ca = ctxOf('out.0', 1);
      await a.onRecover!(undefined, ca);
      await a.onStart!(ca);
      a.onNext([['x', 1], ['y', 2]], 10, ca);
      a.onClock!(100, ca);
      a.onNext([['z', 3]], 150, ca);
      a.onClock!(200, ca);
      const at200 = JSON.parse(JSON.stringify(a.snapshot!())) as unknown;
      // nothing is visible before the checkpoint commits
      expect(await rows(name)).toEqual([]);
      await a.onCommit!(100, ca);
      expect(await rows(name)).toEqual([['x', 1], ['y', 2]]);
      // crash here: checkpoint 200 was committed by the AppMaster, onCommit(200) never ran.
      // Epoch 2 restores 200 and writes what the checkpoint holds.
      const b = sink(name);
      const cb = ctxOf('out.0', 2);
      await b.restore!(at200, cb);
      await b.onRecover!(200, cb);
      await b.onStart!(cb);
      expect(await rows(name)).toEqual([['x', 1], ['y', 2], ['z', 3]]);
      expect(await progress('app-1', 'out.0')).toEqual({ epoch: '2', last_t: '200' });
      // and again (epoch 3 restores the same checkpoint): nothing is duplicated
      const c = sink(name);
      const cc = ctxOf('out.0', 3);
      await c.restore!(at200, cc);
      await c.onRecover!(200, cc);
      expect(await rows(name)).toEqual([['x', 1], ['y', 2], ['z', 3]]);
      for (const t of [a, b, c]) await t.onStop!(ca);
    });

    it('refuses a zombie: once epoch 2 started, epoch 1 cannot commit (SINK_FENCED) and writes nothing', async () => {
      const name = await table(false);
      const zombie = sink(name);
      const cz = ctxOf('out.0', 1, 'app-z');
      await zombie.onStart!(cz);
      zombie.onNext([['late', 9]], 10, cz);
      zombie.onClock!(100, cz);
      const fresh = sink(name);
      const cf = ctxOf('out.0', 2, 'app-z');
      await fresh.onRecover!(undefined, cf);
      await fresh.onStart!(cf);
      const err = await failure(zombie.onCommit!(100, cz));
      expect(err.code).toBe('SINK_FENCED');
      expect(err.message).toMatch(/epoch 2 already writes task out\.0 of app app-z; this epoch 1 is a zombie/);
      expect(await rows(name)).toEqual([]);
      // a zombie that starts late is refused at start too
      const late = sink(name);
      expect((await failure(late.onStart!(ctxOf('out.0', 1, 'app-z')))).code).toBe('SINK_FENCED');
      await fresh.onStop!(cf);
      // a failed sink does not stop cleanly: onStop reports the failure again
      for (const t of [zombie, late]) expect((await failure(t.onStop!(cz))).code).toBe('SINK_FENCED');
    });

    it('upserts with a key: the last value per key wins, within and across checkpoints', async () => {
      const name = await table(true);
      const s = sink(name, { key: ['word'] });
      const c = ctxOf('out.0', 1, 'app-u');
      await s.onStart!(c);
      s.onNext([['a', 1], ['b', 1], ['a', 2]], 10, c);
      s.onClock!(100, c);
      s.onNext([['a', 3], { word: 'c', n: 7 }], 110, c);
      s.onClock!(200, c);
      await s.onCommit!(200, c);
      expect(await rows(name)).toEqual([['a', 3], ['b', 1], ['c', 7]]);
      s.onNext([['b', 5]], 210, c);
      s.onClock!(300, c);
      await s.onCommit!(300, c);
      expect(await rows(name)).toEqual([['a', 3], ['b', 5], ['c', 7]]);
      await s.onStop!(c);
    });

    it('a poison row fails the commit with SINK_POISON_ROW naming the row and column; the transaction writes nothing', async () => {
      const name = await table(false);
      const s = sink(name, { batchRows: 4 });
      const c = ctxOf('out.0', 1, 'app-p');
      await s.onStart!(c);
      // 10 rows over 3 statements; row 6 does not parse as an integer
      s.onNext(Array.from({ length: 10 }, (_, i) => [`w${i}`, i === 6 ? 'six' : i]), 10, c);
      s.onClock!(100, c);
      const err = await failure(s.onCommit!(100, c));
      expect(err.code).toBe('SINK_POISON_ROW');
      expect(err.message).toMatch(/row 6 of checkpoint 100 \["w6","six"\] was refused \(column n\): invalid input syntax for type integer: "six" \(SQLSTATE 22P02\)/);
      expect(err.details).toMatchObject({ row: 6, column: 'n', sqlState: '22P02', checkpoint: 100 });
      // a constraint (no parameter named): found by bisection
      const s2 = sink(name, { batchRows: 8 });
      const c2 = ctxOf('out.0', 1, 'app-p2');
      await s2.onStart!(c2);
      s2.onNext(Array.from({ length: 8 }, (_, i) => [`v${i}`, i === 5 ? -1 : i]), 10, c2);
      s2.onClock!(100, c2);
      const err2 = await failure(s2.onCommit!(100, c2));
      expect(err2.code).toBe('SINK_POISON_ROW');
      expect(err2.message).toMatch(/row 5 of checkpoint 100 \["v5",-1\] was refused.*check constraint.*23514/);
      expect(await rows(name)).toEqual([]);
      expect(await progress('app-p', 'out.0')).toEqual({ epoch: '1', last_t: '-1' });
      expect((await failure(s.onStop!(c))).code).toBe('SINK_POISON_ROW');
      expect((await failure(s2.onStop!(c2))).code).toBe('SINK_POISON_ROW');
    });

    it('a missing table, a missing column or a key without a unique index fail at start with SINK_SCHEMA', async () => {
      const keyless = await table(false);
      const cases: Array<[Task, RegExp]> = [
        [sink('no_such_table'), /relation "no_such_table" does not exist.*42P01/],
        [connectors.postgresSink({ url: pg.url(), table: keyless, columns: ['word', 'count'] })(), /column "count" of relation "t\d+" does not exist.*42703/],
        [sink(keyless, { key: ['word'] }), /no unique or exclusion constraint matching the ON CONFLICT.*42P10/],
      ];
      for (const [task, re] of cases) {
        const err = await failure(task.onStart!(ctxOf('out.0', 1, 'app-s')));
        expect(err.code).toBe('SINK_SCHEMA');
        expect(err.message).toMatch(re);
        expect((await failure(task.onStop!(ctxOf('out.0', 1)))).code).toBe('SINK_SCHEMA');
      }
    });

    it('bad credentials fail at once with SINK_AUTH_FAILED (no retries), the password never in the message', async () => {
      const name = await table(false);
      const s = connectors.postgresSink({ url: pg.url({ password: 'not-the-password' }), table: name, columns: ['word', 'n'], retry: { budgetMs: 30_000 } })();
      const t0 = Date.now();
      const err = await failure(s.onStart!(ctxOf('out.0', 1)));
      expect(err.code).toBe('SINK_AUTH_FAILED');
      expect(err.message).toMatch(/password authentication failed.*28P01/);
      expect(err.message).not.toContain('not-the-password');
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect((await failure(s.onStop!(ctxOf('out.0', 1)))).code).toBe('SINK_AUTH_FAILED');
    });

    it('a role with only INSERT/UPDATE on the tables works (the progress table made by a DBA); without INSERT it is SINK_AUTH_FAILED at start', async () => {
      const name = await table(true);
      await pg.sql("CREATE ROLE writer LOGIN PASSWORD 'writer-pw'");
      await pg.sql(`GRANT SELECT, INSERT, UPDATE ON ${name}, sluice_sink_progress TO writer`);
      await pg.sql('CREATE ROLE reader LOGIN PASSWORD \'reader-pw\'');
      await pg.sql(`GRANT SELECT ON ${name}, sluice_sink_progress TO reader`);
      // PostgreSQL 15 grants no CREATE on schema public: the sink must not need it
      expect((await pg.sql<{ ok: boolean }>("SELECT has_schema_privilege('writer', 'public', 'CREATE') AS ok")).rows[0]!.ok).toBe(false);
      const w = connectors.postgresSink({ url: pg.url({ user: 'writer', password: 'writer-pw' }), table: name, columns: ['word', 'n'], key: ['word'] })();
      const c = ctxOf('out.0', 1, 'app-priv');
      await w.onStart!(c);
      w.onNext([['p', 1]], 10, c);
      w.onClock!(100, c);
      await w.onCommit!(100, c);
      await w.onStop!(c);
      expect(await rows(name)).toEqual([['p', 1]]);
      const r = connectors.postgresSink({ url: pg.url({ user: 'reader', password: 'reader-pw' }), table: name, columns: ['word', 'n'], key: ['word'] })();
      const err = await failure(r.onStart!(ctxOf('out.0', 1, 'app-priv2')));
      expect(err.code).toBe('SINK_AUTH_FAILED');
      expect(err.message).toMatch(/permission denied for table .*42501/);
      await failure(r.onStop!(c));
    });

    it('a dead server: retries with back-off within the budget, then SINK_UNAVAILABLE', async () => {
      const s = connectors.postgresSink({ url: `postgres://postgres:x@127.0.0.1:1/postgres`, table: 't', columns: ['word', 'n'], retry: { initialDelayMs: 50, maxDelayMs: 200, budgetMs: 1_000 } })();
      const t0 = Date.now();
      const err = await failure(s.onStart!(ctxOf('out.0', 1)));
      const took = Date.now() - t0;
      expect(err.code).toBe('SINK_UNAVAILABLE');
      expect(err.message).toMatch(/retry budget 1000 ms\) at 127\.0\.0\.1:1\/postgres: .*ECONNREFUSED/);
      expect(err.details!.attempts as number).toBeGreaterThan(3);
      expect(took).toBeGreaterThan(500);
      expect(took).toBeLessThan(3_000);
      expect((await failure(s.onStop!(ctxOf('out.0', 1)))).code).toBe('SINK_UNAVAILABLE');
    });

    it('a hung server (SIGSTOP): the statement times out, retries run out, SINK_UNAVAILABLE; after SIGCONT the same task goes on', async () => {
      const name = await table(false);
      const s = connectors.postgresSink({ url: pg.url(), table: name, columns: ['word', 'n'], statementTimeoutMs: 300, connectTimeoutMs: 300, retry: { initialDelayMs: 50, maxDelayMs: 200, budgetMs: 1_500 } })();
      const c = ctxOf('out.0', 1, 'app-h');
      await s.onStart!(c);
      s.onNext([['h', 1]], 10, c);
      s.onClock!(100, c);
      pg.pause();
      let err;
      try {
        err = await failure(s.onCommit!(100, c));
      } finally {
        pg.resume();
      }
      expect(err.code).toBe('SINK_UNAVAILABLE');
      expect(err.message).toMatch(/write checkpoint 100 failed .* timeout/i);
      expect(await rows(name)).toEqual([]);
      // the rows are still pending: the next commit writes them
      await s.onCommit!(100, c);
      expect(await rows(name)).toEqual([['h', 1]]);
      // the earlier failure is still reported at stop
      expect((await failure(s.onStop!(c))).code).toBe('SINK_UNAVAILABLE');
    });

    it('survives a PostgreSQL restart (SIGKILL of the server) during a commit, exactly once', { timeout: 60_000 }, async () => {
      const name = await table(false);
      const s = sink(name);
      const c = ctxOf('out.0', 1, 'app-r');
      await s.onStart!(c);
      s.onNext([['r1', 1], ['r2', 2]], 10, c);
      s.onClock!(100, c);
      await pg.kill();
      const commit = s.onCommit!(100, c);
      await new Promise((r) => setTimeout(r, 500));
      await pg.start();
      await commit;
      expect(await rows(name)).toEqual([['r1', 1], ['r2', 2]]);
      s.onNext([['r3', 3]], 110, c);
      s.onClock!(200, c);
      await s.onCommit!(200, c);
      expect(await rows(name)).toEqual([['r1', 1], ['r2', 2], ['r3', 3]]);
      await s.onStop!(c);
    });

    it('writes cells as PostgreSQL takes them: objects as JSON, Dates as ISO, bigint and NaN as text, via a row mapper', async () => {
      await pg.sql('CREATE TABLE typed (id bigint PRIMARY KEY, at timestamptz, doc jsonb, f float8, b bytea)');
      const s = connectors.postgresSink({ url: pg.url(), table: 'typed', columns: ['id', 'at', 'doc', 'f', 'b'], key: ['id'], row: (v) => (v as { row: unknown[] }).row })();
      const c = ctxOf('out.0', 1, 'app-t');
      await s.onStart!(c);
      s.onNext([{ row: [2n ** 60n, new Date('2026-01-02T03:04:05.678Z'), { a: [1, 2] }, Number.NaN, new Uint8Array([1, 255])] }], 10, c);
      s.onClock!(100, c);
      await s.onCommit!(100, c);
      const r = await pg.sql<Record<string, unknown>>("SELECT id::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS at, doc, f::text, encode(b, 'hex') AS b FROM typed");
      expect(r.rows).toEqual([{ id: String(2n ** 60n), at: '2026-01-02 03:04:05.678', doc: { a: [1, 2] }, f: 'NaN', b: '01ff' }]);
      await s.onStop!(c);
    });

    it('in process: a word count through a crash (a new epoch restores the last checkpoint) and a server restart equals the reference', { timeout: 90_000 }, async () => {
      await pg.sql('CREATE TABLE wc (word text PRIMARY KEY, n bigint NOT NULL)');
      const lines = Array.from({ length: 3_000 }, (_, i) => Array.from({ length: 6 }, (_, j) => `w${(i * 7 + j * 13) % 97}`).join(' '));
      const reference = new Map<string, number>();
      for (const l of lines) for (const w of l.split(' ')) reference.set(w, (reference.get(w) ?? 0) + 1);
      // a replayable source: position = next line; slow enough to span many checkpoints
      const source = (): SourceTask => {
        let i = 0;
        let last = 0;
        return {
          open(_ctx, pos) {
            i = typeof pos === 'number' ? pos : 0;
          },
          read() {
            if (i >= lines.length) return null;
            const now = Date.now();
            if (now - last < 2) return [];
            last = now;
            const out = lines.slice(i, i + 10);
            i += out.length;
            return out;
          },
          position: () => i,
        };
      };
      const build = () =>
        dag('wc-pg')
          .source('lines', source)
          .flatMap('split', (l: string) => l.split(' '))
          .groupBy((w: string) => w)
          .count('count', { parallelism: 2 })
          .sink('out', connectors.postgresSink({ url: pg.url(), table: 'wc', columns: ['word', 'n'], key: ['word'], retry: { initialDelayMs: 20, maxDelayMs: 500, budgetMs: 30_000 } }), { parallelism: 2 });
      const storage = await openStorage(memoryModule, { volume: `pg-sink-${process.pid}` });
      const app = await storage.createAppStorage('wc', 'wc-1', { owner: 'test' });
      const first = new InProcessApp({ dag: build(), app, epoch: 1, intervalMs: 50 });
      await first.start();
      const deadline = Date.now() + 30_000;
      while (first.committer.commits < 5 && Date.now() < deadline && !first.error) await new Promise((r) => setTimeout(r, 20));
      // the "crash": stop without a final commit; the next epoch restores the last checkpoint
      await first.stop();
      expect(first.error).toBeUndefined();
      const mid = Number((await pg.sql<{ s: string }>('SELECT coalesce(sum(n), 0)::text AS s FROM wc')).rows[0]!.s);
      expect(mid).toBeGreaterThan(0);
      expect(mid).toBeLessThan(lines.length * 6);
      const second = new InProcessApp({ dag: build(), app, epoch: 2, intervalMs: 50 });
      await second.start();
      expect(second.restoredFrom).toBeDefined();
      while (second.committer.commits < 3 && Date.now() < deadline + 30_000 && !second.error) await new Promise((r) => setTimeout(r, 20));
      await pg.kill();
      await new Promise((r) => setTimeout(r, 300));
      await pg.start();
      await second.waitFinished(60_000);
      await second.stop();
      expect(second.error).toBeUndefined();
      const got = new Map((await pg.sql<{ word: string; n: string }>('SELECT word, n::text FROM wc')).rows.map((r) => [r.word, Number(r.n)]));
      expect(got).toEqual(reference);
      const prog = (await pg.sql<{ task: string; epoch: string }>("SELECT task, epoch FROM sluice_sink_progress WHERE app = 'wc-1' ORDER BY task")).rows;
      expect(prog).toEqual([{ task: 'out.0', epoch: '2' }, { task: 'out.1', epoch: '2' }]);
    });
  });
}
