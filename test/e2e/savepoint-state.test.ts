// The savepoint format and the key-group redistribution, without a cluster: what a task of
// the new parallelism restores is exactly the keys the router sends it, and the matching
// rules refuse what cannot move.
import { describe, expect, it } from 'vitest';
import { dag, validateDag } from '../../packages/engine/src/dsl/dag.js';
import { SegmentEncoder, decodeSegment } from '../../packages/engine/src/state/segment-codec.js';
import { keyGroupOf, taskOfKeyGroup } from '../../packages/engine/src/state/key-groups.js';
import { segmentForTask, splitSegments } from '../../packages/engine/src/state/redistribute.js';
import { decodeSavepoint, encodeSavepoint, type SavepointData } from '../../packages/engine/src/runtime/savepoint-format.js';
import { planSeed } from '../../packages/engine/src/runtime/savepoint-seed.js';
import { ExecutionPlan } from '../../packages/engine/src/runtime/plan.js';
import { decodeParts, decodeState, encodeState } from '../../packages/engine/src/runtime/state-codec.js';
import { validateSavepointName } from '../../packages/engine/src/runtime/savepoint-store.js';

const MP = 128;

function segment(rows: Array<[string, string, unknown, number?]>): Uint8Array {
  const tables = [...new Set(rows.map((r) => r[0]))];
  const enc = new SegmentEncoder(tables, 1 << 30);
  enc.slice(rows.map((r) => tables.indexOf(r[0])), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3] ?? 0));
  return enc.finish()[0]!;
}

function keysOf(parts: Uint8Array[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const p of parts) decodeSegment(p, (_n, _t, keys, vals) => keys.forEach((k, i) => out.set(String(k), vals[i])));
  return out;
}

const words = Array.from({ length: 2000 }, (_, i) => `w${i}`);

describe('key-group redistribution', () => {
  it('later segments win, deletions and expired entries are dropped', () => {
    const older = segment([['v:count', 'a', 1], ['v:count', 'b', 1], ['v:count', 'c', 1]]);
    const newer = segment([['v:count', 'a', 5], ['v:count', 'b', undefined], ['v:count', 'd', 2, Date.now() - 1], ['v:count', 'e', 3, Date.now() + 60_000]]);
    const split = splitSegments([[older], [newer]], MP);
    expect(split.entries).toBe(3);
    const all = new Map<string, unknown>();
    for (const b of split.groups.values()) for (const [k, v] of keysOf([b])) all.set(k, v);
    expect(Object.fromEntries(all)).toEqual({ a: 5, c: 1, e: 3 });
  });

  it('every task of the new parallelism gets exactly the keys the router sends it', () => {
    const split = splitSegments([[segment(words.map((w, i) => ['v:count', w, i]))]], MP);
    expect(split.groups.size).toBeGreaterThan(100);
    for (const p of [1, 3, 4]) {
      const seen = new Set<string>();
      for (let i = 0; i < p; i++) {
        const { parts, entries } = segmentForTask(split, MP, i, p, 4096);
        const keys = keysOf(parts);
        expect(keys.size).toBe(entries);
        for (const [k, v] of keys) {
          expect(taskOfKeyGroup(keyGroupOf(k, MP), MP, p), `key ${k} at parallelism ${p}`).toBe(i);
          expect(v).toBe(words.indexOf(k));
          seen.add(k);
        }
      }
      expect(seen.size).toBe(words.length);
    }
  });
});

function savepoint(over: Partial<SavepointData> = {}): SavepointData {
  const split = splitSegments([[segment(words.map((w) => ['v:count', w, 1]))]], MP);
  return {
    app: { appId: 'wc-1', appName: 'wc' }, t: 1000, createdAt: 1, maxParallelism: MP,
    processors: new Map([
      ['lines', { parallelism: 1, source: true, offsets: [{ offset: 42, line: 3 }], operator: [encodeState({ position: { offset: 42, line: 3 } })] }],
      ['split', { parallelism: 2, source: false, operator: [encodeState(null), encodeState(null)] }],
      ['count', { parallelism: 2, source: false, operator: [encodeState(null), encodeState(null)], keyed: split }],
      ['out', { parallelism: 1, source: false, operator: [encodeState([{ t: 900, staged: '/x', final: '/y' }])] }],
    ]),
    ...over,
  };
}

function wordCount(p: { split?: number; count?: number; lines?: number; out?: number; countName?: string; countUid?: string } = {}): ReturnType<typeof dag> {
  const src = (): { open(): void; read(): null; position(): null } => ({ open() {}, read: () => null, position: () => null });
  return dag('wc', {})
    .source('lines', src, { parallelism: p.lines ?? 1 })
    .flatMap('split', (l: string) => l.split(' '), { parallelism: p.split ?? 2 })
    .groupBy((w) => w)
    .count(p.countName ?? 'count', { parallelism: p.count ?? 2, ...(p.countUid ? { uid: p.countUid } : {}) })
    .sink('out', () => ({ onNext() {} }), { parallelism: p.out ?? 1 });
}

const keyed = (name: string): boolean => name === 'count' || name === 'tally';

