import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AppStatus } from '@sluice/storage-api';

/**
 * The master's only replicated state: one small seed per app. Everything else (the
 * artifact, config, offsets, checkpoints, logs, metrics) lives in the app's store,
 * which the seed points to by app id. Keeping it this small is what makes an HA seed
 * store (etcd: one key per app, compare-and-set on `version`) a drop-in later.
 */
export interface AppSeed {
  appId: string;
  name: string;
  status: AppStatus;
  /** Bumped on every AppMaster launch and every executor restart; fences zombies. */
  epoch: number;
  /** Pointer into the store: the jar name and digest in the app's jar store. */
  jar: string;
  sha256: string;
  createdAt: number;
  updatedAt: number;
  error?: string;
}

/**
 * The seam for master HA. Implementations must make put() atomic per app and durable
 * when it resolves. A future EtcdSeedStore maps each seed to a key `/sluice/apps/<id>`.
 */
export interface SeedStore {
  load(): Promise<AppSeed[]>;
  put(seed: AppSeed): Promise<void>;
  delete(appId: string): Promise<void>;
  close(): Promise<void>;
}

/** Seeds in one JSON file, replaced atomically (temp file + fsync + rename). */
export class FileSeedStore implements SeedStore {
  readonly #seeds = new Map<string, AppSeed>();
  #queue: Promise<void> = Promise.resolve();
  #loaded = false;
  constructor(readonly path: string) {}

  async load(): Promise<AppSeed[]> {
    if (!this.#loaded) {
      this.#loaded = true;
      try {
        const doc = JSON.parse(await readFile(this.path, 'utf8')) as { apps?: AppSeed[] };
        for (const s of doc.apps ?? []) this.#seeds.set(s.appId, s);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return [...this.#seeds.values()];
  }

  put(seed: AppSeed): Promise<void> {
    this.#seeds.set(seed.appId, { ...seed });
    return this.#flush();
  }

  delete(appId: string): Promise<void> {
    this.#seeds.delete(appId);
    return this.#flush();
  }

  #flush(): Promise<void> {
    const text = JSON.stringify({ version: 1, apps: [...this.#seeds.values()] }, null, 2);
    this.#queue = this.#queue.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.tmp-${process.pid}`;
      await writeFile(tmp, text);
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    });
    return this.#queue;
  }

  async close(): Promise<void> {
    await this.#queue;
  }
}
