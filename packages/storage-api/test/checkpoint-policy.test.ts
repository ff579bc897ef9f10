// The checkpoint policy's two planners, decided once for every backend: what a commit
// stores and what retention/truncation deletes.
import { describe, expect, it } from 'vitest';
import { planCheckpointCommit, planCheckpointPrune, planCheckpointSweep, type Checkpoint, type CheckpointCommitState } from '@sluice/storage-api';

const part = (ref: string, sha256 = 'a'.repeat(64), size = 3) => ({ name: ref.split('/')[1]!, ref, sha256, size });
const cp = (t: number, refs: string[], epoch = 1): Checkpoint => ({ t, epoch, parts: refs.map((r) => part(r)), meta: {}, committedAt: 0 });
const state = (over: Partial<CheckpointCommitState>, refs: string[] = []): CheckpointCommitState => ({
  epoch: 1, atT: undefined, last: undefined, staged: new Map(refs.map((r) => [r, { size: 3, sha256: 'a'.repeat(64) }])), ...over,
});
/** Staged refs with the time the backend says each was staged for (here: the ref's first field). */
const st = (...refs: string[]) => refs.map((ref) => ({ ref, t: Number(ref.split('/')[0]) }));
const code = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('planCheckpointCommit', () => {
  it('stores a new t whose parts were staged as described', () => {
    const c = cp(2, ['2/a/u1']);
    expect(planCheckpointCommit('s', 1, c, state({ last: cp(1, []) }, ['2/a/u1']))).toEqual({ store: true, checkpoint: c });
  });
  it('refuses: fenced, deleted app, not staged, descriptor differs, out of order, already committed', () => {
    const c = cp(2, ['2/a/u1']);
    expect(code(() => planCheckpointCommit('s', 1, c, state({ epoch: 2 }, ['2/a/u1'])))).toBe('STORAGE_FENCED');
    expect(code(() => planCheckpointCommit('s', 1, c, state({ epoch: 0 }, ['2/a/u1'])))).toBe('STORAGE_NOT_FOUND');
    expect(code(() => planCheckpointCommit('s', 1, c, state({})))).toBe('STORAGE_INVALID_ARGUMENT');
    const lying = { ...c, parts: [part('2/a/u1', 'b'.repeat(64))] };
    expect(code(() => planCheckpointCommit('s', 1, lying, state({}, ['2/a/u1'])))).toBe('STORAGE_INVALID_ARGUMENT');
    expect(code(() => planCheckpointCommit('s', 1, c, state({ last: cp(3, []) }, ['2/a/u1'])))).toBe('STORAGE_OUT_OF_ORDER');
    expect(code(() => planCheckpointCommit('s', 1, c, state({ atT: cp(2, ['2/a/other']) }, ['2/a/u1'])))).toBe('STORAGE_ALREADY_EXISTS');
  });
  it('an identical commit is a retry: returns the stored checkpoint, stores nothing', () => {
    const stored = { ...cp(2, ['2/a/u1']), committedAt: 42 };
    expect(planCheckpointCommit('s', 1, cp(2, ['2/a/u1']), state({ atT: stored, last: stored }, ['2/a/u1']))).toEqual({ store: false, checkpoint: stored });
  });
});

describe('planCheckpointPrune', () => {
  const keepNewest = (n: number) => (_t: number, i: number, count: number) => i < count - n;
  it('keeps bytes a kept checkpoint lists (one part committed at t=1 and t=2, numRetained 1)', () => {
    const r = planCheckpointPrune({ epoch: 1, committed: [{ t: 2, refs: ['1/a/u'] }, { t: 1, refs: ['1/a/u'] }], staged: st('1/a/u') }, keepNewest(1));
    expect(r).toEqual({ manifests: [1], refs: [] });
  });
  it('drops the parts of dropped manifests and sweeps staged parts older than the oldest kept', () => {
    const r = planCheckpointPrune(
      { epoch: 1, committed: [{ t: 1, refs: ['1/a/u'] }, { t: 5, refs: ['5/a/u'] }], staged: st('1/a/u', '5/a/u', '3/a/never', '7/a/inflight') },
      keepNewest(1),
    );
    expect(r.manifests).toEqual([1]);
    expect(r.refs.sort()).toEqual(['1/a/u', '3/a/never']);
  });
  it('drops nothing, not even stale staged parts, when no manifest goes', () => {
    expect(planCheckpointPrune({ epoch: 1, committed: [{ t: 5, refs: ['5/a/u'] }], staged: st('5/a/u', '1/a/old') }, keepNewest(3))).toEqual({ manifests: [], refs: [] });
  });
  it('truncating everything keeps staged parts no manifest listed (a commit may still be coming)', () => {
    const r = planCheckpointPrune({ epoch: 1, committed: [{ t: 5, refs: ['5/a/u'] }], staged: st('5/a/u', '9/a/next') }, (t) => t > 0);
    expect(r).toEqual({ manifests: [5], refs: ['5/a/u'] });
  });
});

describe('staged times come from the backend, not from the ref', () => {
  it('prune sweeps by the given t even when the ref says nothing of it (S3/HDFS name their own refs)', () => {
    const r = planCheckpointPrune(
      { epoch: 1, committed: [{ t: 1, refs: ['k1'] }, { t: 5, refs: ['k5'] }], staged: [{ ref: 'k1', t: 1 }, { ref: 'k5', t: 5 }, { ref: 'opaque-old', t: 3 }, { ref: 'opaque-new', t: 7 }] },
      (_t, i, n) => i < n - 1,
    );
    expect(r.refs.sort()).toEqual(['k1', 'opaque-old']);
  });
});

describe('planCheckpointSweep (writer open)', () => {
  const s = { epoch: 2, committed: [{ t: 10, refs: ['10/a/u'] }, { t: 20, refs: ['20/a/u', '5/b/shared'] }], staged: st('10/a/u', '20/a/u', '5/b/shared', '3/a/crashed', '15/a/crashed', '20/a/zombie', '30/a/ahead') };
  it('sweeps unlisted parts staged before the newest commit, keeps listed ones and any at or after it', () => {
    expect(planCheckpointSweep(s, 2)).toEqual({ manifests: [], refs: ['3/a/crashed', '15/a/crashed'] });
  });
  it('sweeps nothing for a writer a newer epoch already fenced, nor on a store with no commit', () => {
    expect(planCheckpointSweep(s, 1)).toEqual({ manifests: [], refs: [] });
    expect(planCheckpointSweep({ epoch: 2, committed: [], staged: st('1/a/u') }, 2)).toEqual({ manifests: [], refs: [] });
  });
});
