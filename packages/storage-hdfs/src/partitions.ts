// Time-partitioned immutable segments for logs and metrics: one directory per hour
// (`<hour start ms, padded 20>`), one file per append batch and hour, named
// `<min ts 20>.<max ts 20>.<count>.<id>`. Names are the index: a query lists only the
// hours it covers and opens only segments whose [min, max] overlaps it. Retention
// deletes whole hours and rewrites the one straddling hour (new file with the same id
// first, then the old one: a reader that sees both keeps the one with the larger min).
import { randomUUID } from 'node:crypto';
import type { OpOptions } from '@sluice/storage-api';
import type { FileStatus, WebHdfsClient } from './client.js';
import { commitFile, committed, pad, removeQuietly, type FileOps } from './files.js';

export const HOUR_MS = 3_600_000;
const SEG_RE = /^(\d{20})\.(\d{20})\.(\d+)\.([0-9a-z-]+)$/;
const HOUR_RE = /^\d{20}$/;

export interface PSeg {
  hour: number;
  name: string;
  min: number;
  max: number;
  count: number;
  id: string;
  status: FileStatus;
}

let counter = 0;
/** Arrival-ordered id: wall clock ms, then a per-process counter, then randomness. */
export function newSegmentId(now: number): string {
  counter = (counter + 1) % 1_000_000;
  return `${now.toString().padStart(15, '0')}-${counter.toString().padStart(6, '0')}-${randomUUID().slice(0, 8)}`;
}

export function hourOf(ts: number): number {
  return Math.floor(ts / HOUR_MS) * HOUR_MS;
}

export class Partitions {
  constructor(private readonly ops: FileOps, readonly base: string) {}

  get client(): WebHdfsClient {
    return this.ops.client;
  }

  async hours(signal?: AbortSignal): Promise<FileStatus[]> {
    return ((await this.client.list(this.base, signal)) ?? []).filter((s) => s.type === 'DIRECTORY' && HOUR_RE.test(s.pathSuffix));
  }

  async segments(hour: number, signal?: AbortSignal): Promise<PSeg[]> {
    return liveSegs(hour, await this.client.list(`${this.base}/${pad(hour)}`, signal)).live;
  }

  path(seg: { hour: number; name: string }): string {
    return `${this.base}/${pad(seg.hour)}/${seg.name}`;
  }

  /** Writes one segment per hour the items span; each commit is create-only. */
  async write<T>(items: T[], tsOf: (x: T) => number, encode: (xs: T[]) => Buffer, id: string, o: OpOptions = {}): Promise<void> {
    const byHour = new Map<number, T[]>();
    for (const x of items) {
      const h = hourOf(tsOf(x));
      let a = byHour.get(h);
      if (!a) byHour.set(h, (a = []));
      a.push(x);
    }
    await Promise.all(
      [...byHour].map(async ([hour, xs]) => {
        let min = Infinity;
        let max = -Infinity;
        for (const x of xs) {
          min = Math.min(min, tsOf(x));
          max = Math.max(max, tsOf(x));
        }
        await commitFile(this.ops, this.path({ hour, name: `${pad(min)}.${pad(max)}.${xs.length}.${id}` }), encode(xs), 'create-only', o.signal);
      }),
    );
  }

  /**
   * Retention: deletes items with ts < t. `load`/`encode` rewrite the straddling
   * segments. Returns the number of items removed.
   */
  async deleteBefore<T>(t: number, load: (s: PSeg) => Promise<T[]>, tsOf: (x: T) => number, encode: (xs: T[]) => Buffer, o: OpOptions = {}): Promise<number> {
    let n = 0;
    for (const h of await this.hours(o.signal)) {
      const hour = Number(h.pathSuffix);
      if (hour >= t) continue;
      const { live, stale } = liveSegs(hour, await this.client.list(`${this.base}/${h.pathSuffix}`, o.signal));
      if (hour + HOUR_MS <= t) {
        for (const s of live) n += s.count;
        await this.client.delete(`${this.base}/${h.pathSuffix}`, true, o.signal);
        continue;
      }
      for (const s of live) {
        if (s.min >= t) continue;
        if (s.max < t) {
          await this.client.delete(this.path(s), false, o.signal);
          n += s.count;
          continue;
        }
        const keep = (await load(s)).filter((x) => tsOf(x) >= t);
        if (keep.length > 0) {
          let min = Infinity;
          for (const x of keep) min = Math.min(min, tsOf(x));
          try {
            await commitFile(this.ops, this.path({ hour, name: `${pad(min)}.${pad(s.max)}.${keep.length}.${s.id}` }), encode(keep), 'create-only', o.signal);
          } catch (err) {
            if ((err as { code?: string }).code !== 'STORAGE_ALREADY_EXISTS') throw err;
          }
        }
        await this.client.delete(this.path(s), false, o.signal);
        n += s.count - keep.length;
      }
      for (const s of stale) await removeQuietly(this.ops, this.path(s));
    }
    return n;
  }
}

export function liveSegs(hour: number, list: FileStatus[] | undefined): { live: PSeg[]; stale: PSeg[] } {
  const byId = new Map<string, PSeg>();
  const stale: PSeg[] = [];
  for (const s of committed(list)) {
    const m = SEG_RE.exec(s.pathSuffix);
    if (!m) continue;
    const seg: PSeg = { hour, name: s.pathSuffix, min: Number(m[1]), max: Number(m[2]), count: Number(m[3]), id: m[4]!, status: s };
    const o = byId.get(seg.id);
    if (!o) byId.set(seg.id, seg);
    else if (seg.min > o.min) {
      byId.set(seg.id, seg);
      stale.push(o);
    }
    else stale.push(seg);
  }
  return { live: [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)), stale };
}
