import { randomBytes } from 'node:crypto';
import type { LogRecord, LogStore } from '@sluice/storage-api';
import { DEFAULT_LABEL_KEYS, fitRecord, pinoLineToRecord } from './log-record.js';
import { Spool } from './spool.js';

export interface LogAppenderOptions {
  /** The app's log store (or a getter, for stores opened later). */
  store: LogStore;
  /** Labels every record of this writer carries (app, executor, host): used to find its records again. */
  labels?: Record<string, string>;
  /** Pino bindings that become labels; the rest go to `fields`. */
  labelKeys?: readonly string[];
  /** Folder for the NDJSON spool, exclusive to this appender. Without it, an outage keeps records in memory only. */
  spoolDir?: string;
  /** Memory cap of the queue the hot path enqueues into; beyond it records are dropped and counted. */
  maxBufferRecords?: number;
  maxBufferBytes?: number;
  /** Records per store append. */
  batchSize?: number;
  /** How often queued records are shipped (or spooled). */
  flushIntervalMs?: number;
  maxSpoolBytes?: number;
  spoolFileBytes?: number;
  /** Backoff between attempts while the store is down. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * After a failed append the store may still have taken the batch (a lost reply): before
   * re-sending, look for this writer's records in the batch's time window and skip those
   * already stored. Costs one query per outage. Default true.
   */
  dedupe?: boolean;
  /** Called once per failure transition (store went down / came back); must not throw. */
  onStateChange?: (up: boolean, err?: unknown) => void;
}

export interface LogAppenderStats {
  /** Records accepted by write()/append(): what the appender promises to deliver. */
  accepted: number;
  /** Records acknowledged by the store. */
  shipped: number;
  /** Records written to the spool (cumulative). */
  spooled: number;
  spoolBytes: number;
  queueDepth: number;
  queueBytes: number;
  dropped: { queueFull: number; spoolFull: number; closed: number; invalid: number };
  droppedTotal: number;
  /** Records skipped on re-send because the store already had them. */
  duplicatesSkipped: number;
  /** Times the store went from up to down. */
  outages: number;
  storeUp: boolean;
  lastError?: string;
}

type Entry = string | LogRecord;

/** Field carrying `<writer>.<seq>`: lets a re-send find what the store already has. */
export const SID_FIELD = '_sid';

/**
 * Ships log records into a LogStore without ever blocking the caller: write() only
 * enqueues (a pino destination), a timer ships batches. While the store fails, queued
 * records go to a local NDJSON spool in order; once the store answers again the spool is
 * drained oldest first before anything new, so order holds and nothing acknowledged is
 * lost. Anything that could not be kept (queue or spool full) is counted, and reported as
 * a log line once the store is back.
 */
export class LogAppender {
  readonly writerId: string;
  private readonly store: LogStore;
  private readonly labels: Record<string, string>;
  private readonly labelKeys: ReadonlySet<string>;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly batchSize: number;
  private readonly retryMin: number;
  private readonly retryMax: number;
  private readonly dedupe: boolean;
  private readonly onStateChange?: (up: boolean, err?: unknown) => void;

  private queue: Entry[] = [];
  private queueBytes = 0;
  private spool?: Spool;
  private spoolReady?: Promise<void>;
  private seq = 0;
  /** Records with seq ≤ this (or from an earlier writer) may already be in the store. */
  private suspectUntil = 0;
  /** False until a send fails or a leftover spool is found: skips the suspect check on the happy path. */
  private mayHoldSome = false;
  private up = true;
  private nextTryAt = 0;
  private retryDelay: number;
  private pumping?: Promise<void>;
  private kickScheduled = false;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private reportedDrops = 0;
  private readonly s = {
    accepted: 0,
    shipped: 0,
    spooled: 0,
    dropped: { queueFull: 0, spoolFull: 0, closed: 0, invalid: 0 },
    duplicatesSkipped: 0,
    outages: 0,
    lastError: undefined as string | undefined,
  };

