// Offsets: immutable segment files named by first and last time, count and generation
// (`s.<first 20>.<last 20>.<count>[.<gen>]`) so ONE LISTSTATUS of the store directory
// locates the segment holding any t, and ONE OPEN reads it. Every rewrite (a truncation's
// shortened copy, a compaction's merged file) is written under a higher generation first,
// then the files it replaces are deleted; a reader that sees both keeps the newer
// generation and ignores what it overlaps (stale). Appends carry the current generation.
import type { TimeEntry } from '@sluice/storage-api';
import { StorageError } from '@sluice/storage-api';
import type { FileStatus } from './client.js';

export interface Segment {
  name: string;
  first: number;
  last: number;
  count: number;
  gen: number;
  status: FileStatus;
}

const SEG_RE = /^s\.(\d{20})\.(\d{20})\.(\d+)(?:\.(\d+))?$/;

export function segmentName(first: number, last: number, count: number, gen: number): string {
  return `s.${first.toString().padStart(20, '0')}.${last.toString().padStart(20, '0')}.${count}${gen > 0 ? `.${gen}` : ''}`;
}

/**
 * Live segments in time order, and the stale ones (overlapped by a newer generation, or,
 * within one generation, by a shorter copy: files written before generations existed).
 */
export function liveSegments(list: FileStatus[] | undefined): { live: Segment[]; stale: Segment[]; gen: number } {
  const all: Segment[] = [];
  for (const s of list ?? []) {
    const m = SEG_RE.exec(s.pathSuffix);
    if (m && s.type === 'FILE') all.push({ name: s.pathSuffix, first: Number(m[1]), last: Number(m[2]), count: Number(m[3]), gen: Number(m[4] ?? 0), status: s });
  }
  all.sort((a, b) => b.gen - a.gen || a.count - b.count || a.first - b.first);
  const live: Segment[] = [];
  const stale: Segment[] = [];
  for (const s of all) {
    // Live segments are disjoint: binary search the one that could overlap.
    const i = segmentCeil(live, s.first);
    if (i < live.length && live[i]!.first <= s.last) stale.push(s);
    else live.splice(i, 0, s);
  }
  return { live, stale, gen: all[0]?.gen ?? 0 };
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
