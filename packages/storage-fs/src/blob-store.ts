import { linkSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, unlink } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { StorageError } from '@sluice/storage-api';
import type { BlobBackend, OpOptions } from '@sluice/storage-api';
import { mapNativeError } from './errors.js';
import { DIR_MODE, FILE_MODE, fsyncDir } from './files.js';

/** 1 MiB reads, as for jars: few syscalls, bounded memory. */
const READ_CHUNK = 1 << 20;
const REF_RE = /^[0-9a-f-]{36}$/;
const SEQ_WIDTH = 12;

/**
 * Blob primitives on a directory, shared by every process on the root:
 * `<root>/blobs/content/<uuid>` holds one version's bytes (written to tmp/, fsynced, renamed);
 * `<root>/blobs/records/<name>/<seq>.json` are the metadata records, created exclusively
 * with link() (fails with EEXIST: the atomic create-only step), then the dir is fsynced.
 */
export class FsBlobBackend implements BlobBackend {
  readonly #content: string;
  readonly #records: string;
  readonly #tmp: string;

  constructor(root: string) {
    this.#content = join(root, 'blobs', 'content');
    this.#records = join(root, 'blobs', 'records');
    this.#tmp = join(root, 'blobs', 'tmp');
  }

  async #dirs(): Promise<void> {
    for (const d of [this.#content, this.#records, this.#tmp]) await mkdir(d, { recursive: true, mode: DIR_MODE });
  }

  #ref(ref: string): string {
    if (!REF_RE.test(ref)) throw new StorageError(`invalid blob content ref ${JSON.stringify(ref)}`, { code: 'STORAGE_INVALID_ARGUMENT' });
    return join(this.#content, ref);
  }

  async writeContent(source: AsyncIterable<Uint8Array>, _options: OpOptions): Promise<string> {
    await this.#dirs();
    const ref = randomUUID();
    const tmp = join(this.#tmp, `${ref}.part`);
    try {
      const fh = await open(tmp, 'wx', FILE_MODE);
      try {
        // One write in flight while the next chunk is read and hashed.
        let inFlight: Promise<unknown> = Promise.resolve();
        for await (const chunk of source) {
          await inFlight;
          inFlight = fh.write(chunk);
        }
        await inFlight;
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.#ref(ref));
      await fsyncDir(this.#content);
      return ref;
    } catch (err) {
      await rm(tmp, { force: true });
      throw mapNativeError(err, 'write blob content');
    }
  }

  async readContent(ref: string): Promise<AsyncIterable<Uint8Array>> {
    const path = this.#ref(ref);
    // Open first so a missing file is STORAGE_NOT_FOUND from the promise, not mid-stream.
    const fh = await open(path, 'r').catch((err: unknown) => {
      throw mapNativeError(err, `blob content ${ref}`);
    });
    return fh.createReadStream({ highWaterMark: READ_CHUNK, autoClose: true }) as AsyncIterable<Uint8Array>;
  }

  async deleteContent(ref: string): Promise<void> {
    await rm(this.#ref(ref), { force: true });
  }

  #recordDir(name: string): string {
    return join(this.#records, name);
  }

  async createRecord(name: string, seq: number, data: Uint8Array): Promise<void> {
    await this.#dirs();
    const dir = this.#recordDir(name);
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    const tmp = join(this.#tmp, `rec-${randomUUID()}`);
    try {
      const fh = await open(tmp, 'wx', FILE_MODE);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        linkSync(tmp, join(dir, `${String(seq).padStart(SEQ_WIDTH, '0')}.json`));
      } catch (err) {
        if ((err as { code?: string }).code === 'EEXIST') throw new StorageError(`blob ${name} record ${seq} exists`, { code: 'STORAGE_ALREADY_EXISTS' });
        throw err;
      }
      await fsyncDir(dir);
    } catch (err) {
      throw mapNativeError(err, `blob ${name} record ${seq}`);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async listRecords(name: string): Promise<number[]> {
    try {
      return (await readdir(this.#recordDir(name))).filter((f) => /^\d+\.json$/.test(f)).map((f) => Number(f.slice(0, -5)));
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return [];
      throw mapNativeError(err, `list records of blob ${name}`);
    }
  }

  async readRecord(name: string, seq: number): Promise<Uint8Array | undefined> {
    try {
      return await readFile(join(this.#recordDir(name), `${String(seq).padStart(SEQ_WIDTH, '0')}.json`));
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined;
      throw mapNativeError(err, `read record ${seq} of blob ${name}`);
    }
  }

  async deleteRecord(name: string, seq: number): Promise<void> {
    await unlink(join(this.#recordDir(name), `${String(seq).padStart(SEQ_WIDTH, '0')}.json`)).catch((err: { code?: string }) => {
      if (err.code !== 'ENOENT') throw mapNativeError(err, `delete record ${seq} of blob ${name}`);
    });
  }

  async listNames(): Promise<string[]> {
    try {
      return await readdir(this.#records);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return [];
      throw mapNativeError(err, 'list blobs');
    }
  }
}
