import type { BackendStorage, Storage } from './types.js';
import type { BlobBackend, BlobStore } from './blobs.js';
import { BlobStoreCore } from './blob-core.js';

const BACKEND = Symbol.for('@sluice/storage-api.blobBackend');

function isBlobBackend(x: unknown): x is BlobBackend {
  return typeof x === 'object' && x !== null && typeof (x as BlobBackend).writeContent === 'function';
}

/**
 * Gives a guarded Storage its `blobs` property when the backend declares the `blobs`
 * capability: a BlobStoreCore over the backend's primitives, or, for a Storage that is
 * already a composition of guarded ones (routing), its BlobStore as is.
 */
export function attachBlobs(s: Storage, raw: BackendStorage, check: () => void): void {
  const b: unknown = raw.blobs;
  if (!raw.capabilities.blobs || !b) return;
  let store: BlobStore;
  if (isBlobBackend(b)) {
    store = new BlobStoreCore(b, { now: Date.now, check });
    Object.defineProperty(store, BACKEND, { value: b });
  } else {
    store = b as BlobStore;
  }
  Object.defineProperty(s, 'blobs', { value: store, enumerable: true, configurable: true });
}

/** The backend primitives behind a BlobStore (tests that tamper with stored data). */
export function blobBackendOf(store: BlobStore): BlobBackend | undefined {
  return (store as unknown as Record<symbol, BlobBackend | undefined>)[BACKEND];
}
