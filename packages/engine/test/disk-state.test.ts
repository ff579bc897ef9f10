import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KeyedBackend } from '../src/state/backend.js';
import { parseConfigPairs } from '../src/cli/app-config.js';
import { stateBackendMaker } from '../src/state/choose-backend.js';
import { DiskKeyedState } from '../src/state/disk-state.js';
import { HeapKeyedState, type FrozenState } from '../src/state/heap-state.js';

const root = mkdtempSync(join(tmpdir(), 'sluice-disk-state-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const disk = (o: { cacheEntries?: number; sliceRows?: number; targetAmplification?: number } = {}): DiskKeyedState => new DiskKeyedState(128, { dir: join(root, `d${n++}`), ...o });

/** Checkpoints as the executor takes them: segment bytes by seq, the manifest per boundary. */
class Chain {
  readonly bytes = new Map<number, Uint8Array[]>();
  constructor(readonly s: KeyedBackend) {}
  async checkpoint(t: number): Promise<FrozenState> {
    const f = this.s.freeze(t);
    if (f.fresh) {
      const parts = await this.s.encode(f.fresh, 1 << 20);
      this.bytes.set(f.fresh.info.seq, parts);
      f.fresh.info.parts = parts.map((_, i) => `s${f.fresh!.info.seq}.${i}`);
    }
    return f;
  }
  restoreInto(f: FrozenState, r: KeyedBackend): KeyedBackend {
    for (const seg of this.s.manifest(f).segments) r.apply({ ...seg }, this.bytes.get(seg.seq)!);
    return r;
  }
}

const dump = (s: KeyedBackend, table: string): Record<string, unknown> => {
  const t = s.table(table);
  return Object.fromEntries([...t.keys()].map((k) => [String(k), t.get(k)]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
};

describe('disk keyed state (lmdb)', () => {
  it('reads its writes back after they are evicted from a cache far smaller than the state', async () => {
    const s = disk({ cacheEntries: 1000 });
    const c = new Chain(s);
    const a = s.table('v:a');
    for (let i = 0; i < 20_000; i++) a.put(`k${i}`, i);
    await c.checkpoint(1);
    for (let i = 0; i < 20_000; i++) a.update(`k${i}`, (v) => (v as number) + 1);
    await c.checkpoint(2);
    a.put('k5', 'five');
    // The cache stays bounded once segments are written (only clean entries are evicted).
    for (let i = 0; i < 20_000; i += 7) expect(a.get(`k${i}`)).toBe(i === 5 ? 'five' : i + 1);
    expect(s.cachedEntries).toBeLessThan(1000 + 200);
    expect(s.liveEntries).toBe(20_000);
    s.close();
    expect(existsSync(s.opts.dir)).toBe(false);
  });

  it('restores from its own checkpoints and from the heap backend, and the heap from its (same segment format)', async () => {
    for (const [make, into] of [
      [() => disk({ cacheEntries: 1000 }), () => disk()],
      [() => disk({ cacheEntries: 1000 }), () => new HeapKeyedState(128)],
      [() => new HeapKeyedState(128), () => disk({ cacheEntries: 1000 })],
    ] as Array<[() => KeyedBackend, () => KeyedBackend]>) {
      const s = make();
      const c = new Chain(s);
      const a = s.table('v:a');
      const m = s.table('m:b');
      for (let i = 0; i < 5000; i++) a.put(`k${i}`, i);
      m.put(7, new Map([['x', [1, 2]]]));
      await c.checkpoint(100);
      for (let i = 0; i < 5000; i += 3) a.delete(`k${i}`);
      a.put('k1', 'one');
      const f = await c.checkpoint(200);
      a.put('k2', 'after the boundary');
      const r = c.restoreInto(f, into());
      expect(r.table('v:a').get('k2')).toBe(2);
      a.put('k2', 2);
      expect(dump(r, 'v:a')).toEqual(dump(s, 'v:a'));
      expect(r.table('m:b').get(7)).toEqual(new Map([['x', [1, 2]]]));
      expect(r.table('v:a').get('k0')).toBeUndefined();
      s.close();
      r.close();
    }
  });

  it('freezing is copy-on-write: writes after the boundary do not reach its segment or lmdb before the next', async () => {
    const s = disk({ cacheEntries: 1000, sliceRows: 10 });
    const c = new Chain(s);
    const a = s.table('v:a');
    for (let i = 0; i < 100; i++) a.put(`k${i}`, i);
    const f = s.freeze(100);
    const encoding = s.encode(f.fresh!, 1 << 20);
    for (let i = 0; i < 100; i++) a.put(`k${i}`, -i);
    const parts = await encoding;
    c.bytes.set(f.fresh!.info.seq, parts);
    const r = c.restoreInto(f, disk());
    for (let i = 0; i < 100; i++) expect(r.table('v:a').get(`k${i}`)).toBe(i);
    for (let i = 0; i < 100; i++) expect(a.get(`k${i}`)).toBe(-i);
    s.close();
    r.close();
  });

  it('materialises a full segment when the log outgrows the state, and the chain restarts from it (deletions included)', async () => {
    const s = disk({ cacheEntries: 1000, targetAmplification: 2 });
    const c = new Chain(s);
    const a = s.table('v:a');
    for (let i = 0; i < 3000; i++) a.put(`k${i}`, i);
    let f = await c.checkpoint(1);
    expect(f.fresh!.info.full).toBeUndefined();
    // 3000 logged + 1500 deletions > 2 x 1500 live: this segment is a full one.
    for (let i = 0; i < 3000; i += 2) a.delete(`k${i}`);
    f = await c.checkpoint(2);
    expect(f.fresh!.info.full).toBe(true);
    const m = s.manifest(f);
    expect(m.segments).toHaveLength(1);
    expect(m.segments[0]!.entries).toBe(1500);
    a.update('k1', (v) => (v as number) + 100);
    f = await c.checkpoint(20);
    expect(s.manifest(f).segments.map((x) => x.seq)).toEqual([m.segments[0]!.seq, f.fresh!.info.seq]);
    for (const r of [c.restoreInto(f, disk()), c.restoreInto(f, new HeapKeyedState(128))]) {
      expect(dump(r, 'v:a')).toEqual(dump(s, 'v:a'));
      expect(r.table('v:a').get('k0')).toBeUndefined();
      r.close();
    }
    s.close();
  });

  it('TTL: expired entries read as absent and are left out of a materialised segment', async () => {
    let now = 1000;
    const s = new DiskKeyedState(128, { dir: join(root, `d${n++}`), now: () => now, targetAmplification: 1 });
    const a = s.table('v:a');
    a.put('short', 1, 50);
    a.put('long', 2);
    expect(a.get('short')).toBe(1);
    now += 100;
    expect(a.get('short')).toBeUndefined();
    expect([...a.keys()]).toEqual(['long']);
    s.close();
  });

  it('stateBackend and stateCacheEntries are checked at submit (BAD_REQUEST) and by the executor (CONFIG_INVALID)', () => {
    expect(parseConfigPairs(['stateBackend=disk', 'stateCacheEntries=5000'])).toEqual({ stateBackend: 'disk', stateCacheEntries: 5000 });
    expect(() => parseConfigPairs(['stateBackend=dsk'])).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringMatching(/stateBackend.*'heap' or 'disk'/) }));
    expect(() => parseConfigPairs(['stateCacheEntries=3'])).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(stateBackendMaker(undefined, undefined, 'count.0')).toBeUndefined();
    expect(stateBackendMaker({ backend: 'heap' }, 'disk', 'count.0')).toBeUndefined();
    expect(() => stateBackendMaker({ backend: 'rocks' }, undefined, 'count.0')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => stateBackendMaker({ backend: 'disk', cacheEntries: 'lots' }, undefined, 'count.0')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    const make = stateBackendMaker({ backend: 'disk', dir: join(root, 'chosen'), cacheEntries: 100 }, undefined, 'count.0')!;
    const b = make(128);
    expect(b).toBeInstanceOf(DiskKeyedState);
    b.close();
  });
});
