// Offsets: one immutable segment file per append/appendBatch, named by its first and
// last time (`s.<first 20>.<last 20>.<count>`) so ONE LISTSTATUS of the store directory
// locates the segment holding any t, and ONE OPEN reads it. Truncation writes the
// shortened segment under a new name first, then deletes the old one; a reader that
// sees both ignores the wider (stale) one.
import type { TimeEntry } from '@sluice/storage-api';
import { StorageError } from '@sluice/storage-api';
import type { FileStatus } from './client.js';

export interface Segment {
  name: string;
  first: number;
  last: number;
  count: number;
  status: FileStatus;
}

const SEG_RE = /^s\.(\d{20})\.(\d{20})\.(\d+)$/;

export function segmentName(first: number, last: number, count: number): string {
  return `s.${first.toString().padStart(20, '0')}.${last.toString().padStart(20, '0')}.${count}`;
}

/** Live segments in time order, with stale pre-truncation copies removed. */
export function liveSegments(list: FileStatus[] | undefined): { live: Segment[]; stale: Segment[] } {
  const all: Segment[] = [];
  for (const s of list ?? []) {
    const m = SEG_RE.exec(s.pathSuffix);
    if (m && s.type === 'FILE') all.push({ name: s.pathSuffix, first: Number(m[1]), last: Number(m[2]), count: Number(m[3]), status: s });
  }
  // Same first: the shorter one is the result of truncateAfter. Same last: the later
  // first is the result of truncateBefore.
  const byFirst = new Map<number, Segment>();
  const stale: Segment[] = [];
  for (const s of all) {
    const o = byFirst.get(s.first);
    if (!o) byFirst.set(s.first, s);
    else if (s.last < o.last) {
      byFirst.set(s.first, s);
      stale.push(o);
    }
    else stale.push(s);
  }
  const byLast = new Map<number, Segment>();
  for (const s of byFirst.values()) {
    const o = byLast.get(s.last);
    if (!o) byLast.set(s.last, s);
    else if (s.first > o.first) {
      byLast.set(s.last, s);
      stale.push(o);
    }
    else stale.push(s);
  }
  const live = [...byLast.values()].sort((a, b) => a.first - b.first);
  return { live, stale };
}

export function encodeSegment(entries: TimeEntry[]): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, e: entries.map((e) => [e.t, Buffer.from(e.value).toString('base64')]) }));
}

export function decodeSegment(buf: Buffer, what: string): TimeEntry[] {
  try {
    const j = JSON.parse(buf.toString('utf8')) as { v: number; e: Array<[number, string]> };
    return j.e.map(([t, b]) => ({ t, value: new Uint8Array(Buffer.from(b, 'base64')) }));
  } catch (err) {
    throw new StorageError(`${what} is corrupt`, { code: 'STORAGE_CORRUPT', cause: err });
  }
}

/** Index of the first segment whose last ≥ t (segments sorted and disjoint). */
export function segmentCeil(segs: Segment[], t: number): number {
  let lo = 0;
  let hi = segs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segs[mid]!.last < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
