import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { open, type RootDatabase } from 'lmdb';
import { EngineError } from '../errors.js';
import type { KeyedBackend, StateTable } from './backend.js';
import type { Entry, FreshSegment, FrozenState, KeyedStateManifest, SegmentInfo } from './heap-state.js';
import type { StateKey } from './key-groups.js';
import { decodeSegment, SegmentEncoder } from './segment-codec.js';
import { decodeValue, encodeValue } from './value-codec.js';

/**
 * Keyed state on disk (lmdb, see bench/state-libs.mjs for the choice) behind a bounded
 * write-back cache, checkpointed in the heap backend's segment format.
 *
 * lmdb holds the state as of the last encoded boundary; the cache holds what was read or
 * written since. Each interval's touched entries become a segment at the boundary (O(1),
 * as on the heap); encoding it (off the hot path, in slices) also writes its boundary
 * values into lmdb, after which its entries are clean and may be evicted. Only clean
 * entries are evicted, so eviction never writes. When the segments listed exceed
 * `targetAmplification` × the live keys, the next segment is a full one (materialised from
 * lmdb after its own rows are written) and the older segments drop out of the list.
 */

const TOMB: unique symbol = Symbol('tombstone');
/** Entry.seg of an entry lmdb holds as it is (loaded, or its segment was written). */
const CLEAN = -1;

export interface DiskStateOptions {
  /** A directory of this backend's own (created; removed by close()). */
  dir: string;
  /** Entries kept in memory (clean ones are evicted above it). */
  cacheEntries?: number;
  targetAmplification?: number;
  sliceRows?: number;
  now?: () => number;
}

type Key = [number, StateKey];

export class DiskTable implements StateTable {
  readonly map = new Map<StateKey, Entry>();
  constructor(readonly owner: DiskKeyedState, readonly name: string, readonly ti: number) {}

