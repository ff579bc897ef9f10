/**
 * Shared blobs (Storm's distributed cache): cluster-wide, keyed by name, every write a new
 * immutable version identified by its SHA-256, with owner, ACL and labels, and optimistic
 * concurrency on the version.
 *
 * Policy lives once in storage-api (./blob-core.ts); a backend implements only the small
 * `BlobBackend` primitives: streamed content under a unique ref, and per-blob metadata
 * records that are created exclusively (seq N+1 can be created once), which is the one
 * atomic step every backend has (fs link(), S3 If-None-Match: *, HDFS overwrite=false).
 */
import type { ByteSource, OpOptions } from './types.js';
import { StorageError } from './errors.js';
import { validateName } from './names.js';

export interface BlobVersionInfo {
  version: number;
  /** Lower-case hex SHA-256 of the content: the version's identity, verified on every read. */
  sha256: string;
  size: number;
  createdAt: number;
}

export interface BlobMeta {
  name: string;
  /** The current (newest) version: 1 on create, +1 per update. */
  version: number;
  sha256: string;
  size: number;
  /** Who created the blob; always has rwa. */
  owner: string;
  /** Storm-style entries: `u:<user>:rwa`, `o::r`. */
  acl: string[];
  labels: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  /** How many versions are kept (the newest N); older ones are deleted on update. */
  keep: number;
  /** Retained versions, oldest first (the last one is `version`). */
  versions: BlobVersionInfo[];
}

export interface BlobWriteOptions extends OpOptions {
  /** Called with bytes transferred so far (and the total when known). */
  onProgress?: (done: number, total?: number) => void;
  /** Total size if known, for progress bars. */
  size?: number;
  labels?: Record<string, string>;
}

export interface BlobCreateOptions extends BlobWriteOptions {
  owner: string;
  acl?: string[];
  /** Versions kept; default 3. */
  keep?: number;
}

export interface BlobUpdateOptions extends BlobWriteOptions {
  /** Compare-and-set: the update fails with STORAGE_PRECONDITION_FAILED unless this is the current version. */
  expectedVersion?: number;
}

export interface BlobReadOptions extends OpOptions {
  /** A retained version; default the newest. */
  version?: number;
  onProgress?: (done: number, total?: number) => void;
}

export interface BlobStore {
  list(options?: OpOptions): Promise<BlobMeta[]>;
  /** undefined if absent (or deleted). */
  head(name: string, options?: OpOptions): Promise<BlobMeta | undefined>;
  /**
   * Streams one version out, verifying its digest: the iteration throws STORAGE_CORRUPT
   * at the end if the bytes do not hash to the recorded SHA-256. STORAGE_NOT_FOUND from
   * the promise if the blob or the version is absent.
   */
  get(name: string, options?: BlobReadOptions): Promise<{ meta: BlobMeta; version: BlobVersionInfo; body: AsyncIterable<Uint8Array> }>;
  /** Version 1. STORAGE_ALREADY_EXISTS if the name is taken. Streamed in bounded memory. */
  create(name: string, source: ByteSource, options: BlobCreateOptions): Promise<BlobMeta>;
  /** A new version. STORAGE_NOT_FOUND if absent; STORAGE_PRECONDITION_FAILED on a version conflict. */
  update(name: string, source: ByteSource, options?: BlobUpdateOptions): Promise<BlobMeta>;
  /** Deletes every version. STORAGE_NOT_FOUND if absent; STORAGE_PRECONDITION_FAILED on a version conflict. */
  delete(name: string, options?: OpOptions & { expectedVersion?: number }): Promise<void>;
  /** Replaces the ACL (the content version stays). */
  setAcl(name: string, acl: string[], options?: OpOptions & { expectedVersion?: number }): Promise<BlobMeta>;
}

/** What a backend implements; blob-core.ts turns it into a BlobStore. */
export interface BlobBackend {
  /**
   * Streams the bytes to a new, never reused location and returns its ref. Bounded memory.
   * Nothing is visible under the ref until the content is complete and durable.
   */
  writeContent(source: AsyncIterable<Uint8Array>, options: OpOptions & { size?: number }): Promise<string>;
  /** STORAGE_NOT_FOUND if absent. */
  readContent(ref: string, options?: OpOptions): Promise<AsyncIterable<Uint8Array>>;
  /** Idempotent. */
  deleteContent(ref: string): Promise<void>;
  /** Create-only: STORAGE_ALREADY_EXISTS if (name, seq) exists. Durable when it resolves. */
  createRecord(name: string, seq: number, data: Uint8Array): Promise<void>;
  /** Sequence numbers of the records of one blob (any order). */
  listRecords(name: string): Promise<number[]>;
  /** undefined if absent. */
  readRecord(name: string, seq: number): Promise<Uint8Array | undefined>;
  /** Idempotent. */
  deleteRecord(name: string, seq: number): Promise<void>;
  /** Names with at least one record (deleted blobs keep a tombstone record). */
  listNames(): Promise<string[]>;
}

export const DEFAULT_BLOB_KEEP = 3;
export const MAX_BLOB_KEEP = 100;

/** Blob names share the one name alphabet (they become file names, S3 keys, HDFS paths). */
export function validateBlobName(name: unknown): string {
  try {
    return validateName('store', name);
  } catch (err) {
    throw new StorageError((err as Error).message.replace(/^invalid store name/, 'invalid blob name'), { code: 'STORAGE_INVALID_ARGUMENT', details: { kind: 'blob' } });
  }
}
