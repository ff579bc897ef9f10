import { StorageError } from './errors.js';
import { DEFAULT_BACKEND, type BackendRef, type StorageConfig } from './config-schema.js';
import { loadStorageModule, openStorage, requireCapabilities } from './loader.js';
import { SUB_STORES, type AppMeta, type AppMetaPatch, type AppStorage, type CreateAppOptions, type Storage, type StorageCapabilities, type StorageContext, type SubStoreKind } from './types.js';

export interface PlanRow {
  subStore: SubStoreKind | 'blobs';
  module: string;
  options: Record<string, unknown>;
  /** Where the ref came from in the config. */
  source: string;
}

const SECRET_KEYS = /secret|password|token|credential/i;

function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEYS.test(k) ? '***' : redact(x)]));
  }
  return v;
}

/** The effective routing of each sub-store, with secrets redacted. */
export function storagePlan(config: StorageConfig): PlanRow[] {
  return [...SUB_STORES, 'blobs' as const].map((k) => {
    const routed = config.routes?.[k];
    const ref = routed ?? config.default ?? DEFAULT_BACKEND;
    const source = routed ? `storage.routes.${k}` : config.default ? 'storage.default' : '(built-in default)';
    return { subStore: k, module: ref.module, options: redact(ref.options) as Record<string, unknown>, source };
  });
}

/**
 * Opens the configured backends and returns one Storage: a single backend as-is, or a
 * routing Storage that sends each sub-store to its own backend. Identical refs share
 * one instance.
 */
export async function openConfiguredStorage(
  config: StorageConfig,
  options: { baseDir?: string; context?: Partial<StorageContext>; require?: ReadonlyArray<keyof StorageCapabilities> } = {},
): Promise<Storage> {
  const def = config.default ?? DEFAULT_BACKEND;
  const refs = new Map<string, { ref: BackendRef; path: string[] }>();
  const keyOf = (r: BackendRef): string => JSON.stringify([r.module, r.options]);
  refs.set(keyOf(def), { ref: def, path: ['storage', 'default', 'options'] });
  const route: Partial<Record<SubStoreKind, string>> = {};
  for (const k of SUB_STORES) {
    const r = config.routes?.[k] ?? def;
    const key = keyOf(r);
    if (!refs.has(key)) refs.set(key, { ref: r, path: ['storage', 'routes', k, 'options'] });
    route[k] = key;
  }
  // Blobs are cluster-wide: their backend holds no apps, only the shared blob store.
  const blobsRef = config.routes?.blobs ?? def;
  const blobsKey = keyOf(blobsRef);
  if (!refs.has(blobsKey)) refs.set(blobsKey, { ref: blobsRef, path: ['storage', 'routes', 'blobs', 'options'] });
  const opened = new Map<string, Storage>();
  try {
    for (const [key, { ref, path }] of refs) {
      const mod = await loadStorageModule(ref.module, { baseDir: options.baseDir });
      const s = await openStorage(mod, ref.options, { baseDir: options.baseDir, ...options.context }, path);
      opened.set(key, s);
      requireCapabilities(s, options.require ?? [], `${ref.module} (${path.slice(0, -1).join('.')})`);
    }
  } catch (err) {
    await Promise.allSettled([...opened.values()].map((s) => s.close()));
    throw err;
  }
  if (opened.size === 1) return [...opened.values()][0]!;
  const byKind = Object.fromEntries(SUB_STORES.map((k) => [k, opened.get(route[k]!)!])) as Record<SubStoreKind, Storage>;
  const appBackends = [...new Set(Object.values(byKind))];
  const blobs = opened.get(blobsKey)!;
  // A backend that serves only blobs is closed with the rest but never learns about apps.
  return new RoutingStorage(opened.get(keyOf(def))!, byKind, appBackends, blobs, [...opened.values()]);
}

/**
 * Routes sub-stores to backends. The default backend holds the app registry (meta);
 * every backend that serves a sub-store also knows the app, so its own checks
 * (jar in use, app running) work; meta updates go to all of them.
 */
export class RoutingStorage implements Storage {
  readonly backend: string;
  readonly capabilities: StorageCapabilities;

