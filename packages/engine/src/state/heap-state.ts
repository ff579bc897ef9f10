import { setImmediate as yieldNow } from 'node:timers/promises';
import type { StateKey } from './key-groups.js';
import type { KeyedBackend, StateTable } from './backend.js';
import { decodeSegment, SegmentEncoder } from './segment-codec.js';

/**
 * Keyed state on the heap, checkpointed incrementally as a log of segments.
 *
 * Each checkpoint interval writes one segment: the entries touched since the last
 * boundary. A checkpoint is the list of segments that still hold a live entry, so it
 * uploads only what changed and shares the rest by reference. Each segment keeps the
 * list of entries written into it (an entry whose latest copy moved on is skipped), so
 * the cleaner walks the oldest segment's list and carries its live entries forward a few
 * per interval (as if rewritten) until it holds nothing live and drops out of the list,
 * which bounds the log at `targetAmplification` × the live state. The tables' Maps are
 * never reordered: at millions of keys a delete + set per first write of an interval
 * costs more than the lookup itself.
 *
 * Freezing at a boundary is O(1): the touched list is swapped out. The frozen segment is
 * encoded later in small slices; a write to an entry of a segment still being encoded
 * saves the old value first (copy-on-write), so the encoder sees the boundary's value.
 */

/** Marks a deleted key until its segment is cleaned (it shadows older copies). */
const TOMB: unique symbol = Symbol('tombstone');

export interface Entry {
  k: StateKey;
  v: unknown;
  /** Segment (sequence number) holding the entry's latest copy. */
  seg: number;
  /** Expiry (epoch ms), 0 = none. */
  exp: number;
  /** Written by the task (not only carried by the cleaner) since the last boundary. */
  u: boolean;
  /** Index of its table. */
  ti: number;
}

/** One segment of the log: where its bytes are once staged, how many of its entries are live. */
export interface SegmentInfo {
  seq: number;
  /** Checkpoint boundary it was frozen at. */
  t: number;
  entries: number;
  /** Part names holding its bytes (set once staged). */
  parts: string[];
  bytes: number;
  /** Holds every live entry (the disk backend's materialisation): older segments are not needed. */
  full?: boolean;
}

/** A segment frozen at a boundary and not yet encoded. */
export interface FreshSegment {
  info: SegmentInfo;
  rows: Entry[];
  /** Copy-on-write: values at the boundary of entries written since. */
  old: Map<Entry, unknown>;
}

/** The state at one boundary: the segments it needs, the new one still to encode. */
export interface FrozenState {
  t: number;
  /** Every segment checkpoint t needs, oldest first (includes `fresh` if any). */
  segments: SegmentInfo[];
  fresh?: FreshSegment;
  liveEntries: number;
  pauseMs: number;
}

/** What a task's state records in the executor's checkpoint part. */
export interface KeyedStateManifest {
  v: 1;
  maxParallelism: number;
  tables: string[];
  segments: Array<{ seq: number; t: number; entries: number; parts: string[]; bytes: number; full?: boolean }>;
}

export interface HeapStateOptions {
  /** Log size / live size above which the cleaner carries old entries forward. */
  targetAmplification?: number;
  /** At most this fraction of the live entries is carried per interval (smooths uploads). */
  maxCarryFraction?: number;
  /** Rows per encoded slice (one event-loop turn each). */
  sliceRows?: number;
  now?: () => number;
}

export class Table implements StateTable {
  readonly map = new Map<StateKey, Entry>();
  constructor(readonly owner: HeapKeyedState, readonly name: string, readonly ti: number) {}

  entry(k: StateKey): Entry | undefined {
    const e = this.map.get(k);
    if (e === undefined || e.v === TOMB) return undefined;
    if (e.exp !== 0 && e.exp <= this.owner.now()) return undefined;
    return e;
  }

  get(k: StateKey): unknown {
    return this.entry(k)?.v;
  }

  put(k: StateKey, v: unknown, ttlMs = 0): void {
    if (v === undefined) return this.delete(k);
    const o = this.owner;
    const e = this.map.get(k);
    if (e === undefined) {
      const n: Entry = { k, v, seg: o.cur, exp: ttlMs > 0 ? o.now() + ttlMs : 0, u: true, ti: this.ti };
      this.map.set(k, n);
      o.added(n);
      return;
    }
    if (e.seg !== o.cur) o.touch(e);
    e.v = v;
    e.u = true;
    if (ttlMs > 0) e.exp = o.now() + ttlMs;
    else if (e.exp !== 0) e.exp = 0;
  }

