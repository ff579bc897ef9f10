import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile, StorageError, type BlobStore } from '@sluice/storage-api';

const SHA_RE = /^[0-9a-f]{64}$/;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

export interface CachedBlob {
  name: string;
  version: number;
  sha256: string;
  size: number;
  /** The verified file: `<dir>/<sha256>`; read-only by convention. */
  path: string;
}

/**
 * A worker's blob cache, shared by every executor and app on the worker: files named by
 * their SHA-256 (so identical content is cached once whatever blob or version it is),
 * bounded by `maxBytes`, least recently used evicted first (mtime is touched on use).
 *
 * - Verified: a download lands in a temp file, is hashed on the way and renamed into
 *   place only if the digest matches; a hit is re-hashed, so a damaged file is fetched
 *   again, never handed to a task.
 * - Concurrent fetches of one digest in this process share one download; across
 *   processes each writes its own temp file and the rename makes the result atomic.
 * - Entries pinned by this process (in use by a task) are never evicted by it; an entry
 *   larger than the whole cache is refused with STORAGE_TOO_LARGE.
 */
export class BlobCache {
  readonly #inflight = new Map<string, Promise<CachedBlob>>();
  readonly #pinned = new Map<string, number>();

  constructor(readonly dir: string, readonly maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new TypeError(`worker.blobCacheMaxBytes must be a positive integer, got ${String(maxBytes)}`);
  }

  pathOf(sha256: string): string {
    if (!SHA_RE.test(sha256)) throw new StorageError(`invalid sha256 ${JSON.stringify(sha256)}`, { code: 'STORAGE_INVALID_ARGUMENT' });
    return join(this.dir, sha256);
  }

  /** Keeps an entry from this process's evictions until unpin(). */
  pin(sha256: string): void {
    this.#pinned.set(sha256, (this.#pinned.get(sha256) ?? 0) + 1);
  }

  unpin(sha256: string): void {
    const n = (this.#pinned.get(sha256) ?? 0) - 1;
    if (n <= 0) this.#pinned.delete(sha256);
    else this.#pinned.set(sha256, n);
  }

  /** The named version (default: newest) in the cache, downloading it if needed. */
  async fetch(store: BlobStore, name: string, version?: number): Promise<CachedBlob> {
    const head = await store.head(name);
    if (!head) throw new StorageError(`blob ${name} not found`, { code: 'STORAGE_NOT_FOUND', details: { blob: name } });
    const v = version === undefined ? head.versions[head.versions.length - 1] : head.versions.find((x) => x.version === version);
    if (!v) throw new StorageError(`blob ${name} has no retained version ${version}`, { code: 'STORAGE_NOT_FOUND', details: { blob: name, version } });
    if (v.size > this.maxBytes) {
      throw new StorageError(`blob ${name} v${v.version} is ${v.size} B, more than the cache limit worker.blobCacheMaxBytes=${this.maxBytes}`, { code: 'STORAGE_TOO_LARGE', details: { blob: name, limit: this.maxBytes } });
    }
    const key = v.sha256;
    let p = this.#inflight.get(key);
    if (!p) {
      p = this.#load(store, name, v.version, v.sha256, v.size).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    const got = await p;
    return { ...got, name, version: v.version };
  }

  async #load(store: BlobStore, name: string, version: number, sha256: string, size: number): Promise<CachedBlob> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = this.pathOf(sha256);
    try {
      if ((await sha256File(path)) === sha256) {
        const now = new Date();
        await utimes(path, now, now);
        return { name, version, sha256, size, path };
      }
      await rm(path, { force: true }); // damaged: fetch again
    } catch {
      // not cached
    }
    await this.#evict(size, sha256);
    const got = await store.get(name, { version });
    if (got.version.sha256 !== sha256) throw new StorageError(`blob ${name} v${version} changed digest under us`, { code: 'STORAGE_CORRUPT' });
    // The store's stream throws STORAGE_CORRUPT at the end on a digest mismatch: nothing lands then.
    await atomicWriteFile(path, got.body);
    return { name, version, sha256, size, path };
  }

  /** Makes room for `incoming` bytes: oldest unpinned entries go first. */
  async #evict(incoming: number, keep: string): Promise<void> {
    const names = (await readdir(this.dir)).filter((f) => SHA_RE.test(f));
    const files = (await Promise.all(names.map(async (f) => ({ sha: f, st: await stat(join(this.dir, f)).catch(() => undefined) }))))
      .filter((f) => f.st !== undefined)
      .sort((a, b) => a.st!.mtimeMs - b.st!.mtimeMs);
    let total = files.reduce((n, f) => n + f.st!.size, 0) + incoming;
    for (const f of files) {
      if (total <= this.maxBytes) break;
      if (f.sha === keep || this.#pinned.has(f.sha)) continue;
      await rm(join(this.dir, f.sha), { force: true });
      total -= f.st!.size;
    }
  }

  /** Digests currently cached (for tests and status). */
  async entries(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => SHA_RE.test(f)).sort();
    } catch {
      return [];
    }
  }
}
