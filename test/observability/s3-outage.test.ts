import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type LogRecord, type LogStore, type Storage } from '@sluice/storage-api';
import s3Module from '@sluice/storage-s3';
import { createAppLogger, SID_FIELD } from '../../packages/engine/dist/observability/index.js';
import { startS3rver, type S3rverHandle } from '../servers/s3rver.js';

function options(port: number): Record<string, unknown> {
  return {
    bucket: 'sluice-logs', prefix: 'obs/', endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, singleWriter: true, createBucket: true, checksums: 'WHEN_REQUIRED',
    requestTimeoutMs: 2000, maxAttempts: 2,
  };
}

async function all(store: LogStore): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const res = await store.query({ limit: 10_000, cursor });
    out.push(...res.records);
    cursor = res.cursor;
    if (!cursor) break;
  }
  return out;
}

describe('log appender across a real S3 (s3rver) outage', () => {
  let dir: string;
  let server: S3rverHandle | undefined;
  let storage: Storage | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-obs-s3-'));
  });
  afterAll(async () => {
    await storage?.close().catch(() => {});
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps logging while s3rver is down, then ships everything acknowledged, in order, once', async () => {
    const data = join(dir, 's3');
    server = await startS3rver({ dir: data });
    const port = server.port;
    storage = await openStorage(s3Module, options(port));
    const app = await storage.createAppStorage('wordcount', 'wc', { owner: 'alice' });
    const log = createAppLogger({
      appStorage: app, labels: { app: 'wc', executor: 'e1', host: 'h1' }, spoolDir: join(dir, 'spool'),
      batchSize: 200, flushIntervalMs: 50, retryMinMs: 50, retryMaxMs: 500,
    });
    try {
      for (let i = 0; i < 300; i++) log.logger.info({ i }, `before ${i}`);
      expect(await log.flush({ toStore: true, timeoutMs: 20_000 })).toBe(true);

      await server.kill(); // an outage, not a graceful shutdown
      for (let i = 300; i < 1300; i++) log.logger.info({ i }, `during ${i}`);
      expect(await log.flush({ timeoutMs: 30_000 })).toBe(true); // in the spool
      expect(log.stats().storeUp).toBe(false);
      expect(log.stats().spoolBytes).toBeGreaterThan(0);

      server = await startS3rver({ dir: data, port });
      for (let i = 1300; i < 1400; i++) log.logger.info({ i }, `after ${i}`);
      expect(await log.flush({ toStore: true, timeoutMs: 30_000 })).toBe(true);
      const s = log.stats();
      expect(s).toMatchObject({ storeUp: true, droppedTotal: 0, spoolBytes: 0 });
      expect(s.outages).toBeGreaterThanOrEqual(1);
    } finally {
      await log.close({ timeoutMs: 5000 });
    }
    // Read back through a fresh client: nothing lost, nothing twice, order kept.
    const fresh = await openStorage(s3Module, options(port));
    try {
      const recs = await all((await fresh.getAppStorage('wc'))!.logs);
      const idx = recs.map((r) => r.fields?.i);
      expect(idx).toEqual(Array.from({ length: 1400 }, (_, i) => i));
      expect(new Set(recs.map((r) => r.fields?.[SID_FIELD])).size).toBe(1400);
    } finally {
      await fresh.close();
    }
  });
});
