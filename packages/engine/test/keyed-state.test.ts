import { describe, expect, it } from 'vitest';
import { HeapKeyedState, type FrozenState } from '../src/state/heap-state.js';
import { keyGroupOf, keyGroupRange, taskOfKeyGroup } from '../src/state/key-groups.js';
import { countTask, keyedProcessTask } from '../src/state/keyed-api.js';
import type { TaskContext } from '../src/dsl/task.js';

/** A checkpoint chain as the executor keeps it: segment bytes by seq, the manifest per boundary. */
class Chain {
  readonly bytes = new Map<number, Uint8Array[]>();
  uploaded: number[] = [];
  constructor(readonly s: HeapKeyedState) {}
  async checkpoint(t: number): Promise<FrozenState> {
    const f = this.s.freeze(t);
    if (f.fresh) {
      const parts = await this.s.encode(f.fresh, 1 << 20);
      this.bytes.set(f.fresh.info.seq, parts);
      f.fresh.info.parts = parts.map((_, i) => `s${f.fresh!.info.seq}.${i}`);
      this.uploaded.push(f.fresh.info.entries);
    } else this.uploaded.push(0);
    return f;
  }
  restore(f: FrozenState): HeapKeyedState {
    const r = new HeapKeyedState(this.s.maxParallelism);
    for (const seg of f.segments) r.apply(seg, this.bytes.get(seg.seq)!);
    return r;
  }
}

const dump = (s: HeapKeyedState, table: string): Record<string, unknown> => {
  const t = s.table(table);
  return Object.fromEntries([...t.keys()].map((k) => [String(k), t.get(k)]));
};

describe('key groups', () => {
  it('every key group has exactly one owner, and the ranges tile [0, maxParallelism)', () => {
    for (const p of [1, 3, 7, 128]) {
      let next = 0;
      for (let i = 0; i < p; i++) {
        const r = keyGroupRange(i, 128, p);
        expect(r.start).toBe(next);
        for (let kg = r.start; kg < r.end; kg++) expect(taskOfKeyGroup(kg, 128, p)).toBe(i);
        next = r.end;
      }
      expect(next).toBe(128);
    }
  });
  it('spreads keys evenly over the groups', () => {
    const n = new Array<number>(128).fill(0);
    for (let i = 0; i < 128_000; i++) n[keyGroupOf(`key-${i}`, 128)]!++;
    expect(Math.min(...n)).toBeGreaterThan(800);
    expect(Math.max(...n)).toBeLessThan(1200);
  });
});

