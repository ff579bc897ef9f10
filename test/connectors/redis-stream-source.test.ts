// The Redis Streams source against a real redis-server: exact positions and replay, the stream
// split across parallel tasks, fromTime, trimming past the position (a typed error, never a
// skip), a server killed mid-read (recovery within the budget, SOURCE_UNAVAILABLE past it),
// bad credentials and bad options.
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectors, isEngineError, type SourceTask, type TaskContext } from '@sluice/engine';
import { redisLeg, startRedis, type RedisHandle } from '../servers/redis.js';

const { redisStreamSource, redisStreamIdAtTime, compareStreamIds } = connectors;

type Client = ReturnType<typeof createClient>;
interface Rec {
  stream: string;
  id: string;
  fields: Record<string, string>;
}

function ctxOf(index = 0, parallelism = 1, warnings: string[] = []): TaskContext {
  const log = (o: object | string, m?: string): void => void warnings.push(`${m ?? ''} ${JSON.stringify(o)}`);
  return {
    appId: 'a', taskId: `src.${index}`, processor: 'src', index, parallelism, config: undefined,
    logger: { debug: () => undefined, info: () => undefined, warn: log, error: log },
    blobs: { path: () => { throw new Error('no blobs'); }, version: () => 0 },
    emit: () => undefined,
  };
}

