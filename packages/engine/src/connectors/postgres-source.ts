import { createHash } from 'node:crypto';
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { z } from 'zod';
import { formatIssues } from '@sluice/storage-api';
import type { SourceFactory, SourceTask, TaskContext, TaskLogger } from '../dsl/task.js';
import { EngineError } from '../errors.js';
import { classifyPgError, describePgError, sqlStateOf } from './postgres-errors.js';
import { bigToLsn, compareLsn, isLsn, lsnBefore, lsnToBig, maxLsn } from './postgres-lsn.js';
import { serverOf } from './postgres-session.js';
import {
  checkWalLevel, createSlot, createSlotWithSnapshot, dropSlotIfExists, dropSpools, ensurePublication, publicationTables, readSpool, resolveTables, slotLsn, spoolCounts, spoolName, type SourceTable,
} from './postgres-source-setup.js';

/**
 * PostgreSQL change data capture: an initial snapshot of the tables, then their changes from a
 * logical replication slot (pgoutput, through pg-logical-replication). Exactly-once into any
 * Sluice sink: the position (in the offset store at each checkpoint boundary) is the end LSN of
 * the last transaction read() delivered whole, plus how many records of the next one it already
 * delivered; recovery restarts the slot there and skips those. The slot's confirmed flush LSN
 * (what PostgreSQL may recycle WAL up to) advances only in onCommit, i.e. once the checkpoint
 * that covers it committed. One task reads the slot: tasks 1..p-1 of a parallel source are idle.
 */

const pgName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case PostgreSQL name ([a-z_][a-z0-9_]*, at most 63 characters)');

