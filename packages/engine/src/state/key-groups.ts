import { hashKey } from '../runtime/plan.js';

/**
 * Key groups: every key maps to one of `maxParallelism` groups, and a processor of
 * parallelism p owns a contiguous range of them (Flink's rule). State is stored and
 * checkpointed per key with its group derivable from the key, so a later rescale moves
 * whole groups between tasks without rehashing the data.
 */
export const DEFAULT_MAX_PARALLELISM = 128;

/** A key as keyed state stores it: primitives as they are, anything else by its JSON. */
export type StateKey = string | number | boolean;

export function normalizeKey(k: unknown): StateKey {
  return typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean' ? k : JSON.stringify(k ?? null);
}

/** murmur3's 32-bit finalizer over FNV-1a: spreads the low bits the modulo takes. */
export function keyGroupOf(k: unknown, maxParallelism: number): number {
  let h = hashKey(k);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % maxParallelism;
}

/** The task index (0..p-1) that owns key group kg. */
export function taskOfKeyGroup(kg: number, maxParallelism: number, parallelism: number): number {
  return Math.floor((kg * parallelism) / maxParallelism);
}

/** The key groups task `index` of `parallelism` owns: [start, end). */
export function keyGroupRange(index: number, maxParallelism: number, parallelism: number): { start: number; end: number } {
  return { start: Math.ceil((index * maxParallelism) / parallelism), end: Math.ceil(((index + 1) * maxParallelism) / parallelism) };
}