  /**
   * put(k, fn(current value)) with one lookup of the key instead of two (a keyed
   * aggregate's hot path: at millions of keys each Map lookup is a cache miss).
   */
  update(k: StateKey, fn: (v: unknown) => unknown): void {
    const o = this.owner;
    const e = this.map.get(k);
    if (e === undefined || e.v === TOMB || (e.exp !== 0 && e.exp <= o.now())) return this.put(k, fn(undefined));
    const v = fn(e.v);
    if (v === undefined) return this.delete(k);
    if (e.seg !== o.cur) o.touch(e);
    e.v = v;
    e.u = true;
    if (e.exp !== 0) e.exp = 0;
  }

  /**
   * The entry's value for in-place mutation (map and list state): a value a segment
   * still being encoded holds is cloned first, so the boundary's copy stays intact.
   */
  mutable<T>(k: StateKey, make: () => T, clone: (v: T) => T, ttlMs = 0): T {
    const o = this.owner;
    const e = this.entry(k);
    if (e === undefined) {
      const v = make();
      this.put(k, v, ttlMs);
      return v;
    }
    if (e.seg !== o.cur) {
      o.touch(e);
      e.v = clone(e.v as T);
    }
    e.u = true;
    if (ttlMs > 0) e.exp = o.now() + ttlMs;
    return e.v as T;
  }

  delete(k: StateKey): void {
    const e = this.map.get(k);
    if (e === undefined || e.v === TOMB) return;
    const o = this.owner;
    if (e.seg !== o.cur) o.touch(e);
    e.v = TOMB;
    e.u = true;
    e.exp = 0;
  }

  /** Live keys (expired and deleted ones excluded). */
  *keys(): IterableIterator<StateKey> {
    const now = this.owner.now();
    for (const e of this.map.values()) if (e.v !== TOMB && (e.exp === 0 || e.exp > now)) yield e.k;
  }
}

export class HeapKeyedState implements KeyedBackend {
  readonly tables: Table[] = [];
  readonly #byName = new Map<string, Table>();
  /** The segment being written (entries touched since the last boundary). */
  cur = 0;
  #touched: Entry[] = [];
  /** Live entries of the current segment (a field, not a #live Map update per write: the hot path). */
  #curLive = 0;
  /** Live entries per segment (the current one included). */
  readonly #live = new Map<number, number>();
  /** Entries written into each listed segment (some since moved on), for the cleaner. */
  readonly #rows = new Map<number, Entry[]>();
  /** The cleaner's place: segment and index into its rows. */
  #cleanAt = { seq: -1, i: 0 };
  /** Listed segments, oldest first by seq. */
  readonly #segs = new Map<number, SegmentInfo>();
  /** Segments frozen and not yet encoded: a write saves the old value here first. */
  readonly #encoding = new Map<number, Map<Entry, unknown>>();
  /** Cleaning: carry entries of segments <= horizon forward. */
  #horizon: number | undefined;
  #carried = 0;
  #cleaning = false;
  #closed = false;
  readonly #opts: Required<Omit<HeapStateOptions, 'now'>>;
  readonly now: () => number;

  constructor(readonly maxParallelism: number, opts: HeapStateOptions = {}) {
    this.#opts = { targetAmplification: opts.targetAmplification ?? 1.4, maxCarryFraction: opts.maxCarryFraction ?? 0.02, sliceRows: opts.sliceRows ?? 4096 };
    this.now = opts.now ?? Date.now;
  }

  table(name: string): Table {
    let t = this.#byName.get(name);
    if (!t) {
      t = new Table(this, name, this.tables.length);
      this.tables.push(t);
      this.#byName.set(name, t);
    }
    return t;
  }

