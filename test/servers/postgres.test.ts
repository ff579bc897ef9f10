// The PostgreSQL launcher itself: a server comes up on 127.0.0.1 with password auth, survives a
// SIGKILL and a fast shutdown with its data, and close() leaves no process or directory.
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresLeg, startPostgres, type PostgresHandle } from './postgres.js';

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
      await server.kill();
      expect(server.pid).toBeUndefined();
      // no backend of the killed server is left in its process group
      expect(() => process.kill(-first, 0)).toThrow();
      await server.start();
      expect(server.pid).not.toBe(first);
      expect((await server.sql('SELECT count(*)::int AS n FROM kept')).rows[0]).toEqual({ n: 2 });
      await server.stop();
      expect(server.pid).toBeUndefined();
      await expect(server.sql('SELECT 1')).rejects.toThrow();
      await server.start();
      expect((await server.sql('SELECT sum(n)::int AS s FROM kept')).rows[0]).toEqual({ s: 3 });
    });

    it('close() kills the server and removes its directory', async () => {
      const other = await startPostgres();
      const pid = other.pid!;
      await other.close();
      expect(existsSync(other.dir)).toBe(false);
      expect(() => process.kill(pid, 0)).toThrow();
    });
  });
}
