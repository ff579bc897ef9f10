import type { RedisClientType } from 'redis';
import { z } from 'zod';
import { formatIssues } from '@sluice/storage-api';
import type { SourceFactory, SourceTask, TaskContext, TaskLogger } from '../dsl/task.js';
import { EngineError } from '../errors.js';
import { compareStreamIds, isStreamId, redisStreamIdAtTime, streamIdBefore } from './redis-stream-ids.js';

/**
 * Redis Streams source. A background loop fetches (MULTI: XREAD COUNT, XINFO STREAM; XREAD
 * BLOCK to wait when caught up) into a bounded buffer and stops fetching while it is full;
 * `read()` (synchronous) drains it. The position is the id of the last entry `read()`
 * returned, per stream, so a replay from a checkpoint resumes at exactly the next entry.
 * Parallel tasks split the streams: task i of p reads the streams at list positions j with
 * j % p === i (fixed for the app's life; a task with no stream is idle). Trimming past the
 * position is an error (SOURCE_TRIMMED), never a skip. Errors name their code in the message
 * (`redisStreamSource [CODE]: ...`): a task failure reaches `sluice status` as text.
 */

const idSchema = z.string().refine(isStreamId, 'must be a stream entry id like 1700000000000-0');

export const redisStreamSourceOptionsSchema = z
  .object({
    /** `redis://[[user]:password@]host[:port][/db]` or `rediss://` (TLS). */
    url: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL'),
    /** One stream key, or `streams`: several (split across parallel tasks). */
    stream: z.string().min(1).optional(),
    streams: z.array(z.string().min(1)).min(1).optional(),
    /** Emit this field's value (a string) instead of `{ stream, id, fields }`. */
    field: z.string().min(1).optional(),
    /** An entry with this field ends its stream (not emitted); the task is exhausted when all its streams ended. */
    endField: z.string().min(1).optional(),
    /** With no stored position: start at entry id `<fromTime>-0` (epoch ms); default the stream's beginning. */
    fromTime: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    /** Entries per stream per XREAD. */
    count: z.number().int().min(1).max(100_000).default(1000),
    /** Entries buffered ahead of read() (at least count × streams): fetching stops while full. */
    bufferEntries: z.number().int().min(1).max(10_000_000).default(20_000),
    /** XREAD BLOCK: how long one call waits for new entries. */
    blockMs: z.number().int().min(1).max(60_000).default(1000),
    /** A call (connect, XINFO, or XREAD beyond its BLOCK) not answered within this is a dead server. */
    commandTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
    retry: z
      .object({
        /** An outage (no successful call) longer than this fails the task with SOURCE_UNAVAILABLE. */
        maxElapsedMs: z.number().int().min(0).max(86_400_000).default(30_000),
        initialDelayMs: z.number().int().min(1).max(60_000).default(100),
        maxDelayMs: z.number().int().min(1).max(600_000).default(2000),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((o) => (o.stream === undefined) !== (o.streams === undefined), { message: 'give exactly one of stream or streams', path: ['stream'] })
  .refine((o) => !o.streams || new Set(o.streams).size === o.streams.length, { message: 'streams must not repeat a key', path: ['streams'] });

export type RedisStreamSourceOptions = z.input<typeof redisStreamSourceOptionsSchema>;
type Options = z.output<typeof redisStreamSourceOptionsSchema>;

/** A record as emitted without `field`: the entry's stream, id and fields. */
export interface RedisStreamRecord {
  stream: string;
  id: string;
  fields: Record<string, string>;
}

/**
 * What position() returns and the offset store records (JSON), per stream. Besides `after`
 * it keeps what is known of the entry after it, so a replay can prove nothing was trimmed:
 * `next` (that entry's id) or, when the source had caught up, `addedAt` (the stream's
 * entries-added counter then: more entries added since than the stream now holds past
 * `after` means some were trimmed).
 */
const streamPositionSchema = z
  .object({
    /** The id of the last entry read() returned (or the id before the start). */
    after: idSchema,
    next: idSchema.optional(),
    addedAt: z.number().int().min(0).optional(),
    /** The end marker (`endField`) was read. */
    ended: z.literal(true).optional(),
    /** max-deleted-entry-id at the first open: XDELs from before the app were never promised to it. */
    deletedAtStart: idSchema.optional(),
  })
  .strict();
const positionSchema = z
  .object({
    streams: z.record(z.string(), streamPositionSchema),
    /** [task index, parallelism] that owned these streams. */
    split: z.tuple([z.number().int(), z.number().int()]),
  })
  .strict();
type Position = z.output<typeof positionSchema>;
type StreamPosition = z.output<typeof streamPositionSchema>;

/** Validates options; a bad one is CONFIG_INVALID naming its key (`redisStreamSource.count: ...`). */
export function parseRedisStreamSourceOptions(input: unknown): Options {
  const r = redisStreamSourceOptionsSchema.safeParse(input ?? {});
  if (!r.success) {
    const lines = formatIssues(r.error.issues, ['redisStreamSource']);
    throw new EngineError('CONFIG_INVALID', `invalid redisStreamSource options:\n  ${lines.join('\n  ')}`, { details: { issues: lines } });
  }
  return r.data;
}

/** The streams task `index` of `parallelism` reads: list positions j with j % parallelism === index. */
export function streamsOfTask(streams: readonly string[], index: number, parallelism: number): string[] {
  return streams.filter((_, j) => j % parallelism === index);
}

export function redisStreamSource(options: RedisStreamSourceOptions): SourceFactory {
  const opts = parseRedisStreamSourceOptions(options);
  return () => new RedisStreamSource(opts);
}

interface Chunk {
  stream: string;
  ids: string[];
  values: unknown[];
  /** Next value to return. */
  i: number;
  /** The stream's end marker follows the values: its id. */
  endId?: string;
}

/** One stream's fetch state. */
interface StreamState {
  name: string;
  /** Last id read() returned. */
  after: string;
  /** Last id fetched into the buffer. */
  fetched: string;
  /** What follows `fetched`: the next entry's id (peeked) or entries-added when caught up. */
  follow: { next: string } | { addedAt: number } | undefined;
  ended: boolean;
  fetchEnded: boolean;
  deletedAtStart: string | undefined;
  /** max-deleted-entry-id at the last check. */
  seenDeleted: string;
}

interface StreamInfo {
  length: number;
  added: number;
  lastGenerated: string;
  maxDeleted: string;
  firstId: string | undefined;
}

type Client = RedisClientType;
/** Loaded on first connect: an app that never reads Redis does not pay for the client's modules. */
let redis: typeof import('redis') | undefined;
type Message = { id: string; message: Record<string, string> };
type XReadReply = Array<{ name: string; messages: Message[] }> | null;

/** Server errors a retry can outlive: loading the AOF at start, a busy script, a failover. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|CLUSTERDOWN|READONLY)\b/;
const AUTH_REPLY = /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid password|invalid username-password/i;

class RedisStreamSource implements SourceTask {
  #log: TaskLogger | undefined;
  #mine: StreamState[] = [];
  readonly #byName = new Map<string, StreamState>();
  #split: [number, number] = [0, 1];
  #chunks: Chunk[] = [];
  #head = 0;
  #buffered = 0;
  #failure: Error | undefined;
  #client: Client | undefined;
  #closed = false;
  #loop: Promise<void> | undefined;
  #space: (() => void) | undefined;
  #outageSince: number | undefined;
  #attempt = 0;

  constructor(private readonly opts: Options) {}

  async open(ctx: TaskContext, position: unknown): Promise<void> {
    this.#log = ctx.logger;
    this.#split = [ctx.index, ctx.parallelism];
    const all = this.opts.streams ?? [this.opts.stream!];
    const pos = this.#parsePosition(position);
    const start = this.opts.fromTime === undefined ? '0-0' : streamIdBefore(redisStreamIdAtTime(this.opts.fromTime));
    for (const name of streamsOfTask(all, ctx.index, ctx.parallelism)) {
      const p = pos?.streams[name];
      const after = p?.after ?? start;
      const st: StreamState = {
        name, after, fetched: after,
        follow: p?.next !== undefined ? { next: p.next } : p?.addedAt !== undefined ? { addedAt: p.addedAt } : undefined,
        ended: p?.ended === true, fetchEnded: p?.ended === true, deletedAtStart: p?.deletedAtStart, seenDeleted: '0-0',
      };
      this.#mine.push(st);
      this.#byName.set(name, st);
    }
    if (this.#mine.length === 0) return;
    // Connect and check trimming now: a dead server or a lost range fails open, loudly.
    await this.#withRetry('open', async () => {
      const client = await this.#connect();
      for (const st of this.#mine) {
        if (!st.fetchEnded) await this.#checkAtOpen(client, st, pos?.streams[st.name] !== undefined);
      }
    });
    this.#loop = this.#run();
  }

  read(max: number): unknown[] | null {
    const out: unknown[] = [];
    while (out.length < max && this.#head < this.#chunks.length) {
      const c = this.#chunks[this.#head]!;
      const n = Math.min(max - out.length, c.values.length - c.i);
      const st = this.#byName.get(c.stream)!;
      if (n > 0) {
        for (let k = 0; k < n; k++) out.push(c.values[c.i + k]);
        c.i += n;
        st.after = c.ids[c.i - 1]!;
      }
      if (c.i === c.values.length) {
        if (c.endId !== undefined) {
          st.after = c.endId;
          st.ended = true;
        }
        this.#head++;
      }
    }
    this.#buffered -= out.length;
    if (this.#head === this.#chunks.length) {
      this.#chunks = [];
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
    if (this.#space && this.#buffered <= this.#capacity() / 2) {
      const wake = this.#space;
      this.#space = undefined;
      wake();
    }
    if (out.length > 0) return out;
    if (this.#failure) throw this.#failure;
    // a task with no stream is idle unless the streams are bounded (endField): nothing will ever come
    if (this.#mine.every((st) => st.ended) && (this.#mine.length > 0 || this.opts.endField !== undefined)) return null;
    return out;
  }

  position(): Position {
    const streams: Record<string, StreamPosition> = {};
    for (const st of this.#mine) {
      const p: StreamPosition = { after: st.after };
      if (st.ended) p.ended = true;
      else {
        const next = this.#nextBuffered(st.name);
        if (next !== undefined) p.next = next;
        else if (st.follow && 'next' in st.follow) p.next = st.follow.next;
        else if (st.follow) p.addedAt = st.follow.addedAt;
      }
      if (st.deletedAtStart !== undefined) p.deletedAtStart = st.deletedAtStart;
      streams[st.name] = p;
    }
    return { streams, split: this.#split };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#space?.();
    this.#dropClient();
    await this.#loop?.catch(() => undefined);
  }

  /** The first buffered, not yet returned entry (or end marker) of a stream. */
  #nextBuffered(stream: string): string | undefined {
    for (let h = this.#head; h < this.#chunks.length; h++) {
      const c = this.#chunks[h]!;
      if (c.stream !== stream) continue;
      if (c.i < c.values.length) return c.ids[c.i];
      if (c.endId !== undefined) return c.endId;
    }
    return undefined;
  }

  #capacity(): number {
    return Math.max(this.opts.bufferEntries, (this.opts.count + 1) * Math.max(1, this.#mine.length));
  }

  #parsePosition(position: unknown): Position | undefined {
    if (position === undefined || position === null) return undefined;
    const r = positionSchema.safeParse(position);
    if (!r.success) throw new EngineError('APP_STATE', `redisStreamSource [APP_STATE]: the stored position is not one this source wrote: ${formatIssues(r.error.issues).join('; ')}`);
    const [i, p] = r.data.split;
    if (i !== this.#split[0] || p !== this.#split[1]) {
      throw new EngineError('APP_STATE', `redisStreamSource [APP_STATE]: the position was written by task ${i} of ${p}, this is task ${this.#split[0]} of ${this.#split[1]}: the stream split is fixed for an app's life (streams move between tasks otherwise)`);
    }
    return r.data;
  }

  /** At open: the stream must still hold everything after the position (XINFO STREAM, Redis ≥ 7.0). */
  async #checkAtOpen(client: Client, st: StreamState, positioned: boolean): Promise<void> {
    const [info, peek] = await this.#probe(client, st);
    if (!positioned) {
      // Deletions from before this source's first open were never promised to it.
      st.deletedAtStart = info?.maxDeleted ?? '0-0';
      st.seenDeleted = st.deletedAtStart;
      st.follow = peek !== undefined ? { next: peek } : { addedAt: info?.added ?? 0 };
      return;
    }
    if (!info) {
      if (existedFor(st)) throw this.#trimmed(st.name, st.after, 'the stream key no longer exists');
      st.follow = { addedAt: 0 };
      return;
    }
    if (compareStreamIds(info.lastGenerated, st.after) < 0) throw this.#trimmed(st.name, st.after, `the stream's last id is ${info.lastGenerated}: it was deleted and recreated`);
    this.#checkLoss(st, info, st.after);
    st.follow = peek !== undefined ? { next: peek } : { addedAt: info.added };
  }

  /**
   * Throws SOURCE_TRIMMED if entries after `from` (what the source has: returned at open,
   * fetched while running) are gone: XDELed (max-deleted-entry-id past it) or trimmed off the
   * head (the known next entry is before the first one, or more were added than remain).
   */
  #checkLoss(st: StreamState, info: StreamInfo, from: string): void {
    const allowed = st.deletedAtStart ?? '0-0';
    if (compareStreamIds(info.maxDeleted, from) > 0 && compareStreamIds(info.maxDeleted, allowed) > 0 && compareStreamIds(info.maxDeleted, st.seenDeleted) > 0) {
      throw this.#trimmed(st.name, from, `entries up to ${info.maxDeleted} were deleted (XDEL)`);
    }
    st.seenDeleted = info.maxDeleted;
    const headPast = info.firstId === undefined || compareStreamIds(info.firstId, from) > 0;
    if (!headPast || !st.follow) return;
    if ('next' in st.follow) {
      if (info.firstId === undefined || compareStreamIds(info.firstId, st.follow.next) > 0) {
        throw this.#trimmed(st.name, from, `entry ${st.follow.next} was trimmed (first entry now ${info.firstId ?? 'none'})`);
      }
    } else {
      const addedSince = info.added - st.follow.addedAt;
      const remaining = info.firstId === undefined ? 0 : info.length;
      if (addedSince > remaining) throw this.#trimmed(st.name, from, `${addedSince - remaining} of the ${addedSince} entries added since were trimmed (first entry now ${info.firstId ?? 'none'})`);
    }
  }

  #trimmed(s: string, after: string, why: string): EngineError {
    return new EngineError('SOURCE_TRIMMED', `redisStreamSource [SOURCE_TRIMMED]: stream ${JSON.stringify(s)} lost entries after ${after}: ${why}; replaying would skip them silently`, {
      details: { stream: s, after },
    });
  }

  /** XINFO STREAM and the entry after `fetched`, atomically (MULTI). */
  async #probe(client: Client, st: StreamState): Promise<[StreamInfo | undefined, string | undefined]> {
    const replies = await this.#exec(client.multi().xInfoStream(st.name).xRange(st.name, `(${st.fetched}`, '+', { COUNT: 1 }), 'XINFO STREAM');
    const range = replies[1] as Message[];
    return [infoOf(replies[0]), range[0]?.id];
  }

  /** Runs a MULTI; per-command error replies are returned in place (XINFO of a missing key), not thrown. */
  async #exec(multi: { exec(): Promise<unknown> }, what: string): Promise<unknown[]> {
    try {
      return (await this.#timed(multi.exec(), this.opts.commandTimeoutMs, what)) as unknown[];
    } catch (err) {
      if (redis && err instanceof redis.MultiErrorReply) {
        for (const e of err.errors()) if (!/no such key/i.test(e.message)) throw e;
        return err.replies as unknown[];
      }
      throw err;
    }
  }

  async #run(): Promise<void> {
    let idle = false;
    while (!this.#closed) {
      const active = this.#mine.filter((st) => !st.fetchEnded);
      if (active.length === 0) return;
      if (this.#buffered + (this.opts.count + 1) * active.length > this.#capacity()) {
        // Backpressure: wait until read() drained half the buffer.
        await new Promise<void>((r) => (this.#space = r));
        continue;
      }
      try {
        await this.#withRetry('read', async () => {
          const client = await this.#connect();
          if (idle) {
            // Caught up everywhere: wait on a blocking XREAD (its entries are fetched again below, atomically with XINFO).
            await this.#timed(client.xRead(active.map((st) => ({ key: st.name, id: st.fetched })), { COUNT: 1, BLOCK: this.opts.blockMs }), this.opts.blockMs + this.opts.commandTimeoutMs, 'XREAD BLOCK');
          }
          idle = (await this.#fetch(client, active)) === 0;
        });
      } catch (err) {
        if (!this.#closed) this.#failure = err instanceof Error ? err : new Error(String(err));
        return;
      }
    }
  }

  /**
   * One atomic fetch (MULTI): XREAD of count + 1 entries per stream (the extra one is only
   * peeked: it proves what follows) and XINFO STREAM of each, so a trim between two fetches
   * is seen. Returns how many entries it buffered.
   */
  async #fetch(client: Client, active: StreamState[]): Promise<number> {
    const n = this.opts.count;
    // the chain's type grows with each command: addCommand-style typing is not worth it here
    const multi = client.multi().xRead(active.map((st) => ({ key: st.name, id: st.fetched })), { COUNT: n + 1 }) as unknown as { xInfoStream(key: string): unknown; exec(): Promise<unknown> };
    for (const st of active) multi.xInfoStream(st.name);
    const replies = await this.#exec(multi, 'XREAD');
    const read = new Map(((replies[0] as XReadReply) ?? []).map((r) => [r.name, r.messages]));
    let got = 0;
    for (let k = 0; k < active.length; k++) {
      const st = active[k]!;
      const info = infoOf(replies[k + 1]);
      const messages = read.get(st.name) ?? [];
      if (info) this.#checkLoss(st, info, st.fetched);
      else if (existedFor(st)) throw this.#trimmed(st.name, st.fetched, 'the stream key was deleted');
      const keep = messages.length > n ? messages.slice(0, n) : messages;
      got += this.#append(st, keep);
      if (!st.fetchEnded) st.follow = messages.length > n ? { next: messages[n]!.id } : { addedAt: info?.added ?? 0 };
    }
    return got;
  }

  #append(st: StreamState, messages: Message[]): number {
    const { field, endField } = this.opts;
    const stream = st.name;
    const ids: string[] = [];
    const values: unknown[] = [];
    let endId: string | undefined;
    let bad: Error | undefined;
    for (const m of messages) {
      if (endField !== undefined && m.message[endField] !== undefined) {
        endId = m.id;
        break;
      }
      if (field !== undefined) {
        const v = m.message[field];
        if (v === undefined) {
          // Entries before it are delivered; then the task fails with the entry named.
          bad = new EngineError('SOURCE_RECORD_INVALID', `redisStreamSource [SOURCE_RECORD_INVALID]: entry ${m.id} of stream ${JSON.stringify(stream)} has no field ${JSON.stringify(field)} (fields: ${Object.keys(m.message).join(', ')})`, {
            details: { stream, id: m.id },
          });
          break;
        }
        values.push(v);
      } else {
        values.push({ stream, id: m.id, fields: { ...m.message } } satisfies RedisStreamRecord);
      }
      ids.push(m.id);
    }
    const last = endId ?? ids[ids.length - 1];
    if (last !== undefined) st.fetched = last;
    if (endId !== undefined) st.fetchEnded = true;
    if (values.length > 0 || endId !== undefined) {
      this.#chunks.push({ stream, ids, values, i: 0, ...(endId === undefined ? {} : { endId }) });
      this.#buffered += values.length;
    }
    if (bad) throw bad;
    return values.length;
  }

  /** Runs fn; transient failures (connection, timeout, LOADING) retry with backoff until the outage budget is spent. */
  async #withRetry(what: string, fn: () => Promise<void>): Promise<void> {
    const r = this.opts.retry;
    for (;;) {
      try {
        await fn();
        if (this.#outageSince !== undefined) this.#log?.info({ what, attempts: this.#attempt, outageMs: Date.now() - this.#outageSince }, 'redisStreamSource: server reachable again');
        this.#outageSince = undefined;
        this.#attempt = 0;
        return;
      } catch (err) {
        if (this.#closed) throw err;
        const permanent = classify(err);
        if (permanent) throw permanent;
        this.#dropClient();
        const now = Date.now();
        if (this.#outageSince === undefined) {
          this.#outageSince = now;
          this.#log?.warn({ what, err: String(err) }, 'redisStreamSource: server call failed; retrying with backoff');
        }
        const elapsed = now - this.#outageSince;
        if (elapsed >= r.maxElapsedMs) {
          throw new EngineError('SOURCE_UNAVAILABLE', `redisStreamSource [SOURCE_UNAVAILABLE]: Redis at ${redactUrl(this.opts.url)} unreachable for ${elapsed} ms (${this.#attempt + 1} attempts, budget ${r.maxElapsedMs} ms): ${err instanceof Error ? err.message : String(err)}`, {
            cause: err,
            details: { attempts: this.#attempt + 1, elapsedMs: elapsed },
          });
        }
        // Exponential backoff with full jitter, never past the budget's end.
        const cap = Math.min(r.maxDelayMs, r.initialDelayMs * 2 ** Math.min(this.#attempt, 20));
        this.#attempt++;
        const delay = Math.min(r.maxElapsedMs - elapsed, cap / 2 + Math.random() * (cap / 2));
        await new Promise((res) => setTimeout(res, delay));
        if (this.#closed) throw err;
      }
    }
  }

  async #connect(): Promise<Client> {
    if (this.#client) return this.#client;
    redis ??= await import('redis');
    const { createClient } = redis;
    // No automatic reconnect and no offline queue: this source owns retries and their budget.
    const client = createClient({ url: this.opts.url, disableOfflineQueue: true, socket: { reconnectStrategy: false, connectTimeout: this.opts.commandTimeoutMs } }) as unknown as Client;
    client.on('error', () => {
      // the failing call rejects with the same error; the next call reconnects
      if (this.#client === client) this.#client = undefined;
    });
    this.#client = client;
    try {
      await this.#timed(client.connect(), this.opts.commandTimeoutMs, 'connect');
    } catch (err) {
      this.#dropClient();
      throw err;
    }
    return client;
  }

  #dropClient(): void {
    const c = this.#client;
    this.#client = undefined;
    if (!c) return;
    try {
      c.destroy();
    } catch {
      // already closed
    }
  }

  /** A call that does not settle within ms rejects (a hung server); the late settlement is ignored. */
  #timed<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    p.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${what} not answered within ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}

class TimeoutError extends Error {
  override get name(): string {
    return 'TimeoutError';
  }
}

/** undefined = transient (retry); otherwise the typed error that fails the task now. */
function classify(err: unknown): Error | undefined {
  if (err instanceof EngineError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const isReply = redis !== undefined && err instanceof redis.ErrorReply;
  if (AUTH_REPLY.test(msg)) return new EngineError('SOURCE_AUTH_FAILED', `redisStreamSource [SOURCE_AUTH_FAILED]: Redis refused the credentials: ${msg}`, { cause: err });
  if (isReply && !TRANSIENT_REPLY.test(msg)) {
    if (/^WRONGTYPE/.test(msg)) return new EngineError('CONFIG_INVALID', `redisStreamSource [CONFIG_INVALID]: a configured key is not a stream: ${msg}`, { cause: err });
    return new EngineError('INTERNAL', `redisStreamSource [INTERNAL]: Redis answered an error: ${msg}`, { cause: err });
  }
  return undefined;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** XINFO STREAM's reply as the source needs it; undefined for a missing key (an error reply in the MULTI). */
function infoOf(reply: unknown): StreamInfo | undefined {
  if (reply === null || typeof reply !== 'object' || reply instanceof Error) return undefined;
  const r = reply as Record<string, unknown>;
  const maxDeleted = r['max-deleted-entry-id'];
  if (typeof maxDeleted !== 'string' || typeof r['entries-added'] !== 'number') {
    throw new EngineError('CONFIG_INVALID', 'redisStreamSource [CONFIG_INVALID] needs Redis >= 7.0 (XINFO STREAM max-deleted-entry-id, entries-added) to detect trimming');
  }
  const first = r['first-entry'] as { id?: string } | null | undefined;
  return { length: Number(r.length), added: r['entries-added'], lastGenerated: String(r['last-generated-id']), maxDeleted, firstId: first?.id ?? undefined };
}

/** Had the stream entries for this source (so a missing key means lost entries, not a stream yet to be created)? */
function existedFor(st: StreamState): boolean {
  if (!st.follow) return compareStreamIds(st.after, '0-0') > 0;
  return 'next' in st.follow || st.follow.addedAt > 0;
}
