// Layout under the root:
//   apps/<appId>/meta/<seq 20>                app metadata, versioned (create-only renames = CAS)
//   apps/<appId>/jars/{blobs,names}/          see jars.ts
//   apps/<appId>/offsets/<store>/             see offsets.ts, epochs.ts
//   apps/<appId>/checkpoints/<store>/         see checkpoints.ts
//   apps/<appId>/{logs,metrics,config}/       see logs.ts, metrics.ts, config.ts
//   blobs/{content,records}/                  shared blobs, see blob-store.ts
import type {
  AppMeta, AppMetaPatch, BackendAppStorage, BackendStorage, CheckpointStore, CreateAppOptions, FsckHookFinding, OffsetBackend, StorageCapabilities,
  StorageContext,
} from '@sluice/storage-api';
import { LIMITS, StorageError, checkAliveBefore, damagedAppMeta, newAppMeta } from '@sluice/storage-api';
import { appDeletedError, appExistsError, checkAppDeletable, nextAppMeta } from '@sluice/storage-api';
import { randomUUID } from 'node:crypto';
import { WebHdfsClient } from './client.js';
import { HdfsCheckpointStore } from './checkpoints.js';
import { fsckHdfsApp } from './fsck.js';
import { HdfsConfigStore } from './config.js';
import type { HdfsCtx } from './context.js';
import type { FileOps } from './files.js';
import { HdfsJarStore } from './jars.js';
import { HdfsBlobBackend } from './blob-store.js';
import { HdfsLogStore } from './logs.js';
import { HdfsMetricsStore } from './metrics.js';
import { HdfsOffsetStore } from './offsets.js';
import type { HdfsOptions } from './options.js';
import { readLatest, writeVersion } from './versioned.js';

export const HDFS_CAPABILITIES: StorageCapabilities = Object.freeze({
  persistent: true,
  multiProcess: true,
  // Create-only renames (rename/3 NONE) are atomic NameNode transactions.
  multiWriter: true,
  follow: true,
  metricsRollups: true,
  // Jars stream to and from the DataNode; nothing holds a whole artifact.
  boundedJarMemory: true,
  // blob-store.ts: content under fresh names, records committed with create-only renames.
  blobs: true,
});

/** `gen` names this incarnation of the app: a handle kept across delete and re-create of the id sees a different one. */
type MetaDoc = { meta: AppMeta; gen?: string };

export class HdfsStorage implements BackendStorage {
  readonly backend = '@sluice/storage-hdfs';
  readonly capabilities = HDFS_CAPABILITIES;
  readonly client: WebHdfsClient;
  readonly #ops: FileOps;
  readonly #apps: string;
  /** Shared blobs under `<root>/blobs/` (the guard builds the BlobStore on these primitives). */
  readonly blobs: HdfsBlobBackend;