describe('heap keyed state', () => {
  it('round-trips values, deletions and every table through segments', async () => {
    const s = new HeapKeyedState(128);
    const c = new Chain(s);
    const a = s.table('a');
    const b = s.table('b');
    for (let i = 0; i < 1000; i++) a.put(`k${i}`, i);
    b.put(1, new Map([['x', [1, 2]]]));
    await c.checkpoint(100);
    for (let i = 0; i < 1000; i += 3) a.delete(`k${i}`);
    a.put('k1', 'one');
    const f = await c.checkpoint(200);
    const r = c.restore(f);
    expect(dump(r, 'a')).toEqual(dump(s, 'a'));
    expect(r.table('b').get(1)).toEqual(new Map([['x', [1, 2]]]));
    expect(r.table('a').get('k0')).toBeUndefined();
    expect(r.table('a').get('k1')).toBe('one');
  });

  it('freezing is copy-on-write: writes after the boundary do not reach its segment', async () => {
    const s = new HeapKeyedState(128, { sliceRows: 10 });
    const a = s.table('a');
    for (let i = 0; i < 100; i++) a.put(`k${i}`, i);
    const f = s.freeze(100);
    // The encoder yields every 10 rows: write while it runs.
    const encoding = s.encode(f.fresh!, 1 << 20);
    for (let i = 0; i < 100; i++) a.put(`k${i}`, -1);
    a.delete('k5');
    const parts = await encoding;
    const r = new HeapKeyedState(128);
    r.apply(f.fresh!.info, parts);
    for (let i = 0; i < 100; i++) expect(r.table('a').get(`k${i}`)).toBe(i);
  });

  it('uploads only what changed, and the cleaner bounds the log near the target amplification', async () => {
    const keys = 20_000;
    const s = new HeapKeyedState(128, { targetAmplification: 1.4 });
    const c = new Chain(s);
    const a = s.table('count');
    for (let i = 0; i < keys; i++) a.put(i, 0);
    let f = await c.checkpoint(0);
    let seed = 7;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % keys);
    for (let round = 1; round <= 300; round++) {
      for (let j = 0; j < keys / 100; j++) {
        const k = rnd();
        a.put(k, (a.get(k) as number) + 1);
      }
      // Let the cleaner run between boundaries, as the event loop would.
      for (let y = 0; y < 20; y++) await new Promise((r) => setImmediate(r));
      f = await c.checkpoint(round * 1000);
    }
    const logged = f.segments.reduce((n, x) => n + x.entries, 0);
    expect(logged / keys).toBeLessThan(1.6);
    const late = c.uploaded.slice(100);
    const mean = late.reduce((x, y) => x + y, 0) / late.length;
    expect(mean / keys).toBeLessThan(0.035);
    expect(f.segments.length).toBeLessThan(120);
    expect(dump(c.restore(f), 'count')).toEqual(dump(s, 'count'));
  });

  it('entries with a TTL read as absent once expired', () => {
    let now = 1000;
    const s = new HeapKeyedState(128, { now: () => now });
    const a = s.table('a');
    a.put('x', 1, 50);
    expect(a.get('x')).toBe(1);
    now = 1051;
    expect(a.get('x')).toBeUndefined();
    expect([...a.keys()]).toEqual([]);
  });

  it('update reads and writes a key in one step: absent, expired and deleted keys start from undefined', async () => {
    let now = 1000;
    const s = new HeapKeyedState(128, { now: () => now });
    const a = s.table('a');
    const inc = (n: unknown): number => ((n as number | undefined) ?? 0) + 1;
    a.update('x', inc);
    a.update('x', inc);
    expect(a.get('x')).toBe(2);
    a.put('y', 5, 50);
    now = 1051;
    a.update('y', inc);
    expect(a.get('y')).toBe(1);
    a.update('x', () => undefined);
    expect(a.get('x')).toBeUndefined();
    a.update('x', inc);
    expect(a.get('x')).toBe(1);
    // Across a boundary the write lands in the new segment and the frozen one keeps its value.
    const f = s.freeze(2000);
    a.update('x', inc);
    const parts = await s.encode(f.fresh!, 1 << 20);
    const r = new HeapKeyedState(128, { now: () => now });
    r.apply(f.fresh!.info, parts);
    expect(new Map([...r.table('a').keys()].map((k) => [k, r.table('a').get(k)]))).toEqual(new Map([['x', 1], ['y', 1]]));
    expect(a.get('x')).toBe(2);
  });
});

const ctxStub = (out: unknown[][]): TaskContext => ({
  appId: 'a', taskId: 't.0', processor: 't', index: 0, parallelism: 1, config: undefined,
  logger: { debug() {}, info() {}, warn() {}, error() {} },
  blobs: { path: () => '', version: () => 0 },
  emit: (values) => void out.push(values),
});

describe('keyed operators', () => {
  it('count emits the keys written since the last boundary, not the ones the cleaner carried', () => {
    const out: unknown[][] = [];
    const t = countTask((v) => v, 128);
    const ctx = ctxStub(out);
    t.onNext(['a', 'b', 'a'], 0, ctx);
    t.onClock!(1000, ctx);
    t.keyedState.freeze(1000);
    t.onNext(['b'], 1000, ctx);
    t.onClock!(2000, ctx);
    expect(out).toEqual([[['a', 2], ['b', 1]], [['b', 2]]]);
  });

  it('a KeyedTask sees value, map and list state scoped to the current key', () => {
    const out: unknown[][] = [];
    const ctx = ctxStub(out);
    const t = keyedProcessTask((v) => (v as { user: string }).user, {
      onElement(v, _ts, c) {
        const seen = c.state.map<string, number>('seen');
        const page = (v as { page: string }).page;
        seen.set(page, (seen.get(page) ?? 0) + 1);
        c.state.list('pages').add(page);
        const total = c.state.value<number>('total');
        total.set((total.get() ?? 0) + 1);
        c.emit([[c.key, total.get(), seen.size, c.state.list('pages').get().length]], 0);
      },
    }, 128);
    t.onNext([{ user: 'u1', page: 'a' }, { user: 'u2', page: 'a' }, { user: 'u1', page: 'b' }, { user: 'u1', page: 'a' }], 0, ctx);
    expect(out.flat()).toEqual([['u1', 1, 1, 1], ['u2', 1, 1, 1], ['u1', 2, 2, 2], ['u1', 3, 2, 3]]);
  });
});
