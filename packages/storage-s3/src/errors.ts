import { StorageError, isStorageError, type StorageErrorCode } from '@sluice/storage-api';

/** Fields the AWS SDK puts on service and network errors. */
interface SdkErrorLike {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE']);
const TRANSIENT_NAMES = new Set(['SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout', 'RequestTimeTooSkewed', 'ConditionalRequestConflict', 'OperationAborted', 'TimeoutError', 'NetworkingError', 'ThrottlingException', 'RequestTimeoutException']);

/**
 * THE one place where S3 / SDK / network errors become StorageErrors. `timedOut` tells
 * an abort caused by our per-request timeout from a caller's abort.
 */
export function mapS3Error(err: unknown, what: string, flags: { timedOut?: boolean; callerAborted?: boolean } = {}): StorageError {
  if (isStorageError(err)) return err as StorageError;
  const e = (err ?? {}) as SdkErrorLike;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const name = e.name ?? e.Code ?? '';
  const msg = `${what}: ${name ? `${name}: ` : ''}${e.message ?? String(err)}${status ? ` (HTTP ${status})` : ''}`;
  const make = (code: StorageErrorCode, transient?: boolean): StorageError =>
    new StorageError(msg, { code, cause: err, transient, details: { s3Code: name, httpStatus: status } });

  if (flags.callerAborted) return make('STORAGE_ABORTED', false);
  if (flags.timedOut) return make('STORAGE_TIMEOUT', true);
  if (name === 'AbortError') return make('STORAGE_ABORTED', false);
  if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload') return make('STORAGE_NOT_FOUND', false);
  if (name === 'NoSuchBucket') return make('STORAGE_CONFIG_INVALID', false);
  if (name === 'PreconditionFailed' || status === 412) return make('STORAGE_PRECONDITION_FAILED', false);
  if (TRANSIENT_NAMES.has(name)) return make('STORAGE_UNAVAILABLE', true);
  if (status === 409) return make('STORAGE_UNAVAILABLE', true); // conflicting concurrent op: retry
  if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || status === 403 || status === 401) {
    return make('STORAGE_PERMISSION_DENIED', false);
  }
  if (name === 'EntityTooLarge') return make('STORAGE_TOO_LARGE', false);
  if (name === 'NotImplemented' || name === 'MethodNotAllowed' || status === 501 || status === 405) return make('STORAGE_NOT_SUPPORTED', false);
  if (status === 404) return make('STORAGE_NOT_FOUND', false);
  if (status !== undefined && (status >= 500 || status === 429)) return make('STORAGE_UNAVAILABLE', true);
  if (status !== undefined) return make('STORAGE_IO_ERROR', false);
  // No HTTP status: the request or its response was lost on the way (reset, half a body,
  // unparsable XML from a cut connection). The outcome is unknown, so it is retryable.
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) return make('STORAGE_UNAVAILABLE', true);
  return make('STORAGE_IO_ERROR', true);
}

/** For code paths that ask "is this the 'not there' answer?". */
export function isNotFound(err: unknown): boolean {
  return isStorageError(err, 'STORAGE_NOT_FOUND');
}
