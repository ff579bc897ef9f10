import { randomUUID } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { StorageError, type BlobBackend, type OpOptions } from '@sluice/storage-api';
import { idleTimeout, type JarSettings } from './jars.js';
import { pad } from './keys.js';
import type { Shared } from './shared.js';
import { streamUpload } from './stream-upload.js';

const REF_RE = /^[0-9a-f-]{36}$/;
const SEQ_WIDTH = 12;

/**
 * Blob primitives under `<root>blobs/`: `content/<uuid>` objects (small ones in one PUT,
 * large ones through multipart, never buffered whole) and `records/<name>/<seq>.json`
 * created with If-None-Match: * (412 = another writer took that seq). Without enforced
 * conditional writes record creation needs `singleWriter: true` (requireSafeWrites).
 */
export class S3BlobBackend implements BlobBackend {
  constructor(private readonly sh: Shared, private readonly dir: string, private readonly settings: JarSettings) {}

  #contentKey(ref: string): string {
    if (!REF_RE.test(ref)) throw new StorageError(`invalid blob content ref ${JSON.stringify(ref)}`, { code: 'STORAGE_INVALID_ARGUMENT' });
    return `${this.dir}content/${ref}`;
  }

  #recordKey(name: string, seq: number): string {
    return `${this.dir}records/${name}/${pad(seq, SEQ_WIDTH)}.json`;
  }

  async writeContent(source: AsyncIterable<Uint8Array>, options: OpOptions): Promise<string> {
    const ref = randomUUID();
    const key = this.#contentKey(ref);
    try {
      await streamUpload(this.sh, this.settings, key, source[Symbol.asyncIterator](), options.signal);
    } catch (err) {
      await this.sh.io.delete(key).catch(() => undefined);
      throw err;
    }
    return ref;
  }

  async readContent(ref: string, options: OpOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const key = this.#contentKey(ref);
    const out = await this.sh.io.send<{ Body?: AsyncIterable<Uint8Array> }>(new GetObjectCommand({ Bucket: this.sh.io.bucket, Key: key }), `GET ${key}`, options.signal);
    return idleTimeout(out.Body ?? (async function* () {})(), this.sh.io.settings.requestTimeoutMs, `GET ${key}`);
  }

  async deleteContent(ref: string): Promise<void> {
    await this.sh.io.delete(this.#contentKey(ref));
  }

  async createRecord(name: string, seq: number, data: Uint8Array): Promise<void> {
    this.sh.requireSafeWrites(`blob ${name}`);
    const r = await this.sh.io.putIfAbsent(this.#recordKey(name, seq), data);
    if (!r.created) throw new StorageError(`blob ${name} record ${seq} exists`, { code: 'STORAGE_ALREADY_EXISTS' });
  }

  async listRecords(name: string): Promise<number[]> {
    const prefix = `${this.dir}records/${name}/`;
    return (await this.sh.io.listKeys(prefix)).map((k) => k.slice(prefix.length)).filter((f) => /^\d+\.json$/.test(f)).map((f) => Number(f.slice(0, -5)));
  }

  async readRecord(name: string, seq: number): Promise<Uint8Array | undefined> {
    return (await this.sh.io.getBytes(this.#recordKey(name, seq)))?.body;
  }

  async deleteRecord(name: string, seq: number): Promise<void> {
    await this.sh.io.delete(this.#recordKey(name, seq));
  }

  async listNames(): Promise<string[]> {
    const prefix = `${this.dir}records/`;
    return (await this.sh.io.list(prefix, { delimiter: '/' })).prefixes.map((p) => p.slice(prefix.length, -1));
  }
}
