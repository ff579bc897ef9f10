import type {
  Checkpoint, CheckpointPart, CheckpointStore, CheckpointWriter, LookUpResult, OffsetBackend, OffsetState, TimeEntry,
} from '../types.js';
import { StorageError } from '../errors.js';
import { alreadyCommittedError, checkStagedMatches, fencedError, notStagedError, outOfOrderError, sameCommit } from '../policy.js';
import { lowerBound, resolveLookUp } from '../util/lookup.js';
import { sha256Hex } from '../util/bytes.js';
import { LIMITS } from '../limits.js';
import { assertLive, type MemoryApp } from './volume.js';
import { randomUUID } from 'node:crypto';

interface Timed { t: number }

/** Shared read side over a sorted array. */
abstract class SortedReader<E extends Timed> {
  constructor(readonly name: string) {}
  protected abstract items(): E[];
  protected abstract epochNow(): number;

  async get(t: number): Promise<E | undefined> {
    const a = this.items();
    const i = lowerBound(a, t);
    return a[i]?.t === t ? a[i] : undefined;
  }
  async floor(t: number): Promise<E | undefined> {
    const a = this.items();
    const i = lowerBound(a, t + 1);
    return i > 0 ? a[i - 1] : undefined;
  }
  async lookUp(t: number): Promise<LookUpResult<E>> {
    const a = this.items();
    return resolveLookUp(t, async () => a[0], async () => a[a.length - 1], async (x) => a[lowerBound(a, x)]);
  }
  async first(): Promise<E | undefined> {
    return this.items()[0];
  }
  async last(): Promise<E | undefined> {
    const a = this.items();
    return a[a.length - 1];
  }
  async range(from: number, to: number, options: { limit?: number } = {}): Promise<E[]> {
    const a = this.items();
    const out: E[] = [];
    const limit = options.limit ?? LIMITS.maxLimit;
    for (let i = lowerBound(a, from); i < a.length && a[i]!.t < to && out.length < limit; i++) out.push(a[i]!);
    return out;
  }
  async currentEpoch(): Promise<number> {
    return this.epochNow();
  }
}

function removeWhere<E extends Timed>(a: E[], pred: (e: E) => boolean): number {
  const before = a.length;
  const kept = a.filter((e) => !pred(e));
  a.length = 0;
  a.push(...kept);
  return before - kept.length;
}

/** Offsets as a sorted array: I/O hooks only (storage-api applies the policy). */
export class MemoryOffsetStore extends SortedReader<TimeEntry> implements OffsetBackend {
  constructor(private readonly app: MemoryApp, name: string) {
    super(name);
  }
  #state() {
    assertLive(this.app);
    let s = this.app.offsets.get(this.name);
    if (!s) this.app.offsets.set(this.name, (s = { epoch: 0, entries: [] }));
    return s;
  }
  protected items(): TimeEntry[] {
    return this.app.offsets.get(this.name)?.entries ?? [];
  }
  protected epochNow(): number {
    return this.app.offsets.get(this.name)?.epoch ?? 0;
  }
  async ceiling(t: number): Promise<TimeEntry | undefined> {
    const a = this.items();
    return a[lowerBound(a, t)];
  }
  // Single-threaded: each hook runs to completion without yielding, so it is atomic.
  async openEpoch(epoch: number, decide: (current: number) => void): Promise<void> {
    const s = this.#state();
    decide(s.epoch);
    s.epoch = Math.max(s.epoch, epoch);
  }
  async append(_firstT: number, plan: (state: OffsetState) => TimeEntry[]): Promise<void> {
    const s = this.#state();
    const add = plan({ epoch: s.epoch, last: s.entries[s.entries.length - 1] });
    s.entries.push(...add.map((e) => ({ t: e.t, value: new Uint8Array(e.value) })));
  }
  async truncate(side: 'before' | 'after', t: number, check: (current: number) => void): Promise<number> {
    const s = this.#state();
    check(s.epoch);
    return removeWhere(s.entries, (e) => (side === 'after' ? e.t > t : e.t < t));
  }
}

