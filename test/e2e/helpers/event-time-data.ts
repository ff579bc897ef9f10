// Deterministic out-of-order events for the event-time tests, and a plain-JS reference of
// a tumbling-window count with allowed lateness and a late output, computed the way the
// engine defines it (watermark after every `every` records, fire at end - 1).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Ev {
  id: number;
  key: string;
  ts: number;
}

/** mulberry32: a small seeded PRNG, so the same seed gives the same stream. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n events, 10 ms of event time apart, each delayed up to `bound` ms; `beyond` of them far more (late). */
export function makeEvents(n: number, seed: number, o: { keys: number; bound: number; beyond: number; farMs: number }): Ev[] {
  const r = rng(seed);
  const out: Ev[] = [];
  for (let i = 0; i < n; i++) {
    const far = r() < o.beyond;
    const delay = far ? o.bound + Math.floor(r() * o.farMs) : Math.floor(r() * (o.bound + 1));
    out.push({ id: i, key: `k${Math.floor(r() * o.keys)}`, ts: 1_000_000 + i * 10 - delay });
  }
  return out;
}

export function writeEvents(path: string, evs: Ev[]): void {
  writeFileSync(path, evs.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

export interface RefResult {
  results: string[];
  late: string[];
}

/** The reference: one assigner over the events in order, then per-key tumbling counts. */
export function referenceWindowCount(evs: Ev[], o: { size: number; lateness: number; bound: number; every: number }): RefResult {
  const results: string[] = [];
  const late: string[] = [];
  // per key: start -> [count, fired]
  const wins = new Map<string, Map<number, [number, boolean]>>();
  let wm = -Infinity;
  let max = -Infinity;
  let n = 0;
  const emit = (key: string, s: number, c: number): void => {
    results.push(JSON.stringify({ key, start: s, end: s + o.size, value: c }));
  };
  const advance = (w: number): void => {
    wm = w;
    for (const [key, m] of wins) {
      for (const [s, st] of m) {
        const e = s + o.size;
        if (!st[1] && e - 1 <= wm) {
          st[1] = true;
          emit(key, s, st[0]);
        }
        if (e - 1 + o.lateness <= wm) m.delete(s);
      }
    }
  };
  for (const ev of evs) {
    const s = Math.floor(ev.ts / o.size) * o.size;
    const e = s + o.size;
    if (e - 1 + o.lateness <= wm) late.push(JSON.stringify(ev));
    else {
      let m = wins.get(ev.key);
      if (!m) wins.set(ev.key, (m = new Map()));
      const st = m.get(s) ?? [0, false];
      st[0]++;
      m.set(s, st);
      if (e - 1 <= wm) {
        st[1] = true;
        emit(ev.key, s, st[0]);
      }
    }
    if (ev.ts > max) max = ev.ts;
    if (++n >= o.every) {
      n = 0;
      if (max - o.bound - 1 > wm) advance(max - o.bound - 1);
    }
  }
  advance(Infinity);
  return { results: results.sort(), late: late.sort() };
}

/** Every committed line of a file sink's folder, sorted (a multiset to compare). */
export function committedLines(dir: string): string[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.startsWith('part-') && f.endsWith('.txt'));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const f of files) for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) if (l) out.push(l);
  return out.sort();
}
