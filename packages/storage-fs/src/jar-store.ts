import { constants as fsConstants, createReadStream, existsSync, linkSync, unlinkSync } from 'node:fs';
import { copyFile, open, rm, stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { HashingCounter, StorageError, atomicWriteFile, checkJarDigest, checkJarReplaceable, iterateBytes, jarNotFoundError, verifyingStream } from '@sluice/storage-api';
import type { AppMeta, BackendJarStore, ByteSource, JarInfo, TransferOptions } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapNativeError, mapped } from './errors.js';
import { FILE_MODE, fsyncDirSync } from './files.js';

interface Row {
  name: string;
  sha256: string;
  size: number;
  created_at: number;
}

const decode = (r: Row): JarInfo => ({ name: r.name, sha256: r.sha256, size: r.size, createdAt: r.created_at });
/** 1 MiB reads: fewer syscalls than the 64 KiB default; memory stays bounded. */
const READ_CHUNK = 1 << 20;

/**
 * Jars are content-addressed files `blobs/<sha256>`; the name → digest record is a row.
 * put: stream into tmp/ while hashing, fsync, then under the DB write lock link the blob
 * (create-only, so identical content is stored once), fsync blobs/, and upsert the row.
 * A blob is unlinked only AFTER the transaction that dropped its last row has committed,
 * in a second write transaction that re-checks no row names it: unlinking inside the
 * first one would, on a kill -9 before COMMIT, roll the row back onto a deleted file.
 * Holding the write lock for the re-check means a concurrent put can never link a row to
 * a blob being removed. A kill at any point leaves at most an unreferenced temp file or
 * blob, never a name pointing at missing or partial content.
 */
export class FsJarStore implements BackendJarStore {
  readonly #blobs: string;
  readonly #tmp: string;

  constructor(private readonly db: Db, dir: string, private readonly now: () => number, private readonly appMeta: () => AppMeta | undefined) {
    this.#blobs = join(dir, 'blobs');
    this.#tmp = join(dir, 'tmp');
  }

  blobPath(sha256: string): string {
    return join(this.#blobs, sha256);
  }

  #row(name: string): Row | undefined {
    return this.db.prepare('SELECT name, sha256, size, created_at FROM jars WHERE name = ?').get(name) as Row | undefined;
  }

