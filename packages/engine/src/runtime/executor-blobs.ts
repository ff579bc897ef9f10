import { copyFile, link, mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '@sluice/storage-api';
import type { BlobMapping } from '../cluster/blob-mapping.js';
import type { TaskLogger } from '../dsl/task.js';
import { EngineError } from '../errors.js';
import { archiveKindOf, unpackArchive, type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from './archive.js';
import type { BlobCache } from './blob-cache.js';

/** name -> version. */
export type BlobVersions = Record<string, number>;

/**
 * An executor's mapped blobs: each version it uses is first in the worker's shared LRU cache
 * (verified by digest), then hard-linked (copied across file systems) or unpacked into this
 * executor's own folder as `<dir>/<blob>/v<version>/<localName>`. Versions get their own
 * folders so a task keeps reading v1 while v2 is being fetched for the switch.
 */
export class ExecutorBlobs {
  readonly #paths = new Map<string, string>();
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #pins = new Map<string, string>();

  constructor(
    readonly store: BlobStore,
    readonly cache: BlobCache,
    readonly dir: string,
    readonly mapping: BlobMapping,
    readonly archiveLimits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
  ) {}

  get names(): string[] {
    return Object.keys(this.mapping);
  }

  /** The local path of a materialized version (undefined if not materialized here). */
  pathOf(name: string, version: number): string | undefined {
    return this.#paths.get(`${name}@${version}`);
  }

  /** Newest version in the store (a head read). */
  async newest(name: string): Promise<number | undefined> {
    const h = await this.store.head(name);
    return h?.versions[h.versions.length - 1]?.version;
  }

  /** Makes `name@version` available locally (idempotent; concurrent calls share the work). */
  materialize(name: string, version: number): Promise<string> {
    const key = `${name}@${version}`;
    const done = this.#paths.get(key);
    if (done) return Promise.resolve(done);
    let p = this.#inflight.get(key);
    if (!p) {
      p = this.#materialize(name, version).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return p;
  }

  async #materialize(name: string, version: number): Promise<string> {
    const m = this.mapping[name];
    if (!m) throw new EngineError('BAD_REQUEST', `blob ${name} is not mapped by this app`);
    const target = join(this.dir, name, `v${version}`, m.localName);
    await rm(join(this.dir, name, `v${version}`), { recursive: true, force: true });
    await mkdir(join(this.dir, name, `v${version}`), { recursive: true, mode: 0o700 });
    // Another process may evict the cache file between fetch and link: one more try.
    for (let attempt = 0; ; attempt++) {
      const cached = await this.cache.fetch(this.store, name, version);
      this.cache.pin(cached.sha256);
      try {
        if (m.uncompress) {
          const kind = archiveKindOf(await readHead(cached.path));
          if (!kind) throw new EngineError('ARCHIVE_UNSAFE', `blob ${name} v${version} is mapped with uncompress but is neither a .tar.gz nor a .zip`, { details: { blob: name, version } });
          await unpackArchive(cached.path, kind, target, this.archiveLimits);
        } else {
          await link(cached.path, target).catch(async (err: NodeJS.ErrnoException) => {
            if (err.code !== 'EXDEV' && err.code !== 'EPERM') throw err;
            await copyFile(cached.path, target);
          });
        }
        this.#pins.set(`${name}@${version}`, cached.sha256);
        break;
      } catch (err) {
        this.cache.unpin(cached.sha256);
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 1) throw err;
      }
    }
    this.#paths.set(`${name}@${version}`, target);
    return target;
  }

  /** Drops local copies of versions no task uses any more (`keep`: name -> versions in use or pending). */
  async release(keep: Map<string, Set<number>>): Promise<void> {
    for (const key of [...this.#paths.keys()]) {
      const at = key.lastIndexOf('@');
      const name = key.slice(0, at);
      const version = Number(key.slice(at + 1));
      if (keep.get(name)?.has(version)) continue;
      this.#paths.delete(key);
      const sha = this.#pins.get(key);
      if (sha) this.cache.unpin(sha);
      this.#pins.delete(key);
      await rm(join(this.dir, name, `v${version}`), { recursive: true, force: true });
    }
  }
}

async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b;
  } finally {
    await fh.close();
  }
}

/**
 * Polls each mapped blob's head every `pollMs` and materializes a newer version as soon as it
 * appears, then reports what is ready (the AppMaster switches once every executor has it).
 * Owns its timer; a failed poll is logged and retried on the next tick.
 */
export class BlobWatcher {
  readonly ready: BlobVersions = {};
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(readonly blobs: ExecutorBlobs, readonly pollMs: number, readonly logger: TaskLogger, readonly onReady: (ready: BlobVersions) => void) {}

  start(initial: BlobVersions): void {
    Object.assign(this.ready, initial);
    this.#timer = setInterval(() => void this.poll(), this.pollMs);
    this.#timer.unref();
  }

  async poll(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      let changed = false;
      for (const name of this.blobs.names) {
        try {
          const v = await this.blobs.newest(name);
          if (v === undefined || v <= (this.ready[name] ?? 0)) continue;
          await this.blobs.materialize(name, v);
          this.ready[name] = v;
          changed = true;
        } catch (err) {
          this.logger.warn({ blob: name, err: String(err) }, 'blob poll failed; retrying on the next tick');
        }
      }
      if (changed) this.onReady({ ...this.ready });
    } finally {
      this.#running = false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
