import { randomBytes, randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  LIMITS, StorageError, checkAliveBefore, damagedAppMeta, newAppMeta, type AppMeta, type AppMetaPatch, type BackendAppStorage, type BackendStorage, type CheckpointStore,
  type CreateAppOptions, type FsckHookFinding, type OffsetBackend, type StorageCapabilities, type StorageContext,
} from '@sluice/storage-api';
import { appDeletedError, appExistsError, checkAppDeletable, nextAppMeta } from '@sluice/storage-api';
import { S3CheckpointStore } from './checkpoints.js';
import { fsckS3App } from './fsck.js';
import { S3ConfigStore, casUpdate, strip, type Versioned } from './config.js';
import type { S3Io } from './io.js';
import { S3JarStore, type JarSettings } from './jars.js';
import { S3BlobBackend } from './blob-store.js';
import { LruCache, SegmentIds, mapLimit } from './keys.js';
import { S3LogStore } from './logs.js';
import { S3MetricsStore } from './metrics.js';
import { S3OffsetStore } from './offsets.js';
import { describeProbe, type ProbeReport } from './probe.js';
import type { Shared } from './shared.js';

export const S3_CAPABILITIES: StorageCapabilities = Object.freeze({
  persistent: true,
  multiProcess: true,
  multiWriter: true,
  follow: true,
  metricsRollups: true,
  boundedJarMemory: true,
  blobs: true, // blob-store.ts: objects under <root>blobs/, records created with If-None-Match
});

/** App meta as stored: `gen` names this incarnation's data folder, so a deleted app's leftovers are never read again. */
type StoredMeta = AppMeta & { gen: string };

export interface S3StorageSettings {
  root: string;
  singleWriter: boolean;
  jars: JarSettings;
  /** Clients created by us (destroyed on close); injected ones are left alone. */
  ownedClients: S3Client[];
  endpointLabel: string;
}

export class S3Storage implements BackendStorage {
  readonly backend = '@sluice/storage-s3';
  readonly capabilities: StorageCapabilities;
  readonly #sh: Shared;
  readonly blobs: S3BlobBackend;

  constructor(readonly io: S3Io, readonly probe: ProbeReport, private readonly settings: S3StorageSettings, context: StorageContext) {
    this.capabilities = Object.freeze({ ...S3_CAPABILITIES, multiWriter: probe.multiWriterSafe && !settings.singleWriter });
    this.#sh = {
      io,
      context,
      ids: new SegmentIds(),
      cache: new LruCache<unknown>(),
      requireSafeWrites: (what) => this.#requireSafeWrites(what),
    };
    this.blobs = new S3BlobBackend(this.#sh, `${settings.root}blobs/`, settings.jars);
  }

  /** Forgets a cached object (the corrupt test hook rewrites immutable objects behind our back). */
  forgetCached(key: string): void {
    this.#sh.cache.delete(key);
  }

  /** Normalised key prefix ('' or 'a/b/'). */
  get root(): string {
    return this.settings.root;
  }

  /** Human-readable probe findings. */
  describeProbe(): string {
    return describeProbe(this.probe);
  }

  /** Backend facts for `sluice storage plan/conformance`: the capability probe's findings. */
  describe(): Record<string, unknown> {
    return { endpoint: this.settings.endpointLabel, probe: this.probe };
  }

