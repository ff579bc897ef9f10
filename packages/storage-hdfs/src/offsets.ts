import type { LookUpResult, OffsetBackend, OffsetState, OpOptions, TimeEntry } from '@sluice/storage-api';
import { StorageError, LIMITS } from '@sluice/storage-api';
import type { HdfsCtx } from './context.js';
import type { FileStatus } from './client.js';
import { checkSameMarker, maxEpoch, openEpoch } from './epochs.js';
import { ImmutableCache, commitFile, removeQuietly } from './files.js';
import { decodeSegment, encodeSegment, liveSegments, segmentCeil, segmentName, type Segment } from './segments.js';

/** Below this many live segments an append writes one more; at it, small trailing ones are merged. */
export const COMPACT_AT_SEGMENTS = 32;
/** A segment with this many entries is left alone by compaction (bounds its rewriting). */
export const FULL_SEGMENT_ENTRIES = 1024;

/**
 * Offsets as immutable segment files (see segments.ts): I/O hooks only, storage-api applies
 * the policy. Every hook starts with one LISTSTATUS, which also yields the epoch markers.
 *
 * Race window (README): HDFS has no compare-and-set across two paths, so a write whose
 * epoch check passed can still land after a higher epoch's marker appears; at most the one
 * write in flight per zombie writer gets through, never a later one.
 */
export class HdfsOffsetStore implements OffsetBackend {
  readonly #dir: string;
  readonly #cache = new ImmutableCache<TimeEntry[]>(64);

  constructor(private readonly ctx: HdfsCtx, readonly name: string) {
    this.#dir = `${ctx.appDir}/offsets/${name}`;
  }

  async #index(signal?: AbortSignal) {
    const list = await this.ctx.client.list(this.#dir, signal);
    return { list, epoch: maxEpoch(list), ...liveSegments(list) };
  }

