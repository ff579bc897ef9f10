import { StorageError, isStorageError } from '@sluice/storage-api';

/** The parsed `RemoteException` body of a WebHDFS error response. */
export interface RemoteException {
  exception?: string;
  javaClassName?: string;
  message?: string;
}

/** Everything that can go wrong in one WebHDFS exchange, before classification. */
export type HdfsFailure =
  | { kind: 'http'; status: number; remote?: RemoteException; body?: string; op: string; path: string }
  | { kind: 'network'; cause: unknown; op: string; path: string }
  | { kind: 'boolean-false'; op: string; path: string };

/** True when the error means: try the next NameNode (HA standby). */
export function isStandby(err: unknown): boolean {
  return isStorageError(err) && err.details?.standby === true;
}

/** True when the request may have reached the server (response lost): the outcome is unknown. */
export function isAmbiguous(err: unknown): boolean {
  return isStorageError(err) && err.details?.ambiguous === true;
}

function has(name: string, ...needles: string[]): boolean {
  return needles.some((n) => name.includes(n));
}

/**
 * THE mapping from WebHDFS/HttpFS failures to StorageError codes. Classified by the
 * exception class name (and by message when HttpFS wraps it as a generic
 * RemoteException), never by status alone: the NN/DN answer 403 for nearly every
 * IOException and HttpFS answers 500.
 */
export function mapHdfsError(f: HdfsFailure): StorageError {
  const where = `${f.op} ${f.path}`;
  if (f.kind === 'boolean-false') {
    return new StorageError(`${where}: the NameNode answered false`, { code: 'STORAGE_IO_ERROR', details: { op: f.op } });
  }
  if (f.kind === 'network') {
    const c = f.cause as { name?: string; code?: string; message?: string } | undefined;
    if (c?.name === 'AbortError' && !(c as { timeout?: boolean }).timeout) {
      return new StorageError(`${where}: aborted`, { code: 'STORAGE_ABORTED', cause: f.cause });
    }
    const timeout = c?.name === 'TimeoutError' || has(String(c?.code), 'TIMEOUT');
    // The request may have been applied before the connection broke.
    return new StorageError(`${where}: ${timeout ? 'timed out' : 'connection failed'} (${c?.code ?? c?.message ?? String(f.cause)})`, {
      code: timeout ? 'STORAGE_TIMEOUT' : 'STORAGE_UNAVAILABLE',
      transient: true,
      cause: f.cause,
      details: { op: f.op, ambiguous: true, network: true, errno: c?.code },
    });
  }
  const r = f.remote ?? {};
  const cls = `${r.exception ?? ''} ${r.javaClassName ?? ''}`;
  const msg = r.message ?? f.body ?? '';
  // HttpFS may hide the real class behind "RemoteException": fall back to the message.
  const generic = !r.exception || r.exception === 'RemoteException';
  const text = generic ? `${cls} ${msg}` : cls;
  const details = { op: f.op, status: f.status, exception: r.exception, javaClassName: r.javaClassName };
  const err = (code: ConstructorParameters<typeof StorageError>[1]['code'], transient?: boolean, extra: Record<string, unknown> = {}): StorageError =>
    new StorageError(`${where}: ${r.exception ?? `HTTP ${f.status}`}: ${msg}`.slice(0, 2000), { code, transient, details: { ...details, ...extra } });

  if (has(text, 'StandbyException') || (generic && /standby/i.test(msg))) return err('STORAGE_UNAVAILABLE', true, { standby: true });
  if (has(text, 'SafeModeException', 'RetriableException') || (generic && /safe mode|try again later/i.test(msg) && !/lease/i.test(msg))) {
    return err('STORAGE_UNAVAILABLE', true);
  }
  if (has(text, 'AlreadyBeingCreatedException', 'RecoveryInProgressException', 'LeaseExpiredException') || (generic && /lease/i.test(msg))) {
    return err('STORAGE_UNAVAILABLE', true, { conflict: true });
  }
  if (has(text, 'FileNotFoundException')) return err('STORAGE_NOT_FOUND');
  if (has(text, 'FileAlreadyExistsException') || (generic && /already exists/i.test(msg))) return err('STORAGE_ALREADY_EXISTS');
  if (has(text, 'AccessControlException', 'SecurityException', 'AuthorizationException', 'InvalidToken') || (generic && /permission denied/i.test(msg))) {
    return err('STORAGE_PERMISSION_DENIED');
  }
  if (has(text, 'QuotaExceededException', 'DSQuotaExceeded', 'NSQuotaExceeded')) return err('STORAGE_TOO_LARGE');
  if (has(text, 'PathIsNotEmptyDirectoryException', 'ParentNotDirectoryException')) return err('STORAGE_PRECONDITION_FAILED');
  if (has(text, 'IllegalArgumentException', 'UnsupportedOperationException')) return err(f.status === 400 && has(text, 'Unsupported') ? 'STORAGE_NOT_SUPPORTED' : 'STORAGE_INVALID_ARGUMENT');
  if (f.status === 404) return err('STORAGE_NOT_FOUND');
  if (f.status === 401) return err('STORAGE_PERMISSION_DENIED');
  // 5xx without a known class (a proxy, an overloaded NN): worth another try.
  if (f.status >= 500 || f.status === 429) return err('STORAGE_UNAVAILABLE', true, { ambiguous: true });
  return err('STORAGE_IO_ERROR');
}