  constructor(readonly options: HdfsOptions, private readonly context: StorageContext) {
    const urls = options.urls ?? [options.url!];
    this.client = new WebHdfsClient({
      urls, user: options.user, token: options.token, hostMap: options.dataNodeHostMap, timeoutMs: options.timeoutMs,
      maxAttempts: options.maxAttempts, expectContinue: options.expectContinue, logger: context.logger,
    });
    this.#ops = { client: this.client, filePermission: options.permission.file, dirPermission: options.permission.dir };
    this.#apps = `${options.root.replace(/\/+$/, '')}/apps`;
    this.blobs = new HdfsBlobBackend(this.#ops, `${options.root.replace(/\/+$/, '')}/blobs`);
  }

  /** Creates the root (so a wrong URL or missing permission fails at open, not later). */
  async init(): Promise<void> {
    await this.client.mkdirs(this.#apps, this.options.permission.dir);
  }

  #app(appId: string, appName: string, gen: string | undefined): HdfsAppStorage {
    return new HdfsAppStorage(this.#ops, this.context, `${this.#apps}/${appId}`, appId, appName, gen);
  }

  async createAppStorage(appName: string, appId: string, options: CreateAppOptions): Promise<BackendAppStorage> {
    const dir = `${this.#apps}/${appId}`;
    await this.client.mkdirs(dir, this.options.permission.dir);
    await this.#setOwner(dir, options.owner);
    const now = this.context.now();
    const meta = newAppMeta(appName, appId, options, now);
    // Sequence 1 of the meta is the create-only commit of the app itself.
    const gen = randomUUID();
    if (!(await writeVersion<MetaDoc>(this.#ops, `${dir}/meta`, 1, { meta, gen }))) {
      throw appExistsError(appId);
    }
    return this.#app(appId, appName, gen);
  }

  /** App directories belong to the app's user when the service may hand them over. */
  async #setOwner(dir: string, owner: string): Promise<void> {
    const mode = this.options.permission.setOwner;
    if (mode === 'never' || owner === this.options.user) return;
    try {
      await this.client.setOwner(dir, owner);
    } catch (err) {
      if (mode === 'always' || (err as StorageError).code !== 'STORAGE_PERMISSION_DENIED') throw err;
      this.context.logger.warn({ dir, owner }, 'hdfs: not allowed to change the owner of the app directory; it stays with the service user');
    }
  }

  async getAppStorage(appId: string): Promise<BackendAppStorage | undefined> {
    const v = await readLatest<MetaDoc>(this.#ops, `${this.#apps}/${appId}/meta`);
    return v && this.#app(appId, v.doc.meta.appName, v.doc.gen);
  }

  async listApps(): Promise<AppMeta[]> {
    const out: AppMeta[] = [];
    for await (const s of this.client.listPaged(this.#apps)) {
      if (s.type !== 'DIRECTORY') continue;
      try {
        const v = await readLatest<MetaDoc>(this.#ops, `${this.#apps}/${s.pathSuffix}/meta`);
        if (v) out.push(v.doc.meta);
      } catch (err) {
        // One app's unreadable meta is reported as damage; the listing of the others goes on.
        if ((err as StorageError).transient) throw err;
        out.push(damagedAppMeta(s.pathSuffix, err));
      }
    }
    return out.sort((a, b) => (a.appId < b.appId ? -1 : 1));
  }

  async deleteAppStorage(appId: string): Promise<void> {
    const v = await readLatest<MetaDoc>(this.#ops, `${this.#apps}/${appId}/meta`);
    checkAppDeletable(appId, v?.doc.meta);
    // One recursive DELETE: a single NameNode transaction removes every sub-store.
    await this.client.delete(`${this.#apps}/${appId}`, true);
  }

  /** fsck's hook: orphan parts, blobs and temp files of one app. */
  async fsckApp(appId: string, options: { repair: boolean }): Promise<FsckHookFinding[]> {
    const app = await this.getAppStorage(appId);
    if (!app) return [];
    return fsckHdfsApp(this.#ops, `${this.#apps}/${appId}`, options.repair, () => app.jars.list(), this.context.now());
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

class HdfsAppStorage implements BackendAppStorage {
  readonly jars: HdfsJarStore;
  readonly logs: HdfsLogStore;
  readonly metrics: HdfsMetricsStore;
  readonly config: HdfsConfigStore;
  readonly #ctx: HdfsCtx;
  readonly #metaDir: string;

  constructor(ops: FileOps, context: StorageContext, readonly dir: string, readonly appId: string, readonly appName: string, private readonly gen: string | undefined) {
    this.#metaDir = `${dir}/meta`;
    this.#ctx = { ...ops, logger: context.logger, now: context.now, appDir: dir, appMeta: () => this.meta() };
    this.jars = new HdfsJarStore(this.#ctx);
    // Writes of a deleted (or re-created) app's handle must fail, not land in the new app:
    // one meta read first (offsets and checkpoints learn it from their epoch markers).
    const alive = (): Promise<unknown> => this.#latest();
    this.logs = checkAliveBefore(new HdfsLogStore(this.#ctx), ['append'], alive);
    this.metrics = checkAliveBefore(new HdfsMetricsStore(this.#ctx), ['write'], alive);
    this.config = checkAliveBefore(new HdfsConfigStore(this.#ctx), ['put', 'remove'], alive);
  }

  async #latest() {
    const v = await readLatest<MetaDoc>(this.#ctx, this.#metaDir);
    if (!v || v.doc.gen !== this.gen) throw appDeletedError(this.appId);
    return v;
  }

  async meta(): Promise<AppMeta> {
    return (await this.#latest()).doc.meta;
  }

  async updateMeta(patch: AppMetaPatch, options: { ifVersion?: number } = {}): Promise<AppMeta> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const { seq, doc } = await this.#latest();
      const m = doc.meta;
      const next = nextAppMeta(m, patch, options.ifVersion, this.#ctx.now());
      if (await writeVersion<MetaDoc>(this.#ctx, this.#metaDir, seq + 1, { meta: next, gen: this.gen })) return next;
    }
    throw new StorageError(`app ${this.appId}: meta under too much contention`, { code: 'STORAGE_UNAVAILABLE', transient: true });
  }

  // Opening a writer is rare: one meta read there keeps a deleted app's handle from opening one in a re-created app.
  offsets(name: string): OffsetBackend {
    return checkAliveBefore(new HdfsOffsetStore(this.#ctx, name), ['openEpoch'], () => this.#latest());
  }

  checkpoints(name: string, options: { numRetained?: number } = {}): CheckpointStore {
    return checkAliveBefore(new HdfsCheckpointStore(this.#ctx, name, options.numRetained ?? LIMITS.defaultNumRetained), ['writer'], () => this.#latest());
  }

  async listTimeStores(kind: 'offsets' | 'checkpoints'): Promise<string[]> {
    const list = await this.#ctx.client.list(`${this.dir}/${kind}`);
    return (list ?? []).filter((s) => s.type === 'DIRECTORY').map((s) => s.pathSuffix).sort();
  }

  async close(): Promise<void> {}
}
