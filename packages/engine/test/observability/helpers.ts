import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, StorageError, type LogPage, type LogQuery, type LogRecord, type LogStore, type OpOptions, type Storage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';

/**
 * Wraps a real LogStore and fails on demand: 'down' refuses appends and queries like an
 * unreachable store; 'lostAck' stores the batch and then throws, like a reply lost on the wire.
 */
export class OutageLogStore implements LogStore {
  mode: 'up' | 'down' | 'lostAck' = 'up';
  /** Sizes of successful append calls. */
  appendSizes: number[] = [];
  failedAppends = 0;
  constructor(readonly inner: LogStore) {}

  async append(records: LogRecord[], options?: OpOptions): Promise<void> {
    if (this.mode === 'down') {
      this.failedAppends++;
      throw new StorageError('simulated outage', { code: 'STORAGE_UNAVAILABLE' });
    }
    await this.inner.append(records, options);
    if (this.mode === 'lostAck') {
      this.mode = 'down';
      this.failedAppends++;
      throw new StorageError('simulated lost acknowledgement', { code: 'STORAGE_TIMEOUT' });
    }
    this.appendSizes.push(records.length);
  }
  async query(q: LogQuery, options?: OpOptions): Promise<LogPage> {
    if (this.mode === 'down') throw new StorageError('simulated outage', { code: 'STORAGE_UNAVAILABLE' });
    return this.inner.query(q, options);
  }
  follow(q: LogQuery, options?: Parameters<LogStore['follow']>[1]): AsyncIterable<LogRecord> {
    return this.inner.follow(q, options);
  }
  stats(options?: OpOptions) {
    return this.inner.stats(options);
  }
  deleteBefore(t: number, options?: OpOptions) {
    return this.inner.deleteBefore(t, options);
  }
}

export async function memoryApp(appId = 'app1'): Promise<{ storage: Storage; app: Awaited<ReturnType<Storage['createAppStorage']>> }> {
  const storage = await openStorage(memoryModule, {});
  const app = await storage.createAppStorage('wordcount', appId, { owner: 'alice' });
  return { storage, app };
}

/** Every record in ascending (ts, arrival) order, paging with the cursor. */
export async function allRecords(store: LogStore, q: LogQuery = {}): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const res = await store.query({ ...q, limit: 10_000, cursor });
    out.push(...res.records);
    cursor = res.cursor;
    if (!cursor) break;
  }
  return out;
}

export async function tempDir(prefix = 'sluice-obs-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Polls `cond` every 20 ms up to `ms`; returns whether it became true. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100_000; i++) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
