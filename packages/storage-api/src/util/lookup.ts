import type { LookUpResult } from '../types.js';

/**
 * Gearpump's lookUp outcomes from three cheap probes: the first entry, the last entry,
 * and the first entry ≥ t. Backends with an index call this after two or three seeks.
 */
export async function resolveLookUp<E extends { t: number }>(
  t: number,
  first: () => Promise<E | undefined>,
  last: () => Promise<E | undefined>,
  ceiling: (t: number) => Promise<E | undefined>,
): Promise<LookUpResult<E>> {
  const min = await first();
  if (min === undefined) return { status: 'empty' };
  if (t < min.t) return { status: 'underflow', min };
  const max = await last();
  if (max === undefined) return { status: 'empty' };
  if (t > max.t) return { status: 'overflow', max };
  const entry = await ceiling(t);
  // Entry can vanish under a concurrent truncate; report what the store now holds.
  return entry ? { status: 'found', entry } : { status: 'overflow', max };
}

/** Binary search: index of the first element with key ≥ t (array sorted ascending by t). */
export function lowerBound<E extends { t: number }>(items: readonly E[], t: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid]!.t < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