describe('savepoint format and matching rules', () => {
  it('round-trips, and refuses other bytes or versions as SAVEPOINT_INVALID', () => {
    const sp = savepoint();
    const back = decodeSavepoint(encodeSavepoint(sp));
    expect(back.t).toBe(1000);
    expect(back.processors.get('lines')!.offsets).toEqual([{ offset: 42, line: 3 }]);
    expect(back.processors.get('count')!.keyed!.entries).toBe(words.length);
    expect(decodeState(back.processors.get('out')!.operator[0]!)).toEqual([{ t: 900, staged: '/x', final: '/y' }]);
    const bytes = encodeSavepoint(sp);
    expect(() => decodeSavepoint(Buffer.from('nope'))).toThrow(expect.objectContaining({ code: 'SAVEPOINT_INVALID' }) as Error);
    const v2 = Buffer.from(bytes);
    v2.writeUInt16BE(2, 4);
    expect(() => decodeSavepoint(v2)).toThrow(/format version 2/);
    expect(() => decodeSavepoint(bytes.subarray(0, bytes.length - 1))).toThrow(expect.objectContaining({ code: 'SAVEPOINT_INVALID' }) as Error);
    for (const bad of ['', '../x', 'a/b', '.hidden', 'x'.repeat(101), 'a@b']) expect(() => validateSavepointName(bad)).toThrow(expect.objectContaining({ code: 'SAVEPOINT_INVALID' }) as Error);
    expect(validateSavepointName('before-upgrade.v2')).toBe('before-upgrade.v2');
  });

  it('lays keyed state out for a new parallelism and keeps offsets and operator state per index', () => {
    const plan = new ExecutionPlan(wordCount({ split: 4, count: 4 }), 2);
    const seed = planSeed(savepoint(), plan, { allowUnmatchedState: false, isKeyed: keyed });
    expect(seed.entries).toBe(words.length);
    expect(seed.offsets.get('lines.0')).toEqual({ offset: 42, line: 3 });
    const exec = new Map(seed.parts.filter((p) => p.name.startsWith('exec-')).map((p) => [p.name, decodeParts(p.bytes)]));
    expect([...exec.keys()].sort()).toEqual(['exec-0', 'exec-1']);
    const outState = [...exec.values()].find((m) => m.has('out.0'))!.get('out.0')!;
    expect(decodeState(outState)).toEqual([{ t: 900, staged: '/x', final: '/y' }]);
    const manifests = [...exec.values()].flatMap((m) => [...m].filter(([k]) => k.endsWith('\u0000keyed')));
    expect(manifests.length).toBe(4);
  });

  it('refuses what cannot move: unmatched state, a source or operator state at another parallelism, other key groups', () => {
    const refuse2 = (sp: SavepointData, d: ReturnType<typeof dag>, code: string): void => {
      expect(() => planSeed(sp, new ExecutionPlan(d, 2), { allowUnmatchedState: false, isKeyed: keyed })).toThrow(expect.objectContaining({ code }) as Error);
    };
    const refuse = (d: ReturnType<typeof dag>, code: string, allow = false): void => {
      expect(() => planSeed(savepoint(), new ExecutionPlan(d, 2), { allowUnmatchedState: allow, isKeyed: keyed })).toThrow(expect.objectContaining({ code }) as Error);
    };
    refuse(wordCount({ countName: 'tally' }), 'STATE_UNMATCHED');
    refuse(wordCount({ lines: 2 }), 'STATE_INCOMPATIBLE');
    refuse(wordCount({ out: 2 }), 'STATE_INCOMPATIBLE');
    refuse(dag('wc', { maxParallelism: 64 }).source('lines', () => ({ open() {}, read: () => null, position: () => null })).groupBy((w) => w).count('count', { parallelism: 2 }).sink('out', () => ({ onNext() {} })), 'STATE_INCOMPATIBLE');
    // A rename that keeps the state identity (uid = the old name) takes the state.
    const kept = planSeed(savepoint(), new ExecutionPlan(wordCount({ countName: 'tally', countUid: 'count', count: 3 }), 2), { allowUnmatchedState: false, isKeyed: keyed });
    expect(kept.entries).toBe(words.length);
    // A saved uid matches the new processor of that uid, whatever either is named.
    const sp = savepoint();
    sp.processors.get('count')!.uid = 'counter-v1';
    refuse2(sp, wordCount(), 'STATE_UNMATCHED');
    expect(planSeed(sp, new ExecutionPlan(wordCount({ countName: 'tally', countUid: 'counter-v1' }), 2), { allowUnmatchedState: false, isKeyed: keyed }).entries).toBe(words.length);
    expect(() => wordCount({ countName: 'tally', countUid: 'split' }) && validateDag(wordCount({ countName: 'tally', countUid: 'split' }))).toThrow(expect.objectContaining({ code: 'DAG_INVALID' }) as Error);
    // Dropped on request: the renamed count starts empty.
    const seed = planSeed(savepoint(), new ExecutionPlan(wordCount({ countName: 'tally' }), 2), { allowUnmatchedState: true, isKeyed: keyed });
    expect(seed.entries).toBe(0);
    expect(seed.dropped.join()).toContain('count');
  });
});