  /** Entries the task wrote since the last boundary (what keyed aggregates emit); deletions excluded. */
  *written(): IterableIterator<Entry> {
    for (const e of this.#touched) if (e.u && e.seg === this.cur && e.v !== TOMB) yield e;
  }

  /** `[key, value]` of written() as one array (a keyed aggregate's emit; no generator per boundary). */
  writtenPairs(): Array<[StateKey, unknown]> {
    const rows = this.#touched;
    const cur = this.cur;
    const out: Array<[StateKey, unknown]> = [];
    for (let i = 0; i < rows.length; i++) {
      const e = rows[i]!;
      if (e.u && e.seg === cur && e.v !== TOMB) out.push([e.k, e.v]);
    }
    return out;
  }

  /** Live entries over all tables (tombstones included until cleaned). */
  get liveEntries(): number {
    let n = 0;
    for (const t of this.tables) n += t.map.size;
    return n;
  }

  /** @internal a new entry in the current segment. */
  added(e: Entry): void {
    this.#curLive++;
    this.#touched.push(e);
  }

  /** @internal moves an entry into the current segment (first touch since the boundary). */
  touch(e: Entry): void {
    if (this.#encoding.size !== 0) {
      const enc = this.#encoding.get(e.seg);
      if (enc !== undefined && !enc.has(e)) enc.set(e, e.v);
    }
    this.#dec(e.seg);
    e.seg = this.cur;
    e.u = false;
    this.added(e);
  }

  #dec(seg: number): void {
    if (seg === this.cur) {
      this.#curLive--;
      return;
    }
    const n = (this.#live.get(seg) ?? 1) - 1;
    if (n > 0) {
      this.#live.set(seg, n);
      return;
    }
    this.#live.delete(seg);
    this.#segs.delete(seg);
    this.#rows.delete(seg);
    if (this.#horizon !== undefined && ![...this.#segs.keys()].some((s) => s <= this.#horizon!)) this.#horizon = undefined;
  }

  /**
   * Boundary t: the touched entries become a segment (O(1)); returns what checkpoint t
   * lists. Also decides whether the cleaner runs during the next interval.
   */
  freeze(t: number): FrozenState {
    const t0 = performance.now();
    const rows = this.#touched;
    this.#touched = [];
    if (this.#curLive > 0) this.#live.set(this.cur, this.#curLive);
    this.#curLive = 0;
    const seq = this.cur++;
    let fresh: FrozenState['fresh'];
    if (rows.length > 0 && this.#live.has(seq)) {
      const info: SegmentInfo = { seq, t, entries: rows.length, parts: [], bytes: 0 };
      this.#segs.set(seq, info);
      this.#rows.set(seq, rows);
      const old = new Map<Entry, unknown>();
      this.#encoding.set(seq, old);
      fresh = { info, rows, old };
    }
    const live = this.liveEntries;
    let logged = 0;
    for (const s of this.#segs.values()) logged += s.entries;
    this.#carried = 0;
    if (this.#horizon === undefined && live > 0 && logged > this.#opts.targetAmplification * live && this.#segs.size > 1) {
      this.#horizon = this.#segs.keys().next().value!;
    }
    const segments = [...this.#segs.values()];
    if (this.#horizon !== undefined) this.#startCleaner();
    return { t, segments, ...(fresh ? { fresh } : {}), liveEntries: live, pauseMs: performance.now() - t0 };
  }

  /**
   * Encodes a frozen segment in slices (yielding between them) into parts of at most
   * `maxPartBytes`; the copy-on-write record of the segment is dropped after.
   */
  async encode(fresh: NonNullable<FrozenState['fresh']>, maxPartBytes: number): Promise<Uint8Array[]> {
    const enc = new SegmentEncoder(this.tables.map((t) => t.name), maxPartBytes);
    const { rows, old } = fresh;
    const step = this.#opts.sliceRows;
    try {
      for (let i = 0; i < rows.length; i += step) {
        const end = Math.min(rows.length, i + step);
        const tis: number[] = [];
        const keys: StateKey[] = [];
        const vals: unknown[] = [];
        const exps: number[] = [];
        for (let j = i; j < end; j++) {
          const e = rows[j]!;
          const v = old.size !== 0 && old.has(e) ? old.get(e) : e.v;
          tis.push(e.ti);
          keys.push(e.k);
          vals.push(v === TOMB ? undefined : v);
          exps.push(e.exp);
        }
        enc.slice(tis, keys, vals, exps);
        if (end < rows.length) await yieldNow();
      }
    } finally {
      this.#encoding.delete(fresh.info.seq);
    }
    const parts = enc.finish();
    fresh.info.bytes = parts.reduce((n, p) => n + p.byteLength, 0);
    return parts;
  }

  /**
   * Restore: applies segment `seq` (frozen at t) from its parts; segments must come
   * oldest first. Later copies win; deletions stay as tombstones until cleaned.
   */
  apply(info: SegmentInfo, parts: Uint8Array[]): void {
    // Ahead of the segment being applied: every entry's seg is then below cur (see #dec).
    this.cur = Math.max(this.cur, info.seq + 1);
    this.#segs.set(info.seq, { ...info });
    const rows: Entry[] = [];
    this.#rows.set(info.seq, rows);
    // Into empty tables (the first segment of a restore, usually the largest) no key can
    // be present yet: one Map operation per key instead of two.
    const empty = this.tables.every((t) => t.map.size === 0);
    let live = 0;
    for (const bytes of parts) {
      decodeSegment(bytes, (names, tis, keys, vals, exps) => {
        const tables = names.map((n) => this.table(n));
        for (let i = 0; i < keys.length; i++) {
          const tb = tables[tis[i]!]!;
          const k = keys[i]!;
          const v = vals[i] === undefined ? TOMB : vals[i];
          let e = empty ? undefined : tb.map.get(k);
          if (e !== undefined) {
            this.#dec(e.seg);
            e.v = v;
            e.seg = info.seq;
            e.exp = exps[i]!;
          } else {
            e = { k, v, seg: info.seq, exp: exps[i]!, u: false, ti: tb.ti };
            tb.map.set(k, e);
          }
          rows.push(e);
          live++;
        }
      });
    }
    if (live > 0) this.#live.set(info.seq, live);
    if (!this.#live.has(info.seq)) {
      this.#segs.delete(info.seq);
      this.#rows.delete(info.seq);
    }
  }

  manifest(frozen: FrozenState): KeyedStateManifest {
    return {
      v: 1,
      maxParallelism: this.maxParallelism,
      tables: this.tables.map((t) => t.name),
      segments: frozen.segments.map((s) => ({ seq: s.seq, t: s.t, entries: s.entries, parts: [...s.parts], bytes: s.bytes })),
    };
  }

  close(): void {
    this.#closed = true;
  }

  #startCleaner(): void {
    if (this.#cleaning || this.#closed) return;
    this.#cleaning = true;
    void this.#clean().finally(() => {
      this.#cleaning = false;
    });
  }

  /** Carries entries of segments at or below the horizon into the current one, a slice per turn. */
  async #clean(): Promise<void> {
    await yieldNow(); // never inside freeze(): its listing is taken before any entry moves
    const budget = Math.max(this.#opts.sliceRows, Math.ceil(this.liveEntries * this.#opts.maxCarryFraction));
    while (!this.#closed && this.#horizon !== undefined && this.#carried < budget) {
      const h = this.#horizon;
      let moved = 0;
      let pending = false;
      // Oldest segment first; within it, where the last slice stopped.
      for (const seq of [...this.#rows.keys()].sort((a, b) => a - b)) {
        if (seq > h || seq === this.cur) break;
        const rows = this.#rows.get(seq)!;
        let i = this.#cleanAt.seq === seq ? this.#cleanAt.i : 0;
        for (; i < rows.length; i++) {
          if (moved >= this.#opts.sliceRows) {
            pending = true;
            break;
          }
          const e = rows[i]!;
          if (e.seg !== seq) continue; // its latest copy is in a newer segment
          moved++;
          if (e.v === TOMB || (e.exp !== 0 && e.exp <= this.now())) {
            // Everything older is being cleaned too: nothing left for it to shadow.
            const enc = this.#encoding.get(e.seg);
            if (enc !== undefined && !enc.has(e)) enc.set(e, e.v);
            this.tables[e.ti]!.map.delete(e.k);
            this.#dec(e.seg);
          } else this.touch(e);
        }
        this.#cleanAt = { seq, i };
        if (pending) break;
      }
      this.#carried += moved;
      if (!pending && moved === 0) this.#horizon = undefined;
      await yieldNow();
    }
  }
}