  /** The distinct backends it routes to (for tools such as fsck). */
  get backends(): Storage[] {
    return [...this.#owned];
  }

  readonly #blobs: Storage;
  readonly #owned: Storage[];

  constructor(
    private readonly primary: Storage,
    private readonly byKind: Record<SubStoreKind, Storage>,
    private readonly all: Storage[],
    blobs: Storage = primary,
    owned: Storage[] = all,
  ) {
    this.#blobs = blobs;
    this.#owned = owned;
    this.backend = `routing(${[...new Set(owned.map((s) => s.backend))].join(',')})`;
    const caps = all.map((s) => s.capabilities);
    this.capabilities = Object.freeze({
      persistent: caps.every((c) => c.persistent),
      multiProcess: caps.every((c) => c.multiProcess),
      multiWriter: caps.every((c) => c.multiWriter),
      follow: caps.every((c) => c.follow),
      metricsRollups: caps.every((c) => c.metricsRollups),
      // Blobs are cluster-wide, not per app: on `routes.blobs`, else the default backend.
      blobs: blobs.capabilities.blobs === true,
    });
  }

  get blobs(): Storage['blobs'] {
    return this.#blobs.blobs;
  }

  #secondaries(): Storage[] {
    return this.all.filter((s) => s !== this.primary);
  }

  async createAppStorage(appName: string, appId: string, options: CreateAppOptions): Promise<AppStorage> {
    const main = await this.primary.createAppStorage(appName, appId, options);
    const others = new Map<Storage, AppStorage>([[this.primary, main]]);
    for (const s of this.#secondaries()) {
      others.set(s, (await s.getAppStorage(appId)) ?? (await s.createAppStorage(appName, appId, options)));
    }
    return this.#compose(main, others);
  }

  async getAppStorage(appId: string): Promise<AppStorage | undefined> {
    const main = await this.primary.getAppStorage(appId);
    if (!main) return undefined;
    const meta = await main.meta();
    const parts = new Map<Storage, AppStorage>([[this.primary, main]]);
    for (const s of this.#secondaries()) {
      // A backend added to the routes later learns about the app on first use.
      parts.set(s, (await s.getAppStorage(appId)) ?? (await s.createAppStorage(meta.appName, appId, { owner: meta.owner, acl: meta.acl, labels: meta.labels })));
    }
    return this.#compose(main, parts);
  }

  listApps(): Promise<AppMeta[]> {
    return this.primary.listApps();
  }

  describe(): Record<string, unknown> {
    return Object.fromEntries(this.#owned.map((s, i) => [`${i}:${s.backend}`, s.describe?.() ?? {}]));
  }

  async deleteAppStorage(appId: string): Promise<void> {
    const main = await this.primary.getAppStorage(appId);
    if (!main) throw new StorageError(`app ${appId} not found`, { code: 'STORAGE_NOT_FOUND' });
    if ((await main.meta()).status === 'running') throw new StorageError(`app ${appId} is running`, { code: 'STORAGE_IN_USE' });
    for (const s of this.#secondaries()) {
      if (await s.getAppStorage(appId)) await s.deleteAppStorage(appId);
    }
    await this.primary.deleteAppStorage(appId);
  }

  async close(): Promise<void> {
    await Promise.all(this.#owned.map((s) => s.close()));
  }

  #compose(main: AppStorage, parts: Map<Storage, AppStorage>): AppStorage {
    const of = (k: SubStoreKind): AppStorage => parts.get(this.byKind[k])!;
    return {
      appId: main.appId,
      appName: main.appName,
      meta: () => main.meta(),
      async updateMeta(patch: AppMetaPatch, options?: { ifVersion?: number }) {
        const m = await main.updateMeta(patch, options);
        for (const [, a] of parts) if (a !== main) await a.updateMeta(patch);
        return m;
      },
      jars: of('jars').jars,
      logs: of('logs').logs,
      metrics: of('metrics').metrics,
      config: of('config').config,
      offsets: (name) => of('offsets').offsets(name),
      checkpoints: (name, o) => of('checkpoints').checkpoints(name, o),
      listTimeStores: (kind) => of(kind).listTimeStores(kind),
      close: async () => {
        await Promise.all([...parts.values()].map((a) => a.close()));
      },
    };
  }
}
