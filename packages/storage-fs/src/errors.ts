import { StorageError, isStorageError } from '@sluice/storage-api';
import type { StorageErrorCode } from '@sluice/storage-api';

/** Native code → contract code; `transient` marks what a retry may fix. */
const NATIVE: Record<string, { code: StorageErrorCode; transient?: boolean }> = {
  ENOENT: { code: 'STORAGE_NOT_FOUND' },
  EEXIST: { code: 'STORAGE_ALREADY_EXISTS' },
  ENOTEMPTY: { code: 'STORAGE_ALREADY_EXISTS' },
  EACCES: { code: 'STORAGE_PERMISSION_DENIED' },
  EPERM: { code: 'STORAGE_PERMISSION_DENIED' },
  EROFS: { code: 'STORAGE_PERMISSION_DENIED' },
  EISDIR: { code: 'STORAGE_INVALID_ARGUMENT' },
  ENOTDIR: { code: 'STORAGE_INVALID_ARGUMENT' },
  ENOSPC: { code: 'STORAGE_IO_ERROR' },
  EDQUOT: { code: 'STORAGE_IO_ERROR' },
  EIO: { code: 'STORAGE_IO_ERROR' },
  EMFILE: { code: 'STORAGE_UNAVAILABLE', transient: true },
  ENFILE: { code: 'STORAGE_UNAVAILABLE', transient: true },
  EAGAIN: { code: 'STORAGE_UNAVAILABLE', transient: true },
  EBUSY: { code: 'STORAGE_UNAVAILABLE', transient: true },
  SQLITE_BUSY: { code: 'STORAGE_UNAVAILABLE', transient: true },
  SQLITE_LOCKED: { code: 'STORAGE_UNAVAILABLE', transient: true },
  SQLITE_CORRUPT: { code: 'STORAGE_CORRUPT' },
  SQLITE_NOTADB: { code: 'STORAGE_CORRUPT' },
  SQLITE_FULL: { code: 'STORAGE_IO_ERROR' },
  SQLITE_IOERR: { code: 'STORAGE_IO_ERROR' },
  SQLITE_CANTOPEN: { code: 'STORAGE_UNAVAILABLE' },
  SQLITE_READONLY: { code: 'STORAGE_PERMISSION_DENIED' },
  SQLITE_PERM: { code: 'STORAGE_PERMISSION_DENIED' },
  SQLITE_AUTH: { code: 'STORAGE_PERMISSION_DENIED' },
};

/**
 * The one place where native fs and SQLite errors become StorageErrors.
 * SQLite extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_FSYNC ...) map by their primary code.
 */
export function mapNativeError(err: unknown, what: string): StorageError {
  if (isStorageError(err)) return err as StorageError;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const native = typeof e?.code === 'string' ? e.code : undefined;
  let hit = native ? NATIVE[native] : undefined;
  if (!hit && native?.startsWith('SQLITE_')) {
    const primary = native.split('_').slice(0, 2).join('_');
    hit = NATIVE[primary];
  }
  const message = `${what}: ${typeof e?.message === 'string' ? e.message : String(err)}`;
  return new StorageError(message, {
    code: hit?.code ?? 'STORAGE_IO_ERROR',
    transient: hit?.transient ?? false,
    cause: err,
    details: native ? { native } : undefined,
  });
}

/**
 * Runs fn and maps whatever it throws (synchronously or as a rejection). Most calls are
 * synchronous SQLite work: no extra async frame for them on hot paths like floor().
 */
export function mapped<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    const r = fn();
    if (r instanceof Promise) return r.catch((err: unknown) => Promise.reject(mapNativeError(err, what)));
    return Promise.resolve(r);
  } catch (err) {
    return Promise.reject(mapNativeError(err, what));
  }
}

export function notFound(message: string): StorageError {
  return new StorageError(message, { code: 'STORAGE_NOT_FOUND' });
}

// The contract's errors come from storage-api's policy, not restated here.
export { fencedError as fenced, outOfOrderError as outOfOrder } from '@sluice/storage-api';
