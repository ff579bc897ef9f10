/**
 * What an executor's storage proxy may do: its own app's sub-stores, read-only access to
 * the app it restores from (startFrom) and the blobs its config maps (plus a savepoint it
 * starts from). Everything else is STORAGE_PERMISSION_DENIED, decided on the worker.
 */
import { StorageError } from '@sluice/storage-api';
import { blobMappingOf } from '../cluster/blob-mapping.js';
import { restoreConfigOf } from './savepoint-config.js';
import { SAVEPOINT_BLOB_PREFIX } from './savepoint-store.js';
import type { TargetKind } from './storage-proxy-protocol.js';

export type ProxyScope =
  /** Tests and benches of the proxy itself (the conformance leg): every operation passes. */
  | { kind: 'all' }
  | {
      kind: 'app';
      appId: string;
      /** Apps it may read (the app a --from-checkpoint start reads). */
      readApps: readonly string[];
      /** Blobs it may read (head, get). */
      readBlobs: readonly string[];
    };

/** How an app handle was opened: its own app (rw) or an app it may only read. */
export type HandleMode = 'rw' | 'r';

// Reads of another app's data: what a restore from its checkpoint needs.
const READS: Partial<Record<TargetKind, readonly string[]>> = {
  app: ['meta', 'listTimeStores', 'close'],
  jars: ['stat', 'list', 'get'],
  logs: ['query', 'follow', 'stats'],
  metrics: ['query', 'listSeries'],
  config: ['get', 'list'],
  offsets: ['get', 'floor', 'lookUp', 'first', 'last', 'range', 'currentEpoch'],
  checkpoints: ['get', 'floor', 'lookUp', 'first', 'last', 'range', 'currentEpoch', 'readPart'],
};

// Never from app code, even on its own app: its metadata (owner, ACL, status) and its
// artifact belong to the master; retention is the master's too.
const OWN_DENIED: Partial<Record<TargetKind, readonly string[]>> = {
  app: ['updateMeta'],
  jars: ['put', 'delete'],
};

export function forbidden(what: string): StorageError {
  return new StorageError(`storage proxy: ${what} is not allowed for this app`, { code: 'STORAGE_PERMISSION_DENIED' });
}

/** The mode of a handle on appId, or a refusal. */
export function openMode(scope: ProxyScope, appId: string): HandleMode {
  if (scope.kind === 'all' || appId === scope.appId) return 'rw';
  if (scope.readApps.includes(appId)) return 'r';
  throw forbidden(`opening app ${appId}`);
}

/** Refuses a call on an app handle (or a writer of one) the scope does not allow. */
export function checkAppCall(scope: ProxyScope, mode: HandleMode, appId: string, kind: TargetKind, method: string): void {
  if (scope.kind === 'all') return;
  if (mode === 'rw' && !OWN_DENIED[kind]?.includes(method)) return;
  if (mode === 'r' && READS[kind]?.includes(method)) return;
  throw forbidden(`${kind}.${method} on app ${appId}`);
}

/** Refuses storage-level calls (other than opening an allowed app) and blob calls outside the scope. */
export function checkGlobalCall(scope: ProxyScope, kind: 'storage' | 'blobs', method: string, name: unknown): void {
  if (scope.kind === 'all') return;
  if (kind === 'storage' && method === 'getApp') return; // openMode decides
  if (kind === 'blobs' && (method === 'head' || method === 'get') && typeof name === 'string' && scope.readBlobs.includes(name)) return;
  throw forbidden(kind === 'blobs' ? `blobs.${method}${typeof name === 'string' ? ` of ${name}` : ''}` : `storage.${method}`);
}

/** The scope of an executor or AppMaster of appId, from the app's stored config. */
export function appScope(appId: string, config: Record<string, unknown>): ProxyScope {
  const readBlobs = Object.keys(blobMappingOf(config) ?? {});
  const readApps: string[] = [];
  const from = restoreConfigOf(config).startFrom;
  if (from && 'savepoint' in from) readBlobs.push(SAVEPOINT_BLOB_PREFIX + from.savepoint);
  if (from && 'app' in from) readApps.push(from.app);
  return { kind: 'app', appId, readApps, readBlobs };
}
