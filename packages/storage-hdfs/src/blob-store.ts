import { randomUUID } from 'node:crypto';
import { StorageError, isStorageError, type BlobBackend, type OpOptions } from '@sluice/storage-api';
import { commitFile, committed, pad, removeQuietly, type FileOps } from './files.js';

const REF_RE = /^[0-9a-f-]{36}$/;
const RECORD_RE = /^\d{20}\.json$/;

/**
 * Blob primitives under `<root>/blobs/`: `content/<uuid>` files (streamed to a temp file and
 * renamed into place: nothing is visible under a ref until complete) and
 * `records/<name>/<seq 20>.json` committed with a create-only rename (RENAME with
 * renameoptions=NONE is one NameNode transaction: of two writers of seq N+1, one wins and
 * the other gets STORAGE_ALREADY_EXISTS).
 */
export class HdfsBlobBackend implements BlobBackend {
  constructor(private readonly ops: FileOps, private readonly dir: string) {}

  #contentPath(ref: string): string {
    if (!REF_RE.test(ref)) throw new StorageError(`invalid blob content ref ${JSON.stringify(ref)}`, { code: 'STORAGE_INVALID_ARGUMENT' });
    return `${this.dir}/content/${ref}`;
  }

  #recordPath(name: string, seq: number): string {
    return `${this.dir}/records/${name}/${pad(seq)}.json`;
  }

  async writeContent(source: AsyncIterable<Uint8Array>, options: OpOptions & { size?: number }): Promise<string> {
    const ref = randomUUID();
    await this.ops.client.mkdirs(`${this.dir}/content`, this.ops.dirPermission, options.signal);
    // A stream is not replayable: one attempt; the caller retries the whole write.
    await commitFile(this.ops, this.#contentPath(ref), source, 'create-only', options.signal);
    return ref;
  }

  async readContent(ref: string, options: OpOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    return this.ops.client.open(this.#contentPath(ref), options.signal);
  }

  async deleteContent(ref: string): Promise<void> {
    await removeQuietly(this.ops, this.#contentPath(ref));
  }

  async createRecord(name: string, seq: number, data: Uint8Array): Promise<void> {
    await this.ops.client.mkdirs(`${this.dir}/records/${name}`, this.ops.dirPermission);
    try {
      await commitFile(this.ops, this.#recordPath(name, seq), data, 'create-only');
    } catch (err) {
      if (isStorageError(err, 'STORAGE_ALREADY_EXISTS')) throw new StorageError(`blob ${name} record ${seq} exists`, { code: 'STORAGE_ALREADY_EXISTS', cause: err });
      throw err;
    }
  }

  async listRecords(name: string): Promise<number[]> {
    const list = await this.ops.client.list(`${this.dir}/records/${name}`);
    return committed(list).map((s) => s.pathSuffix).filter((f) => RECORD_RE.test(f)).map((f) => Number(f.slice(0, -5)));
  }

  async readRecord(name: string, seq: number): Promise<Uint8Array | undefined> {
    try {
      return await this.ops.client.readAll(this.#recordPath(name, seq));
    } catch (err) {
      if (isStorageError(err, 'STORAGE_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  async deleteRecord(name: string, seq: number): Promise<void> {
    await this.ops.client.delete(this.#recordPath(name, seq), false);
  }

  async listNames(): Promise<string[]> {
    const list = await this.ops.client.list(`${this.dir}/records`);
    return (list ?? []).filter((s) => s.type === 'DIRECTORY').map((s) => s.pathSuffix).sort();
  }
}
