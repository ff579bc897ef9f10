/**
 * One error type for every backend. The `code` is the contract (semver surface);
 * messages may change. Codes name the reason, not the operation.
 */
export const STORAGE_ERROR_CODES = [
  'STORAGE_NOT_FOUND',
  'STORAGE_ALREADY_EXISTS',
  'STORAGE_INVALID_ARGUMENT',
  'STORAGE_OUT_OF_ORDER',
  'STORAGE_TOO_LARGE',
  'STORAGE_FENCED',
  'STORAGE_PRECONDITION_FAILED',
  'STORAGE_PERMISSION_DENIED',
  'STORAGE_CORRUPT',
  'STORAGE_IN_USE',
  'STORAGE_UNAVAILABLE',
  'STORAGE_TIMEOUT',
  'STORAGE_ABORTED',
  'STORAGE_NOT_SUPPORTED',
  'STORAGE_CLOSED',
  'STORAGE_CONFIG_INVALID',
  'STORAGE_MODULE_INVALID',
  'STORAGE_IO_ERROR',
] as const;

export type StorageErrorCode = (typeof STORAGE_ERROR_CODES)[number];

/** Codes whose failures are retryable unless the thrower says otherwise. */
const TRANSIENT_BY_DEFAULT: ReadonlySet<StorageErrorCode> = new Set(['STORAGE_UNAVAILABLE', 'STORAGE_TIMEOUT']);

export interface StorageErrorOptions {
  code: StorageErrorCode;
  cause?: unknown;
  /** Retryable: the same call may succeed later. Defaults from the code. */
  transient?: boolean;
  /** Extra structured facts (key path, app id, min/max ...). */
  details?: Record<string, unknown>;
}

// Brand checked by isStorageError: works across package copies where instanceof does not.
const BRAND = Symbol.for('@sluice/storage-api.StorageError');

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly transient: boolean;
  readonly details?: Record<string, unknown>;
  declare readonly cause?: unknown;

  constructor(message: string, options: StorageErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.transient = options.transient ?? TRANSIENT_BY_DEFAULT.has(options.code);
    if (options.details) this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  override get name(): string {
    // Web-compatible name for aborts so generic AbortError handling keeps working.
    return this.code === 'STORAGE_ABORTED' ? 'AbortError' : 'StorageError';
  }
}

export function isStorageError(err: unknown, code?: StorageErrorCode): err is StorageError {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; [BRAND]?: unknown };
  const branded = e[BRAND] === true || (typeof e.code === 'string' && e.code.startsWith('STORAGE_'));
  return branded && (code === undefined || e.code === code);
}

export function storageError(code: StorageErrorCode, message: string, extra: Omit<StorageErrorOptions, 'code'> = {}): StorageError {
  return new StorageError(message, { code, ...extra });
}

/** Throws STORAGE_ABORTED if the signal has fired. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) {
    throw new StorageError('operation aborted', { code: 'STORAGE_ABORTED', cause: signal.reason });
  }
}

/**
 * Wraps anything thrown by a backend that is not already a StorageError.
 * Backends should map their native errors themselves; this is the last net.
 */
export function toStorageError(err: unknown, context: string): StorageError {
  if (isStorageError(err)) return err as StorageError;
  const e = err as { name?: string; code?: string; message?: string } | undefined;
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') {
    return new StorageError(`${context}: aborted`, { code: 'STORAGE_ABORTED', cause: err });
  }
  if (e?.name === 'TimeoutError') {
    return new StorageError(`${context}: timed out`, { code: 'STORAGE_TIMEOUT', cause: err });
  }
  return new StorageError(`${context}: ${e?.message ?? String(err)}`, { code: 'STORAGE_IO_ERROR', cause: err });
}
