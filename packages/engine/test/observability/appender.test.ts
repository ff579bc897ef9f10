import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogRecord, LogStore } from '@sluice/storage-api';
import { createAppLogger, LogAppender, MetricsRegistry, SID_FIELD, type AppLogger } from '../../dist/observability/index.js';
import { allRecords, memoryApp, OutageLogStore, tempDir, waitFor } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: { spool?: boolean; batchSize?: number; maxBufferRecords?: number; maxSpoolBytes?: number; metrics?: MetricsRegistry } = {}) {
  const { storage, app } = await memoryApp();
  const store = new OutageLogStore(app.logs);
  const tmp = await tempDir();
  const spoolDir = join(tmp.dir, 'spool');
  const log = createAppLogger({
    logStore: store,
    labels: { app: 'app1', executor: 'e1', host: 'h1' },
    level: 'info',
    spoolDir: opts.spool === false ? undefined : spoolDir,
    batchSize: opts.batchSize ?? 500,
    maxBufferRecords: opts.maxBufferRecords ?? 100_000,
    maxSpoolBytes: opts.maxSpoolBytes,
    flushIntervalMs: 50,
    retryMinMs: 10,
    retryMaxMs: 50,
    metrics: opts.metrics,
  });
  cleanups.push(() => storage.close(), tmp.cleanup, () => log.close({ timeoutMs: 1000 }));
  return { store, inner: app.logs, log, spoolDir };
}

function indexes(records: LogRecord[]): number[] {
  return records.filter((r) => typeof r.fields?.i === 'number').map((r) => r.fields!.i as number);
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, k) => a + k);
}

function logN(log: AppLogger, from: number, to: number): void {
  for (let i = from; i < to; i++) log.logger.info({ i }, `line ${i}`);
}