  constructor(private readonly options: LogAppenderOptions) {
    this.store = options.store;
    this.writerId = randomBytes(6).toString('hex');
    this.labels = options.labels ?? {};
    this.labelKeys = new Set(options.labelKeys ?? DEFAULT_LABEL_KEYS);
    this.maxRecords = options.maxBufferRecords ?? 10_000;
    this.maxBytes = options.maxBufferBytes ?? 16 * 1024 * 1024;
    this.batchSize = Math.max(1, Math.min(options.batchSize ?? 1000, 10_000));
    this.retryMin = options.retryMinMs ?? 100;
    this.retryMax = options.retryMaxMs ?? 5000;
    this.retryDelay = this.retryMin;
    this.dedupe = options.dedupe ?? true;
    this.onStateChange = options.onStateChange;
    if (options.spoolDir) {
      this.spoolReady = Spool.open(options.spoolDir, {
        maxBytes: options.maxSpoolBytes ?? 256 * 1024 * 1024,
        fileBytes: options.spoolFileBytes ?? 4 * 1024 * 1024,
      }).then((sp) => {
        this.spool = sp;
        // Leftovers of an earlier process: their sids name another writer, so they are suspect.
        if (!sp.isEmpty) this.mayHoldSome = true;
      });
    }
    const interval = options.flushIntervalMs ?? 200;
    this.timer = setInterval(() => void this.pump(), interval);
    this.timer.unref();
  }

  // ------------------------------------------------------------------ hot path

  /** Pino destination: enqueues one serialised line. Never throws, never waits. */
  write(line: string): void {
    this.enqueue(line, line.length);
  }

  /** Enqueues a ready record (for callers that do not log through pino). */
  append(record: LogRecord): void {
    this.enqueue(record, record.msg.length + 64);
  }

  private enqueue(e: Entry, bytes: number): void {
    if (this.closed) {
      this.s.dropped.closed++;
      return;
    }
    if (this.queue.length >= this.maxRecords || this.queueBytes + bytes > this.maxBytes) {
      this.s.dropped.queueFull++;
      return;
    }
    this.queue.push(e);
    this.queueBytes += bytes;
    this.s.accepted++;
    if (this.queue.length >= this.batchSize && !this.kickScheduled) {
      this.kickScheduled = true;
      setImmediate(() => {
        this.kickScheduled = false;
        void this.pump();
      });
    }
  }

  // ------------------------------------------------------------------ shipping

  stats(): LogAppenderStats {
    const d = this.s.dropped;
    return {
      accepted: this.s.accepted,
      shipped: this.s.shipped,
      spooled: this.s.spooled,
      spoolBytes: this.spool?.bytes ?? 0,
      queueDepth: this.queue.length,
      queueBytes: this.queueBytes,
      dropped: { ...d },
      droppedTotal: d.queueFull + d.spoolFull + d.closed + d.invalid,
      duplicatesSkipped: this.s.duplicatesSkipped,
      outages: this.s.outages,
      storeUp: this.up,
      lastError: this.s.lastError,
    };
  }

  /**
   * Resolves once everything enqueued so far is in the store or (during an outage) safely
   * in the spool; with `toStore`, once it is in the store. Returns false if that did not
   * happen within `timeoutMs` (default 10 s).
   */
  async flush(options: { toStore?: boolean; timeoutMs?: number } = {}): Promise<boolean> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (let i = 0; i < 1_000_000; i++) {
      await this.pump(options.toStore === true);
      const pending = this.queue.length > 0 || (options.toStore === true && !!this.spool && !this.spool.isEmpty);
      if (!pending) return true;
      if (Date.now() >= deadline) return false;
      // Waiting for the store's backoff to pass: sleep briefly rather than spin.
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    return false;
  }

