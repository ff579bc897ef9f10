import type { LookUpResult, OffsetStore, OffsetWriter, OpOptions, TimeEntry } from '@sluice/storage-api';
import { StorageError, bytesEqual, LIMITS } from '@sluice/storage-api';
import type { HdfsCtx } from './context.js';
import { checkEpoch, maxEpoch, openEpoch } from './epochs.js';
import { ImmutableCache, commitFile, removeQuietly } from './files.js';
import { decodeSegment, encodeSegment, liveSegments, segmentCeil, segmentName, type Segment } from './segments.js';

export class HdfsOffsetStore implements OffsetStore {
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

  async writer(epoch: number, o: OpOptions = {}): Promise<OffsetWriter> {
    await openEpoch(this.ctx, this.name, this.#dir, epoch, o.signal);
    const store = this;
    const fencedIndex = async (signal?: AbortSignal) => {
      const idx = await store.#index(signal);
      checkEpoch(store.name, idx.list, epoch);
      return idx;
    };
    const appendAll = async (entries: TimeEntry[], signal?: AbortSignal): Promise<void> => {
      const { live } = await fencedIndex(signal);
      const lastSeg = live[live.length - 1];
      let toAdd = entries;
      if (lastSeg && entries[0]!.t <= lastSeg.last) {
        const prev = await store.#load(lastSeg, signal);
        const last = prev[prev.length - 1];
        // The segment vanished between list and read: a concurrent truncation; look again.
        if (!last) throw new StorageError(`offsets ${store.name}: the store changed while appending`, { code: 'STORAGE_UNAVAILABLE', transient: true });
        const e0 = entries[0]!;
        // Re-appending exactly the last entry is a no-op (retry after a lost answer).
        if (e0.t === last.t && bytesEqual(e0.value, last.value)) toAdd = entries.slice(1);
        else throw outOfOrder(store.name, e0.t, last.t);
      }
      if (toAdd.length === 0) return;
      const first = toAdd[0]!.t;
      const lastT = toAdd[toAdd.length - 1]!.t;
      const path = `${store.#dir}/${segmentName(first, lastT, toAdd.length)}`;
      const bytes = encodeSegment(toAdd);
      try {
        await commitFile(store.ctx, path, bytes, 'create-only', signal);
      } catch (err) {
        if ((err as StorageError).code !== 'STORAGE_ALREADY_EXISTS') throw err;
        // Same segment already there: ours (lost answer) if the bytes match.
        const existing = await store.ctx.client.readAll(path, signal);
        if (!existing.equals(bytes)) throw outOfOrder(store.name, first, lastT);
      }
    };
    const rewrite = async (seg: Segment, keep: TimeEntry[], signal?: AbortSignal): Promise<void> => {
      if (keep.length > 0) {
        const path = `${store.#dir}/${segmentName(keep[0]!.t, keep[keep.length - 1]!.t, keep.length)}`;
        try {
          await commitFile(store.ctx, path, encodeSegment(keep), 'create-only', signal);
        } catch (err) {
          if ((err as StorageError).code !== 'STORAGE_ALREADY_EXISTS') throw err;
        }
      }
      await store.ctx.client.delete(`${store.#dir}/${seg.name}`, false, signal);
    };
    return {
      epoch,
      append: (t, value, o2 = {}) => appendAll([{ t, value }], o2.signal),
      appendBatch: (entries, o2 = {}) => appendAll(entries, o2.signal),
      truncateAfter: async (t, o2 = {}) => {
        const { live, stale } = await fencedIndex(o2.signal);
        let n = 0;
        for (const seg of [...live].reverse()) {
          if (seg.last <= t) break;
          if (seg.first > t) {
            await store.ctx.client.delete(`${store.#dir}/${seg.name}`, false, o2.signal);
            n += seg.count;
          } else {
            const entries = await store.#load(seg, o2.signal);
            const keep = entries.filter((e) => e.t <= t);
            await rewrite(seg, keep, o2.signal);
            n += entries.length - keep.length;
          }
        }
        for (const s of stale) await removeQuietly(store.ctx, `${store.#dir}/${s.name}`);
        return n;
      },
      truncateBefore: async (t, o2 = {}) => {
        const { live, stale } = await fencedIndex(o2.signal);
        let n = 0;
        for (const seg of live) {
          if (seg.first >= t) break;
          if (seg.last < t) {
            await store.ctx.client.delete(`${store.#dir}/${seg.name}`, false, o2.signal);
            n += seg.count;
          } else {
            const entries = await store.#load(seg, o2.signal);
            const keep = entries.filter((e) => e.t >= t);
            await rewrite(seg, keep, o2.signal);
            n += entries.length - keep.length;
          }
        }
        for (const s of stale) await removeQuietly(store.ctx, `${store.#dir}/${s.name}`);
        return n;
      },
    };
  }
}

export { outOfOrderError as outOfOrder } from '@sluice/storage-api';
import { outOfOrderError as outOfOrder } from '@sluice/storage-api';