describe('log appender', () => {
  it('ships pino records in batches with labels from child loggers and keeps pino level filtering', async () => {
    const { store, inner, log } = await setup({ batchSize: 400 });
    const task = log.logger.child({ processor: 'split', task: '0.1' });
    for (let i = 0; i < 1000; i++) task.info({ i, word: 'w' }, `line ${i}`);
    log.logger.debug({ i: -1 }, 'filtered by level');
    log.logger.warn({ i: 1000 }, 'a warning');
    expect(await log.flush()).toBe(true);
    const recs = await allRecords(inner);
    expect(indexes(recs)).toEqual(range(0, 1001));
    expect(Math.max(...store.appendSizes)).toBeLessThanOrEqual(400);
    expect(store.appendSizes.length).toBeGreaterThanOrEqual(3);
    const first = recs[0]!;
    expect(first.labels).toEqual({ app: 'app1', executor: 'e1', host: 'h1', processor: 'split', task: '0.1' });
    expect(first.level).toBe('info');
    expect(first.msg).toBe('line 0');
    expect(first.fields?.word).toBe('w');
    expect(recs[recs.length - 1]!.level).toBe('warn');
    expect(recs[recs.length - 1]!.labels.processor).toBeUndefined();
    expect(log.stats()).toMatchObject({ accepted: 1001, shipped: 1001, droppedTotal: 0 });
  });

  it('never waits for the store: logging finishes while the store hangs, memory stays capped, drops are counted', async () => {
    const { app, storage } = await memoryApp();
    cleanups.push(() => storage.close());
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const hanging: LogStore = {
      ...app.logs,
      append: async (records) => {
        calls++;
        await gate; // the store does not answer until released
        await app.logs.append(records);
      },
      query: (q) => app.logs.query(q),
    };
    const appender = new LogAppender({ store: hanging, maxBufferRecords: 2000, batchSize: 500, flushIntervalMs: 10 });
    // Drive the appender directly as pino's destination, from a synchronous loop.
    for (let i = 0; i < 10_000; i++) appender.write(JSON.stringify({ level: 30, time: Date.now(), msg: `m${i}`, i }));
    const s = appender.stats();
    expect(s.accepted + s.dropped.queueFull).toBe(10_000);
    expect(s.queueDepth).toBeLessThanOrEqual(2000);
    expect(s.dropped.queueFull).toBeGreaterThanOrEqual(10_000 - 2000 - 500);
    // Yield once so the pump starts; the store is still hanging.
    await new Promise((r) => setTimeout(r, 30));
    expect(calls).toBeGreaterThanOrEqual(1);
    release();
    expect(await appender.flush({ timeoutMs: 5000 })).toBe(true);
    const stored = await allRecords(app.logs);
    expect(stored.length).toBe(s.accepted + 1 /* the drop report */);
    const report = stored.find((r) => r.msg.includes('dropped'));
    expect(report?.level).toBe('warn');
    expect(report?.fields?.dropped).toBe(s.dropped.queueFull);
    await appender.close();
  });

  it('spools to NDJSON on disk while the store is down and catches up in order without loss or duplicates', async () => {
    const { store, inner, log, spoolDir } = await setup({ batchSize: 300 });
    logN(log, 0, 500);
    expect(await log.flush()).toBe(true);
    store.mode = 'down';
    logN(log, 500, 2500);
    expect(await log.flush()).toBe(true); // safely spooled
    expect(log.stats().storeUp).toBe(false);
    const files = (await readdir(spoolDir)).filter((f) => f.endsWith('.ndjson'));
    expect(files.length).toBeGreaterThanOrEqual(1);
    const spooled = (await Promise.all(files.map((f) => readFile(join(spoolDir, f), 'utf8'))))
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogRecord);
    expect(spooled.length).toBe(2000);
    expect(spooled[0]!.fields?.i).toBe(500);
    expect(indexes(await allRecords(inner))).toEqual(range(0, 500));

    store.mode = 'up';
    logN(log, 2500, 3000); // new lines queue behind the spool
    expect(await log.flush({ toStore: true, timeoutMs: 10_000 })).toBe(true);
    const recs = await allRecords(inner);
    expect(indexes(recs)).toEqual(range(0, 3000));
    expect(new Set(recs.map((r) => r.fields?.[SID_FIELD])).size).toBe(3000);
    expect((await readdir(spoolDir)).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    expect(log.stats()).toMatchObject({ storeUp: true, droppedTotal: 0, outages: 1, shipped: 3000 });
  });

  it('does not duplicate a batch whose acknowledgement was lost', async () => {
    const { store, inner, log } = await setup({ batchSize: 200 });
    store.mode = 'lostAck'; // the next append is stored, then fails; the store stays down
    logN(log, 0, 1000);
    expect(await log.flush()).toBe(true);
    expect(store.failedAppends).toBeGreaterThanOrEqual(1);
    store.mode = 'up';
    expect(await log.flush({ toStore: true })).toBe(true);
    const recs = await allRecords(inner);
    expect(indexes(recs)).toEqual(range(0, 1000));
    expect(log.stats().duplicatesSkipped).toBeGreaterThanOrEqual(1);
  });

  it('keeps order across repeated outages while logging continues', async () => {
    const { store, inner, log } = await setup({ batchSize: 100 });
    let i = 0;
    for (let round = 0; round < 6; round++) {
      store.mode = round % 2 === 0 ? 'down' : 'up';
      for (let k = 0; k < 5; k++) {
        logN(log, i, i + 150);
        i += 150;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    store.mode = 'up';
    expect(await log.flush({ toStore: true })).toBe(true);
    expect(indexes(await allRecords(inner))).toEqual(range(0, i));
    expect(log.stats().outages).toBeGreaterThanOrEqual(2);
  });

  it('counts what a full spool could not keep and reports it as a metric and a log line once the store is back', async () => {
    const metrics = new MetricsRegistry({ app: 'app1' });
    const { store, inner, log } = await setup({ batchSize: 100, maxSpoolBytes: 20_000, metrics });
    store.mode = 'down';
    logN(log, 0, 2000);
    expect(await log.flush()).toBe(true);
    const s = log.stats();
    expect(s.dropped.spoolFull).toBeGreaterThan(0);
    expect(s.spoolBytes).toBeLessThanOrEqual(20_000);
    const dropped = metrics.snapshot().find((m) => m.name === 'sluice_log_records_dropped_total');
    expect(dropped?.value).toBe(s.dropped.spoolFull);
    store.mode = 'up';
    expect(await log.flush({ toStore: true })).toBe(true);
    const recs = await allRecords(inner);
    const kept = indexes(recs);
    // What was kept is a prefix, in order; the rest is accounted for.
    expect(kept).toEqual(range(0, kept.length));
    expect(kept.length + s.dropped.spoolFull).toBe(2000);
    const report = recs.find((r) => r.msg.startsWith('log appender dropped'));
    expect(report?.fields?.dropped).toBe(s.dropped.spoolFull);
    expect(metrics.snapshot().find((m) => m.name === 'sluice_log_store_up')?.value).toBe(1);
  });

  it('a new process ships the spool an earlier one left behind, first and exactly once', async () => {
    const { storage, app } = await memoryApp();
    const tmp = await tempDir();
    cleanups.push(() => storage.close(), tmp.cleanup);
    const store = new OutageLogStore(app.logs);
    const spoolDir = join(tmp.dir, 'spool');
    const mk = () => createAppLogger({ logStore: store, labels: { app: 'app1', executor: 'e1', host: 'h1' }, spoolDir, batchSize: 100, flushIntervalMs: 50, retryMinMs: 10 });
    const a = mk();
    store.mode = 'lostAck'; // the first batch lands but looks failed
    logN(a, 0, 800);
    const closed = await a.close({ timeoutMs: 200 });
    expect(closed.spoolBytes).toBeGreaterThan(0);
    store.mode = 'up';
    const b = mk();
    cleanups.push(() => b.close({ timeoutMs: 1000 }));
    logN(b, 800, 900);
    expect(await b.flush({ toStore: true })).toBe(true);
    expect(indexes(await allRecords(app.logs))).toEqual(range(0, 900));
    expect(b.stats().duplicatesSkipped).toBeGreaterThan(0);
  });

  it('without a spool, a lost acknowledgement does not duplicate either', async () => {
    const { store, inner, log } = await setup({ spool: false, batchSize: 100 });
    store.mode = 'lostAck';
    logN(log, 0, 300);
    expect(await waitFor(() => store.failedAppends >= 1)).toBe(true);
    store.mode = 'up';
    expect(await log.flush({ toStore: true })).toBe(true);
    expect(indexes(await allRecords(inner))).toEqual(range(0, 300));
    expect(log.stats().duplicatesSkipped).toBe(100);
  });

  it('close() accounts for everything: shipped, or counted as dropped when it cannot be kept', async () => {
    const { store, log } = await setup({ spool: false, batchSize: 100 });
    logN(log, 0, 100);
    expect(await log.flush()).toBe(true);
    store.mode = 'down';
    logN(log, 100, 350);
    const s = await log.close({ timeoutMs: 100 });
    expect(s.shipped).toBe(100);
    expect(s.dropped.closed).toBe(250);
    log.logger.info('after close');
    expect(log.stats().dropped.closed).toBe(251);
    expect(log.stats().accepted).toBe(350);
  });

  it('without a spool keeps records in memory during an outage, up to the cap', async () => {
    const { store, inner, log } = await setup({ spool: false, batchSize: 100, maxBufferRecords: 1000 });
    store.mode = 'down';
    logN(log, 0, 600);
    expect(await waitFor(() => !log.stats().storeUp)).toBe(true);
    expect(log.stats().queueDepth).toBe(600);
    store.mode = 'up';
    expect(await log.flush({ toStore: true })).toBe(true);
    expect(indexes(await allRecords(inner))).toEqual(range(0, 600));
  });
});