  /** Stops the timer, ships (or spools) what is queued; later writes are dropped and counted. */
  async close(options: { timeoutMs?: number } = {}): Promise<LogAppenderStats> {
    if (this.closed) return this.stats();
    const timeoutMs = options.timeoutMs ?? 5000;
    // Closed first: no new records, no timer rounds racing the final spooling below.
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.flush({ toStore: true, timeoutMs });
    if (this.pumping) await this.pumping;
    // Whatever the store did not take stays in the spool for the next process to ship;
    // without a spool it is lost, and counted.
    if (this.queue.length > 0 && this.spool) await this.spoolQueue().catch((err: unknown) => this.noteError(err));
    if (this.queue.length > 0) {
      this.s.dropped.closed += this.queue.length;
      this.queue = [];
      this.queueBytes = 0;
    }
    return this.stats();
  }

  /** One shipping round; single-flight. `force` ignores the retry backoff once. */
  private pump(force = false): Promise<void> {
    if (this.pumping) return this.pumping;
    this.pumping = this.pumpLoop(force)
      .catch((err: unknown) => this.noteError(err)) // spool I/O failed: try again next tick
      .finally(() => {
        this.pumping = undefined;
      });
    return this.pumping;
  }

  private async pumpLoop(force: boolean): Promise<void> {
    if (this.spoolReady) await this.spoolReady.catch((err) => this.noteError(err));
    // Bounded: each round ships or spools at least one batch, or stops.
    for (let round = 0; round < 10_000; round++) {
      const spool = this.spool;
      const backlog = spool !== undefined && !spool.isEmpty;
      if (backlog) {
        // Keep order: new records queue up behind the spool.
        if (this.queue.length > 0) await this.spoolQueue();
        if (!this.mayTry(force)) return;
        const batch = await spool.read(this.batchSize);
        if (!batch) continue;
        if (!(await this.send(batch.records))) return;
        try {
          await batch.commit();
        } catch (err) {
          // The batch is stored but will be read again: make the re-send check the store.
          this.mayHoldSome = true;
          this.suspectUntil = Math.max(this.suspectUntil, ...batch.records.map((r) => this.seqOf(r) ?? 0));
          throw err;
        }
        continue;
      }
      if (this.queue.length === 0) return;
      if (!this.up && !this.mayTry(force)) {
        if (spool) await this.spoolQueue();
        return;
      }
      const records = this.take(this.batchSize);
      if (!(await this.send(records))) {
        if (spool) await this.spoolRecords(records);
        else this.requeue(records);
        return;
      }
    }
  }

  private mayTry(force: boolean): boolean {
    return this.up || force || Date.now() >= this.nextTryAt;
  }

  /** Appends a batch; on failure marks the store down. Never throws. */
  private async send(records: LogRecord[]): Promise<boolean> {
    try {
      let toSend = records;
      // Only after a failure (or with an earlier process's spool) can the store already hold some.
      if (this.dedupe && this.mayHoldSome && records.some((r) => this.isSuspect(r))) toSend = await this.withoutStored(records);
      const report = this.dropReport();
      if (toSend.length > 0) await this.store.append(toSend);
      if (report) {
        // Best effort: the line is informational and the count stays in stats().
        await this.store.append([report]).then(
          () => (this.reportedDrops += Number(report.fields?.dropped ?? 0)),
          () => {},
        );
      }
      this.s.shipped += toSend.length;
      this.retryDelay = this.retryMin;
      if (!this.up) {
        this.up = true;
        this.onStateChange?.(true);
      }
      return true;
    } catch (err) {
      this.noteError(err);
      this.mayHoldSome = true;
      const maxSeq = records.reduce((m, r) => Math.max(m, this.seqOf(r) ?? 0), 0);
      this.suspectUntil = Math.max(this.suspectUntil, maxSeq);
      this.nextTryAt = Date.now() + this.retryDelay;
      this.retryDelay = Math.min(this.retryMax, this.retryDelay * 2);
      if (this.up) {
        this.up = false;
        this.s.outages++;
        this.onStateChange?.(false, err);
      }
      return false;
    }
  }

  private noteError(err: unknown): void {
    this.s.lastError = err instanceof Error ? err.message : String(err);
  }

