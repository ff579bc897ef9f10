import pg from 'pg';
import { EngineError } from '../errors.js';
import { quoteIdent, quoteQualified } from './postgres-sql.js';

/**
 * The catalogue work of the PostgreSQL CDC source, outside the replication stream: checks
 * (wal_level, tables, publication, slot), the publication it owns in `table` mode, the slot
 * created with an exported snapshot, and the snapshot spool (one table per source table,
 * copied inside that snapshot) that makes a snapshot resumable after a crash.
 */

export interface SourceTable {
  schema: string;
  name: string;
}

export const qualified = (t: SourceTable): string => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;

/** wal_level must be logical: anything else fails the task at once (SOURCE_UNSUPPORTED). */
export async function checkWalLevel(c: pg.Client, server: string): Promise<void> {
  const r = await c.query<{ wal_level: string }>('SHOW wal_level');
  const level = r.rows[0]?.wal_level;
  if (level !== 'logical') {
    throw new EngineError('SOURCE_UNSUPPORTED', `SOURCE_UNSUPPORTED: postgresSource: PostgreSQL at ${server} has wal_level=${String(level)}; logical replication needs wal_level=logical (postgresql.conf, then restart the server)`, { details: { server, walLevel: level } });
  }
}

/** The tables named by `table` (canonical schema and name); a missing one is SOURCE_SCHEMA. */
export async function resolveTables(c: pg.Client, names: string[]): Promise<SourceTable[]> {
  const out: SourceTable[] = [];
  for (const n of names) {
    const r = await c.query<{ schema: string; name: string }>(
      'SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)',
      [quoteQualified(n)],
    );
    const row = r.rows[0];
    if (!row) throw new EngineError('SOURCE_SCHEMA', `SOURCE_SCHEMA: postgresSource: table ${JSON.stringify(n)} does not exist`, { details: { table: n } });
    out.push(row);
  }
  return out;
}

/** The tables of an existing publication (SOURCE_SCHEMA when it does not exist). */
export async function publicationTables(c: pg.Client, publication: string): Promise<SourceTable[]> {
  const p = await c.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  if (p.rowCount === 0) throw new EngineError('SOURCE_SCHEMA', `SOURCE_SCHEMA: postgresSource: publication ${JSON.stringify(publication)} does not exist (CREATE PUBLICATION ... FOR TABLE ...)`, { details: { publication } });
  const r = await c.query<SourceTable>('SELECT schemaname AS schema, tablename AS name FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2', [publication]);
  return r.rows;
}

/** `table` mode: the source's own publication over its tables (created once, then reused as is). */
export async function ensurePublication(c: pg.Client, publication: string, tables: SourceTable[]): Promise<void> {
  const p = await c.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  if (p.rowCount) return;
  try {
    await c.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${tables.map(qualified).join(', ')}`);
  } catch (err) {
    // Two tasks (or a zombie) racing to create it: the other one won, which is fine.
    if ((err as { code?: string }).code !== '42710') throw err;
  }
}

export async function slotLsn(c: pg.Client, slot: string): Promise<{ confirmed: string | null; active: boolean } | undefined> {
  const r = await c.query<{ confirmed: string | null; active: boolean; plugin: string | null }>(
    'SELECT confirmed_flush_lsn::text AS confirmed, active, plugin FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return r.rows[0];
}

/** Drops the slot (an abandoned attempt's); a slot still held by a dying executor is retried by the caller (55006). */
export async function dropSlotIfExists(c: pg.Client, slot: string): Promise<void> {
  const s = await slotLsn(c, slot);
  if (s) await c.query('SELECT pg_drop_replication_slot($1)', [slot]);
}

export async function createSlot(c: pg.Client, slot: string): Promise<void> {
  await c.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
}

export const spoolName = (slot: string, i: number): string => `${slot}_snap_${i}`;

export async function dropSpools(c: pg.Client, schema: string, slot: string): Promise<void> {
  const r = await c.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 AND tablename LIKE $2", [schema, `${slot}\\_snap\\_%`]);
  for (const { name } of r.rows) await c.query(`DROP TABLE IF EXISTS ${quoteIdent(schema)}.${quoteIdent(name)}`);
}

/**
 * The consistent start: a slot created with an exported snapshot on a replication connection
 * (`consistent_point`: every transaction committed before it is in the snapshot, every later
 * one is streamed by the slot), then, inside that snapshot, each table copied into its spool
 * table with a row number, in one transaction. The replication connection must stay open
 * until the snapshot is imported, so both connections live here.
 */
export async function createSlotWithSnapshot(
  connect: (replication: boolean) => Promise<pg.Client>,
  slot: string,
  spoolSchema: string,
  tables: SourceTable[],
): Promise<{ lsn: string; counts: number[] }> {
  const repl = await connect(true);
  const c = await connect(false);
  try {
    const r = await repl.query<{ consistent_point: string; snapshot_name: string }>(`CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`);
    const row = r.rows[0]!;
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await c.query(`SET TRANSACTION SNAPSHOT '${row.snapshot_name.replace(/'/g, "''")}'`);
    const counts: number[] = [];
    for (let i = 0; i < tables.length; i++) {
      const spool = `${quoteIdent(spoolSchema)}.${quoteIdent(spoolName(slot, i))}`;
      await c.query(`CREATE TABLE ${spool} AS SELECT row_number() OVER () AS sluice_n, t.* FROM ${qualified(tables[i]!)} t`);
      await c.query(`ALTER TABLE ${spool} ADD PRIMARY KEY (sluice_n)`);
      const n = await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${spool}`);
      counts.push(Number(n.rows[0]!.n));
    }
    await c.query('COMMIT');
    return { lsn: row.consistent_point, counts };
  } finally {
    await c.end().catch(() => undefined);
    await repl.end().catch(() => undefined);
  }
}

/** Row counts of the spool tables (undefined for a missing one): a restored snapshot position needs them intact. */
export async function spoolCounts(c: pg.Client, schema: string, slot: string, tables: number): Promise<Array<number | undefined>> {
  const out: Array<number | undefined> = [];
  for (let i = 0; i < tables; i++) {
    const name = spoolName(slot, i);
    const e = await c.query("SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2", [schema, name]);
    if (!e.rowCount) {
      out.push(undefined);
      continue;
    }
    const n = await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteIdent(schema)}.${quoteIdent(name)}`);
    out.push(Number(n.rows[0]!.n));
  }
  return out;
}

export async function readSpool(c: pg.Client, schema: string, slot: string, i: number, after: number, limit: number): Promise<Array<Record<string, unknown>>> {
  const r = await c.query<Record<string, unknown>>(`SELECT * FROM ${quoteIdent(schema)}.${quoteIdent(spoolName(slot, i))} WHERE sluice_n > $1 ORDER BY sluice_n LIMIT $2`, [after, limit]);
  return r.rows;
}
