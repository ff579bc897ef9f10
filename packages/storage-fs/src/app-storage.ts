import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError, appDeletedError, nextAppMeta } from '@sluice/storage-api';
import type { AppMeta, AppMetaPatch, BackendAppStorage, CheckpointBackend, OffsetBackend, StorageContext } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapped } from './errors.js';
import { FsJarStore } from './jar-store.js';
import { FsLogStore } from './log-store.js';
import { FsMetricsStore } from './metrics-store.js';
import { FsConfigStore } from './config-store.js';
import { FsOffsetStore } from './offset-store.js';
import { FsCheckpointStore } from './checkpoint-store.js';

export const DB_FILE = 'store.db';

export function readMeta(db: Db): AppMeta | undefined {
  const json = db.prepare('SELECT json FROM app_meta WHERE id = 1').pluck().get() as string | undefined;
  if (json === undefined) return undefined;
  try {
    return JSON.parse(json) as AppMeta;
  } catch (err) {
    // Unreadable metadata is damage, not an I/O failure: retrying cannot help.
    throw new StorageError(`app metadata is not valid JSON: ${(err as Error).message}`, { code: 'STORAGE_CORRUPT', cause: err });
  }
}

export function writeMeta(db: Db, meta: AppMeta): void {
  db.prepare('INSERT INTO app_meta (id, json) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET json = excluded.json').run(JSON.stringify(meta));
}

/** One app: `<root>/apps/<appId>/` with store.db (every sub-store but jar bytes), blobs/ and tmp/. */
export class FsAppStorage implements BackendAppStorage {
  readonly jars: FsJarStore;
  readonly logs: FsLogStore;
  readonly metrics: FsMetricsStore;
  readonly config: FsConfigStore;
  readonly #ino: number;

  constructor(
    readonly appId: string,
    readonly appName: string,
    readonly dir: string,
    readonly db: Db,
    private readonly context: StorageContext,
    private readonly onClose: (app: FsAppStorage) => void,
  ) {
    this.#ino = statSync(join(dir, DB_FILE)).ino;
    // Read inside the jar write's transaction: the in-use check and the write are atomic.
    this.jars = new FsJarStore(db, dir, context.now, () => readMeta(db));
    this.logs = new FsLogStore(db);
    this.metrics = new FsMetricsStore(db);
    this.config = new FsConfigStore(db, context.now);
  }

  /** Removes temp files that killed writers left behind (old enough not to be in flight). */
  cleanTemp(staleMs: number): void {
    const tmp = join(this.dir, 'tmp');
    const cutoff = Date.now() - staleMs;
    for (const f of readdirSync(tmp)) {
      try {
        if (statSync(join(tmp, f)).mtimeMs < cutoff) unlinkSync(join(tmp, f));
      } catch {
        // another process removed it first
      }
    }
  }

  /** Deleted (or deleted and re-created) under us: the handle's file is no longer the app's. */
  #assertExists(): void {
    let ino: number | undefined;
    try {
      ino = statSync(join(this.dir, DB_FILE)).ino;
    } catch {
      ino = undefined;
    }
    if (ino !== this.#ino) throw appDeletedError(this.appId);
  }

  meta(): Promise<AppMeta> {
    return mapped(`meta of ${this.appId}`, () => {
      this.#assertExists();
      const m = readMeta(this.db);
      if (!m) throw new StorageError(`app ${this.appId} has no metadata`, { code: 'STORAGE_CORRUPT' });
      return m;
    });
  }

  updateMeta(patch: AppMetaPatch, options: { ifVersion?: number } = {}): Promise<AppMeta> {
    return mapped(`update meta of ${this.appId}`, () => {
      this.#assertExists();
      return writeTx(this.db, () => {
        const m = readMeta(this.db);
        if (!m) throw new StorageError(`app ${this.appId} has no metadata`, { code: 'STORAGE_CORRUPT' });
        const next = nextAppMeta(m, patch, options.ifVersion, this.context.now());
        writeMeta(this.db, next);
        return next;
      });
    });
  }

  offsets(name: string): OffsetBackend {
    return new FsOffsetStore(this.db, name);
  }

  checkpoints(name: string): CheckpointBackend {
    return new FsCheckpointStore(this.db, name, this.context.now);
  }

  listTimeStores(kind: 'offsets' | 'checkpoints'): Promise<string[]> {
    // A store exists once a writer has opened it (it has an epoch), as in the reference backend.
    return mapped(`list ${kind} stores`, () => this.db.prepare('SELECT store FROM epochs WHERE kind = ? ORDER BY store').pluck().all(kind) as string[]);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
    this.onClose(this);
  }
}
