/**
 * The public checkpoints store over a backend's I/O hooks: fencing, ordering, identical
 * retry, the staged/committed checks, the part-descriptor check at commit, retention
 * (never dropping bytes a kept checkpoint lists) and the sweep of staged parts that can
 * no longer be committed are decided here, once, for every backend.
 */
import type { Checkpoint, CheckpointBackend, CheckpointCommitState, CheckpointPart, CheckpointPruneState, CheckpointStager, CheckpointStore, CheckpointWriter, OpOptions } from './types.js';
import { StorageError } from './errors.js';
import { alreadyCommittedError, checkOpenEpoch, checkStagedMatches, checkWriterEpoch, notStagedError, outOfOrderError, sameCommit } from './policy.js';
import { sha256Hex } from './util/bytes.js';
import { LIMITS } from './limits.js';

/** True for a store that already applies the policy (a backend of the old shape or a routed store). */
function isStore(b: CheckpointBackend | CheckpointStore): b is CheckpointStore {
  return typeof (b as CheckpointStore).writer === 'function';
}

export function checkpointStoreOver(b: CheckpointBackend | CheckpointStore, numRetained: number = LIMITS.defaultNumRetained): CheckpointStore {
  return isStore(b) ? withStager(b) : policyOver(b, numRetained);
}

/**
 * A store of the old shape (it hands out writers only) gets a stager that opens
 * writer(epoch) on its first stage and stages through it; creating it does no I/O. A
 * failed open is not kept: the next stage tries again.
 */
function withStager(s: CheckpointStore): CheckpointStore {
  if (typeof (s as Partial<CheckpointStore>).stager === 'function') return s;
  const stager = (epoch: number): CheckpointStager => {
    let opened: Promise<CheckpointWriter> | undefined;
    return {
      epoch,
      stage: async (t, part, bytes, o) => {
        opened ??= s.writer(epoch, o).catch((err: unknown) => {
          opened = undefined;
          throw err;
        });
        return (await opened).stage(t, part, bytes, o);
      },
    };
  };
  return {
    name: s.name,
    numRetained: s.numRetained,
    get: (t, o) => s.get(t, o),
    floor: (t, o) => s.floor(t, o),
    lookUp: (t, o) => s.lookUp(t, o),
    first: (o) => s.first(o),
    last: (o) => s.last(o),
    range: (from, to, o) => s.range(from, to, o),
    currentEpoch: (o) => s.currentEpoch(o),
    readPart: (t, part, o) => s.readPart(t, part, o),
    writer: (epoch, o) => s.writer(epoch, o),
    stager,
  };
}

/**
 * What commit t stores: the writer's epoch is still current, every part was staged with
 * exactly this size and digest, t is new and not below the newest (an identical commit is
 * an idempotent retry and returns the stored checkpoint).
 */
export function planCheckpointCommit(store: string, epoch: number, cp: Checkpoint, s: CheckpointCommitState): { store: boolean; checkpoint: Checkpoint } {
  checkWriterEpoch(store, epoch, s.epoch);
  for (const p of cp.parts) {
    const staged = s.staged.get(p.ref);
    if (!staged) throw notStagedError(p);
    checkStagedMatches(p, staged);
  }
  if (s.atT) {
    if (sameCommit(s.atT, epoch, cp.parts)) return { store: false, checkpoint: s.atT };
    throw alreadyCommittedError(store, cp.t);
  }
  if (s.last && cp.t < s.last.t) throw outOfOrderError(store, cp.t, s.last.t);
  return { store: true, checkpoint: cp };
}

/**
 * What a prune drops: the manifests `drop` selects, then the staged bytes no remaining
 * manifest lists that either belonged to a dropped manifest or were staged for a time
 * before the oldest remaining checkpoint (they can never be committed: out of order).
 * Nothing is dropped unless at least one manifest goes.
 */
export function planCheckpointPrune(s: CheckpointPruneState, drop: (t: number, index: number, count: number) => boolean): { manifests: number[]; refs: string[] } {
  const ts = s.committed.map((c) => c.t).sort((a, b) => a - b);
  const gone = new Set(ts.filter((t, i) => drop(t, i, ts.length)));
  // The sweep rides on a drop (every commit once numRetained is reached), so a part staged
  // ahead of a concurrent commit is not raced, and fsck still sees young orphans.
  if (gone.size === 0) return { manifests: [], refs: [] };
  const kept = s.committed.filter((c) => !gone.has(c.t));
  const keptRefs = new Set(kept.flatMap((c) => c.refs));
  const goneRefs = new Set(s.committed.filter((c) => gone.has(c.t)).flatMap((c) => c.refs));
  const oldest = kept.reduce((m, c) => Math.min(m, c.t), Infinity);
  const refs = s.staged.filter((x) => !keptRefs.has(x.ref) && (goneRefs.has(x.ref) || (kept.length > 0 && x.t < oldest))).map((x) => x.ref);
  return { manifests: [...gone], refs };
}

