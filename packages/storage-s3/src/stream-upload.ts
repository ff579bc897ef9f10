import { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { StorageError } from '@sluice/storage-api';
import { mapS3Error } from './errors.js';
import type { Shared } from './shared.js';

/** How large objects are uploaded (jars and blob content share it). */
export interface UploadSettings {
  uploadClient: S3Client;
  /** At or below this many bytes: one PUT (retryable); above: a streamed multipart upload. */
  multipartThreshold: number;
  partSize: number;
  queueSize: number;
}

/** Read ahead of the uploader: the source (hashing, disk reads) overlaps the part being sent; memory stays bounded. */
const PREFETCH_BYTES = 1 << 20;

/**
 * Streams `source` to `key` in bounded memory: the first `multipartThreshold` bytes are
 * buffered so small objects take one retryable PUT; larger ones continue as a multipart
 * upload, aborted (best effort) when it fails or `signal` fires.
 */
export async function streamUpload(sh: Shared, settings: UploadSettings, key: string, source: AsyncIterator<Uint8Array>, signal?: AbortSignal): Promise<void> {
  const head: Uint8Array[] = [];
  let headSize = 0;
  for (;;) {
    if (headSize > settings.multipartThreshold) break;
    const n = await source.next();
    if (n.done) {
      await sh.io.put(key, Buffer.concat(head), signal);
      return;
    }
    head.push(n.value);
    headSize += n.value.byteLength;
  }
  async function* body(): AsyncIterable<Uint8Array> {
    yield* head;
    head.length = 0; // let the buffered prefix go
    for (;;) {
      const n = await source.next();
      if (n.done) return;
      yield n.value;
    }
  }
  const upload = new Upload({
    client: settings.uploadClient,
    params: { Bucket: sh.io.bucket, Key: key, Body: Readable.from(body(), { objectMode: false, highWaterMark: PREFETCH_BYTES }) },
    partSize: settings.partSize,
    queueSize: settings.queueSize,
    leavePartsOnError: true, // we abort ourselves, tolerating endpoints without the route
  });
  const onAbort = (): void => void upload.abort().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await upload.done();
  } catch (err) {
    if (upload.uploadId) await abortUpload(sh, key, upload.uploadId);
    if (signal?.aborted) throw new StorageError(`upload of ${key} aborted`, { code: 'STORAGE_ABORTED', cause: err });
    throw mapS3Error(err, `multipart upload ${key}`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

async function abortUpload(sh: Shared, key: string, uploadId: string): Promise<void> {
  try {
    await sh.io.send(new AbortMultipartUploadCommand({ Bucket: sh.io.bucket, Key: key, UploadId: uploadId }), `abort upload ${key}`);
  } catch (err) {
    // s3rver has no AbortMultipartUpload route (405); a lifecycle rule is the net there.
    sh.context.logger.warn({ key, uploadId, err: (err as Error).message }, 'could not abort multipart upload');
  }
}
