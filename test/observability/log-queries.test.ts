import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type AppStorage, type LogRecord, type Storage, type StorageModule } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import fsModule from '@sluice/storage-fs';
import { createAppLogger, followLogs, readLogs, resolveLogFilter, isObservabilityError } from '../../packages/engine/dist/observability/index.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** 400 records, one per second from T0: level cycles, processor alternates, every 10th mentions "Checkpoint". */
function fixture(): LogRecord[] {
  return Array.from({ length: 400 }, (_, i) => ({
    ts: T0 + i * 1000,
    level: LEVELS[i % 4]!,
    msg: i % 10 === 0 ? `Checkpoint ${i} committed` : `processed batch ${i}`,
    labels: { app: 'wc', executor: `e${i % 2}`, processor: i % 2 ? 'count' : 'split', task: `${i % 2}.${i % 3}`, host: 'h' },
    fields: { i },
  }));
}

const backends: Array<[string, StorageModule<unknown>, (dir: string) => Record<string, unknown>]> = [
  ['memory', memoryModule, () => ({})],
  ['fs', fsModule as StorageModule<unknown>, (dir) => ({ root: join(dir, 'data') })],
];

describe.each(backends)('log queries on the %s store', (_name, mod, options) => {
  let dir: string;
  let storage: Storage;
  let app: AppStorage;
  const ids = (rs: LogRecord[]) => rs.map((r) => r.fields?.i);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-obs-q-'));
    storage = await openStorage(mod, options(dir));
    app = await storage.createAppStorage('wordcount', 'wc', { owner: 'alice' });
    await app.logs.append(fixture());
  });
  afterAll(async () => {
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const read = (f: Parameters<typeof resolveLogFilter>[0]) => readLogs(app.logs, resolveLogFilter(f, T0 + 400_000));

  it('time window: --since/--until as epoch ms, ISO date and a duration ago', async () => {
    expect(ids(await read({ since: String(T0 + 10_000), until: String(T0 + 15_000) }))).toEqual([10, 11, 12, 13, 14]);
    expect(ids(await read({ since: new Date(T0 + 395_000).toISOString() }))).toEqual([395, 396, 397, 398, 399]);
    // "now" is T0+400s, so 3s ago is T0+397s
    expect(ids(await read({ since: '3s' }))).toEqual([397, 398, 399]);
  });

  it('level, text and label filters combine', async () => {
    const errs = await read({ since: String(T0), level: 'error', limit: 10_000 });
    expect(errs.length).toBe(100);
    expect(errs.every((r) => r.level === 'error')).toBe(true);
    const warnUp = await read({ since: String(T0), level: 'warn', limit: 10_000 });
    expect(warnUp.length).toBe(200);
    expect(ids(await read({ since: String(T0), grep: 'checkpoint', processor: 'split', until: String(T0 + 50_000) }))).toEqual([0, 10, 20, 30, 40]);
    const t = await read({ since: String(T0), processor: 'count', task: '1.0', executor: 'e1', limit: 10_000 });
    expect(t.length).toBeGreaterThan(0);
    expect(t.every((r) => r.labels.processor === 'count' && r.labels.task === '1.0' && r.labels.executor === 'e1')).toBe(true);
  });

  it('without --since shows the newest --limit lines, oldest first; with it pages forward past one store page', async () => {
    expect(ids(await read({ limit: 3 }))).toEqual([397, 398, 399]);
    const all = await read({ since: String(T0), limit: 100_000 });
    expect(all.length).toBe(400);
    expect(ids(all)).toEqual(Array.from({ length: 400 }, (_, i) => i));
  });

  it('rejects bad filters with typed errors', () => {
    for (const f of [{ since: 'yesterday' }, { level: 'loud' }, { limit: '0' }, { since: '1m', until: '2m' }]) {
      let err: unknown;
      try {
        resolveLogFilter(f, T0);
      } catch (e) {
        err = e;
      }
      expect(isObservabilityError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
  });

  it('follow shows the backlog, then lines logged afterwards within the poll interval, filtered', async () => {
    const log = createAppLogger({ logStore: app.logs, labels: { app: 'wc', executor: 'e9', host: 'h' }, flushIntervalMs: 20 });
    const ac = new AbortController();
    const seen: LogRecord[] = [];
    const r = resolveLogFilter({ executor: 'e9', level: 'info', limit: 5 });
    const done = (async () => {
      for await (const rec of followLogs(app.logs, r, { signal: ac.signal, pollIntervalMs: 100 })) seen.push(rec);
    })();
    try {
      log.logger.info('before follow started?');
      log.logger.debug('below the level');
      await log.flush();
      const deadline = Date.now() + 2000;
      while (seen.length < 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      expect(seen.map((x) => x.msg)).toEqual(['before follow started?']);
      log.logger.warn({ n: 1 }, 'live line');
      log.logger.info({ other: true }, 'live line two');
      await log.flush();
      // The appender has shipped it; the tail must show it within a few polls (< 2 s).
      const deadline2 = Date.now() + 2000;
      while (seen.length < 3 && Date.now() < deadline2) await new Promise((res) => setTimeout(res, 10));
      expect(seen.map((x) => x.msg)).toEqual(['before follow started?', 'live line', 'live line two']);
      expect(seen[1]!.labels).toMatchObject({ app: 'wc', executor: 'e9' });
    } finally {
      ac.abort();
      await done;
      await log.close();
    }
  });
});