/**
 * The sweep when a writer of `epoch` opens: staged parts no manifest lists and staged for a
 * time before the newest commit (committing them now would be out of order), so crashed
 * stages go on every backend even when retention has nothing to drop. Nothing is swept
 * once a newer writer has opened (the sweep is that writer's to do).
 */
export function planCheckpointSweep(s: CheckpointPruneState, epoch: number): { manifests: number[]; refs: string[] } {
  if (s.epoch !== epoch || s.committed.length === 0) return { manifests: [], refs: [] };
  const listed = new Set(s.committed.flatMap((c) => c.refs));
  const newest = s.committed.reduce((m, c) => Math.max(m, c.t), -Infinity);
  return { manifests: [], refs: s.staged.filter((x) => !listed.has(x.ref) && x.t < newest).map((x) => x.ref) };
}

function policyOver(b: CheckpointBackend, numRetained: number): CheckpointStore {
  const name = b.name;
  const readPart = async (t: number, part: string, o?: OpOptions): Promise<Uint8Array> => {
    const cp = await b.get(t, o);
    if (!cp) throw new StorageError(`checkpoint ${name}@${t} not found`, { code: 'STORAGE_NOT_FOUND' });
    const p = cp.parts.find((x) => x.name === part);
    if (!p) throw new StorageError(`checkpoint ${name}@${t} has no part ${part}`, { code: 'STORAGE_NOT_FOUND' });
    const bytes = await b.readStaged(p.ref, o);
    if (!bytes) throw new StorageError(`checkpoint ${name}@${t} part ${part} is missing its data`, { code: 'STORAGE_CORRUPT', details: { ref: p.ref } });
    if (bytes.byteLength !== p.size || sha256Hex(bytes) !== p.sha256) {
      throw new StorageError(`checkpoint ${name}@${t} part ${part} is corrupt`, { code: 'STORAGE_CORRUPT', details: { expected: p.sha256 } });
    }
    return bytes;
  };
  // The writer's stage and the stager's are one: the stage hook's check fences both.
  const stageFor = (epoch: number): CheckpointStager['stage'] => async (t, part, bytes, o) => {
    const desc = { name: part, size: bytes.byteLength, sha256: sha256Hex(bytes) };
    const ref = await b.stage(t, desc, bytes, (current) => checkWriterEpoch(name, epoch, current), o);
    return { ...desc, ref } satisfies CheckpointPart;
  };
  const store: CheckpointStore = {
    name,
    numRetained,
    get: (t, o) => b.get(t, o),
    floor: (t, o) => b.floor(t, o),
    lookUp: (t, o) => b.lookUp(t, o),
    first: (o) => b.first(o),
    last: (o) => b.last(o),
    range: (from, to, o = {}) => b.range(from, to, { ...o, limit: o.limit ?? LIMITS.maxLimit }),
    currentEpoch: (o) => b.currentEpoch(o),
    readPart,
    stager: (epoch) => ({ epoch, stage: stageFor(epoch) }),
    writer: async (epoch, o) => {
      await b.openEpoch(epoch, (current) => checkOpenEpoch(name, epoch, current), o);
      await b.prune((s) => planCheckpointSweep(s, epoch), o);
      const check = (current: number): void => checkWriterEpoch(name, epoch, current);
      const prune = (drop: (t: number, i: number, n: number) => boolean, o2?: OpOptions): Promise<number> =>
        b.prune((s) => (check(s.epoch), planCheckpointPrune(s, drop)), o2);
      const writer: CheckpointWriter = {
        epoch,
        stage: stageFor(epoch),
        commit: async (t, parts, options = {}) => {
          const cp: Checkpoint = { t, epoch, parts: parts.map((p) => ({ name: p.name, size: p.size, sha256: p.sha256, ref: p.ref })), meta: options.meta ?? {}, committedAt: 0 };
          // Retention rides on the commit (one transaction where the backend has them); an
          // identical retry applies it too, so a crash after a commit leaves nothing extra for long.
          return b.commit(
            cp,
            (s, now) => planCheckpointCommit(name, epoch, { ...cp, committedAt: now }, s),
            (s) => planCheckpointPrune(s, (_t, i, n) => i < n - numRetained),
            options,
          );
        },
        append: async (t, bytes, o2) => writer.commit(t, [await writer.stage(t, 'state', bytes, o2)], o2),
        truncateAfter: (t, o2) => prune((x) => x > t, o2),
        truncateBefore: (t, o2) => prune((x) => x < t, o2),
      };
      return writer;
    },
  };
  return store;
}
