import { StorageError } from './errors.js';

/** What a name is used for; only changes the error message. */
export type NameKind = 'appId' | 'appName' | 'jar' | 'store' | 'processor' | 'part' | 'user';

export const MAX_NAME_LENGTH = 128;

// Names become file names, S3 key segments and HDFS path components. A small, safe
// alphabet keeps every backend free of escaping bugs (HDFS-14423 '+'/'%').
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._@=-]*$/;

/**
 * The one validator for app ids, jar names, store names, processor ids and part names.
 * Rejects traversal ('..'), absolute paths, separators, control characters and overlong names.
 */
export function validateName(kind: NameKind, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(kind, value, 'must be a non-empty string');
  }
  if (value.length > MAX_NAME_LENGTH) throw invalid(kind, value, `is longer than ${MAX_NAME_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalid(kind, value, 'contains a control character');
  if (value.includes('/') || value.includes('\\')) throw invalid(kind, value, 'contains a path separator');
  if (value.includes('..')) throw invalid(kind, value, "contains '..'");
  if (!NAME_RE.test(value)) throw invalid(kind, value, 'may only contain letters, digits and . _ - @ = (not starting with . - @ =)');
  return value;
}

export function isValidName(value: unknown): boolean {
  try {
    validateName('store', value);
    return true;
  } catch {
    return false;
  }
}

function invalid(kind: NameKind, value: unknown, why: string): StorageError {
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : String(value);
  return new StorageError(`invalid ${kind} name ${shown}: ${why}`, {
    code: 'STORAGE_INVALID_ARGUMENT',
    details: { kind },
  });
}

/** Event times are integer milliseconds, non-negative, safe integers. */
export function validateTime(t: unknown, what = 'time'): number {
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) {
    throw new StorageError(`${what} must be a non-negative integer (ms), got ${String(t)}`, { code: 'STORAGE_INVALID_ARGUMENT' });
  }
  return t;
}

export function validateEpoch(epoch: unknown): number {
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) {
    throw new StorageError(`epoch must be a non-negative integer, got ${String(epoch)}`, { code: 'STORAGE_INVALID_ARGUMENT' });
  }
  return epoch;
}
