import type {
  AppMeta, AppMetaPatch, BackendAppStorage, BackendStorage, CheckpointBackend, CreateAppOptions, FsckHookFinding, OffsetBackend, StorageCapabilities,
  StorageContext,
} from '../types.js';
import { appDeletedError, appExistsError, checkAppDeletable, newAppMeta, nextAppMeta } from '../policy.js';
import { MemoryCheckpointStore, MemoryOffsetStore } from './time-stores.js';
import { MemoryConfigStore, MemoryJarStore, MemoryLogStore, MemoryMetricsStore } from './sub-stores.js';
import { MemoryBlobBackend } from './blobs.js';
import { type MemoryApp, MemoryVolume, newApp } from './volume.js';

export const MEMORY_CAPABILITIES: StorageCapabilities = Object.freeze({
  // Data lives in this process only: it does not survive a restart and no other process
  // can see it, so memory is neither persistent nor multi-process (a named volume only
  // shares data between instances inside one process).
  persistent: false,
  multiProcess: false,
  multiWriter: true, // single-threaded JS makes every check-and-write atomic
  follow: true,
  metricsRollups: true,
  blobs: true, // memory/blobs.ts
});

/** The reference backend: the simplest code that has every semantic of the contract. */
export class MemoryStorage implements BackendStorage {
  readonly backend = 'memory';
  readonly capabilities: StorageCapabilities;
  readonly blobs: MemoryBlobBackend;

  /** shared: opened on a named volume, so other instances see the same data. */
  constructor(readonly volume: MemoryVolume, private readonly context: StorageContext) {
    this.capabilities = MEMORY_CAPABILITIES;
    this.blobs = new MemoryBlobBackend(volume);
  }

  async createAppStorage(appName: string, appId: string, options: CreateAppOptions): Promise<BackendAppStorage> {
    if (this.volume.apps.has(appId)) throw appExistsError(appId);
    const now = this.context.now();
    const meta = newAppMeta(appName, appId, options, now);
    const app = newApp(meta);
    this.volume.apps.set(appId, app);
    return new MemoryAppStorage(app, this.context, this.volume);
  }

  async getAppStorage(appId: string): Promise<BackendAppStorage | undefined> {
    const app = this.volume.apps.get(appId);
    return app && new MemoryAppStorage(app, this.context, this.volume);
  }

  async listApps(): Promise<AppMeta[]> {
    return [...this.volume.apps.values()].map((a) => structuredClone(a.meta)).sort((a, b) => (a.appId < b.appId ? -1 : 1));
  }

  async deleteAppStorage(appId: string): Promise<void> {
    const app = this.volume.apps.get(appId);
    checkAppDeletable(appId, app?.meta);
    this.volume.apps.delete(appId);
    app!.deleted = true;
  }

  /** fsck's hook: staged parts never committed and before their store's last commit; blobs no jar points at. */
  async fsckApp(appId: string, options: { repair: boolean }): Promise<FsckHookFinding[]> {
    const app = this.volume.apps.get(appId);
    if (!app) return [];
    const out: FsckHookFinding[] = [];
    for (const [name, s] of app.checkpoints) {
      const listed = new Set(s.committed.flatMap((c) => c.parts.map((p) => p.ref)));
      const lastT = s.committed[s.committed.length - 1]?.t ?? -1;
      for (const ref of [...s.staged.keys()]) {
        if (listed.has(ref) || Number(ref.split('/')[0]) >= lastT) continue;
        if (options.repair) s.staged.delete(ref);
        out.push({ subStore: 'checkpoints', target: `${name}/${ref}`, kind: 'orphan', message: `staged part ${ref}: never committed, before the last commit`, repaired: options.repair });
      }
    }
    const shas = new Set([...app.jars.values()].map((j) => j.sha256));
    for (const sha of [...app.blobs.keys()]) {
      if (shas.has(sha)) continue;
      if (options.repair) app.blobs.delete(sha);
      out.push({ subStore: 'jars', target: `blobs/${sha}`, kind: 'orphan', message: `blob ${sha}: no jar name points at it`, repaired: options.repair });
    }
    return out;
  }

  async close(): Promise<void> {}
}

class MemoryAppStorage implements BackendAppStorage {
  readonly jars: MemoryJarStore;
  readonly logs: MemoryLogStore;
  readonly metrics: MemoryMetricsStore;
  readonly config: MemoryConfigStore;

  constructor(private readonly app: MemoryApp, private readonly context: StorageContext, private readonly volume: MemoryVolume) {
    this.jars = new MemoryJarStore(app, context.now);
    this.logs = new MemoryLogStore(app);
    this.metrics = new MemoryMetricsStore(app);
    this.config = new MemoryConfigStore(app, context.now);
  }

  get appId(): string {
    return this.app.meta.appId;
  }
  get appName(): string {
    return this.app.meta.appName;
  }

  async meta(): Promise<AppMeta> {
    this.#assertExists();
    return structuredClone(this.app.meta);
  }

  async updateMeta(patch: AppMetaPatch, options: { ifVersion?: number } = {}): Promise<AppMeta> {
    this.#assertExists();
    this.app.meta = nextAppMeta(this.app.meta, patch, options.ifVersion, this.context.now());
    return structuredClone(this.app.meta);
  }

  offsets(name: string): OffsetBackend {
    return new MemoryOffsetStore(this.app, name);
  }

  checkpoints(name: string): CheckpointBackend {
    return new MemoryCheckpointStore(this.app, name, this.context.now);
  }

  async listTimeStores(kind: 'offsets' | 'checkpoints'): Promise<string[]> {
    return [...(kind === 'offsets' ? this.app.offsets.keys() : this.app.checkpoints.keys())].sort();
  }

  async close(): Promise<void> {}

  #assertExists(): void {
    if (this.volume.apps.get(this.app.meta.appId) !== this.app) {
      throw appDeletedError(this.app.meta.appId);
    }
  }
}
