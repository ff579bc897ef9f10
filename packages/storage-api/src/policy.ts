/**
 * Contract policy that backends share instead of restating: the errors of fencing and
 * ordering, and the checks that keep a handle of a deleted app from writing.
 */
import { StorageError } from './errors.js';
import type { OpOptions } from './types.js';

export function fencedError(store: string, mine: number, current: number): StorageError {
  return new StorageError(`store ${store}: epoch ${mine} is fenced by epoch ${current}`, { code: 'STORAGE_FENCED', details: { epoch: mine, currentEpoch: current } });
}

export function outOfOrderError(store: string, t: number, last: number): StorageError {
  return new StorageError(`store ${store}: time ${t} is not after the last time ${last}`, { code: 'STORAGE_OUT_OF_ORDER', details: { t, last } });
}

/**
 * The write-time epoch check of a time-keyed store. A higher epoch fences this writer. A
 * lower one means the store was wiped since the writer opened (only deleting the app
 * lowers an epoch): the writer belongs to a deleted app and must not write into nothing
 * or into a re-created app of the same id.
 */
export function checkWriterEpoch(store: string, mine: number, current: number): void {
  if (current > mine) throw fencedError(store, mine, current);
  if (current < mine) {
    throw new StorageError(`store ${store}: its app was deleted since this writer (epoch ${mine}) opened`, { code: 'STORAGE_NOT_FOUND', details: { epoch: mine, currentEpoch: current } });
  }
}

/**
 * Makes the named write methods of a sub-store first await `alive` (which throws
 * STORAGE_NOT_FOUND once the app is deleted or re-created), for backends whose writes
 * would otherwise land in a deleted app's data and be acknowledged.
 */
export function checkAliveBefore<T extends object>(store: T, methods: ReadonlyArray<keyof T & string>, alive: (signal?: AbortSignal) => Promise<unknown>): T {
  for (const m of methods) {
    const orig = store[m] as unknown as (...args: unknown[]) => Promise<unknown>;
    if (typeof orig !== 'function') throw new TypeError(`checkAliveBefore: ${m} is not a method`);
    Object.defineProperty(store, m, {
      value: async (...args: unknown[]) => {
        const last = args[args.length - 1] as OpOptions | undefined;
        await alive(last && typeof last === 'object' && 'signal' in last ? last.signal : undefined);
        return orig.apply(store, args);
      },
    });
  }
  return store;
}