  #assertNotInUse(name: string): void {
    const m = this.appMeta();
    if (m) checkJarReplaceable(m, name);
  }

  async put(name: string, source: ByteSource, options: TransferOptions = {}): Promise<JarInfo> {
    const tmp = this.#tmpPath();
    try {
      const counter = new HashingCounter(options.onProgress, options.size);
      const fh = await open(tmp, 'wx', FILE_MODE);
      // One write in flight while the next chunk is read and hashed: overlaps I/O with hashing.
      let inFlight: Promise<unknown> = Promise.resolve();
      try {
        for await (const chunk of counter.wrap(iterateBytes(source, options.signal))) {
          await inFlight;
          inFlight = fh.write(chunk);
        }
        await inFlight;
        await fh.sync();
      } finally {
        await inFlight.catch(() => undefined);
        await fh.close();
      }
      return this.#commit(name, tmp, counter.result(), options);
    } catch (err) {
      throw mapNativeError(err, `jar put ${name}`);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  #tmpPath(): string {
    return join(this.#tmp, `${randomUUID()}.jar`);
  }

  /** The temp file is complete and fsynced: link it as a blob and point the name at it, under the write lock. */
  #commit(name: string, tmp: string, content: { sha256: string; size: number }, options: TransferOptions): JarInfo {
    const { sha256, size } = content;
    checkJarDigest(name, sha256, options.expectedSha256);
    const info: JarInfo = { name, sha256, size, createdAt: this.now() };
    const replaced = writeTx(this.db, () => {
      this.#assertNotInUse(name);
      const blob = this.blobPath(sha256);
      if (!existsSync(blob)) {
        linkSync(tmp, blob);
        fsyncDirSync(this.#blobs); // the blob's entry is durable before the row that names it
      }
      const old = this.#row(name);
      this.db.prepare('INSERT INTO jars (name, sha256, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, created_at = excluded.created_at').run(name, sha256, size, info.createdAt);
      return old && old.sha256 !== sha256 ? old.sha256 : undefined;
    });
    if (replaced) this.#dropBlobIfUnused(replaced);
    return info;
  }

  /** After the row change committed: removes a blob no row names any more (see the class comment). */
  #dropBlobIfUnused(sha256: string): void {
    writeTx(this.db, () => {
      if (this.db.prepare('SELECT 1 FROM jars WHERE sha256 = ? LIMIT 1').get(sha256)) return;
      try {
        unlinkSync(this.blobPath(sha256));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    });
  }

  async get(name: string, options: TransferOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    return mapped(`jar get ${name}`, async () => {
      const row = this.#row(name);
      if (!row) throw jarNotFoundError(name);
      // Open now: a later delete or replace cannot pull the file from under the reader.
      const fh = await open(this.blobPath(row.sha256), 'r').catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new StorageError(`jar ${name}: blob ${row.sha256} is missing`, { code: 'STORAGE_CORRUPT', cause: err });
        }
        throw err;
      });
      const stream = fh.createReadStream({ highWaterMark: READ_CHUNK, autoClose: true });
      return mapStream(verifyingStream(stream, { sha256: row.sha256, size: row.size, what: `jar ${name}` }, options), `jar get ${name}`);
    });
  }

  stat(name: string): Promise<JarInfo | undefined> {
    return mapped(`jar stat ${name}`, () => {
      const r = this.#row(name);
      return r && decode(r);
    });
  }

  list(): Promise<JarInfo[]> {
    return mapped('jar list', () => (this.db.prepare('SELECT name, sha256, size, created_at FROM jars ORDER BY name').all() as Row[]).map(decode));
  }

  delete(name: string): Promise<void> {
    return mapped(`jar delete ${name}`, () =>
      this.#dropBlobIfUnused(
        writeTx(this.db, () => {
          const row = this.#row(name);
          if (!row) throw jarNotFoundError(name);
          this.#assertNotInUse(name);
          this.db.prepare('DELETE FROM jars WHERE name = ?').run(name);
          return row.sha256;
        }),
      ),
    );
  }

  /**
   * The kernel copies the file (copyFile: copy_file_range / reflink) into the temp file
   * while this thread hashes the source, so hashing and copying run in parallel. If the
   * source changed meanwhile (size or mtime), the copy may not match the digest: fall back
   * to the streaming put, which hashes exactly the bytes it writes.
   */
  async copyFromLocal(path: string, name: string, options: TransferOptions = {}): Promise<JarInfo> {
    const what = `jar copyFromLocal ${name}`;
    const st = await stat(path).catch((err: unknown) => {
      throw mapNativeError(err, `${what}: cannot read ${path}`);
    });
    if (!st.isFile()) throw new StorageError(`${what}: ${path} is not a file`, { code: 'STORAGE_INVALID_ARGUMENT' });
    const tmp = this.#tmpPath();
    try {
      const counter = new HashingCounter(options.onProgress, st.size);
      const hashing = (async () => {
        for await (const _ of counter.wrap(iterateBytes(createReadStream(path, { highWaterMark: READ_CHUNK }), options.signal))) void _;
      })();
      await Promise.all([copyFile(path, tmp, fsConstants.COPYFILE_EXCL), hashing]);
      const after = await stat(path);
      const content = counter.result();
      if (after.size !== st.size || after.mtimeMs !== st.mtimeMs || content.size !== st.size) {
        return await this.put(name, createReadStream(path, { highWaterMark: READ_CHUNK }), { ...options, size: after.size });
      }
      const fh = await open(tmp, 'r+');
      try {
        await fh.chmod(FILE_MODE);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return this.#commit(name, tmp, content, options);
    } catch (err) {
      throw mapNativeError(err, what);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Verifies while copying into a temp file beside the target; fsync + rename only after the digest matched. */
  async copyToLocal(name: string, path: string, options: TransferOptions = {}): Promise<JarInfo> {
    const info = await this.stat(name);
    if (!info) throw jarNotFoundError(name);
    try {
      await atomicWriteFile(path, await this.get(name, options), { mode: 0o644 });
      return info;
    } catch (err) {
      throw mapNativeError(err, `jar copyToLocal ${name}`);
    }
  }
}

async function* mapStream(src: AsyncIterable<Uint8Array>, what: string): AsyncIterable<Uint8Array> {
  try {
    yield* src;
  } catch (err) {
    throw mapNativeError(err, what);
  }
}
