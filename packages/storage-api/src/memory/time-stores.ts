import { randomUUID } from 'node:crypto';
import type {
  Checkpoint, CheckpointBackend, CheckpointCommitState, CheckpointPart, CheckpointPruneState, LookUpResult, OffsetBackend, OffsetState, TimeEntry,
} from '../types.js';
import { lowerBound, resolveLookUp } from '../util/lookup.js';
import { sha256Hex } from '../util/bytes.js';
import { LIMITS } from '../limits.js';
import { assertLive, type MemoryApp } from './volume.js';

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

/** Refs are `<t>/<part>/<uuid>`: the time a part was staged for is the ref's first field. */
const refTime = (ref: string): number => Number(ref.split('/', 1)[0]);

type PrunePlan = (state: CheckpointPruneState) => { manifests: number[]; refs: string[] };

/** Checkpoints in memory: I/O hooks only (storage-api's checkpoint-store applies the policy). */
export class MemoryCheckpointStore extends SortedReader<Checkpoint> implements CheckpointBackend {
  constructor(private readonly app: MemoryApp, name: string, private readonly now: () => number) {
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

  async openEpoch(epoch: number, decide: (current: number) => void): Promise<void> {
    assertLive(this.app);
    const s = this.#state();
    decide(s.epoch);
    if (epoch > s.epoch) s.epoch = epoch;
  }

  async stage(t: number, part: Omit<CheckpointPart, 'ref'>, bytes: Uint8Array, check: (current: number) => void): Promise<string> {
    assertLive(this.app);
    const s = this.#state();
    check(s.epoch);
    const ref = `${t}/${part.name}/${randomUUID()}`;
    s.staged.set(ref, Buffer.from(bytes));
    return ref;
  }

  async readStaged(ref: string): Promise<Uint8Array | undefined> {
    const b = this.app.checkpoints.get(this.name)?.staged.get(ref);
    return b && Buffer.from(b);
  }

  async commit(cp: Checkpoint, plan: (state: CheckpointCommitState, now: number) => { store: boolean; checkpoint: Checkpoint }, retain: PrunePlan): Promise<Checkpoint> {
    assertLive(this.app);
    const s = this.#state();
    const staged = new Map<string, { size: number; sha256: string }>();
    for (const p of cp.parts) {
      const b = s.staged.get(p.ref);
      if (b) staged.set(p.ref, { size: b.byteLength, sha256: sha256Hex(b) });
    }
    const r = plan({ epoch: s.epoch, atT: s.committed.find((c) => c.t === cp.t), last: s.committed[s.committed.length - 1], staged }, this.now());
    if (r.store) s.committed.push(r.checkpoint);
    this.#prune(retain);
    return r.checkpoint;
  }

  async prune(plan: PrunePlan): Promise<number> {
    assertLive(this.app);
    return this.#prune(plan);
  }

  #prune(plan: PrunePlan): number {
    const s = this.#state();
    const r = plan({ epoch: s.epoch, committed: s.committed.map((c) => ({ t: c.t, refs: c.parts.map((p) => p.ref) })), staged: [...s.staged.keys()].map((ref) => ({ ref, t: refTime(ref) })) });
    for (const ref of r.refs) s.staged.delete(ref);
    const gone = new Set(r.manifests);
    return removeWhere(s.committed, (c) => gone.has(c.t));
  }
}
