import {
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError, isStorageError, withRetry, type StorageLogger } from '@sluice/storage-api';
import { mapS3Error } from './errors.js';

/** How conditional headers are spoken to this endpoint; decided by the probe. */
export interface CommitStrategy {
  /** PutObject If-None-Match:* is enforced by the endpoint. */
  createOnly: boolean;
  /** If-Match is enforced; 'unquoted' strips the ETag quotes (Ceph RGW). */
  ifMatch: 'quoted' | 'unquoted' | false;
}

export interface IoSettings {
  bucket: string;
  requestTimeoutMs: number;
  maxAttempts: number;
  logger: StorageLogger;
}

/** Any SDK command: typed loosely here, the caller knows its output type. */
type Cmd = object;

const unquote = (etag: string): string => etag.replace(/^W\//, '').replace(/^"|"$/g, '');
export const sameEtag = (a: string | undefined, b: string | undefined): boolean => a !== undefined && b !== undefined && unquote(a) === unquote(b);

/** UTF-8 byte order: what S3 promises and what s3rver does not deliver. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const MAX_LIST_PAGES = 100_000;

/**
 * Every S3 request goes through `send`: per-attempt timeout, caller abort, retries with
 * backoff and jitter on transient errors, and the one error mapping.
 */
export class S3Io {
  /** Requests sent (attempts included): tests and benches read it. */
  requests = 0;
  strategy: CommitStrategy = { createOnly: false, ifMatch: false };

  constructor(readonly client: S3Client, readonly settings: IoSettings) {}

  get bucket(): string {
    return this.settings.bucket;
  }

  /** One attempt, mapped. `keepAlive` leaves the timeout off once the response head is in (streams). */
  async sendOnce<T>(cmd: Cmd, what: string, signal?: AbortSignal): Promise<T> {
    this.requests++;
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new Error('request timeout'));
    }, this.settings.requestTimeoutMs);
    const onAbort = (): void => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return (await this.client.send(cmd as never, { abortSignal: ac.signal })) as T;
    } catch (err) {
      throw mapS3Error(err, what, { timedOut, callerAborted: signal?.aborted === true });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** With retries. `body` is read inside the attempt so a cut body is retried too. */
  async send<T>(cmd: Cmd | (() => Cmd), what: string, signal?: AbortSignal, read?: (out: T) => Promise<T>): Promise<T> {
    return withRetry(
      async () => {
        const out = await this.sendOnce<T>(typeof cmd === 'function' ? (cmd as () => Cmd)() : cmd, what, signal);
        if (!read) return out;
        try {
          return await read(out);
        } catch (err) {
          throw mapS3Error(err, `${what} (reading body)`, { callerAborted: signal?.aborted === true });
        }
      },
      {
        attempts: this.settings.maxAttempts,
        baseDelayMs: 25,
        maxDelayMs: 1000,
        signal,
        onRetry: (err, attempt, delayMs) => this.settings.logger.debug({ what, attempt, delayMs, code: err.code, err: err.message }, 's3 retry'),
      },
    );
  }

  /** undefined if absent. */
  async getBytes(key: string, signal?: AbortSignal): Promise<{ body: Buffer; etag: string } | undefined> {
    try {
      return await this.send<{ body: Buffer; etag: string }>(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
        `GET ${key}`,
        signal,
        async (out) => {
          const o = out as unknown as { Body?: { transformToByteArray(): Promise<Uint8Array> }; ETag?: string; ContentLength?: number };
          const bytes = Buffer.from((await o.Body?.transformToByteArray()) ?? new Uint8Array());
          if (o.ContentLength !== undefined && bytes.length !== o.ContentLength) {
            throw new StorageError(`GET ${key}: short body (${bytes.length} of ${o.ContentLength} B)`, { code: 'STORAGE_UNAVAILABLE' });
          }
          return { body: bytes, etag: o.ETag ?? '' };
        },
      );
    } catch (err) {
      if (isStorageError(err, 'STORAGE_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  async getJson<T>(key: string, signal?: AbortSignal): Promise<{ value: T; etag: string } | undefined> {
    // A torn read (s3rver writes objects in place) parses badly: read again a few times.
    for (let i = 0; ; i++) {
      const r = await this.getBytes(key, signal);
      if (!r) return undefined;
      try {
        return { value: JSON.parse(r.body.toString('utf8')) as T, etag: r.etag };
      } catch (err) {
        if (i >= 3) throw new StorageError(`${key} is not valid JSON`, { code: 'STORAGE_CORRUPT', cause: err });
      }
    }
  }

  async head(key: string, signal?: AbortSignal): Promise<{ etag: string; size: number; lastModified?: Date } | undefined> {
    try {
      const o = await this.send<{ ETag?: string; ContentLength?: number; LastModified?: Date }>(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key }),
        `HEAD ${key}`,
        signal,
      );
      return { etag: o.ETag ?? '', size: o.ContentLength ?? 0, lastModified: o.LastModified };
    } catch (err) {
      if (isStorageError(err, 'STORAGE_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  /** Unconditional PUT of a small body. Returns the ETag. */
  async put(key: string, body: Uint8Array | string, signal?: AbortSignal, extra: { ifNoneMatch?: string; ifMatch?: string } = {}): Promise<string> {
    const out = await this.send<{ ETag?: string }>(
      () =>
        new PutObjectCommand({
          Bucket: this.bucket, Key: key, Body: typeof body === 'string' ? Buffer.from(body) : body,
          IfNoneMatch: extra.ifNoneMatch, IfMatch: extra.ifMatch,
        }),
      `PUT ${key}`,
      signal,
    );
    return out.ETag ?? '';
  }

  /**
   * Create-only PUT. 'exists' means the key was there (possibly our own earlier attempt
   * whose answer was lost: callers compare content). Without enforced conditional writes
   * this is HEAD-then-PUT, which is only safe with a single writer (checked by callers).
   */
  async putIfAbsent(key: string, body: Uint8Array | string, signal?: AbortSignal): Promise<{ created: true; etag: string } | { created: false }> {
    if (!this.strategy.createOnly) {
      if (await this.head(key, signal)) return { created: false };
      return { created: true, etag: await this.put(key, body, signal) };
    }
    try {
      return { created: true, etag: await this.put(key, body, signal, { ifNoneMatch: '*' }) };
    } catch (err) {
      if (isStorageError(err, 'STORAGE_PRECONDITION_FAILED')) return { created: false };
      throw err;
    }
  }

  /** Compare-and-swap on the ETag (undefined = must not exist). False if someone else won. */
  async putIfMatch(key: string, body: Uint8Array | string, etag: string | undefined, signal?: AbortSignal): Promise<string | false> {
    if (etag === undefined) {
      const r = await this.putIfAbsent(key, body, signal);
      return r.created ? r.etag : false;
    }
    const mode = this.strategy.ifMatch;
    if (!mode) {
      const cur = await this.head(key, signal);
      if (!cur || !sameEtag(cur.etag, etag)) return false;
      return this.put(key, body, signal);
    }
    try {
      return await this.put(key, body, signal, { ifMatch: mode === 'unquoted' ? unquote(etag) : `"${unquote(etag)}"` });
    } catch (err) {
      // AWS answers 404 for If-Match on a missing key, RGW 412: both mean "not as expected".
      if (isStorageError(err, 'STORAGE_PRECONDITION_FAILED') || isStorageError(err, 'STORAGE_NOT_FOUND')) return false;
      throw err;
    }
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), `DELETE ${key}`, signal);
    } catch (err) {
      if (!isStorageError(err, 'STORAGE_NOT_FOUND')) throw err;
    }
  }

  /** DeleteObjects in batches of ≤1000 (S3's limit); per-key errors are failures. */
  async deleteMany(keys: readonly string[], signal?: AbortSignal): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      if (batch.length === 1) {
        await this.delete(batch[0]!, signal);
        continue;
      }
      const out = await this.send<{ Errors?: Array<{ Key?: string; Code?: string; Message?: string }> }>(
        () => new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        `DELETE ${batch.length} objects`,
        signal,
      );
      const errors = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (errors.length > 0) {
        const e = errors[0]!;
        throw mapS3Error(Object.assign(new Error(e.Message ?? 'delete failed'), { name: e.Code ?? 'DeleteError' }), `DELETE ${e.Key}`);
      }
    }
  }

  /** All keys (and common prefixes) under a prefix, sorted by UTF-8 bytes; follows continuation tokens. */
  async list(prefix: string, options: { delimiter?: string; signal?: AbortSignal; startAfter?: string } = {}): Promise<{ keys: Array<{ key: string; size: number; lastModified?: Date }>; prefixes: string[] }> {
    const keys: Array<{ key: string; size: number; lastModified?: Date }> = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const out = await this.send<{
        Contents?: Array<{ Key?: string; Size?: number; LastModified?: Date }>; CommonPrefixes?: Array<{ Prefix?: string }>;
        IsTruncated?: boolean; NextContinuationToken?: string;
      }>(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: options.delimiter, ContinuationToken: token, StartAfter: token ? undefined : options.startAfter }),
        `LIST ${prefix}`,
        options.signal,
      );
      for (const c of out.Contents ?? []) if (c.Key !== undefined) keys.push({ key: c.Key, size: c.Size ?? 0, lastModified: c.LastModified });
      for (const p of out.CommonPrefixes ?? []) if (p.Prefix !== undefined) prefixes.push(p.Prefix);
      if (!out.IsTruncated || !out.NextContinuationToken) {
        keys.sort((a, b) => compareKeys(a.key, b.key));
        prefixes.sort(compareKeys);
        return { keys, prefixes };
      }
      token = out.NextContinuationToken;
    }
    throw new StorageError(`LIST ${prefix}: more than ${MAX_LIST_PAGES} pages`, { code: 'STORAGE_IO_ERROR' });
  }

  async listKeys(prefix: string, signal?: AbortSignal): Promise<string[]> {
    return (await this.list(prefix, { signal })).keys.map((k) => k.key);
  }
}
