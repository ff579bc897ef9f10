import { randomUUID } from 'node:crypto';
import {
  StorageError, lowerBound, resolveLookUp, type LookUpResult, type OffsetBackend, type OffsetState, type OpOptions, type TimeEntry,
} from '@sluice/storage-api';
import { EpochRecord } from './epoch.js';
import { pad } from './keys.js';
import type { Shared } from './shared.js';

/** An immutable segment: `seg/<first t>-<last t>-<uuid>`; overlapping segments carry identical entries. */
interface Seg {
  key: string;
  first: number;
  last: number;
}

const SEG_RE = /^(\d{20})-(\d{20})-[0-9a-f-]+$/;

export function encodeEntries(entries: readonly TimeEntry[]): Buffer {
  let size = 4;
  for (const e of entries) size += 12 + e.value.byteLength;
  const b = Buffer.alloc(size);
  let o = b.writeUInt32BE(entries.length, 0);
  for (const e of entries) {
    o = b.writeDoubleBE(e.t, o);
    o = b.writeUInt32BE(e.value.byteLength, o);
    b.set(e.value, o);
    o += e.value.byteLength;
  }
  return b;
}

export function decodeEntries(b: Buffer, what: string): TimeEntry[] {
  try {
    const n = b.readUInt32BE(0);
    const out: TimeEntry[] = [];
    let o = 4;
    for (let i = 0; i < n; i++) {
      const t = b.readDoubleBE(o);
      const len = b.readUInt32BE(o + 8);
      o += 12;
      if (o + len > b.length) throw new RangeError('short');
      out.push({ t, value: new Uint8Array(b.subarray(o, o + len)) });
      o += len;
    }
    return out;
  } catch (err) {
    throw new StorageError(`${what} is corrupt`, { code: 'STORAGE_CORRUPT', cause: err });
  }
}

function copy(e: TimeEntry): TimeEntry {
  return { t: e.t, value: new Uint8Array(e.value) };
}

/** Small segments this store merges into one, so listings stay short under unbatched appends. */
export const COMPACT_EVERY = 32;
const COMPACT_MAX_BYTES = 4 * 1024 * 1024;
/** A merged segment keeps absorbing runs until it holds this many entries (then a new one starts). */
export const FULL_SEGMENT_ENTRIES = 1024;

/**
 * Offsets as batched segment objects: I/O hooks only (storage-api applies the policy). The
 * listing of `seg/` is the index (keys carry the first and last time), so get/floor/lookUp
 * cost one LIST page plus one to three GETs.
 */
export class S3OffsetStore implements OffsetBackend {
  readonly #dir: string;
  readonly #epoch: EpochRecord;
  /** Last stored entry as this process knows it; undefined = read it from the store. */
  #last: TimeEntry | null | undefined;
  /** Recent small segments written here, merged every COMPACT_EVERY. */
  #run: Array<{ key: string; entries: TimeEntry[]; bytes: number }> = [];
  /** The last merged segment while it is not full: the next merge absorbs it, so merged segments do not pile up either. */
  #tail: { key: string; entries: TimeEntry[]; bytes: number } | undefined;

  constructor(private readonly sh: Shared, base: string, readonly name: string) {
    this.#dir = `${base}seg/`;
    this.#epoch = new EpochRecord(sh.io, `${base}epoch.json`, name);
  }

