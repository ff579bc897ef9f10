import type { StorageContext } from '@sluice/storage-api';
import type { S3Io } from './io.js';
import type { LruCache, SegmentIds } from './keys.js';

/** What every sub-store of one S3Storage shares. */
export interface Shared {
  io: S3Io;
  context: StorageContext;
  ids: SegmentIds;
  /** Immutable objects by key (segments, manifests). */
  cache: LruCache<unknown>;
  /** Throws STORAGE_NOT_SUPPORTED when a multi-writer operation is unsafe on this endpoint. */
  requireSafeWrites(what: string): void;
}