/** Reads until `n` values came (or null); bounded in time. Chunk sizes vary to exercise partial chunks. */
async function readN(src: SourceTask, n: number, timeoutMs = 15_000): Promise<{ values: unknown[]; done: boolean }> {
  const values: unknown[] = [];
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; values.length < n; i++) {
    const got = src.read(Math.min(n - values.length, 1 + ((i * 37) % 97)));
    if (got === null) return { values, done: true };
    values.push(...got);
    if (got.length === 0) {
      if (Date.now() > deadline) throw new Error(`read ${values.length} of ${n} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  return { values, done: false };
}

/** Polls read() until it throws; returns the error (fails after timeoutMs). */
async function readUntilThrows(src: SourceTask, timeoutMs: number): Promise<{ err: unknown; values: unknown[]; ms: number }> {
  const t0 = Date.now();
  const values: unknown[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    try {
      const got = src.read(1000);
      if (got === null) throw new Error('source ended instead of failing');
      values.push(...got);
    } catch (err) {
      return { err, values, ms: Date.now() - t0 };
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`read() did not fail within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('unreachable');
}

async function addMany(c: Client, stream: string, n: number, tag = 'v'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 500) {
    const m = c.multi();
    for (let j = i; j < Math.min(n, i + 500); j++) m.xAdd(stream, '*', { line: `${tag}${j}`, n: String(j) });
    ids.push(...((await m.exec()) as unknown as string[]));
  }
  return ids;
}

/** The id of the last entry read() returned from `stream`, from the source's position. */
function afterOf(src: SourceTask, stream: string): string {
  return (src.position() as { streams: Record<string, { after: string }> }).streams[stream]!.after;
}

const leg = redisLeg();
if (!leg.run) {
  if (leg.required) describe('Redis leg (SLUICE_REQUIRE_REDIS=1)', () => it('has redis-server installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs redis-server', () => undefined));
} else {
  describe('redisStreamSource on a real redis-server', () => {
    let redis: RedisHandle;
    let c: Client;
    const open: SourceTask[] = [];
    let failed = false;
    const source = async (o: Parameters<typeof redisStreamSource>[0], position?: unknown, ctx = ctxOf()): Promise<SourceTask> => {
      const s = redisStreamSource(o)();
      open.push(s);
      await s.open(ctx, position);
      return s;
    };

    beforeAll(async () => {
      redis = await startRedis();
      c = createClient({ url: redis.url });
      c.on('error', () => undefined);
      await c.connect();
    });
    afterEach(async (t) => {
      if (t.task.result?.state === 'fail') failed = true;
      for (const s of open.splice(0)) await s.close?.();
    });
    afterAll(async () => {
      if (failed && redis) process.stderr.write(`--- redis-server log ---\n${redis.logTail()}\n`);
      c?.destroy();
      await redis?.close();
    });

    it('returns every entry once, in order, as { stream, id, fields }; a replay from any position is exact', async () => {
      const ids = await addMany(c, 'exact', 3000);
      const src = await source({ url: redis.url, stream: 'exact', count: 128, bufferEntries: 300 });
      const first = (await readN(src, 1234)).values as Rec[];
      const pos = JSON.parse(JSON.stringify(src.position())) as unknown;
      const rest = (await readN(src, 3000 - 1234)).values as Rec[];
      const all = [...first, ...rest];
      expect(all.map((r) => r.id)).toEqual(ids);
      expect(all[7]).toEqual({ stream: 'exact', id: ids[7], fields: { line: 'v7', n: '7' } });
      expect(src.read(10)).toEqual([]); // live stream: nothing now, not exhausted
      // replay from the recorded position: exactly the entries after it
      const again = await source({ url: redis.url, stream: 'exact', count: 50 }, pos);
      expect(((await readN(again, 3000 - 1234)).values as Rec[]).map((r) => r.id)).toEqual(ids.slice(1234));
      // entries appended later arrive on the blocked XREAD
      const more = await addMany(c, 'exact', 10, 'late');
      expect(((await readN(again, 10)).values as Rec[]).map((r) => r.id)).toEqual(more);
    });

    it('stops fetching while its buffer is full (back-pressure) and resumes as read() drains it', async () => {
      const ids = await addMany(c, 'bp', 5000);
      const xreads = async (): Promise<number> => Number(/cmdstat_xread:calls=(\d+)/.exec(await c.info('commandstats'))?.[1] ?? 0);
      const before = await xreads();
      const src = await source({ url: redis.url, stream: 'bp', count: 50, bufferEntries: 200 });
      await new Promise((r) => setTimeout(r, 500));
      const idleCalls = (await xreads()) - before;
      // 200 entries of room / 50 per fetch: a handful of fetches, then it waits for read()
      expect(idleCalls).toBeGreaterThan(0);
      expect(idleCalls).toBeLessThanOrEqual(6);
      await new Promise((r) => setTimeout(r, 300));
      expect((await xreads()) - before).toBe(idleCalls);
      const got = (await readN(src, 5000)).values as Rec[];
      expect(got.map((r) => r.id)).toEqual(ids);
      expect((await xreads()) - before).toBeGreaterThanOrEqual(100);
    });

    it('emits one field with `field`; an `endField` entry ends the stream, and the position keeps it ended', async () => {
      await addMany(c, 'bounded', 40);
      await c.xAdd('bounded', '*', { eof: '1' });
      await addMany(c, 'bounded', 5, 'after-end');
      const src = await source({ url: redis.url, stream: 'bounded', field: 'line', endField: 'eof' });
      const got = await readN(src, 100);
      expect(got.done).toBe(true);
      expect(got.values).toEqual(Array.from({ length: 40 }, (_, i) => `v${i}`));
      expect(src.read(10)).toBeNull();
      const replay = await source({ url: redis.url, stream: 'bounded', field: 'line', endField: 'eof' }, JSON.parse(JSON.stringify(src.position())));
      expect(replay.read(10)).toBeNull();
    });

    it('an entry without `field` fails the task with SOURCE_RECORD_INVALID after the entries before it', async () => {
      await addMany(c, 'poison', 3);
      const badId = await c.xAdd('poison', '*', { other: 'x' });
      await addMany(c, 'poison', 3, 'never');
      const src = await source({ url: redis.url, stream: 'poison', field: 'line' });
      const r = await readUntilThrows(src, 10_000);
      expect(r.values).toEqual(['v0', 'v1', 'v2']);
      expect(isEngineError(r.err, 'SOURCE_RECORD_INVALID'), String(r.err)).toBe(true);
      expect(String(r.err)).toContain(badId);
      // the position stops before the bad entry: nothing after it was consumed
      expect(compareStreamIds(afterOf(src, 'poison'), badId)).toBeLessThan(0);
    });

    it('splits the streams across parallel tasks (j % p === index); each entry is read by exactly one task; a task with no stream is idle', async () => {
      const streams = ['sp0', 'sp1', 'sp2', 'sp3', 'sp4'];
      const expected = new Map<string, string[]>();
      for (const s of streams) expected.set(s, await addMany(c, s, 200 + s.length));
      const p = 7;
      const seen = new Map<string, string[]>();
      for (let i = 0; i < p; i++) {
        const src = await source({ url: redis.url, streams, count: 64 }, undefined, ctxOf(i, p));
        const mine = streams.filter((_, j) => j % p === i);
        const want = mine.reduce((n, s) => n + expected.get(s)!.length, 0);
        const got = (await readN(src, want)).values as Rec[];
        for (const r of got) seen.set(r.stream, [...(seen.get(r.stream) ?? []), r.id]);
        expect(new Set(got.map((r) => r.stream))).toEqual(new Set(mine));
        if (mine.length === 0) {
          await new Promise((r) => setTimeout(r, 50));
          expect(src.read(10)).toEqual([]); // idle, not exhausted
        }
      }
      expect(seen).toEqual(expected);
      // a position is bound to its task's share: another split is refused, not misread
      const src = await source({ url: redis.url, streams }, undefined, ctxOf(1, 3));
      const pos = JSON.parse(JSON.stringify(src.position())) as unknown;
      await expect(source({ url: redis.url, streams }, pos, ctxOf(1, 2))).rejects.toMatchObject({ code: 'APP_STATE' });
    });

    it('fromTime starts at entry id <ms>-0 when there is no stored position', async () => {
      for (const id of ['1000-0', '1999-5', '2000-0', '2000-1', '3000-0']) await c.xAdd('timed', id, { line: id });
      expect(redisStreamIdAtTime(2000)).toBe('2000-0');
      expect(() => redisStreamIdAtTime(-1)).toThrow(RangeError);
      const src = await source({ url: redis.url, stream: 'timed', field: 'line', fromTime: 2000 });
      expect((await readN(src, 3)).values).toEqual(['2000-0', '2000-1', '3000-0']);
      // a stored position wins over fromTime
      const replay = await source({ url: redis.url, stream: 'timed', field: 'line', fromTime: 2000 }, { streams: { timed: { after: '1000-0' } }, split: [0, 1] });
      expect((await readN(replay, 4)).values).toEqual(['1999-5', '2000-0', '2000-1', '3000-0']);
    });

    it('trimming past the committed position fails open with SOURCE_TRIMMED; trimming what was consumed does not', async () => {
      const ids = await addMany(c, 'trim', 1000);
      const src = await source({ url: redis.url, stream: 'trim', count: 100 });
      await readN(src, 300);
      const pos = JSON.parse(JSON.stringify(src.position())) as unknown;
      expect(afterOf(src, 'trim')).toBe(ids[299]);
      await src.close?.();
      // consumed entries only: the replay is exact
      await c.xTrim('trim', 'MINID', ids[200]!);
      const ok = await source({ url: redis.url, stream: 'trim' }, pos);
      expect(((await readN(ok, 700)).values as Rec[]).map((r) => r.id)).toEqual(ids.slice(300));
      // past the position: refused, loudly, naming the stream and the position
      await c.xTrim('trim', 'MAXLEN', 500);
      const err = await source({ url: redis.url, stream: 'trim' }, pos).then(() => undefined, (e: unknown) => e);
      expect(isEngineError(err, 'SOURCE_TRIMMED'), String(err)).toBe(true);
      expect(String(err)).toContain(ids[299]);
      // caught up (nothing buffered after the position), then entries added and trimmed away: a loss too
      await addMany(c, 'trim2', 300);
      const all = await source({ url: redis.url, stream: 'trim2', count: 1000 });
      await readN(all, 300);
      await new Promise((r) => setTimeout(r, 100));
      const caughtUp = JSON.parse(JSON.stringify(all.position())) as { streams: Record<string, { addedAt?: number }> };
      expect(caughtUp.streams.trim2!.addedAt).toBe(300);
      await all.close?.();
      const fresh = await addMany(c, 'trim2', 20, 'new');
      await c.xTrim('trim2', 'MAXLEN', 25); // consumed ones only: fine, and exact
      const resumed = await source({ url: redis.url, stream: 'trim2' }, caughtUp);
      expect(((await readN(resumed, 20)).values as Rec[]).map((r) => r.id)).toEqual(fresh);
      await c.xTrim('trim2', 'MAXLEN', 5);
      await expect(source({ url: redis.url, stream: 'trim2' }, caughtUp)).rejects.toMatchObject({ code: 'SOURCE_TRIMMED' });
      // a stream deleted altogether is a loss too
      await c.del('trim');
      await expect(source({ url: redis.url, stream: 'trim' }, pos)).rejects.toMatchObject({ code: 'SOURCE_TRIMMED' });
    });

    it('deletions from before the first open do not fail a later replay', async () => {
      const ids = await addMany(c, 'predeleted', 100);
      await c.xDel('predeleted', ids[90]!); // before the app ever ran
      const src = await source({ url: redis.url, stream: 'predeleted', count: 10 });
      const first = (await readN(src, 20)).values as Rec[];
      expect(first.map((r) => r.id)).toEqual(ids.slice(0, 20));
      const replay = await source({ url: redis.url, stream: 'predeleted' }, JSON.parse(JSON.stringify(src.position())));
      expect(((await readN(replay, 79)).values as Rec[]).map((r) => r.id)).toEqual([...ids.slice(20, 90), ...ids.slice(91)]);
    });

    it('trimming entries it has not fetched yet fails a running source with SOURCE_TRIMMED', async () => {
      const ids = await addMany(c, 'trimlive', 2000);
      // a small buffer, so most of the stream is not fetched while we do not read
      const src = await source({ url: redis.url, stream: 'trimlive', count: 50, bufferEntries: 100 });
      await readN(src, 10);
      await c.xTrim('trimlive', 'MAXLEN', 500);
      const r = await readUntilThrows(src, 10_000);
      expect(isEngineError(r.err, 'SOURCE_TRIMMED'), String(r.err)).toBe(true);
      // what it returned before failing is a gap-free prefix of the stream
      const got = r.values as Rec[];
      expect(got.map((x) => x.id)).toEqual(ids.slice(10, 10 + got.length));
    });

    it('a server killed mid-read and back within the budget: the source recovers and loses or repeats nothing', { timeout: 60_000 }, async () => {
      const before = await addMany(c, 'outage', 500);
      const warnings: string[] = [];
      const src = await source({ url: redis.url, stream: 'outage', count: 100, bufferEntries: 200, retry: { maxElapsedMs: 20_000, initialDelayMs: 50, maxDelayMs: 500 } }, undefined, ctxOf(0, 1, warnings));
      const got = (await readN(src, 150)).values as Rec[];
      await redis.kill();
      await new Promise((r) => setTimeout(r, 1500)); // the loop retries against a dead port meanwhile
      got.push(...((await readN(src, 50)).values as Rec[])); // what was buffered before the kill
      await redis.start();
      c.destroy();
      c = createClient({ url: redis.url });
      c.on('error', () => undefined);
      await c.connect();
      const after = await addMany(c, 'outage', 300, 'post');
      got.push(...((await readN(src, 500 + 300 - got.length, 20_000)).values as Rec[]));
      expect(got.map((r) => r.id)).toEqual([...before, ...after]);
      expect(warnings.some((w) => /retrying with backoff/.test(w))).toBe(true);
    });

    it('a server that stays dead fails read() with SOURCE_UNAVAILABLE once the budget is spent (bounded), after the buffered entries', { timeout: 60_000 }, async () => {
      await addMany(c, 'dead', 300);
      const src = await source({ url: redis.url, stream: 'dead', count: 100, bufferEntries: 100, retry: { maxElapsedMs: 1500, initialDelayMs: 50, maxDelayMs: 300 } });
      await new Promise((r) => setTimeout(r, 200)); // let it buffer
      await redis.kill();
      const r = await readUntilThrows(src, 15_000);
      expect(isEngineError(r.err, 'SOURCE_UNAVAILABLE'), String(r.err)).toBe(true);
      expect(r.ms).toBeLessThan(10_000);
      expect((r.err as Error).message).toMatch(/unreachable for \d+ ms/);
      // nothing is skipped: the position is exactly after what read() returned
      const n = r.values.length;
      expect(n).toBeGreaterThan(0);
      expect(afterOf(src, 'dead')).toBe((r.values[n - 1] as Rec).id);
      // open against a dead server fails the same way, bounded
      const t0 = Date.now();
      await expect(source({ url: redis.url, stream: 'dead', retry: { maxElapsedMs: 1000 } })).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
      expect(Date.now() - t0).toBeLessThan(8_000);
      await redis.start();
    });

    it('a hung server (SIGSTOP) times out, retries, and fails with SOURCE_UNAVAILABLE past the budget', { timeout: 60_000 }, async () => {
      await addMany(c, 'hung', 10);
      const src = await source({ url: redis.url, stream: 'hung', blockMs: 100, commandTimeoutMs: 300, retry: { maxElapsedMs: 1500, initialDelayMs: 50, maxDelayMs: 200 } });
      await readN(src, 10);
      redis.pause();
      try {
        const r = await readUntilThrows(src, 15_000);
        expect(isEngineError(r.err, 'SOURCE_UNAVAILABLE'), String(r.err)).toBe(true);
        expect((r.err as Error).message).toMatch(/not answered within 300 ms/);
      } finally {
        redis.resume();
      }
    });

    it('bad credentials fail open with SOURCE_AUTH_FAILED at once; bad options are CONFIG_INVALID naming the key', async () => {
      const secured = await startRedis({ password: 'right' });
      try {
        const t0 = Date.now();
        await expect(source({ url: `redis://:wrong@127.0.0.1:${secured.port}`, stream: 's' })).rejects.toMatchObject({ code: 'SOURCE_AUTH_FAILED' });
        expect(Date.now() - t0).toBeLessThan(5_000);
        const ok = await source({ url: secured.url, stream: 's' });
        expect(ok.read(1)).toEqual([]);
      } finally {
        for (const s of open.splice(0)) await s.close?.();
        await secured.close();
      }
      const bad = (o: unknown): unknown => {
        try {
          redisStreamSource(o as Parameters<typeof redisStreamSource>[0]);
          return undefined;
        } catch (err) {
          return err;
        }
      };
      expect(String(bad({ url: 'http://x', stream: 's' }))).toMatch(/redisStreamSource\.url/);
      expect(String(bad({ url: redis.url, stream: 's', count: 0 }))).toMatch(/redisStreamSource\.count/);
      expect(String(bad({ url: redis.url, stream: 's', streams: ['t'] }))).toMatch(/exactly one of stream or streams/);
      expect(String(bad({ url: redis.url, stream: 's', retry: { maxElapsedMs: -1 } }))).toMatch(/redisStreamSource\.retry\.maxElapsedMs/);
      expect(isEngineError(bad({ url: redis.url }), 'CONFIG_INVALID')).toBe(true);
      // a key that is not a stream: refused at open, not retried
      await c.set('not-a-stream', 'x');
      await expect(source({ url: redis.url, stream: 'not-a-stream' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/WRONGTYPE/) });
    });
  });
}
