import { randomBytes } from 'node:crypto';

/** Zero-padded decimal so key order is numeric order (times are safe integers < 10^16). */
export function pad(n: number, width = 20): string {
  return n.toString().padStart(width, '0');
}

/** Normalised root prefix: '' or 'a/b/'. */
export function rootPrefix(prefix: string): string {
  const p = prefix.replace(/^\/+|\/+$/g, '');
  return p ? `${p}/` : '';
}

/**
 * Fixed-width, time-ordered id of an immutable segment: creation ms, writer instance,
 * counter. Doubles as the arrival order of logs and as the tie-breaker of cursors.
 */
export class SegmentIds {
  readonly #writer = randomBytes(4).toString('hex');
  #counter = 0;
  next(nowMs: number): string {
    this.#counter = (this.#counter + 1) % 100_000_000;
    return `${pad(nowMs, 15)}${this.#writer}${pad(this.#counter, 8)}`;
  }
}

/** `<min>_<max>_<id>.json`: the key is the index, so a listing tells which segments a range touches. */
export function segmentKey(dir: string, min: number, max: number, id: string): string {
  return `${dir}${pad(min, 16)}_${pad(max, 16)}_${id}.json`;
}

export interface SegmentRef {
  key: string;
  min: number;
  max: number;
  id: string;
}

export function parseSegmentKey(dir: string, key: string): SegmentRef | undefined {
  const m = /^(\d{16})_(\d{16})_([0-9a-z]+)\.json$/.exec(key.slice(dir.length));
  if (!key.startsWith(dir) || !m) return undefined;
  return { key, min: Number(m[1]), max: Number(m[2]), id: m[3]! };
}

/**
 * LRU for immutable objects (segments, manifests): content never changes under a key.
 * Bounded by total weight (bytes as stored), so big segments cannot pin memory.
 */
export class LruCache<V> {
  readonly #map = new Map<string, { v: V; w: number }>();
  #weight = 0;
  constructor(private readonly maxWeight = 64 * 1024 * 1024) {}
  get(key: string): V | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, e);
    return e.v;
  }
  set(key: string, v: V, weight = 1024): void {
    this.delete(key);
    if (weight > this.maxWeight / 8) return; // too big to be worth keeping
    this.#map.set(key, { v, w: weight });
    this.#weight += weight;
    while (this.#weight > this.maxWeight) this.delete(this.#map.keys().next().value!);
  }
  delete(key: string): void {
    const e = this.#map.get(key);
    if (e === undefined) return;
    this.#weight -= e.w;
    this.#map.delete(key);
  }
}

/** Runs fn over items with at most `n` in flight, keeping order. */
export async function mapLimit<T, R>(items: readonly T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let i = 0;
  const worker = async (): Promise<void> => {
    while (i < items.length) {
      const j = i++;
      out[j] = await fn(items[j]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}
