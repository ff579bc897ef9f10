import { isStorageError } from '../errors.js';
import type { StorageLogger } from '../types.js';
import { sleep } from './retry.js';

export interface PollOptions {
  signal?: AbortSignal;
  /** Default 500 ms. */
  pollIntervalMs?: number;
  /** Transient failures are logged here and the next round tries again. */
  logger?: StorageLogger;
}

/**
 * The live-tail loop of backends that follow by polling (object stores, HDFS): each
 * round asks `fetchNew` for what arrived since the last round, yields it, then waits.
 * Ends quietly when the signal aborts; a transient failure costs one round, not the
 * follow; anything else is thrown to the reader.
 */
export async function* pollForNew<T>(fetchNew: (round: number) => Promise<T[]>, options: PollOptions = {}): AsyncIterable<T> {
  const poll = options.pollIntervalMs ?? 500;
  for (let round = 0; !options.signal?.aborted; round++) {
    let fresh: T[] = [];
    try {
      fresh = await fetchNew(round);
    } catch (err) {
      if (options.signal?.aborted) return;
      if (!isStorageError(err) || !err.transient) throw err;
      options.logger?.warn({ err: err.message }, 'follow: poll failed, retrying next round');
    }
    for (const x of fresh) {
      if (options.signal?.aborted) return;
      yield x;
    }
    try {
      await sleep(poll, options.signal);
    } catch {
      return;
    }
  }
}