  #requireSafeWrites(what: string): void {
    if (this.probe.multiWriterSafe || this.settings.singleWriter) return;
    throw new StorageError(
      `${what}: the S3 endpoint ${this.settings.endpointLabel} does not enforce conditional writes (${this.probe.missing.join('; ')}), ` +
        'so concurrent writers could overwrite each other. Set `singleWriter: true` if exactly one writer uses this store.',
      { code: 'STORAGE_NOT_SUPPORTED', details: { missing: this.probe.missing } },
    );
  }

  #metaKey(appId: string): string {
    return `${this.settings.root}apps/${appId}/meta.json`;
  }

  async createAppStorage(appName: string, appId: string, options: CreateAppOptions): Promise<BackendAppStorage> {
    this.#requireSafeWrites(`create app ${appId}`);
    const now = this.#sh.context.now();
    const writeId = randomUUID();
    const meta: StoredMeta & Versioned = { ...newAppMeta(appName, appId, options, now), gen: randomBytes(6).toString('hex'), writeId };
    const r = await this.io.putIfAbsent(this.#metaKey(appId), JSON.stringify(meta));
    if (!r.created) {
      const cur = await this.io.getJson<StoredMeta & Versioned>(this.#metaKey(appId));
      if (cur?.value.writeId !== writeId) throw appExistsError(appId);
    }
    return this.#app(meta);
  }

  #app(meta: StoredMeta): S3AppStorage {
    return new S3AppStorage(this.#sh, `${this.settings.root}apps/${meta.appId}/`, meta, this.settings.jars);
  }

  async getAppStorage(appId: string): Promise<BackendAppStorage | undefined> {
    const r = await this.io.getJson<StoredMeta>(this.#metaKey(appId));
    return r && this.#app(r.value);
  }

  async listApps(): Promise<AppMeta[]> {
    const { prefixes } = await this.io.list(`${this.settings.root}apps/`, { delimiter: '/' });
    const metas = await mapLimit(prefixes, 8, async (p): Promise<AppMeta | undefined> => {
      try {
        const m = (await this.io.getJson<StoredMeta & Versioned>(`${p}meta.json`))?.value;
        return m && publicMeta(m);
      } catch (err) {
        // One app's unreadable meta is reported as damage; the listing of the others goes on.
        if ((err as StorageError).transient) throw err;
        return damagedAppMeta(p.slice(`${this.settings.root}apps/`.length, -1), err);
      }
    });
    return metas
      .filter((m): m is AppMeta => m !== undefined)
      .sort((a, b) => (a.appId < b.appId ? -1 : a.appId > b.appId ? 1 : 0));
  }

  async deleteAppStorage(appId: string): Promise<void> {
    const cur = await this.io.getJson<StoredMeta>(this.#metaKey(appId));
    checkAppDeletable(appId, cur?.value);
    // The meta goes first: from then on the app is gone, its data folder unreachable garbage.
    await this.io.delete(this.#metaKey(appId));
    const keys = await this.io.listKeys(`${this.settings.root}apps/${appId}/${cur.value.gen}/`);
    await this.io.deleteMany(keys);
  }

  /** fsck's hook: orphan parts and jar content of the app's current data folder. */
  async fsckApp(appId: string, options: { repair: boolean }): Promise<FsckHookFinding[]> {
    const cur = await this.io.getJson<StoredMeta>(this.#metaKey(appId));
    if (!cur) return [];
    const app = this.#app(cur.value);
    return fsckS3App(this.#sh, app.dataPrefix, options.repair, (dryRun) => app.jars.garbage({ dryRun }));
  }

  async close(): Promise<void> {
    for (const c of this.settings.ownedClients) c.destroy();
  }
}

function publicMeta(m: StoredMeta & Partial<Versioned>): AppMeta {
  const { gen: _g, ...rest } = strip(m);
  return structuredClone(rest);
}

export class S3AppStorage implements BackendAppStorage {
  readonly jars: S3JarStore;
  readonly logs: S3LogStore;
  readonly metrics: S3MetricsStore;
  readonly config: S3ConfigStore;
  readonly #data: string;

  constructor(private readonly sh: Shared, private readonly base: string, private readonly initial: StoredMeta, jarSettings: JarSettings) {
    this.#data = `${base}${initial.gen}/`;
    this.jars = new S3JarStore(sh, `${this.#data}jars/`, jarSettings, (signal) => this.meta({ signal }));
    // Writes of a deleted app's handle would land in its unreachable data folder and be
    // acknowledged: one meta GET first (offsets and checkpoints learn it from their epoch).
    const alive = (signal?: AbortSignal): Promise<unknown> => this.meta({ signal });
    this.logs = checkAliveBefore(new S3LogStore(sh, `${this.#data}logs/`), ['append'], alive);
    this.metrics = checkAliveBefore(new S3MetricsStore(sh, `${this.#data}metrics/`), ['write'], alive);
    this.config = checkAliveBefore(new S3ConfigStore(sh, `${this.#data}config/`), ['put', 'remove'], alive);
  }

  get appId(): string {
    return this.initial.appId;
  }
  /** This incarnation's data folder (`<root>apps/<id>/<gen>/`). */
  get dataPrefix(): string {
    return this.#data;
  }
  get appName(): string {
    return this.initial.appName;
  }

  #gone(): StorageError {
    return appDeletedError(this.appId);
  }

  async meta(o: { signal?: AbortSignal } = {}): Promise<AppMeta> {
    const r = await this.sh.io.getJson<StoredMeta & Versioned>(`${this.base}meta.json`, o.signal);
    if (!r || r.value.gen !== this.initial.gen) throw this.#gone();
    return publicMeta(r.value);
  }

  async updateMeta(patch: AppMetaPatch, options: { ifVersion?: number } = {}): Promise<AppMeta> {
    this.sh.requireSafeWrites(`app ${this.appId}: update meta`);
    const next = await casUpdate<StoredMeta>(this.sh, `${this.base}meta.json`, `app ${this.appId} meta`, (cur) => {
      if (!cur || cur.gen !== this.initial.gen) throw this.#gone();
      return nextAppMeta(cur, patch, options.ifVersion, this.sh.context.now());
    });
    return publicMeta(next);
  }

  // Opening a writer is rare: one meta GET there keeps a deleted app's handle from opening one.
  offsets(name: string): OffsetBackend {
    return checkAliveBefore(new S3OffsetStore(this.sh, `${this.#data}offsets/${name}/`, name), ['openEpoch'], (signal) => this.meta({ signal }));
  }

  checkpoints(name: string, options: { numRetained?: number } = {}): CheckpointStore {
    const store = new S3CheckpointStore(this.sh, `${this.#data}checkpoints/${name}/`, name, options.numRetained ?? LIMITS.defaultNumRetained);
    return checkAliveBefore(store, ['writer'], (signal) => this.meta({ signal }));
  }

  async listTimeStores(kind: 'offsets' | 'checkpoints'): Promise<string[]> {
    const dir = `${this.#data}${kind}/`;
    const { prefixes } = await this.sh.io.list(dir, { delimiter: '/' });
    return prefixes.map((p) => p.slice(dir.length, -1)).sort();
  }

  async close(): Promise<void> {}
}