export const postgresSourceOptionsSchema = z
  .object({
    url: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL'),
    /** An existing publication: its tables are snapshotted and streamed. */
    publication: pgName.optional(),
    /** Or the tables (`t` or `schema.t`): the source creates publication `<slot>_pub` for them. */
    table: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** The replication slot; default `sluice_<processor>_<hash of app id and processor>`. */
    slot: pgName.optional(),
    /** Read the tables' current rows first (default); false: only changes from the slot on. */
    snapshot: z.boolean().default(true),
    /** Schema of the snapshot's spool tables (`<slot>_snap_<i>`, dropped once the snapshot is committed). */
    spoolSchema: z.string().min(1).default('public'),
    /** Records buffered ahead of read(): the stream is paused while full. */
    bufferRecords: z.number().int().min(1).max(10_000_000).default(20_000),
    /** Snapshot rows per spool query. */
    snapshotBatch: z.number().int().min(1).max(1_000_000).default(5_000),
    connectTimeoutMs: z.number().int().min(100).max(600_000).default(5_000),
    /** No byte from the server for this long (it pings every 10 s) is a dead connection. */
    replicationTimeoutMs: z.number().int().min(1_000).max(600_000).default(30_000),
    retry: z
      .object({
        initialDelayMs: z.number().int().min(1).max(60_000).default(100),
        maxDelayMs: z.number().int().min(1).max(600_000).default(5_000),
        /** An outage longer than this fails the task with SOURCE_UNAVAILABLE. */
        budgetMs: z.number().int().min(0).max(86_400_000).default(60_000),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((o) => (o.publication === undefined) !== (o.table === undefined), { message: 'give exactly one of publication or table', path: ['publication'] });

export type PostgresSourceOptions = z.input<typeof postgresSourceOptionsSchema>;
type Options = z.output<typeof postgresSourceOptionsSchema>;

export function parsePostgresSourceOptions(input: unknown): Options {
  const r = postgresSourceOptionsSchema.safeParse(input ?? {});
  if (!r.success) {
    const lines = formatIssues(r.error.issues, ['postgresSource']);
    throw new EngineError('CONFIG_INVALID', `invalid postgresSource options:\n  ${lines.join('\n  ')}`, { details: { issues: lines } });
  }
  return r.data;
}

/** A change (or a snapshot row, `snapshot: true`, op insert). */
export interface PostgresChange {
  op: 'insert' | 'update' | 'delete' | 'truncate';
  /** `schema.table`. */
  table: string;
  /** The new row (insert, update), the old row or its key (delete); {} for truncate. */
  row: Record<string, unknown>;
  /** update and delete: the old row (REPLICA IDENTITY FULL) or its key columns, when sent. */
  old?: Record<string, unknown>;
  /** End LSN of the record's transaction (the slot's consistent point for snapshot rows). */
  lsn: string;
  snapshot?: true;
}

type SnapshotPosition = { phase: 'snapshot'; lsn: string; table: number; n: number; counts: number[] };
type StreamPosition = { phase: 'stream'; lsn: string; skip: number };
type Position = SnapshotPosition | StreamPosition;

const positionSchema = z.union([
  z.object({ phase: z.literal('snapshot'), lsn: z.string().refine(isLsn), table: z.number().int().min(0), n: z.number().int().min(0), counts: z.array(z.number().int().min(0)) }),
  z.object({ phase: z.literal('stream'), lsn: z.string().refine(isLsn), skip: z.number().int().min(0) }),
]);

export function postgresSource(options: PostgresSourceOptions): SourceFactory {
  const opts = parsePostgresSourceOptions(options);
  return () => new PostgresSource(opts);
}

/** The default slot name: readable, unique per app and processor, a legal slot name. */
export function defaultSlotName(appId: string, processor: string): string {
  const h = createHash('sha256').update(`${appId}\0${processor}`).digest('hex').slice(0, 12);
  const p = processor.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 40);
  return `sluice_${p}_${h}`;
}

/** A retry loop needs a hard stop besides the time budget. */
const MAX_ATTEMPTS = 10_000;
const PING_MS = 10_000;

class PostgresSource implements SourceTask {
  #logger!: TaskLogger;
  #server: string;
  #slot = '';
  #publication = '';
  #tables: SourceTable[] = [];
  #idle = false;
  #closed = false;
  #failure: Error | undefined;
  // delivered-ahead buffer: records and the position after each (parallel arrays)
  #recs: PostgresChange[] = [];
  #after: Position[] = [];
  #head = 0;
  #pos!: Position;
  #room: (() => void) | undefined;
  // stream state
  #resumeLsn = '0/0';
  #skipFirst = 0;
  #tx: PostgresChange[] = [];
  #ackLsn: string | undefined;
  #svc: LogicalReplicationService | undefined;
  #spoolsDropped = false;
  #loop: Promise<void> | undefined;

  constructor(private readonly o: Options) {
    this.#server = serverOf(o.url);
  }

  async open(ctx: TaskContext, position: unknown): Promise<void> {
    this.#logger = ctx.logger;
    this.#slot = this.o.slot ?? defaultSlotName(ctx.appId, ctx.processor);
    this.#publication = this.o.publication ?? `${this.#slot}_pub`;
    if (ctx.index > 0) {
      // One task reads the slot: a slot has one consumer at a time.
      this.#idle = true;
      ctx.logger.info({ slot: this.#slot }, `postgresSource: task ${ctx.index} of ${ctx.parallelism} is idle (task 0 reads the slot)`);
      return;
    }
    let restored: Position | undefined;
    if (position !== undefined && position !== null) {
      const p = positionSchema.safeParse(position);
      if (!p.success) throw new EngineError('APP_STATE', `postgresSource: the restored position is not one of this source's: ${JSON.stringify(position)}`);
      restored = p.data;
    }
    this.#pos = await this.#retry('open', (c) => this.#prepare(c, restored));
    if (this.#pos.phase === 'snapshot') this.#pos = normalize(this.#pos);
    ctx.logger.info({ slot: this.#slot, publication: this.#publication, tables: this.#tables.map((t) => `${t.schema}.${t.name}`), position: this.#pos }, 'postgresSource: open');
    this.#loop = this.#run().catch((err: unknown) => {
      this.#failure ??= err instanceof Error ? err : new EngineError('INTERNAL', `postgresSource: ${JSON.stringify(err)}`);
    });
  }

  /** Checks, then the slot: kept (a restored position), or created with a snapshot (a fresh start). */
  async #prepare(c: pg.Client, restored: Position | undefined): Promise<Position> {
    await checkWalLevel(c, this.#server);
    if (this.o.table !== undefined) {
      this.#tables = await resolveTables(c, typeof this.o.table === 'string' ? [this.o.table] : this.o.table);
      await ensurePublication(c, this.#publication, this.#tables);
    } else {
      this.#tables = await publicationTables(c, this.#publication);
    }
    const slot = await slotLsn(c, this.#slot);
    if (restored) {
      if (!slot) {
        throw new EngineError('SOURCE_SLOT_MISSING', `SOURCE_SLOT_MISSING: postgresSource: replication slot ${this.#slot} at ${this.#server} is gone, but the app's committed position is in it (${restored.lsn}): the changes since are lost; start a new app to snapshot again`, {
          details: { slot: this.#slot, server: this.#server, lsn: restored.lsn },
        });
      }
      if (slot.confirmed && compareLsn(slot.confirmed, restored.lsn) > 0) {
        // The slot is past the position (acknowledged by a later checkpoint than the restored one): the changes between are gone.
        throw new EngineError('SOURCE_TRIMMED', `SOURCE_TRIMMED: postgresSource: replication slot ${this.#slot} is confirmed up to ${slot.confirmed}, past the restored position ${restored.lsn}: the changes between were released`, { details: { slot: this.#slot, confirmed: slot.confirmed, lsn: restored.lsn } });
      }
      if (restored.phase === 'snapshot') {
        const counts = await spoolCounts(c, this.o.spoolSchema, this.#slot, restored.counts.length);
        const bad = counts.findIndex((n, i) => n !== restored.counts[i]);
        if (bad >= 0) {
          throw new EngineError('SOURCE_SNAPSHOT_LOST', `SOURCE_SNAPSHOT_LOST: postgresSource: snapshot spool ${this.o.spoolSchema}.${spoolName(this.#slot, bad)} has ${String(counts[bad])} rows, the snapshot ${restored.counts[bad]}: it was dropped or truncated before the snapshot was read`, { details: { slot: this.#slot } });
        }
      }
      this.#ackLsn = restored.phase === 'stream' ? restored.lsn : undefined;
      return restored;
    }
    // No committed position: whatever a previous attempt of this app left (slot, spools) is
    // not part of any committed checkpoint, so start over.
    if (this.o.snapshot) {
      await dropSlotIfExists(c, this.#slot);
      await dropSpools(c, this.o.spoolSchema, this.#slot);
      const made = await createSlotWithSnapshot((replication) => this.#connect(replication), this.#slot, this.o.spoolSchema, this.#tables);
      return { phase: 'snapshot', lsn: made.lsn, table: 0, n: 0, counts: made.counts };
    }
    if (!slot) await createSlot(c, this.#slot);
    const s = await slotLsn(c, this.#slot);
    return { phase: 'stream', lsn: s?.confirmed ?? '0/0', skip: 0 };
  }

  read(max: number): PostgresChange[] {
    if (this.#failure) throw this.#failure;
    if (this.#idle) return [];
    const avail = this.#recs.length - this.#head;
    if (avail <= 0) return [];
    const n = Math.min(max, avail);
    const out = this.#recs.slice(this.#head, this.#head + n);
    this.#head += n;
    this.#pos = this.#after[this.#head - 1]!;
    if (this.#head > 4096 && this.#head * 2 > this.#recs.length) {
      this.#recs = this.#recs.slice(this.#head);
      this.#after = this.#after.slice(this.#head);
      this.#head = 0;
    }
    if (this.#room && this.#recs.length - this.#head < this.o.bufferRecords / 2) {
      const r = this.#room;
      this.#room = undefined;
      r();
    }
    return out;
  }

  position(): unknown {
    return this.#idle ? null : this.#pos;
  }

  /** The checkpoint holding `position` committed: the slot may now forget what precedes it. */
  async onCommit(_t: number, position: unknown): Promise<void> {
    if (this.#idle || !position) return;
    const p = position as Position;
    if (p.phase !== 'stream') return;
    this.#ackLsn = this.#ackLsn ? maxLsn(this.#ackLsn, p.lsn) : p.lsn;
    this.#ack();
    if (!this.#spoolsDropped) {
      // The snapshot is in a committed checkpoint: its spool is never read again.
      this.#spoolsDropped = true;
      await this.#retry('drop the snapshot spool', (c) => dropSpools(c, this.o.spoolSchema, this.#slot)).catch((err: unknown) => {
        this.#logger.warn({ err: describePgError(err) }, 'postgresSource: could not drop the snapshot spool tables');
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#room?.();
    if (this.#svc) await hardStop(this.#svc);
    // pg never settles a connect() that end() interrupted: a loop stuck there is abandoned (its socket is gone).
    await Promise.race([this.#loop, new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  /** Waits while the buffer is full (read() wakes it at half). */
  #waitRoom(): Promise<void> | undefined {
    if (this.#recs.length - this.#head < this.o.bufferRecords || this.#closed) return undefined;
    return new Promise<void>((r) => (this.#room = r));
  }

  #push(rec: PostgresChange, after: Position): void {
    this.#recs.push(rec);
    this.#after.push(after);
  }

  async #run(): Promise<void> {
    let p = this.#pos;
    if (p.phase === 'snapshot') {
      await this.#snapshot(p);
      if (this.#closed) return;
      p = { phase: 'stream', lsn: p.lsn, skip: 0 };
    }
    this.#resumeLsn = p.lsn;
    this.#skipFirst = p.skip;
    await this.#stream();
  }

  /** Reads the spool tables from the position on (each query retried as a whole). */
  async #snapshot(from: SnapshotPosition): Promise<void> {
    const { lsn, counts } = from;
    for (let i = from.table; i < counts.length && !this.#closed; i++) {
      const t = this.#tables[i];
      if (!t) throw new EngineError('SOURCE_SCHEMA', `SOURCE_SCHEMA: postgresSource: the snapshot has ${counts.length} tables, the publication now ${this.#tables.length}`);
      const table = `${t.schema}.${t.name}`;
      let n = i === from.table ? from.n : 0;
      while (n < counts[i]! && !this.#closed) {
        await this.#waitRoom();
        const rows = await this.#retry('read the snapshot', (c) => readSpool(c, this.o.spoolSchema, this.#slot, i, n, this.o.snapshotBatch));
        if (rows.length === 0) throw new EngineError('SOURCE_SNAPSHOT_LOST', `SOURCE_SNAPSHOT_LOST: postgresSource: snapshot spool of ${table} ends at row ${n} of ${counts[i]}`);
        for (const r of rows) {
          n = Number(r.sluice_n);
          delete r.sluice_n;
          const after = normalize({ phase: 'snapshot', lsn, table: i, n, counts });
          this.#push({ op: 'insert', table, row: r, lsn, snapshot: true }, after);
        }
      }
    }
  }

  /** The replication stream, reconnected from the last whole transaction buffered, within the retry budget. */
  async #stream(): Promise<void> {
    const r = this.o.retry;
    let delay = r.initialDelayMs;
    let failingSince: number | undefined;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS && !this.#closed; attempt++) {
      let err: unknown;
      let lastByte = Date.now();
      const svc = new LogicalReplicationService(
        { connectionString: this.o.url, connectionTimeoutMillis: this.o.connectTimeoutMs, keepAlive: true, application_name: `sluice-cdc ${this.#slot}` },
        // No automatic acknowledgement: the library would confirm what it received, we confirm only what is committed.
        { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
      );
      this.#svc = svc;
      svc.on('data', (_lsn: string, msg: Pgoutput.Message) => {
        lastByte = Date.now();
        return this.#onMessage(msg);
      });
      svc.on('heartbeat', (_lsn: string, _ts: number, respond: boolean) => {
        lastByte = Date.now();
        if (respond) this.#ack();
      });
      svc.on('start', () => {
        // close() ran while this connection was still being made
        if (this.#closed) return void hardStop(svc);
        failingSince = undefined;
        delay = r.initialDelayMs;
        this.#ack();
      });
      svc.on('error', (e: unknown) => {
        err ??= e;
      });
      // A hung server sends nothing: ping it, and give up on the connection past the timeout.
      const watchdog = setInterval(() => {
        if (Date.now() - lastByte > this.o.replicationTimeoutMs) {
          err ??= new Error(`replication connection timeout: nothing from the server for ${this.o.replicationTimeoutMs} ms`);
          void hardStop(svc);
        } else void svc.acknowledge(lsnBefore(this.#ackLsn ?? '0/1'), true).catch(() => undefined);
      }, Math.min(PING_MS, this.o.replicationTimeoutMs / 3));
      try {
        await svc.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [this.#publication] }), this.#slot, this.#resumeLsn);
        err ??= new Error('the server ended the replication stream');
      } catch (e) {
        err ??= e;
      } finally {
        clearInterval(watchdog);
        await hardStop(svc);
      }
      this.#logger.debug({ err: describePgError(err), closed: this.#closed }, 'postgresSource: replication connection ended');
      if (this.#closed) return;
      this.#tx = [];
      const kind = classifyReplicationError(err);
      if (kind === 'slot') {
        throw new EngineError('SOURCE_SLOT_MISSING', `SOURCE_SLOT_MISSING: postgresSource: replication slot ${this.#slot} at ${this.#server}: ${describePgError(err)}`, { cause: err, details: { slot: this.#slot, server: this.#server } });
      }
      if (kind !== 'transient') throw sourceError(kind, err, 'postgresSource: replication', this.#server);
      const now = Date.now();
      failingSince ??= now;
      const wait = Math.round(delay / 2 + (Math.random() * delay) / 2);
      if (now - failingSince + wait > r.budgetMs) {
        throw new EngineError('SOURCE_UNAVAILABLE', `SOURCE_UNAVAILABLE: postgresSource: replication from ${this.#server} failed for ${now - failingSince} ms (retry budget ${r.budgetMs} ms): ${describePgError(err)}`, { cause: err, details: { server: this.#server, slot: this.#slot } });
      }
      if (attempt === 1 || attempt % 10 === 0) this.#logger.warn({ attempt, waitMs: wait, server: this.#server, err: describePgError(err) }, 'postgresSource: replication failed (transient); reconnecting');
      await new Promise((res) => setTimeout(res, wait));
      delay = Math.min(r.maxDelayMs, delay * 2);
    }
  }

  /** Buffers whole transactions: the position only ever names a transaction's end (plus a record count into the next). */
  #onMessage(msg: Pgoutput.Message): Promise<void> | undefined {
    switch (msg.tag) {
      case 'begin':
        this.#tx = [];
        return undefined;
      case 'insert':
        if (this.#isSpool(msg.relation)) return undefined;
        this.#tx.push({ op: 'insert', table: `${msg.relation.schema}.${msg.relation.name}`, row: msg.new, lsn: '' });
        return undefined;
      case 'update': {
        if (this.#isSpool(msg.relation)) return undefined;
        const old = msg.old ?? msg.key;
        this.#tx.push({ op: 'update', table: `${msg.relation.schema}.${msg.relation.name}`, row: msg.new, ...(old ? { old } : {}), lsn: '' });
        return undefined;
      }
      case 'delete': {
        if (this.#isSpool(msg.relation)) return undefined;
        const old = msg.old ?? msg.key ?? {};
        this.#tx.push({ op: 'delete', table: `${msg.relation.schema}.${msg.relation.name}`, row: old, old, lsn: '' });
        return undefined;
      }
      case 'truncate':
        for (const rel of msg.relations) if (!this.#isSpool(rel)) this.#tx.push({ op: 'truncate', table: `${rel.schema}.${rel.name}`, row: {}, lsn: '' });
        return undefined;
      case 'commit': {
        // The library zero-pads ('00000000/0156A2B0'); positions use PostgreSQL's own spelling.
        const end = bigToLsn(lsnToBig(msg.commitEndLsn!));
        const prev = this.#resumeLsn;
        // A replay from before an already-delivered transaction (the slot was behind): skip it.
        if (compareLsn(end, prev) <= 0) {
          this.#tx = [];
          return undefined;
        }
        const tx = this.#tx;
        this.#tx = [];
        const n = tx.length;
        for (let i = this.#skipFirst; i < n; i++) {
          const rec = tx[i]!;
          rec.lsn = end;
          this.#push(rec, i === n - 1 ? { phase: 'stream', lsn: end, skip: 0 } : { phase: 'stream', lsn: prev, skip: i + 1 });
        }
        this.#skipFirst = 0;
        this.#resumeLsn = end;
        return this.#waitRoom();
      }
      default:
        return undefined;
    }
  }

  #isSpool(rel: Pgoutput.MessageRelation): boolean {
    return rel.schema === this.o.spoolSchema && rel.name.startsWith(`${this.#slot}_snap_`);
  }

  /** Tells the server the slot may advance to the committed LSN (never beyond). */
  #ack(): void {
    const svc = this.#svc;
    if (!svc || !this.#ackLsn || svc.isStop()) return;
    void svc.acknowledge(lsnBefore(this.#ackLsn)).catch(() => undefined);
  }

  async #connect(replication: boolean): Promise<pg.Client> {
    const c = new pg.Client({
      connectionString: this.o.url, connectionTimeoutMillis: this.o.connectTimeoutMs, keepAlive: true, application_name: `sluice-cdc ${this.#slot}`,
      ...(replication ? { replication: 'database' } : {}),
    });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  }

  /** fn on a fresh connection, retried over transient failures within the budget; others typed at once. */
  async #retry<T>(op: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const r = this.o.retry;
    const started = Date.now();
    let delay = r.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      let c: pg.Client | undefined;
      try {
        c = await this.#connect(false);
        return await fn(c);
      } catch (err) {
        if (err instanceof EngineError) throw err;
        const kind = classifyReplicationError(err);
        if (kind === 'slot') throw new EngineError('SOURCE_SLOT_MISSING', `SOURCE_SLOT_MISSING: postgresSource: ${op}: ${describePgError(err)}`, { cause: err });
        if (kind !== 'transient') throw sourceError(kind, err, `postgresSource: ${op}`, this.#server);
        const elapsed = Date.now() - started;
        const wait = Math.round(delay / 2 + (Math.random() * delay) / 2);
        if (elapsed + wait > r.budgetMs || attempt >= MAX_ATTEMPTS) {
          throw new EngineError('SOURCE_UNAVAILABLE', `SOURCE_UNAVAILABLE: postgresSource: ${op} failed for ${elapsed} ms over ${attempt} attempts (retry budget ${r.budgetMs} ms) at ${this.#server}: ${describePgError(err)}`, {
            cause: err, details: { server: this.#server, attempts: attempt, elapsedMs: elapsed, ...(sqlStateOf(err) ? { sqlState: sqlStateOf(err) } : {}) },
          });
        }
        if (attempt === 1 || attempt % 10 === 0) this.#logger.warn({ op, attempt, waitMs: wait, server: this.#server, err: describePgError(err) }, `postgresSource: ${op} failed (transient); retrying`);
        await new Promise((res) => setTimeout(res, wait));
        delay = Math.min(r.maxDelayMs, delay * 2);
      } finally {
        await c?.end().catch(() => undefined);
      }
    }
  }
}

/** A snapshot position past its table's last row moves to the next table; past the last table it is the stream at the snapshot's LSN. */
function normalize(p: SnapshotPosition): Position {
  let { table, n } = p;
  while (table < p.counts.length && n >= p.counts[table]!) {
    table++;
    n = 0;
  }
  return table >= p.counts.length ? { phase: 'stream', lsn: p.lsn, skip: 0 } : { ...p, table, n };
}

/**
 * Stops a replication connection for sure: the library's stop() ends the client politely, which
 * never completes while its flow control has paused the socket (or the server hangs).
 */
async function hardStop(svc: LogicalReplicationService): Promise<void> {
  const client = (svc as unknown as { _client?: pg.Client | null })._client;
  client?.connection.stream.resume();
  // stop() removes every listener, then the client may still report its closed socket
  const stopped = svc.stop().then(() => true, () => true).finally(() => client?.on('error', () => undefined));
  const later = (): Promise<boolean> => new Promise((r) => setTimeout(() => r(false), 1_000).unref());
  if (await Promise.race([stopped, later()])) return;
  // a hung server never answers the goodbye: drop the socket (its error is expected)
  client?.on('error', () => undefined);
  client?.connection.stream.destroy();
  await Promise.race([stopped, later()]);
}

type ReplicationFailure = ReturnType<typeof classifyPgError> | 'slot';

function classifyReplicationError(err: unknown): ReplicationFailure {
  const state = sqlStateOf(err);
  // the slot is held by another connection (a dying executor of an older epoch): it goes away
  if (state === '55006') return 'transient';
  if (state === '42704' && /replication slot/i.test(err instanceof Error ? err.message : '')) return 'slot';
  const kind = classifyPgError(err);
  if (kind === 'other' && /replication connection timeout|ended the replication stream/.test(err instanceof Error ? err.message : '')) return 'transient';
  return kind;
}

function sourceError(kind: 'auth' | 'schema' | 'poison' | 'other', err: unknown, where: string, server: string): EngineError {
  const state = sqlStateOf(err);
  const details = { server, ...(state ? { sqlState: state } : {}) };
  const msg = describePgError(err);
  if (kind === 'auth') return new EngineError('SOURCE_AUTH_FAILED', `SOURCE_AUTH_FAILED: ${where}: PostgreSQL at ${server} refused the credentials or a privilege (REPLICATION, CREATE): ${msg}`, { cause: err, details });
  if (kind === 'schema') return new EngineError('SOURCE_SCHEMA', `SOURCE_SCHEMA: ${where}: ${msg}`, { cause: err, details });
  if (state === '55000' && /wal_level/.test(msg)) return new EngineError('SOURCE_UNSUPPORTED', `SOURCE_UNSUPPORTED: ${where}: ${msg}`, { cause: err, details });
  return new EngineError('SOURCE_UNAVAILABLE', `SOURCE_UNAVAILABLE: ${where}: PostgreSQL at ${server} refused: ${msg}`, { cause: err, details });
}
