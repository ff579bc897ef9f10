import { EngineError } from '../errors.js';
import { keyGroupOf, keyGroupRange, type StateKey } from './key-groups.js';
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

/**
 * Cuts a task's keyed state, given as its checkpoint's segments (oldest first, each a list
 * of parts), into key groups: later copies win, deletions and expired entries are dropped.
 * Decodes straight into one Map per table (no restore into a backend: no segment
 * bookkeeping), then encodes one segment per group.
 */
export function splitSegments(segments: Uint8Array[][], maxParallelism: number, now = Date.now()): KeyGroupSplit {
  const tables: string[] = [];
  const vals: Array<Map<StateKey, unknown>> = [];
  const exps: Array<Map<StateKey, number>> = [];
  for (const parts of segments) {
    for (const bytes of parts) {
      decodeSegment(bytes, (names, tis, keys, vs, es) => {
        const idx = names.map((n) => {
          let i = tables.indexOf(n);
          if (i < 0) {
            i = tables.push(n) - 1;
            vals.push(new Map());
            exps.push(new Map());
          }
          return i;
        });
        for (let i = 0; i < keys.length; i++) {
          const ti = idx[tis[i]!]!;
          const k = keys[i]!;
          if (vs[i] === undefined) {
            vals[ti]!.delete(k);
            exps[ti]!.delete(k);
            continue;
          }
          vals[ti]!.set(k, vs[i]);
          if (es[i] !== 0) exps[ti]!.set(k, es[i]!);
          else exps[ti]!.delete(k);
        }
      });
    }
  }
  const rows = new Map<number, { tis: number[]; keys: StateKey[]; vals: unknown[]; exps: number[] }>();
  let entries = 0;
  for (let ti = 0; ti < tables.length; ti++) {
    const ex = exps[ti]!;
    for (const [k, v] of vals[ti]!) {
      const exp = ex.size === 0 ? 0 : (ex.get(k) ?? 0);
      if (exp !== 0 && exp <= now) continue;
      const kg = keyGroupOf(k, maxParallelism);
      let r = rows.get(kg);
      if (!r) rows.set(kg, (r = { tis: [], keys: [], vals: [], exps: [] }));
      r.tis.push(ti);
      r.keys.push(k);
      r.vals.push(v);
      r.exps.push(exp);
      entries++;
    }
  }
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
