// The PostgreSQL launcher itself: a server comes up on 127.0.0.1 with password auth, survives a
// SIGKILL and a fast shutdown with its data, and close() leaves no process or directory.
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive, postgresLeg, startPostgres, type PostgresHandle } from './postgres.js';

const leg = postgresLeg();
if (!leg.run) {
  if (leg.required) describe('PostgreSQL leg (SLUICE_REQUIRE_POSTGRES=1)', () => it('has PostgreSQL installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs PostgreSQL', () => undefined));
} else {
  describe('PostgreSQL test server launcher', () => {
    let server: PostgresHandle;
    beforeAll(async () => {
      server = await startPostgres();
    });
    afterAll(async () => {
      await server?.close();
    });

    it('listens on 127.0.0.1 with scram passwords: the right one connects, a wrong one is refused (28P01)', async () => {
      expect(server.pid).toBeTypeOf('number');
      const r = await server.sql<{ addr: string; wal: string }>("SELECT inet_server_addr()::text AS addr, current_setting('wal_level') AS wal");
      expect(r.rows[0]).toEqual({ addr: '127.0.0.1/32', wal: 'logical' });
      const bad = new pg.Client({ connectionString: server.url({ password: 'wrong' }), connectionTimeoutMillis: 5_000 });
      bad.on('error', () => undefined);
      await expect(bad.connect()).rejects.toMatchObject({ code: '28P01' });
    });

    it('keeps its data through a SIGKILL of the whole server and through a fast shutdown', { timeout: 60_000 }, async () => {
      await server.sql('CREATE TABLE kept (n int)');
      await server.sql('INSERT INTO kept VALUES (1), (2)');
      const first = server.pid!;
      // a connection held open: its backend must die with the server, not linger
      const held = new pg.Client({ connectionString: server.url() });
      held.on('error', () => undefined);
      await held.connect();
      const backend = (await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await server.kill();
      expect(server.pid).toBeUndefined();
      expect(processAlive(backend)).toBe(false);
      held.connection.stream.destroy();
      await server.start();
      expect(server.pid).not.toBe(first);
      expect((await server.sql('SELECT count(*)::int AS n FROM kept')).rows[0]).toEqual({ n: 2 });
      await server.stop();
      expect(server.pid).toBeUndefined();
      await expect(server.sql('SELECT 1')).rejects.toThrow();
      await server.start();
      expect((await server.sql('SELECT sum(n)::int AS s FROM kept')).rows[0]).toEqual({ s: 3 });
    });

    it('pause() stops every backend (a hung server: queries wait), resume() lets them answer', async () => {
      const c = new pg.Client({ connectionString: server.url() });
      c.on('error', () => undefined);
      await c.connect();
      server.pause();
      let answered = false;
      const q = c.query('SELECT 1').then(() => (answered = true));
      try {
        await new Promise((r) => setTimeout(r, 500));
        expect(answered).toBe(false);
      } finally {
        server.resume();
      }
      await q;
      expect(answered).toBe(true);
      await c.end();
    });

    it('close() kills the server and removes its directory', async () => {
      const other = await startPostgres();
      const pid = other.pid!;
      await other.close();
      expect(existsSync(other.dir)).toBe(false);
      expect(processAlive(pid)).toBe(false);
    });
  });
}