  async #load(seg: Segment, signal?: AbortSignal): Promise<TimeEntry[]> {
    const key = this.#cache.key(this.#dir, seg.status);
    const hit = this.#cache.get(key);
    if (hit) return hit;
    let buf: Buffer;
    try {
      buf = await this.ctx.client.readAll(`${this.#dir}/${seg.name}`, signal);
    } catch (err) {
      // Removed by a concurrent truncation between our list and our read.
      if ((err as StorageError).code === 'STORAGE_NOT_FOUND') return [];
      throw err;
    }
    const entries = decodeSegment(buf, `offsets ${this.name} segment ${seg.name}`);
    this.#cache.set(key, entries);
    return entries;
  }

  async get(t: number, o: OpOptions = {}): Promise<TimeEntry | undefined> {
    const { live } = await this.#index(o.signal);
    const seg = live[segmentCeil(live, t)];
    if (!seg || seg.first > t) return undefined;
    return (await this.#load(seg, o.signal)).find((e) => e.t === t);
  }

  async floor(t: number, o: OpOptions = {}): Promise<TimeEntry | undefined> {
    const { live } = await this.#index(o.signal);
    let i = segmentCeil(live, t);
    if (i === live.length || live[i]!.first > t) i--;
    if (i < 0) return undefined;
    const entries = await this.#load(live[i]!, o.signal);
    for (let k = entries.length - 1; k >= 0; k--) if (entries[k]!.t <= t) return entries[k];
    return undefined;
  }

  async ceiling(t: number, o: OpOptions = {}): Promise<TimeEntry | undefined> {
    const { live } = await this.#index(o.signal);
    const seg = live[segmentCeil(live, t)];
    return seg && (await this.#load(seg, o.signal)).find((e) => e.t >= t);
  }

  // One listing for every probe (resolveLookUp would list three times).
  async lookUp(t: number, o: OpOptions = {}): Promise<LookUpResult<TimeEntry>> {
    const { live } = await this.#index(o.signal);
    if (live.length === 0) return { status: 'empty' };
    if (t < live[0]!.first) {
      const min = (await this.#load(live[0]!, o.signal))[0];
      return min ? { status: 'underflow', min } : { status: 'empty' };
    }
    const lastSeg = live[live.length - 1]!;
    if (t > lastSeg.last) {
      const e = await this.#load(lastSeg, o.signal);
      const max = e[e.length - 1];
      return max ? { status: 'overflow', max } : { status: 'empty' };
    }
    const seg = live[segmentCeil(live, t)]!;
    const entry = (await this.#load(seg, o.signal)).find((e) => e.t >= t);
    if (entry) return { status: 'found', entry };
    const e = await this.#load(lastSeg, o.signal);
    return e.length ? { status: 'overflow', max: e[e.length - 1]! } : { status: 'empty' };
  }

  async first(o: OpOptions = {}): Promise<TimeEntry | undefined> {
    const { live } = await this.#index(o.signal);
    return live[0] && (await this.#load(live[0], o.signal))[0];
  }

  async last(o: OpOptions = {}): Promise<TimeEntry | undefined> {
    const { live } = await this.#index(o.signal);
    const seg = live[live.length - 1];
    if (!seg) return undefined;
    const e = await this.#load(seg, o.signal);
    return e[e.length - 1];
  }

  async range(from: number, to: number, o: OpOptions & { limit?: number } = {}): Promise<TimeEntry[]> {
    const { live } = await this.#index(o.signal);
    const limit = o.limit ?? LIMITS.maxLimit;
    const out: TimeEntry[] = [];
    for (let i = segmentCeil(live, from); i < live.length && live[i]!.first < to && out.length < limit; i++) {
      for (const e of await this.#load(live[i]!, o.signal)) {
        if (e.t >= from && e.t < to && out.length < limit) out.push(e);
      }
    }
    return out;
  }

  async currentEpoch(o: OpOptions = {}): Promise<number> {
    return (await this.#index(o.signal)).epoch;
  }

  /** Inode ids of the epoch markers this handle opened writers with (see checkSameMarker). */
  readonly #markers = new Map<number, number | undefined>();

  async openEpoch(epoch: number, decide: (current: number) => void, o: OpOptions = {}): Promise<void> {
    this.#markers.set(epoch, await openEpoch(this.ctx, this.#dir, epoch, decide, o.signal));
  }

  /** Fails if a marker this handle opened with was replaced: the app was deleted and re-created. */
  #checkSameApp(list: FileStatus[] | undefined): void {
    for (const [epoch, id] of this.#markers) checkSameMarker(this.name, list, epoch, id);
  }

  async append(firstT: number, plan: (state: OffsetState) => TimeEntry[], o: OpOptions = {}): Promise<void> {
    const idx = await this.#index(o.signal);
    this.#checkSameApp(idx.list);
    const lastSeg = idx.live[idx.live.length - 1];
    let last: OffsetState['last'];
    if (lastSeg && firstT <= lastSeg.last) {
      // Only a batch reaching back to the last time needs its value (a retry of it).
      const prev = await this.#load(lastSeg, o.signal);
      last = prev[prev.length - 1];
      // The segment vanished between list and read: a concurrent truncation; look again.
      if (!last) throw new StorageError(`offsets ${this.name}: the store changed while appending`, { code: 'STORAGE_UNAVAILABLE', transient: true });
    } else if (lastSeg) last = { t: lastSeg.last };
    const add = plan({ epoch: idx.epoch, last });
    if (add.length === 0) return;
    const path = `${this.#dir}/${segmentName(add[0]!.t, add[add.length - 1]!.t, add.length, idx.gen)}`;
    const bytes = encodeSegment(add);
    try {
      await commitFile(this.ctx, path, bytes, 'create-only', o.signal);
    } catch (err) {
      if ((err as StorageError).code !== 'STORAGE_ALREADY_EXISTS') throw err;
      // Same segment already there: ours (a lost answer) if the bytes match.
      const existing = await this.ctx.client.readAll(path, o.signal);
      if (!existing.equals(bytes)) throw err;
    }
    if (idx.live.length + 1 >= COMPACT_AT_SEGMENTS) await this.#compact(o.signal);
  }

  /**
   * Merges the small trailing segments into one file of a higher generation, then deletes
   * them: listings and lookups stay flat however the appends were batched. A failure
   * leaves the appends durable (compaction runs again at the next append).
   */
  async #compact(signal?: AbortSignal): Promise<void> {
    try {
      const { live, stale, gen } = await this.#index(signal);
      await this.#removeStale(stale);
      let i = live.length;
      while (i > 0 && live[i - 1]!.count < FULL_SEGMENT_ENTRIES) i--;
      const small = live.slice(i);
      if (small.length < 2) return;
      const entries: TimeEntry[] = [];
      for (const s of small) entries.push(...(await this.#load(s, signal)));
      await this.#write(entries, gen + 1, signal);
      for (const s of small) await removeQuietly(this.ctx, `${this.#dir}/${s.name}`);
    } catch (err) {
      this.ctx.logger.warn({ store: this.name, err: (err as Error).message }, 'offset segment compaction failed');
    }
  }

  async #write(entries: TimeEntry[], gen: number, signal?: AbortSignal): Promise<void> {
    if (entries.length === 0) return;
    const path = `${this.#dir}/${segmentName(entries[0]!.t, entries[entries.length - 1]!.t, entries.length, gen)}`;
    try {
      await commitFile(this.ctx, path, encodeSegment(entries), 'create-only', signal);
    } catch (err) {
      if ((err as StorageError).code !== 'STORAGE_ALREADY_EXISTS') throw err;
    }
  }

  async #removeStale(stale: Segment[]): Promise<void> {
    for (const s of stale) await removeQuietly(this.ctx, `${this.#dir}/${s.name}`);
  }

  /**
   * Stale copies go first (so none can resurface once the files overlapping them are
   * gone), then whole segments on the far side of t; a straddling one is rewritten under a
   * higher generation before its original is deleted.
   */
  async truncate(side: 'before' | 'after', t: number, check: (current: number) => void, o: OpOptions = {}): Promise<number> {
    const { list, live, stale, epoch, gen } = await this.#index(o.signal);
    this.#checkSameApp(list);
    check(epoch);
    await this.#removeStale(stale);
    const gone = (x: number): boolean => (side === 'after' ? x > t : x < t);
    let n = 0;
    for (const seg of side === 'after' ? [...live].reverse() : live) {
      if (!gone(seg.first) && !gone(seg.last)) break;
      if (gone(seg.first) && gone(seg.last)) {
        await this.ctx.client.delete(`${this.#dir}/${seg.name}`, false, o.signal);
        n += seg.count;
        continue;
      }
      const entries = await this.#load(seg, o.signal);
      const keep = entries.filter((e) => !gone(e.t));
      await this.#write(keep, gen + 1, o.signal);
      await this.ctx.client.delete(`${this.#dir}/${seg.name}`, false, o.signal);
      n += entries.length - keep.length;
    }
    return n;
  }
}
