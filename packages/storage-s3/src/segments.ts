import { StorageError } from '@sluice/storage-api';
import { mapLimit, parseSegmentKey, segmentKey, type SegmentRef } from './keys.js';
import type { Shared } from './shared.js';

/**
 * A folder of immutable JSON segment objects keyed `<min>_<max>_<id>.json` (times of the
 * rows inside). Used by logs and metrics: a query lists once and reads only overlapping
 * segments; retention rewrites a straddling segment under the same id, then deletes.
 */
export class SegmentDir<R> {
  constructor(private readonly sh: Shared, readonly dir: string, private readonly timeOf: (r: R) => number) {}

  async list(signal?: AbortSignal): Promise<SegmentRef[]> {
    const out: SegmentRef[] = [];
    for (const k of await this.sh.io.listKeys(this.dir, signal)) {
      const s = parseSegmentKey(this.dir, k);
      if (s) out.push(s);
    }
    return out;
  }

  /** Segments overlapping [from, to); a rewritten segment shadows its original (same id, later min). */
  async overlapping(from: number, to: number, signal?: AbortSignal): Promise<SegmentRef[]> {
    const byId = new Map<string, SegmentRef>();
    for (const s of await this.list(signal)) {
      const prev = byId.get(s.id);
      if (!prev || s.min > prev.min || (s.min === prev.min && s.max < prev.max)) byId.set(s.id, s);
    }
    return [...byId.values()].filter((s) => s.max >= from && s.min < to).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async read(s: SegmentRef, signal?: AbortSignal): Promise<R[]> {
    const hit = this.sh.cache.get(s.key) as R[] | undefined;
    if (hit) return hit;
    const r = await this.sh.io.getBytes(s.key, signal);
    if (!r) return []; // retired meanwhile
    let rows: unknown;
    try {
      rows = JSON.parse(r.body.toString('utf8'));
    } catch (err) {
      throw new StorageError(`segment ${s.key} is corrupt`, { code: 'STORAGE_CORRUPT', cause: err });
    }
    if (!Array.isArray(rows)) throw new StorageError(`segment ${s.key} is corrupt`, { code: 'STORAGE_CORRUPT' });
    this.sh.cache.set(s.key, rows, r.body.length);
    return rows as R[];
  }

  async readAll(segs: SegmentRef[], signal?: AbortSignal): Promise<Array<{ seg: SegmentRef; rows: R[] }>> {
    return mapLimit(segs, 8, async (seg) => ({ seg, rows: await this.read(seg, signal) }));
  }

  /** One PUT. */
  async write(rows: R[], signal?: AbortSignal, id = this.sh.ids.next(this.sh.context.now())): Promise<SegmentRef> {
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (const r of rows) {
      const t = this.timeOf(r);
      if (t < min) min = t;
      if (t > max) max = t;
    }
    const key = segmentKey(this.dir, min, max, id);
    const body = JSON.stringify(rows);
    await this.sh.io.put(key, body, signal);
    this.sh.cache.set(key, rows, body.length);
    return { key, min, max, id };
  }

  /**
   * Removes rows with time < t: whole segments go, straddling ones are rewritten first.
   * `count` gets the removed rows of each touched segment and returns how many to report.
   */
  async deleteBefore(t: number, signal?: AbortSignal, onRemoved?: (rows: R[]) => void): Promise<number> {
    let n = 0;
    const doomed: string[] = [];
    for (const s of await this.overlapping(0, t, signal)) {
      const rows = await this.read(s, signal);
      const kept = rows.filter((r) => this.timeOf(r) >= t);
      const removed = rows.filter((r) => this.timeOf(r) < t);
      n += removed.length;
      onRemoved?.(removed);
      if (kept.length > 0) await this.write(kept, signal, s.id);
      doomed.push(s.key);
    }
    // Originals of rewritten segments and wholly expired ones.
    const all = await this.list(signal);
    const gone = new Set(doomed);
    await this.sh.io.deleteMany(all.filter((s) => gone.has(s.key)).map((s) => s.key), signal);
    for (const k of doomed) this.sh.cache.delete(k);
    return n;
  }
}