  /** The entry in the cache, else loaded from lmdb into it (tombstones and expired included). */
  #load(k: StateKey): Entry | undefined {
    const e = this.map.get(k);
    if (e !== undefined) return e;
    const raw = this.owner.db.getBinaryFast([this.ti, k] satisfies Key);
    if (raw === undefined) return undefined;
    const [v, exp] = decodeValue(raw);
    const n: Entry = { k, v, seg: CLEAN, exp, u: false, ti: this.ti };
    this.owner.cached(); // before the insert: an eviction must not drop the entry returned
    this.map.set(k, n);
    return n;
  }

  #live(e: Entry | undefined): e is Entry {
    return e !== undefined && e.v !== TOMB && (e.exp === 0 || e.exp > this.owner.now());
  }

  get(k: StateKey): unknown {
    const e = this.#load(k);
    return this.#live(e) ? e.v : undefined;
  }

  put(k: StateKey, v: unknown, ttlMs = 0): void {
    if (v === undefined) return this.delete(k);
    const o = this.owner;
    const exp = ttlMs > 0 ? o.now() + ttlMs : 0;
    const e = this.#load(k);
    if (e === undefined) {
      const n: Entry = { k, v, seg: CLEAN, exp, u: true, ti: this.ti };
      this.map.set(k, n);
      o.count++;
      o.write(n);
      o.cached();
      return;
    }
    if (e.v === TOMB) o.count++;
    o.write(e);
    e.v = v;
    e.u = true;
    e.exp = exp;
  }

  update(k: StateKey, fn: (v: unknown) => unknown): void {
    const e = this.#load(k);
    if (!this.#live(e)) return this.put(k, fn(undefined));
    const v = fn(e.v);
    if (v === undefined) return this.delete(k);
    this.owner.write(e);
    e.v = v;
    e.u = true;
    e.exp = 0;
  }

  mutable<T>(k: StateKey, make: () => T, clone: (v: T) => T, ttlMs = 0): T {
    const o = this.owner;
    const e = this.#load(k);
    if (!this.#live(e)) {
      const v = make();
      this.put(k, v, ttlMs);
      return v;
    }
    // A segment still being encoded may hold this very object: write a copy.
    if (e.seg !== o.cur) {
      o.write(e);
      e.v = clone(e.v as T);
    }
    e.u = true;
    if (ttlMs > 0) e.exp = o.now() + ttlMs;
    return e.v as T;
  }

  delete(k: StateKey): void {
    const e = this.#load(k);
    if (e === undefined || e.v === TOMB) return;
    this.owner.count--;
    this.owner.write(e);
    e.v = TOMB;
    e.u = true;
    e.exp = 0;
  }

  /** Live keys: the cache's, then lmdb's not in the cache. */
  *keys(): IterableIterator<StateKey> {
    for (const k of [...this.map.keys()]) if (this.#live(this.map.get(k))) yield k;
    const now = this.owner.now();
    for (const { key, value } of this.owner.db.getRange({ start: [this.ti], end: [this.ti + 1] })) {
      const k = (key as Key)[1];
      if (this.map.has(k)) continue;
      const exp = decodeValue(value)[1];
      if (exp === 0 || exp > now) yield k;
    }
  }
}

interface DiskFresh extends FreshSegment {
  /** Encode every live entry, not only the rows (materialisation). */
  full: boolean;
}

export class DiskKeyedState implements KeyedBackend {
  readonly tables: DiskTable[] = [];
  readonly #byName = new Map<string, DiskTable>();
  readonly db: RootDatabase<Buffer, Key>;
  /** The segment being written. */
  cur = 0;
  /** Live keys (cache and lmdb together). */
  count = 0;
  #touched: Entry[] = [];
  /** Listed segments, oldest first. */
  #segs: SegmentInfo[] = [];
  readonly #encoding = new Map<number, Map<Entry, unknown>>();
  #size = 0;
  #evictAt: number;
  #closed = false;
  readonly #cap: number;
  readonly #amp: number;
  readonly #slice: number;
  readonly now: () => number;

  constructor(readonly maxParallelism: number, readonly opts: DiskStateOptions) {
    this.#cap = Math.max(16, opts.cacheEntries ?? 500_000);
    this.#evictAt = this.#cap;
    this.#amp = opts.targetAmplification ?? 2;
    this.#slice = opts.sliceRows ?? 4096;
    this.now = opts.now ?? Date.now;
    // A fresh directory per backend: a restore rebuilds it from the checkpoint.
    rmSync(opts.dir, { recursive: true, force: true });
    mkdirSync(opts.dir, { recursive: true });
    // noSync: durability is the checkpoint's; the file is a spill of the heap, not a log.
    this.db = open<Buffer, Key>({ path: join(opts.dir, 'state.mdb'), encoding: 'binary', noSync: true, compression: false });
  }

  table(name: string): DiskTable {
    let t = this.#byName.get(name);
    if (!t) {
      t = new DiskTable(this, name, this.tables.length);
      this.tables.push(t);
      this.#byName.set(name, t);
    }
    return t;
  }

  get liveEntries(): number {
    return this.count;
  }

  /** Entries held in memory now (bounded by cacheEntries plus what the open segments pin). */
  get cachedEntries(): number {
    return this.#size;
  }

  writtenPairs(): Array<[StateKey, unknown]> {
    const out: Array<[StateKey, unknown]> = [];
    for (const e of this.#touched) if (e.u && e.v !== TOMB) out.push([e.k, e.v]);
    return out;
  }

  /** @internal first write of an entry since the boundary: into the current segment. */
  write(e: Entry): void {
    if (e.seg === this.cur) return;
    if (e.seg !== CLEAN && this.#encoding.size !== 0) {
      const enc = this.#encoding.get(e.seg);
      if (enc !== undefined && !enc.has(e)) enc.set(e, e.v);
    }
    e.seg = this.cur;
    e.u = false;
    this.#touched.push(e);
  }

  /** @internal an entry entered the cache. */
  cached(): void {
    if (++this.#size > this.#evictAt) this.#evict();
  }

  /** Drops clean entries, oldest loaded first, down to 90% of the cap. */
  #evict(): void {
    const target = Math.floor(this.#cap * 0.9);
    for (const t of this.tables) {
      for (const [k, e] of t.map) {
        if (this.#size <= target) break;
        if (e.seg === CLEAN) {
          t.map.delete(k);
          this.#size--;
        }
      }
    }
    // Pinned entries (unwritten segments) may keep it above the cap: do not rescan per insert.
    this.#evictAt = Math.max(this.#cap, this.#size + Math.ceil(this.#cap / 10));
  }

  freeze(t: number): FrozenState {
    const t0 = performance.now();
    const rows = this.#touched;
    this.#touched = [];
    const seq = this.cur++;
    let fresh: DiskFresh | undefined;
    if (rows.length > 0) {
      let logged = rows.length;
      for (const s of this.#segs) logged += s.entries;
      const full = this.#segs.length > 0 && logged > this.#amp * Math.max(1, this.count);
      const info: SegmentInfo = { seq, t, entries: rows.length, parts: [], bytes: 0, ...(full ? { full: true } : {}) };
      const old = new Map<Entry, unknown>();
      this.#encoding.set(seq, old);
      this.#segs.push(info);
      fresh = { info, rows, old, full };
    }
    return { t, segments: [...this.#segs], ...(fresh ? { fresh } : {}), liveEntries: this.count, pauseMs: performance.now() - t0 };
  }

  /**
   * Writes the segment's boundary values into lmdb and encodes them, a slice per turn; a
   * full segment then encodes all of lmdb instead (it now holds the state at the boundary).
   */
  async encode(f: FreshSegment, maxPartBytes: number): Promise<Uint8Array[]> {
    const fresh = f as DiskFresh;
    const { rows, old, info } = fresh;
    const enc = new SegmentEncoder(this.tables.map((t) => t.name), maxPartBytes);
    const db = this.db;
    const written: Array<Promise<boolean>> = [];
    try {
      for (let i = 0; i < rows.length && !this.#closed; i += this.#slice) {
        const end = Math.min(rows.length, i + this.#slice);
        const tis: number[] = [];
        const keys: StateKey[] = [];
        const vals: unknown[] = [];
        const exps: number[] = [];
        for (let j = i; j < end; j++) {
          const e = rows[j]!;
          const v = old.has(e) ? old.get(e) : e.v;
          tis.push(e.ti);
          keys.push(e.k);
          vals.push(v === TOMB ? undefined : v);
          exps.push(e.exp);
        }
        // Asynchronous writes: lmdb commits them on its own thread, off the event loop.
        let last: Promise<boolean> | undefined;
        for (let j = 0; j < keys.length; j++) {
          const key: Key = [tis[j]!, keys[j]!];
          last = vals[j] === undefined ? db.remove(key) : db.put(key, encodeValue(vals[j], exps[j]!));
        }
        if (last) written.push(last);
        if (!fresh.full) enc.slice(tis, keys, vals, exps);
        await yieldNow();
      }
      await Promise.all(written);
      if (this.#closed) throw new EngineError('INTERNAL', 'disk keyed state closed while encoding a segment');
      // lmdb has them now: entries not written again since are clean (evictable).
      for (const e of rows) if (e.seg === info.seq) e.seg = CLEAN;
      this.#evictAt = this.#cap;
      if (this.#size > this.#cap) this.#evict();
      if (fresh.full) info.entries = await this.#dump(enc);
    } finally {
      this.#encoding.delete(info.seq);
    }
    const parts = enc.finish();
    info.bytes = parts.reduce((n, p) => n + p.byteLength, 0);
    if (fresh.full) this.#segs = this.#segs.filter((s) => s.seq >= info.seq);
    return parts;
  }

  /** Every live entry of lmdb into the encoder, in slices; returns how many. */
  async #dump(enc: SegmentEncoder): Promise<number> {
    const now = this.now();
    let n = 0;
    let tis: number[] = [];
    let keys: StateKey[] = [];
    let vals: unknown[] = [];
    let exps: number[] = [];
    for (const { key, value } of this.db.getRange({ snapshot: true })) {
      const [v, exp] = decodeValue(value);
      if (exp !== 0 && exp <= now) continue;
      const [ti, k] = key;
      tis.push(ti);
      keys.push(k);
      vals.push(v);
      exps.push(exp);
      if (keys.length >= this.#slice) {
        enc.slice(tis, keys, vals, exps);
        n += keys.length;
        tis = [];
        keys = [];
        vals = [];
        exps = [];
        await yieldNow();
        if (this.#closed) throw new EngineError('INTERNAL', 'disk keyed state closed while materialising');
      }
    }
    if (keys.length) enc.slice(tis, keys, vals, exps);
    return n + keys.length;
  }

  /** Restore: writes segment `seq`'s entries into lmdb (segments oldest first). */
  apply(info: SegmentInfo, parts: Uint8Array[]): void {
    this.cur = Math.max(this.cur, info.seq + 1);
    if (info.full) this.#segs = [];
    this.#segs.push({ ...info, parts: [...info.parts] });
    const db = this.db;
    for (const bytes of parts) {
      decodeSegment(bytes, (names, tis, keys, vals, exps) => {
        const ti = names.map((n) => this.table(n).ti);
        db.transactionSync(() => {
          for (let i = 0; i < keys.length; i++) {
            const key: Key = [ti[tis[i]!]!, keys[i]!];
            if (vals[i] === undefined) db.removeSync(key);
            else db.putSync(key, encodeValue(vals[i], exps[i]!));
          }
        });
      });
    }
    this.count = (this.db.getStats() as { entryCount: number }).entryCount;
  }

  manifest(frozen: FrozenState): KeyedStateManifest {
    // From the last full segment on: older ones are superseded (and lack its deletions).
    let from = 0;
    frozen.segments.forEach((s, i) => {
      if (s.full) from = i;
    });
    return {
      v: 1,
      maxParallelism: this.maxParallelism,
      tables: this.tables.map((t) => t.name),
      segments: frozen.segments.slice(from).map((s) => ({ seq: s.seq, t: s.t, entries: s.entries, parts: [...s.parts], bytes: s.bytes, ...(s.full ? { full: true } : {}) })),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const dir = this.opts.dir;
    // Removing the files of an open env is safe on POSIX; the close finishes on its own.
    this.db.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    try {
      rmdirSync(dirname(dir)); // the executor's state dir, once its last backend is gone
    } catch {
      // other backends still there
    }
  }
}