  private dropReport(): LogRecord | undefined {
    const d = this.s.dropped;
    const total = d.queueFull + d.spoolFull + d.invalid;
    if (total <= this.reportedDrops) return undefined;
    const n = total - this.reportedDrops;
    return {
      ts: Date.now(),
      level: 'warn',
      msg: `log appender dropped ${n} record(s) (queue full ${d.queueFull}, spool full ${d.spoolFull}, invalid ${d.invalid} in total)`,
      labels: { ...this.labels },
      fields: { dropped: n, ...d },
    };
  }

  /** Takes up to n queued entries as records, stamping each with this writer's sequence id. */
  private take(n: number): LogRecord[] {
    // Usually the whole queue: swap it out instead of shifting the array.
    let entries: Entry[];
    if (n >= this.queue.length) {
      entries = this.queue;
      this.queue = [];
    } else entries = this.queue.splice(0, n);
    const out: LogRecord[] = [];
    let bytes = 0;
    for (const e of entries) {
      let r: LogRecord | undefined;
      if (typeof e === 'string') {
        bytes += e.length;
        r = pinoLineToRecord(e, this.labelKeys); // fresh objects: safe to stamp in place
      } else {
        bytes += e.msg.length + 64;
        r = fitRecord({ ...e, labels: { ...this.labels, ...e.labels }, fields: { ...e.fields } });
      }
      if (!r) {
        this.s.dropped.invalid++;
        continue;
      }
      // A record put back after a failed send keeps its sid, so a re-send can be de-duplicated.
      const f = (r.fields ??= {});
      if (typeof f[SID_FIELD] !== 'string') f[SID_FIELD] = `${this.writerId}.${++this.seq}`;
      out.push(r);
    }
    this.queueBytes = Math.max(0, this.queueBytes - bytes);
    return out;
  }

  /** No spool: put records back at the head, as far as the cap allows (the oldest win). */
  private requeue(records: LogRecord[]): void {
    const room = Math.max(0, this.maxRecords - this.queue.length);
    const keep = records.slice(0, room);
    this.s.dropped.queueFull += records.length - keep.length;
    this.queue.unshift(...keep);
    for (const r of keep) this.queueBytes += r.msg.length + 64;
  }

  private async spoolQueue(): Promise<void> {
    // Bounded: each round empties up to batchSize entries.
    while (this.queue.length > 0) await this.spoolRecords(this.take(this.batchSize));
  }

  private async spoolRecords(records: LogRecord[]): Promise<void> {
    if (!this.spool || records.length === 0) return;
    let n = 0;
    try {
      n = await this.spool.append(records);
    } catch (err) {
      this.noteError(err);
    }
    this.s.spooled += n;
    this.s.dropped.spoolFull += records.length - n;
  }

  private seqOf(r: LogRecord): number | undefined {
    const sid = r.fields?.[SID_FIELD];
    if (typeof sid !== 'string') return undefined;
    const dot = sid.lastIndexOf('.');
    if (sid.slice(0, dot) !== this.writerId) return undefined;
    return Number(sid.slice(dot + 1));
  }

  private isSuspect(r: LogRecord): boolean {
    const seq = this.seqOf(r);
    return seq === undefined || seq <= this.suspectUntil;
  }

  /** Drops records whose sid the store already holds (a batch that landed despite an error). */
  private async withoutStored(records: LogRecord[]): Promise<LogRecord[]> {
    let from = Infinity;
    let to = -Infinity;
    for (const r of records) {
      from = Math.min(from, r.ts);
      to = Math.max(to, r.ts);
    }
    const stored = new Set<string>();
    let cursor: string | undefined;
    // Bounded: the window holds at most a few batches' worth of this writer's records.
    for (let page = 0; page < 100; page++) {
      const res = await this.store.query({ from, to: to + 1, labels: this.labels, limit: 10_000, cursor });
      for (const r of res.records) {
        const sid = r.fields?.[SID_FIELD];
        if (typeof sid === 'string') stored.add(sid);
      }
      cursor = res.cursor;
      if (!cursor) break;
    }
    const out = records.filter((r) => !stored.has(String(r.fields?.[SID_FIELD])));
    this.s.duplicatesSkipped += records.length - out.length;
    return out;
  }
}