export class MemoryCheckpointStore extends SortedReader<Checkpoint> implements CheckpointStore {
  constructor(private readonly app: MemoryApp, name: string, readonly numRetained: number, private readonly now: () => number) {
    super(name);
  }
  #state() {
    let s = this.app.checkpoints.get(this.name);
    if (!s) this.app.checkpoints.set(this.name, (s = { epoch: 0, committed: [], staged: new Map() }));
    return s;
  }
  protected items(): Checkpoint[] {
    return this.app.checkpoints.get(this.name)?.committed ?? [];
  }
  protected epochNow(): number {
    return this.app.checkpoints.get(this.name)?.epoch ?? 0;
  }

  async readPart(t: number, part: string): Promise<Uint8Array> {
    const cp = await this.get(t);
    if (!cp) throw new StorageError(`checkpoint ${this.name}@${t} not found`, { code: 'STORAGE_NOT_FOUND' });
    const p = cp.parts.find((x) => x.name === part);
    if (!p) throw new StorageError(`checkpoint ${this.name}@${t} has no part ${part}`, { code: 'STORAGE_NOT_FOUND' });
    const bytes = this.#state().staged.get(p.ref);
    if (!bytes) throw new StorageError(`checkpoint ${this.name}@${t} part ${part} is missing its data`, { code: 'STORAGE_CORRUPT' });
    const out = Buffer.from(bytes);
    if (sha256Hex(out) !== p.sha256) {
      throw new StorageError(`checkpoint ${this.name}@${t} part ${part} is corrupt`, { code: 'STORAGE_CORRUPT' });
    }
    return out;
  }

  async writer(epoch: number): Promise<CheckpointWriter> {
    assertLive(this.app);
    const s = this.#state();
    if (epoch < s.epoch) throw fencedError(this.name, epoch, s.epoch);
    s.epoch = epoch;
    const check = (): void => {
      assertLive(this.app);
      if (s.epoch > epoch) throw fencedError(this.name, epoch, s.epoch);
    };
    const name = this.name;
    // A staged part may be listed by several checkpoints (one part committed at t=1 and
    // again at t=2): its bytes go only when no remaining checkpoint lists it.
    const dropParts = (gone: Checkpoint[]): void => {
      const kept = new Set(s.committed.filter((c) => !gone.includes(c)).flatMap((c) => c.parts.map((p) => p.ref)));
      for (const cp of gone) for (const p of cp.parts) if (!kept.has(p.ref)) s.staged.delete(p.ref);
      // Parts staged for a time older than the oldest kept checkpoint and never committed
      // can no longer be committed (out of order): sweep them so the store stays bounded.
      const oldest = s.committed.filter((c) => !gone.includes(c))[0]?.t;
      if (oldest === undefined) return;
      for (const ref of [...s.staged.keys()]) if (!kept.has(ref) && Number(ref.split('/')[0]) < oldest) s.staged.delete(ref);
    };
    const writer: CheckpointWriter = {
      epoch,
      stage: async (t, part, bytes) => {
        check();
        const ref = `${t}/${part}/${randomUUID()}`;
        s.staged.set(ref, Buffer.from(bytes));
        return { name: part, size: bytes.byteLength, sha256: sha256Hex(bytes), ref } satisfies CheckpointPart;
      },
      commit: async (t, parts, options = {}) => {
        check();
        for (const p of parts) {
          const staged = s.staged.get(p.ref);
          if (!staged) throw notStagedError(p);
          checkStagedMatches(p, { size: staged.byteLength, sha256: sha256Hex(staged) });
        }
        const existing = s.committed.find((c) => c.t === t);
        if (existing) {
          if (sameCommit(existing, epoch, parts)) return existing;
          throw alreadyCommittedError(name, t);
        }
        const last = s.committed[s.committed.length - 1];
        if (last && t < last.t) throw outOfOrderError(name, t, last.t);
        const cp: Checkpoint = { t, epoch, parts: parts.map((p) => ({ ...p })), meta: options.meta ?? {}, committedAt: this.now() };
        s.committed.push(cp);
        const excess = s.committed.length - this.numRetained;
        if (excess > 0) {
          const gone = s.committed.slice(0, excess);
          dropParts(gone);
          s.committed.splice(0, excess);
        }
        return cp;
      },
      append: async (t, bytes) => writer.commit(t, [await writer.stage(t, 'state', bytes)]),
      truncateAfter: async (t) => {
        check();
        dropParts(s.committed.filter((c) => c.t > t));
        return removeWhere(s.committed, (c) => c.t > t);
      },
      truncateBefore: async (t) => {
        check();
        dropParts(s.committed.filter((c) => c.t < t));
        return removeWhere(s.committed, (c) => c.t < t);
      },
    };
    return writer;
  }
}
