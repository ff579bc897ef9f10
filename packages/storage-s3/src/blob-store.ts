import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { StorageError, type BlobBackend, type OpOptions } from '@sluice/storage-api';
import { mapS3Error } from './errors.js';
import { idleTimeout, type JarSettings } from './jars.js';
import { pad } from './keys.js';
import type { Shared } from './shared.js';

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
    const chunks = source[Symbol.asyncIterator]();
    // Below the threshold: buffer and PUT once (retryable); above: stream through multipart.
    const head: Uint8Array[] = [];
    let headSize = 0;
    let done = false;
    while (headSize <= this.settings.multipartThreshold) {
      const n = await chunks.next();
      if (n.done) {
        done = true;
        break;
      }
      head.push(n.value);
      headSize += n.value.byteLength;
    }
    try {
      if (done) await this.sh.io.put(key, Buffer.concat(head), options.signal);
      else await this.#multipart(key, head, chunks, options.signal);
    } catch (err) {
      await this.sh.io.delete(key).catch(() => undefined);
      throw err;
    }
    return ref;
  }

  async #multipart(key: string, head: Uint8Array[], rest: AsyncIterator<Uint8Array>, signal?: AbortSignal): Promise<void> {
    async function* body(): AsyncIterable<Uint8Array> {
      yield* head;
      head.length = 0; // let the buffered prefix go
      for (;;) {
        const n = await rest.next();
        if (n.done) return;
        yield n.value;
      }
    }
    const upload = new Upload({
      client: this.settings.uploadClient,
      params: { Bucket: this.sh.io.bucket, Key: key, Body: Readable.from(body(), { objectMode: false, highWaterMark: 1 }) },
      partSize: this.settings.partSize,
      queueSize: this.settings.queueSize,
      leavePartsOnError: true,
    });
    const onAbort = (): void => void upload.abort().catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      if (upload.uploadId) {
        await this.sh.io
          .send(new AbortMultipartUploadCommand({ Bucket: this.sh.io.bucket, Key: key, UploadId: upload.uploadId }), `abort upload ${key}`)
          .catch(() => undefined); // s3rver has no abort route; a lifecycle rule is the net
      }
      if (signal?.aborted) throw new StorageError(`upload of ${key} aborted`, { code: 'STORAGE_ABORTED', cause: err });
      throw mapS3Error(err, `multipart upload ${key}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
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
