import type pg from 'pg';
import { z } from 'zod';
import type { Task, TaskContext, TaskFactory } from '../dsl/task.js';
import { EngineError } from '../errors.js';
import { classifyPgError, describePgError, failedParameterOf, sqlStateOf } from './postgres-errors.js';
import { PgSession, toEngineError } from './postgres-session.js';
import { buildSinkSql, quoteQualified, type SinkSql } from './postgres-sql.js';

/**
 * Exactly-once into PostgreSQL by write-ahead, not by PREPARE TRANSACTION.
 *
 * Why: a task's onNext/onClock are synchronous and the snapshot at boundary t is taken right
 * after onClock(t), so nothing can wait for a PREPARE to finish before the checkpoint that
 * must name it is staged; PREPARE also needs `max_prepared_transactions` > 0 (off by default)
 * and leaves locks behind when a prepared transaction is orphaned. Instead:
 *
 * - onClock(t) moves the rows received before t into a pending batch tagged t, and the
 *   batch is part of the task's checkpointed state (the rows are in the checkpoint).
 * - onCommit(t) writes every pending batch ≤ t in ONE transaction that first locks the
 *   task's progress row (app, task) → (epoch, last_t): batches ≤ last_t are skipped (already
 *   written: a replay or a retried COMMIT whose answer was lost), a newer epoch in the row
 *   refuses the write (SINK_FENCED: a zombie), and the row is advanced in the same
 *   transaction as the data. So a transaction is safe to repeat as a whole, which is what
 *   the retries after a dead or restarting server do.
 * - onRecover(t) writes the restored batches (all ≤ t, so committed) the same way; onStart
 *   claims the progress row for this epoch, which fences every older one at once.
 *
 * Memory: the rows of checkpoints not yet written, at most `maxPendingRows` (normally one
 * checkpoint interval's rows; more while the server is down). Past it the task fails with
 * SINK_BACKLOG rather than grow without bound.
 */

type Cell = string | number | boolean | null;
type Row = Cell[];
interface Batch {
  t: number;
  rows: Row[];
}

