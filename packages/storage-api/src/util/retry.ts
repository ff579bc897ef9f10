import { isStorageError, StorageError, throwIfAborted } from '../errors.js';

export interface RetryPolicy {
  /** Attempts in all, including the first. Default 5. */
  attempts?: number;
  /** First backoff in ms, doubled per attempt with full jitter. Default 50. */
  baseDelayMs?: number;
  /** Cap per wait. Default 2000. */
  maxDelayMs?: number;
  signal?: AbortSignal;
  /** Called before each retry (metrics, logs). */
  onRetry?: (err: StorageError, attempt: number, delayMs: number) => void;
  /** Overrides which errors are retried; default: `err.transient`. */
  retryable?: (err: unknown) => boolean;
  random?: () => number;
}

/** Retries transient StorageErrors with exponential backoff and full jitter. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy = {}): Promise<T> {
  const attempts = policy.attempts ?? 5;
  const base = policy.baseDelayMs ?? 50;
  const cap = policy.maxDelayMs ?? 2000;
  const random = policy.random ?? Math.random;
  const retryable = policy.retryable ?? ((e: unknown) => isStorageError(e) && e.transient);
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(policy.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !retryable(err)) throw err;
      const delay = Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1)));
      policy.onRetry?.(err as StorageError, attempt, delay);
      await sleep(delay, policy.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new StorageError('operation aborted', { code: 'STORAGE_ABORTED', cause: signal.reason }));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new StorageError('operation aborted', { code: 'STORAGE_ABORTED', cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
