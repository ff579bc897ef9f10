import type { BlobVersions } from './executor-blobs.js';

/** A switch decided by the AppMaster: from event time `from` on, use `versions`. */
export interface BlobSwitch {
  id: number;
  from: number;
  versions: BlobVersions;
}

/**
 * An executor's view of blob switches. The initial versions apply from -Infinity; a switch
 * is first `pending` (prepared: no local task or source may reach its boundary, see cap())
 * and becomes `released` when every executor accepted it, or is dropped on abort.
 */
export class BlobSchedule {
  readonly released: BlobSwitch[];
  pending: BlobSwitch | undefined;

  constructor(initial: BlobVersions) {
    this.released = [{ id: 0, from: -Infinity, versions: { ...initial } }];
  }

  /** While a switch is pending, clocks stay below its boundary (undefined: no cap). */
  cap(): number | undefined {
    return this.pending?.from;
  }

  release(id: number): BlobSwitch | undefined {
    const p = this.pending;
    if (!p || p.id !== id) return undefined;
    this.pending = undefined;
    this.released.push(p);
    this.released.sort((a, b) => a.from - b.from);
    return p;
  }

  abort(id: number): void {
    if (this.pending?.id === id) this.pending = undefined;
  }

  /** Released switches with lo < from <= hi, oldest first. */
  between(lo: number, hi: number): BlobSwitch[] {
    return this.released.filter((s) => s.from > lo && s.from <= hi);
  }

  /** The versions for messages at or after t (recorded in the checkpoint at t). */
  versionsAt(t: number): BlobVersions {
    const out: BlobVersions = {};
    for (const s of this.released) if (s.from <= t) Object.assign(out, s.versions);
    return out;
  }
}
