import { existsSync, readdirSync, renameSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { StorageError, appExistsError, appNotFoundError, checkAppDeletable, damagedAppMeta, newAppMeta } from '@sluice/storage-api';
import type { AppMeta, BackendAppStorage, BackendStorage, CreateAppOptions, FsckHookFinding, StorageCapabilities, StorageContext } from '@sluice/storage-api';
import { fsckFsApp } from './fsck.js';
import { type Db, openDb, writeTx } from './db.js';
import { mapNativeError, mapped } from './errors.js';
import { fsyncDirSync, mkdirPrivate } from './files.js';
import { DB_FILE, FsAppStorage, readMeta, writeMeta } from './app-storage.js';
import type { ResolvedFsOptions } from './options.js';
import { FsBlobBackend } from './blob-store.js';

export const FS_CAPABILITIES: StorageCapabilities = Object.freeze({
  persistent: true, // files under `root`
  multiProcess: true, // SQLite WAL + busy_timeout; jar blobs are immutable files
  multiWriter: true, // fencing and create-only commits run inside BEGIN IMMEDIATE transactions
  follow: true, // follow() polls by seq, so it sees other processes' appends
  metricsRollups: true, // 1m and 1h tables maintained on write
  boundedJarMemory: true, // jars stream through a temp file; at most two 1 MiB chunks in memory
  blobs: true, // blob-store.ts: files + create-exclusive (link) records under <root>/blobs
});

/**
 * The embedded default backend: `<root>/apps/<appId>/` per app (0700), one SQLite
 * database per app for every sub-store, and jar bytes as content-addressed files.
 */
export class FsStorage implements BackendStorage {
  readonly backend = '@sluice/storage-fs';
  readonly capabilities = FS_CAPABILITIES;
  readonly root: string;
  readonly blobs: FsBlobBackend;
  readonly #apps = new Set<FsAppStorage>();

  constructor(private readonly options: ResolvedFsOptions, private readonly context: StorageContext) {
    // Relative roots follow the config file (context.baseDir), like every path in cluster config.
    this.root = resolve(context.baseDir, options.root);
    this.blobs = new FsBlobBackend(this.root);
  }

  /** Creates root, apps/ and tmp/ (all 0700). */
  init(): this {
    try {
      mkdirPrivate(this.root);
      mkdirPrivate(join(this.root, 'apps'));
      mkdirPrivate(join(this.root, 'tmp'));
    } catch (err) {
      throw mapNativeError(err, `storage root ${this.root}`);
    }
    return this;
  }

  appDir(appId: string): string {
    return join(this.root, 'apps', appId);
  }

  #openDb(file: string, create = false): Db {
    return openDb(file, { busyTimeoutMs: this.options.busyTimeoutMs, synchronous: this.options.synchronous, create });
  }

  #open(appId: string): FsAppStorage | undefined {
    const dir = this.appDir(appId);
    if (!existsSync(join(dir, DB_FILE))) return undefined;
    const db = this.#openDb(join(dir, DB_FILE));
    try {
      const meta = readMeta(db);
      if (!meta) throw new StorageError(`app ${appId}: database has no metadata`, { code: 'STORAGE_CORRUPT' });
      const app = new FsAppStorage(appId, meta.appName, dir, db, this.context, (a) => this.#apps.delete(a));
      app.cleanTemp(this.options.staleTempMs);
      this.#apps.add(app);
      return app;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  createAppStorage(appName: string, appId: string, options: CreateAppOptions): Promise<BackendAppStorage> {
    return mapped(`create app ${appId}`, () => {
      const target = this.appDir(appId);
      if (existsSync(target)) throw appExistsError(appId);
      // Build the whole app dir aside, then rename it into place: the rename is the atomic
      // create-only step (it fails on an existing non-empty dir), so a kill never leaves a half app.
      const stage = join(this.root, 'tmp', `create-${appId}-${randomUUID()}`);
      mkdirPrivate(join(stage, 'blobs'));
      mkdirPrivate(join(stage, 'tmp'));
      try {
        const now = this.context.now();
        const meta = newAppMeta(appName, appId, options, now);
        const db = this.#openDb(join(stage, DB_FILE), true);
        try {
          writeTx(db, () => writeMeta(db, meta));
        } finally {
          db.close(); // checkpoints and removes the WAL, so the dir holds one file
        }
        fsyncDirSync(stage);
        try {
          renameSync(stage, target);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOTEMPTY' || code === 'EEXIST') throw appExistsError(appId, err);
          throw err;
        }
        fsyncDirSync(join(this.root, 'apps'));
      } catch (err) {
        void rm(stage, { recursive: true, force: true });
        throw err;
      }
      const app = this.#open(appId);
      if (!app) throw new StorageError(`app ${appId} vanished right after creation`, { code: 'STORAGE_NOT_FOUND' });
      return app;
    });
  }

  getAppStorage(appId: string): Promise<BackendAppStorage | undefined> {
    return mapped(`get app ${appId}`, () => this.#open(appId));
  }

  listApps(): Promise<AppMeta[]> {
    return mapped('list apps', () => {
      const out: AppMeta[] = [];
      for (const appId of readdirSync(join(this.root, 'apps')).sort()) {
        const file = join(this.appDir(appId), DB_FILE);
        if (!existsSync(file)) continue;
        let db: Db | undefined;
        try {
          db = this.#openDb(file);
          const m = readMeta(db);
          out.push(m ?? damagedAppMeta(appId, new StorageError(`app ${appId}: database has no metadata`, { code: 'STORAGE_CORRUPT' })));
        } catch (err) {
          const e = mapNativeError(err, `list apps: ${appId}`);
          if (e.code === 'STORAGE_NOT_FOUND') continue; // deleted while listing
          // One damaged app is reported; `sluice apps` and gc go on with the others.
          out.push(damagedAppMeta(appId, e));
        } finally {
          db?.close();
        }
      }
      return out.sort((a, b) => (a.appId < b.appId ? -1 : 1));
    });
  }

  deleteAppStorage(appId: string): Promise<void> {
    return mapped(`delete app ${appId}`, async () => {
      const dir = this.appDir(appId);
      const file = join(dir, DB_FILE);
      if (!existsSync(file)) throw appNotFoundError(appId);
      const trash = join(this.root, 'tmp', `delete-${appId}-${randomUUID()}`);
      const db = this.#openDb(file);
      try {
        // Check and move out under the write lock: nobody can mark the app running in between.
        writeTx(db, () => {
          // a database without meta is damaged, and may be deleted
          checkAppDeletable(appId, readMeta(db) ?? { status: 'failed' });
          renameSync(dir, trash);
          fsyncDirSync(join(this.root, 'apps'));
        });
      } finally {
        db.close();
      }
      for (const a of [...this.#apps]) if (a.appId === appId) await a.close();
      await rm(trash, { recursive: true, force: true });
    });
  }

  /** fsck's hook: integrity, orphans (staged parts, blobs, temp files); see fsck.ts. */
  fsckApp(appId: string, options: { repair: boolean }): Promise<FsckHookFinding[]> {
    return mapped(`fsck app ${appId}`, () => {
      const dir = this.appDir(appId);
      if (!existsSync(join(dir, DB_FILE))) return [];
      const db = this.#openDb(join(dir, DB_FILE));
      try {
        return fsckFsApp(dir, db, { repair: options.repair, staleTempMs: this.options.staleTempMs, now: this.context.now() });
      } finally {
        db.close();
      }
    });
  }

  async close(): Promise<void> {
    for (const a of [...this.#apps]) await a.close();
  }
}