  async segments(signal?: AbortSignal): Promise<Seg[]> {
    const keys = await this.sh.io.listKeys(this.#dir, signal);
    const out: Seg[] = [];
    for (const key of keys) {
      const m = SEG_RE.exec(key.slice(this.#dir.length));
      if (m) out.push({ key, first: Number(m[1]), last: Number(m[2]) });
    }
    return out.sort((a, b) => a.first - b.first || a.last - b.last);
  }

  async load(seg: Seg, signal?: AbortSignal): Promise<TimeEntry[]> {
    const hit = this.sh.cache.get(seg.key) as TimeEntry[] | undefined;
    if (hit) return hit;
    const r = await this.sh.io.getBytes(seg.key, signal);
    // Vanished under a concurrent truncate/compaction: treat as empty, the survivors hold the data.
    if (!r) return [];
    const entries = decodeEntries(r.body, `offset segment ${seg.key}`);
    this.sh.cache.set(seg.key, entries, r.body.length);
    return entries;
  }

  async get(t: number, o: OpOptions = {}): Promise<TimeEntry | undefined> {
    for (const s of (await this.segments(o.signal)).filter((x) => x.first <= t && t <= x.last)) {
      const e = (await this.load(s, o.signal)).find((x) => x.t === t);
      if (e) return copy(e);
    }
    return undefined;
  }

  async floor(t: number, o: OpOptions = {}): Promise<TimeEntry | undefined> {
    return this.#floorIn(await this.segments(o.signal), t, o.signal);
  }

  async #floorIn(segs: Seg[], t: number, signal?: AbortSignal): Promise<TimeEntry | undefined> {
    const cands = segs.filter((s) => s.first <= t).sort((a, b) => Math.min(b.last, t) - Math.min(a.last, t));
    let best: TimeEntry | undefined;
    for (const s of cands) {
      if (best && Math.min(s.last, t) <= best.t) break;
      const a = await this.load(s, signal);
      const i = lowerBound(a, t + 1);
      if (i > 0 && (!best || a[i - 1]!.t > best.t)) best = a[i - 1];
    }
    return best && copy(best);
  }

  async #ceilingIn(segs: Seg[], t: number, signal?: AbortSignal): Promise<TimeEntry | undefined> {
    const cands = segs.filter((s) => s.last >= t).sort((a, b) => Math.max(a.first, t) - Math.max(b.first, t));
    let best: TimeEntry | undefined;
    for (const s of cands) {
      if (best && Math.max(s.first, t) >= best.t) break;
      const a = await this.load(s, signal);
      const e = a[lowerBound(a, t)];
      if (e && (!best || e.t < best.t)) best = e;
    }
    return best && copy(best);
  }

  async lookUp(t: number, o: OpOptions = {}): Promise<LookUpResult<TimeEntry>> {
    const segs = await this.segments(o.signal);
    return resolveLookUp(t, () => this.#ceilingIn(segs, 0, o.signal), () => this.#floorIn(segs, Number.MAX_SAFE_INTEGER, o.signal), (x) => this.#ceilingIn(segs, x, o.signal));
  }

  async first(o: OpOptions = {}): Promise<TimeEntry | undefined> {
    return this.#ceilingIn(await this.segments(o.signal), 0, o.signal);
  }

  async last(o: OpOptions = {}): Promise<TimeEntry | undefined> {
    return this.#floorIn(await this.segments(o.signal), Number.MAX_SAFE_INTEGER, o.signal);
  }

  async range(from: number, to: number, o: OpOptions & { limit?: number } = {}): Promise<TimeEntry[]> {
    const limit = o.limit ?? 10_000;
    const segs = (await this.segments(o.signal)).filter((s) => s.last >= from && s.first < to);
    const byT = new Map<number, TimeEntry>();
    for (let i = 0; i < segs.length; i++) {
      for (const e of await this.load(segs[i]!, o.signal)) if (e.t >= from && e.t < to && !byT.has(e.t)) byT.set(e.t, e);
      // Segments are sorted by first time: once `limit` entries precede the next one, stop reading.
      const next = segs[i + 1]?.first ?? Number.POSITIVE_INFINITY;
      let settled = 0;
      for (const t of byT.keys()) if (t < next) settled++;
      if (settled >= limit) break;
    }
    return [...byT.values()].sort((a, b) => a.t - b.t).slice(0, limit).map(copy);
  }

  async ceiling(t: number, o: OpOptions = {}): Promise<TimeEntry | undefined> {
    return this.#ceilingIn(await this.segments(o.signal), t, o.signal);
  }

  async currentEpoch(o: OpOptions = {}): Promise<number> {
    return (await this.#epoch.current(o.signal)).epoch;
  }

  async openEpoch(epoch: number, decide: (current: number) => void, o: OpOptions = {}): Promise<void> {
    this.sh.requireSafeWrites(`offsets ${this.name}: opening a writer`);
    await this.#epoch.open(epoch, decide, o.signal);
    // A new writer learns the last entry from the store, not from an earlier writer here.
    this.#last = undefined;
    this.#run = [];
    this.#tail = undefined;
  }

  // Epoch read (one GET) and the segment PUT: a zombie's write in flight when a higher
  // epoch opens can still land (no multi-object CAS on S3), a later one cannot.
  async append(_firstT: number, plan: (state: OffsetState) => TimeEntry[], o: OpOptions = {}): Promise<void> {
    const { epoch } = await this.#epoch.current(o.signal);
    if (this.#last === undefined) this.#last = (await this.last({ signal: o.signal })) ?? null;
    const stored = plan({ epoch, last: this.#last ?? undefined }).map(copy);
    if (stored.length === 0) return;
    const key = `${this.#dir}${pad(stored[0]!.t)}-${pad(stored[stored.length - 1]!.t)}-${randomUUID()}`;
    const body = encodeEntries(stored);
    try {
      await this.sh.io.put(key, body, o.signal);
    } catch (err) {
      this.#last = undefined; // outcome unknown: learn it from the store next time
      throw err;
    }
    this.sh.cache.set(key, stored, body.length);
    this.#last = stored[stored.length - 1]!;
    const bytes = stored.reduce((n, e) => n + e.value.byteLength + 12, 0);
    if (bytes < COMPACT_MAX_BYTES / COMPACT_EVERY) {
      this.#run.push({ key, entries: stored, bytes });
      if (this.#run.length >= COMPACT_EVERY) await this.#compact(o.signal);
    }
  }

  /**
   * Writes the merged segment first, then deletes the small ones: readers dedupe by time,
   * so the overlap in between (or after a crash) shows identical entries once.
   */
  async #compact(signal?: AbortSignal): Promise<void> {
    const run = this.#tail ? [this.#tail, ...this.#run] : this.#run;
    const all = run.flatMap((r) => r.entries).sort((a, b) => a.t - b.t);
    try {
      const key = `${this.#dir}${pad(all[0]!.t)}-${pad(all[all.length - 1]!.t)}-${randomUUID()}`;
      const body = encodeEntries(all);
      await this.sh.io.put(key, body, signal);
      this.sh.cache.set(key, all, body.length);
      this.#run = [];
      const bytes = run.reduce((n, r) => n + r.bytes, 0);
      this.#tail = all.length < FULL_SEGMENT_ENTRIES && bytes < COMPACT_MAX_BYTES ? { key, entries: all, bytes } : undefined;
      await this.sh.io.deleteMany(run.map((r) => r.key), signal);
      for (const r of run) this.sh.cache.delete(r.key);
    } catch (err) {
      // The appends are durable already; compaction is retried at the next threshold.
      this.sh.context.logger.warn({ store: this.name, err: (err as Error).message }, 'offset segment compaction failed');
    }
  }

  async truncate(side: 'before' | 'after', t: number, check: (current: number) => void, o: OpOptions = {}): Promise<number> {
    check((await this.#epoch.current(o.signal)).epoch);
    this.#run = [];
    this.#tail = undefined;
    try {
      return await this.#truncate(t, side, o.signal);
    } finally {
      this.#last = undefined;
    }
  }

  /**
   * Writes the kept part of a straddling segment first, then deletes from the far end
   * inwards: an interrupted truncate leaves a state equal to a milder truncate.
   */
  async #truncate(t: number, side: 'after' | 'before', signal?: AbortSignal): Promise<number> {
    const gone = (x: number): boolean => (side === 'after' ? x > t : x < t);
    const segs = await this.segments(signal);
    const removed = new Set<number>();
    const doomed: Seg[] = [];
    for (const s of segs) {
      if (!gone(s.last) && !gone(s.first)) continue;
      const entries = await this.load(s, signal);
      const kept = entries.filter((e) => !gone(e.t));
      for (const e of entries) if (gone(e.t)) removed.add(e.t);
      if (kept.length > 0) {
        const key = `${this.#dir}${pad(kept[0]!.t)}-${pad(kept[kept.length - 1]!.t)}-${randomUUID()}`;
        const body = encodeEntries(kept);
        await this.sh.io.put(key, body, signal);
        this.sh.cache.set(key, kept, body.length);
      }
      doomed.push(s);
    }
    doomed.sort((a, b) => (side === 'after' ? b.first - a.first : a.last - b.last));
    for (const s of doomed) {
      await this.sh.io.delete(s.key, signal);
      this.sh.cache.delete(s.key);
    }
    return removed.size;
  }
}
