import type { FreshSegment, FrozenState, KeyedStateManifest, SegmentInfo } from './heap-state.js';
import { HeapKeyedState } from './heap-state.js';
import type { StateKey } from './key-groups.js';

/** One named table of keyed state (what the keyed API and the aggregates use). */
export interface StateTable {
  readonly name: string;
  get(k: StateKey): unknown;
  put(k: StateKey, v: unknown, ttlMs?: number): void;
  /** put(k, fn(current)) with one lookup. */
  update(k: StateKey, fn: (v: unknown) => unknown): void;
  mutable<T>(k: StateKey, make: () => T, clone: (v: T) => T, ttlMs?: number): T;
  delete(k: StateKey): void;
  keys(): IterableIterator<StateKey>;
}

/**
 * A keyed-state backend as the runtime drives it: freeze at a boundary (O(1)), encode the
 * frozen segment off the hot path, list the segments a checkpoint needs, apply segments on
 * restore. Heap and disk write the same segment format, so either restores the other's.
 */
export interface KeyedBackend {
  readonly maxParallelism: number;
  table(name: string): StateTable;
  writtenPairs(): Array<[StateKey, unknown]>;
  readonly liveEntries: number;
  freeze(t: number): FrozenState;
  encode(fresh: FreshSegment, maxPartBytes: number): Promise<Uint8Array[]>;
  apply(info: SegmentInfo, parts: Uint8Array[]): void;
  manifest(frozen: FrozenState): KeyedStateManifest;
  close(): void;
}

export type BackendMaker = (maxParallelism: number) => KeyedBackend;

let ambient: BackendMaker | undefined;

/**
 * Runs a task factory with `make` as the backend its keyed operators get: the DSL's
 * factories take no arguments, and the app's backend choice is the executor's to make.
 */
export function withStateBackend<T>(make: BackendMaker | undefined, fn: () => T): T {
  const prev = ambient;
  ambient = make;
  try {
    return fn();
  } finally {
    ambient = prev;
  }
}

/** The backend for a keyed operator being created: the executor's choice, else heap. */
export function newKeyedBackend(maxParallelism: number): KeyedBackend {
  return ambient ? ambient(maxParallelism) : new HeapKeyedState(maxParallelism);
}