const identifier = z.string().min(1).max(63).refine((s) => !s.includes('\u0000'), 'must not contain NUL');
const qualifiedName = z.string().min(1).max(200).superRefine((s, ctx) => {
  try {
    quoteQualified(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const retrySchema = z
  .object({
    initialDelayMs: z.number().int().min(1).max(60_000).default(100),
    maxDelayMs: z.number().int().min(1).max(300_000).default(5_000),
    budgetMs: z.number().int().min(0).max(86_400_000).default(60_000),
  })
  .strict();

const optionsSchema = z
  .object({
    url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'),
    table: qualifiedName,
    columns: z.array(identifier).min(1).max(1600),
    key: z.array(identifier).min(1).optional(),
    progressTable: qualifiedName.default('sluice_sink_progress'),
    batchRows: z.number().int().min(1).max(65_535).default(1_000),
    maxPendingRows: z.number().int().min(1).max(100_000_000).default(1_000_000),
    connectTimeoutMs: z.number().int().min(100).max(600_000).default(5_000),
    statementTimeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
    retry: retrySchema.prefault({}),
    row: z.custom<(value: unknown) => unknown>((f) => typeof f === 'function', 'must be a function').optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (new Set(o.columns).size !== o.columns.length) ctx.addIssue({ code: 'custom', path: ['columns'], message: 'columns must be distinct' });
    for (const [i, k] of (o.key ?? []).entries()) {
      if (!o.columns.includes(k)) ctx.addIssue({ code: 'custom', path: ['key', i], message: `key column ${JSON.stringify(k)} is not one of columns` });
    }
  });

export type PostgresSinkOptions = z.input<typeof optionsSchema>;
type Options = z.output<typeof optionsSchema>;

/** Validates the options (throws CONFIG_INVALID naming each bad key path). */
export function parsePostgresSinkOptions(input: unknown): Options {
  const r = optionsSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.slice(0, 5).map((i) => `${['postgresSink', ...i.path.map(String)].join('.')}: ${i.message}`);
  throw new EngineError('CONFIG_INVALID', `invalid options: ${lines.join('; ')}`, { details: { issues: lines } });
}

/**
 * Exactly-once PostgreSQL sink. Each value becomes one row: an array (positional, one value
 * per column) or an object (by column name; missing columns are NULL), after `row` if given.
 * With `key`, rows are upserted (INSERT … ON CONFLICT (key) DO UPDATE), else appended; every
 * row of one key must then reach the same sink task (tasks commit independently).
 */
export function postgresSink(options: PostgresSinkOptions): TaskFactory {
  const o = parsePostgresSinkOptions(options);
  const sql = buildSinkSql(o);
  return () => new PostgresSinkTask(o, sql);
}

/** One value of a row as it is bound and checkpointed: JSON-clean primitives. */
function cellOf(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      // NaN and ±Infinity are float literals to PostgreSQL; JSON would turn them into null
      return Number.isFinite(v) ? v : String(v);
    case 'bigint':
      return v.toString();
    case 'object':
      if (v instanceof Date) return v.toISOString();
      // bytea's hex input format
      if (v instanceof Uint8Array) return `\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
      // objects and nested arrays go to json/jsonb columns as JSON text
      return JSON.stringify(v);
    default:
      throw new Error(`a ${typeof v} cannot be written to PostgreSQL`);
  }
}

const preview = (v: unknown): string => {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
};

class PostgresSinkTask implements Task {
  #buffer: Row[] = [];
  #pending: Batch[] = [];
  #pendingRows = 0;
  /** Every use of the connection goes through this chain: one transaction at a time. */
  #chain: Promise<void> = Promise.resolve();
  #session: PgSession | undefined;
  #ready: Promise<void> | undefined;
  #ctx: TaskContext | undefined;
  #epoch = 0;
  /** The first failed write: onStop rethrows it. */
  #failed: Error | undefined;
  readonly #keyIdx: number[];

  constructor(private readonly o: Options, private readonly sql: SinkSql) {
    this.#keyIdx = (o.key ?? []).map((k) => o.columns.indexOf(k));
  }

  get #what(): string {
    return `postgresSink ${this.#ctx?.taskId ?? ''} → ${this.o.table}`;
  }

  #rowOf(value: unknown): Row {
    const v = this.o.row ? this.o.row(value) : value;
    const n = this.o.columns.length;
    try {
      if (Array.isArray(v)) {
        if (v.length !== n) throw new Error(`has ${v.length} values for ${n} columns (${this.o.columns.join(', ')})`);
        return v.map(cellOf);
      }
      if (v !== null && typeof v === 'object') {
        const rec = v as Record<string, unknown>;
        return this.o.columns.map((c) => cellOf(rec[c]));
      }
      throw new Error(`is a ${v === null ? 'null' : typeof v}, not an array or an object`);
    } catch (err) {
      throw new EngineError('SINK_POISON_ROW', `SINK_POISON_ROW: ${this.#what}: value ${preview(v)} ${(err as Error).message}`, { details: { table: this.o.table, value: preview(v) } });
    }
  }

  onNext(values: unknown[]): void {
    for (let i = 0; i < values.length; i++) this.#buffer.push(this.#rowOf(values[i]));
    if (this.#pendingRows + this.#buffer.length > this.o.maxPendingRows) {
      throw new EngineError('SINK_BACKLOG', `SINK_BACKLOG: ${this.#what}: ${this.#pendingRows + this.#buffer.length} rows wait to be written, over maxPendingRows ${this.o.maxPendingRows} (is the server slow or down?)`, {
        details: { pendingRows: this.#pendingRows, bufferedRows: this.#buffer.length, maxPendingRows: this.o.maxPendingRows },
      });
    }
  }

  onClock(t: number): void {
    if (this.#buffer.length === 0) return;
    this.#pending.push({ t, rows: this.#buffer });
    this.#pendingRows += this.#buffer.length;
    this.#buffer = [];
  }

  snapshot(): unknown {
    return { v: 1, pending: this.#pending };
  }

  restore(state: unknown): void {
    const s = state as { v?: unknown; pending?: unknown } | null;
    const pending = s?.pending;
    if (s === null || s.v !== 1 || !Array.isArray(pending) || !pending.every((b: Batch) => typeof b?.t === 'number' && Array.isArray(b.rows))) {
      throw new EngineError('APP_STATE', `${this.#what}: the restored state is not a postgres sink's (version 1)`);
    }
    this.#pending = pending as Batch[];
    this.#pendingRows = this.#pending.reduce((n, b) => n + b.rows.length, 0);
  }

  #init(ctx: TaskContext): void {
    if (this.#session) return;
    this.#ctx = ctx;
    this.#epoch = (ctx as TaskContext & { epoch?: number }).epoch ?? 0;
    this.#session = new PgSession(
      { url: this.o.url, connectTimeoutMs: this.o.connectTimeoutMs, statementTimeoutMs: this.o.statementTimeoutMs, retry: this.o.retry, applicationName: `sluice ${ctx.appId} ${ctx.taskId}`.slice(0, 63) },
      ctx.logger,
      this.#what,
    );
  }

  #enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(fn);
    // A failure fails the task; the chain itself stays usable for onStop, which reports it again.
    this.#chain = next.catch((err: unknown) => {
      this.#failed ??= err instanceof Error ? err : new Error('a postgres sink write failed', { cause: err });
    });
    return next;
  }

  async onRecover(t: number | undefined, ctx: TaskContext): Promise<void> {
    this.#init(ctx);
    // Everything restored is ≤ t, so committed: write it now (idempotent per batch).
    if (t !== undefined) await this.#enqueue(() => this.#flush(t));
  }

  async onStart(ctx: TaskContext): Promise<void> {
    this.#init(ctx);
    await this.#enqueue(() => this.#whenReady());
  }

  onCommit(t: number): Promise<void> {
    return this.#enqueue(() => this.#flush(t));
  }

  /**
   * Waits for the write in flight. A sink whose last write failed must not stop cleanly: an
   * executor may be asked to stop right after a failed final commit, and a clean stop would
   * tell the AppMaster that everything committed was published.
   */
  async onStop(): Promise<void> {
    await this.#chain;
    await this.#session?.close();
    if (this.#failed) throw this.#failed;
  }

  /** Once per task: the progress table exists, the target table fits the columns and key, and this epoch holds the progress row. */
  #whenReady(): Promise<void> {
    this.#ready ??= this.#session!.run('connect and check the table', async (c) => {
      // Created only when missing: CREATE … IF NOT EXISTS needs the CREATE privilege on the
      // schema even when the table exists (a DBA may have made it for a role without it).
      const exists = await c.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [this.sql.progressName]);
      if (exists.rows[0]?.r == null) {
        await c.query('BEGIN');
        // Concurrent CREATE TABLE IF NOT EXISTS can still collide on the type name: serialise it.
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.o.progressTable]);
        await c.query(this.sql.createProgress);
        await c.query('COMMIT');
      }
      // Plans (does not run) one INSERT: a missing table or column, or a key without a
      // unique index, fails here at start rather than at the first commit.
      await c.query(this.sql.probe, this.o.columns.map(() => null));
      await this.#claim(c);
      this.#ctx?.logger.info({ table: this.o.table, server: this.#session!.server, epoch: this.#epoch }, `${this.#what}: connected`);
    }).catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #claim(c: pg.Client): Promise<{ epoch: number; lastT: number }> {
    const ctx = this.#ctx!;
    const r = await c.query<{ epoch: string; last_t: string }>(this.sql.claim, [ctx.appId, ctx.taskId, this.#epoch]);
    if (r.rows.length === 0) {
      const cur = await c.query<{ epoch: string }>(`SELECT epoch FROM ${quoteQualified(this.o.progressTable)} WHERE app = $1 AND task = $2`, [ctx.appId, ctx.taskId]);
      throw this.#fenced(Number(cur.rows[0]?.epoch));
    }
    return { epoch: Number(r.rows[0]!.epoch), lastT: Number(r.rows[0]!.last_t) };
  }

  #fenced(newer: number): EngineError {
    return new EngineError('SINK_FENCED', `SINK_FENCED: ${this.#what}: epoch ${newer} already writes task ${this.#ctx!.taskId} of app ${this.#ctx!.appId}; this epoch ${this.#epoch} is a zombie and must not commit`, {
      details: { epoch: this.#epoch, newerEpoch: newer, table: this.o.table },
    });
  }

  /** Writes the pending batches ≤ t in one transaction with the progress row. */
  async #flush(t: number): Promise<void> {
    const due = this.#pending.filter((b) => b.t <= t);
    if (due.length === 0) return;
    await this.#whenReady();
    const ctx = this.#ctx!;
    await this.#session!.run(`write checkpoint ${t}`, async (c) => {
      await c.query('BEGIN');
      let r = await c.query<{ epoch: string; last_t: string }>(this.sql.lockProgress, [ctx.appId, ctx.taskId]);
      if (r.rows.length === 0) {
        // someone deleted the row: take it again, then lock it
        await this.#claim(c);
        r = await c.query<{ epoch: string; last_t: string }>(this.sql.lockProgress, [ctx.appId, ctx.taskId]);
      }
      const epoch = Number(r.rows[0]!.epoch);
      const lastT = Number(r.rows[0]!.last_t);
      if (epoch > this.#epoch) {
        await c.query('ROLLBACK');
        throw this.#fenced(epoch);
      }
      const todo = due.filter((b) => b.t > lastT);
      if (todo.length > 0) {
        await this.#insert(c, this.#rowsOf(todo), t);
        await c.query(this.sql.advance, [ctx.appId, ctx.taskId, this.#epoch, todo[todo.length - 1]!.t]);
      }
      await c.query('COMMIT');
    });
    this.#pending = this.#pending.filter((b) => b.t > t);
    this.#pendingRows = this.#pending.reduce((n, b) => n + b.rows.length, 0);
  }

  /** The batches' rows in order; with a key, only the last row per key (one INSERT … ON CONFLICT may not touch a row twice). */
  #rowsOf(batches: Batch[]): Row[] {
    if (this.#keyIdx.length === 0) return batches.length === 1 ? batches[0]!.rows : batches.flatMap((b) => b.rows);
    const last = new Map<string, Row>();
    for (const b of batches) {
      for (const row of b.rows) last.set(this.#keyIdx.length === 1 ? JSON.stringify(row[this.#keyIdx[0]!]) : JSON.stringify(this.#keyIdx.map((i) => row[i])), row);
    }
    return [...last.values()];
  }

  async #insert(c: pg.Client, rows: Row[], t: number): Promise<void> {
    const per = this.sql.rowsPerStatement;
    const n = this.o.columns.length;
    for (let start = 0; start < rows.length; start += per) {
      const chunk = rows.length <= per ? rows : rows.slice(start, start + per);
      const values: Cell[] = new Array<Cell>(chunk.length * n);
      let p = 0;
      for (const row of chunk) for (let i = 0; i < n; i++) values[p++] = row[i]!;
      try {
        // the full-size statement recurs: prepared once per connection
        await c.query(chunk.length === per ? { name: `sluice_sink_${per}`, text: this.sql.insert(per), values } : { text: this.sql.insert(chunk.length), values });
      } catch (err) {
        if (classifyPgError(err) !== 'poison') throw err;
        await c.query('ROLLBACK');
        throw await this.#poison(c, err, chunk, t, start);
      }
    }
  }

  /**
   * Names the row PostgreSQL refused: from the bound parameter it names, else by bisecting
   * the chunk with savepoints in a transaction that is rolled back.
   */
  async #poison(c: pg.Client, err: unknown, chunk: Row[], t: number, offset: number): Promise<EngineError> {
    const n = this.o.columns.length;
    let index: number | undefined;
    let column: string | undefined = (err as { column?: string }).column;
    let cause = err;
    const param = failedParameterOf(err);
    if (param !== undefined && param < chunk.length * n) {
      index = Math.floor(param / n);
      column = this.o.columns[param % n];
    } else {
      await c.query('BEGIN');
      let lo = 0;
      let hi = chunk.length;
      // bounded: the range halves each round
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        await c.query('SAVEPOINT probe');
        const part = chunk.slice(lo, mid);
        try {
          await c.query(this.sql.insert(part.length), part.flat());
          await c.query('ROLLBACK TO SAVEPOINT probe');
          lo = mid;
        } catch (e) {
          if (classifyPgError(e) !== 'poison') throw e;
          await c.query('ROLLBACK TO SAVEPOINT probe');
          cause = e;
          hi = mid;
        }
      }
      await c.query('ROLLBACK');
      index = lo;
    }
    const rowNo = offset + index;
    const row = chunk[index];
    const base = toEngineError('poison', cause, this.#what, this.#session!.server);
    return new EngineError('SINK_POISON_ROW', `SINK_POISON_ROW: ${this.#what}: row ${rowNo} of checkpoint ${t} ${preview(row)} was refused${column ? ` (column ${column})` : ''}: ${describePgError(cause)}`, {
      cause, details: { ...base.details, table: this.o.table, checkpoint: t, row: rowNo, value: preview(row), ...(column ? { column } : {}), ...(sqlStateOf(cause) ? { sqlState: sqlStateOf(cause) } : {}) },
    });
  }
}
