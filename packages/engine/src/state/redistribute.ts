import { EngineError } from '../errors.js';
import { keyGroupOf, keyGroupRange, type StateKey } from './key-groups.js';
import type { HeapKeyedState } from './heap-state.js';
import { decodeSegment, SegmentEncoder } from './segment-codec.js';

/**
 * Moving keyed state between parallelisms (savepoints and rescale). State is cut into
 * key groups (each key's group follows from the key alone, as the router computes it),
 * and a task of the new parallelism takes the groups of its range (Flink's rule): no
 * key is rehashed against the task count, and every key lands where the router sends it.
 */

/** Rows per encoded slice: bounds one V8 serialise call. */
const SLICE_ROWS = 4096;
/** One group's segment is a single part (the savepoint holds it as one block). */
const GROUP_PART_BYTES = 2 ** 31 - 1;

export interface KeyGroupSplit {
  tables: string[];
  /** Key group → one encoded segment of its live entries. */
  groups: Map<number, Uint8Array>;
  entries: number;
}

/** Cuts a task's live keyed state (deleted and expired entries dropped) into key groups. */
export function splitByKeyGroup(backend: HeapKeyedState): KeyGroupSplit {
  const mp = backend.maxParallelism;
  const rows = new Map<number, { tis: number[]; keys: StateKey[]; vals: unknown[]; exps: number[] }>();
  let entries = 0;
  for (const t of backend.tables) {
    for (const k of t.keys()) {
      const e = t.entry(k)!;
      const kg = keyGroupOf(k, mp);
      let r = rows.get(kg);
      if (!r) rows.set(kg, (r = { tis: [], keys: [], vals: [], exps: [] }));
      r.tis.push(t.ti);
      r.keys.push(k);
      r.vals.push(e.v);
      r.exps.push(e.exp);
      entries++;
    }
  }
  const tables = backend.tables.map((t) => t.name);
  const groups = new Map<number, Uint8Array>();
  for (const [kg, r] of rows) {
    const enc = new SegmentEncoder(tables, GROUP_PART_BYTES);
    for (let i = 0; i < r.keys.length; i += SLICE_ROWS) {
      const j = Math.min(r.keys.length, i + SLICE_ROWS);
      enc.slice(r.tis.slice(i, j), r.keys.slice(i, j), r.vals.slice(i, j), r.exps.slice(i, j));
    }
    groups.set(kg, enc.finish()[0]!);
  }
  return { tables, groups, entries };
}

/**
 * The segment (parts of at most maxPartBytes) that task `index` of `parallelism` restores:
 * the groups of its key-group range, under one table list (each group names its own).
 */
export function segmentForTask(keyed: KeyGroupSplit, maxParallelism: number, index: number, parallelism: number, maxPartBytes: number): { parts: Uint8Array[]; entries: number } {
  const { start, end } = keyGroupRange(index, maxParallelism, parallelism);
  const tables = keyed.tables;
  const enc = new SegmentEncoder(tables, maxPartBytes);
  let entries = 0;
  for (let kg = start; kg < end; kg++) {
    const b = keyed.groups.get(kg);
    if (!b) continue;
    decodeSegment(b, (names, tis, keys, vals, exps) => {
      const map = names.map((n) => {
        const i = tables.indexOf(n);
        if (i < 0) throw new EngineError('INTERNAL', `keyed state group ${kg} names table ${JSON.stringify(n)} its processor does not list`);
        return i;
      });
      enc.slice(tis.map((i) => map[i]!), keys, vals, exps);
      entries += keys.length;
    });
  }
  return { parts: entries === 0 ? [] : enc.finish(), entries };
}
