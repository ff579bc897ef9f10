import { randomUUID } from 'node:crypto';
import {
  StorageError, alreadyCommittedError, checkStagedMatches, notStagedError, outOfOrderError, resolveLookUp, sameCommit, sha256Hex, type Checkpoint, type CheckpointPart, type CheckpointStore, type CheckpointWriter,
  type LookUpResult, type OpOptions,
} from '@sluice/storage-api';
import { EpochRecord } from './epoch.js';
import { mapLimit, pad } from './keys.js';
import type { Shared } from './shared.js';

const COMMIT_RE = /^(\d{20})\.json$/;
// <uuid>.<sha256>: the staged content's digest is in the key, so a commit checks a part
// staged by another process with one HEAD (size) and no GET. Older refs have no digest.
const PART_REF_RE = /^parts\/\d{20}\/[A-Za-z0-9_][A-Za-z0-9._@=-]*\/[0-9a-f-]{36}(?:\.([0-9a-f]{64}))?$/;
/** Staged parts no manifest lists are removed once this old (a stage may still be committed). */
export const ORPHAN_GRACE_MS = 10 * 60_000;

/**
 * Checkpoints per protocols.md §D.7: parts under unique keys, commit = one create-only PUT
 * of `_commits/<t padded to 20>.json`; readers list `_commits/` and read only what a
 * manifest names.
 */
export class S3CheckpointStore implements CheckpointStore {
  readonly #commits: string;
  readonly #epoch: EpochRecord;

  constructor(private readonly sh: Shared, readonly base: string, readonly name: string, readonly numRetained: number) {
    this.#commits = `${base}_commits/`;
    this.#epoch = new EpochRecord(sh.io, `${base}epoch.json`, name);
  }

  manifestKey(t: number): string {
    return `${this.#commits}${pad(t)}.json`;
  }

  async times(signal?: AbortSignal): Promise<number[]> {
    const out: number[] = [];
    for (const k of await this.sh.io.listKeys(this.#commits, signal)) {
      const m = COMMIT_RE.exec(k.slice(this.#commits.length));
      if (m) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  async get(t: number, o: OpOptions = {}): Promise<Checkpoint | undefined> {
    const key = this.manifestKey(t);
    const r = await this.sh.io.getJson<Checkpoint>(key, o.signal);
    // Always a GET: a cached manifest may have been retired by another instance.
    return r ? r.value : undefined;
  }

  async #at(times: number[], i: number, signal?: AbortSignal): Promise<Checkpoint | undefined> {
    // A manifest can vanish between LIST and GET (retention): fall back to the neighbours.
    for (let j = i; j >= 0 && j < times.length; j++) {
      const cp = await this.get(times[j]!, { signal });
      if (cp) return cp;
    }
    return undefined;
  }

  async floor(t: number, o: OpOptions = {}): Promise<Checkpoint | undefined> {
    const ts = await this.times(o.signal);
    for (let i = ts.length - 1; i >= 0; i--) {
      if (ts[i]! > t) continue;
      const cp = await this.get(ts[i]!, o);
      if (cp) return cp;
    }
    return undefined;
  }

  async lookUp(t: number, o: OpOptions = {}): Promise<LookUpResult<Checkpoint>> {
    const ts = await this.times(o.signal);
    return resolveLookUp(
      t,
      () => this.#at(ts, 0, o.signal),
      async () => {
        for (let i = ts.length - 1; i >= 0; i--) {
          const cp = await this.get(ts[i]!, o);
          if (cp) return cp;
        }
        return undefined;
      },
      (x) => this.#at(ts, ts.findIndex((y) => y >= x), o.signal),
    );
  }

  async first(o: OpOptions = {}): Promise<Checkpoint | undefined> {
    return this.#at(await this.times(o.signal), 0, o.signal);
  }

  async last(o: OpOptions = {}): Promise<Checkpoint | undefined> {
    return this.floor(Number.MAX_SAFE_INTEGER, o);
  }

  async range(from: number, to: number, o: OpOptions & { limit?: number } = {}): Promise<Checkpoint[]> {
    const ts = (await this.times(o.signal)).filter((t) => t >= from && t < to).slice(0, o.limit ?? 10_000);
    const cps = await mapLimit(ts, 8, (t) => this.get(t, o));
    return cps.filter((c): c is Checkpoint => c !== undefined);
  }

  async currentEpoch(o: OpOptions = {}): Promise<number> {
    return (await this.#epoch.current(o.signal)).epoch;
  }

  async readPart(t: number, part: string, o: OpOptions = {}): Promise<Uint8Array> {
    const cp = await this.get(t, o);
    if (!cp) throw new StorageError(`checkpoint ${this.name}@${t} not found`, { code: 'STORAGE_NOT_FOUND' });
    const p = cp.parts.find((x) => x.name === part);
    if (!p) throw new StorageError(`checkpoint ${this.name}@${t} has no part ${part}`, { code: 'STORAGE_NOT_FOUND' });
    const r = await this.sh.io.getBytes(`${this.base}${p.ref}`, o.signal);
    if (!r) throw new StorageError(`checkpoint ${this.name}@${t} part ${part} is missing its data`, { code: 'STORAGE_CORRUPT' });
    if (r.body.length !== p.size || sha256Hex(r.body) !== p.sha256) {
      throw new StorageError(`checkpoint ${this.name}@${t} part ${part} is corrupt (sha256 mismatch)`, { code: 'STORAGE_CORRUPT' });
    }
    return new Uint8Array(r.body);
  }

  async writer(epoch: number, o: OpOptions = {}): Promise<CheckpointWriter> {
    this.sh.requireSafeWrites(`checkpoints ${this.name}: opening a writer`);
    await this.#epoch.open(epoch, undefined, o.signal);
    const committed = new Map<number, Checkpoint>();
    for (const cp of await this.range(0, Number.MAX_SAFE_INTEGER, o)) committed.set(cp.t, cp);
    const w = new S3CheckpointWriter(this, this.#epoch, epoch, this.sh, committed);
    await w.collectOrphans(o.signal).catch((err: unknown) => this.sh.context.logger.warn({ err: (err as Error).message, store: this.name }, 'orphan part gc failed'));
    return w;
  }
}

class S3CheckpointWriter implements CheckpointWriter {
  /** Refs this writer staged itself: committing them needs no existence check. */
  readonly #staged = new Map<string, { size: number; sha256: string }>();
  /** Parts of retired checkpoints, deleted with the next commit's batch (after their manifests are gone). */
  #retiredParts: string[] = [];

  constructor(
    private readonly store: S3CheckpointStore,
    private readonly ep: EpochRecord,
    readonly epoch: number,
    private readonly sh: Shared,
    private readonly committed: Map<number, Checkpoint>,
  ) {}

  async stage(t: number, part: string, bytes: Uint8Array, o: OpOptions = {}): Promise<CheckpointPart> {
    await this.ep.check(this.epoch, o.signal);
    const sha256 = sha256Hex(bytes);
    const ref = `parts/${pad(t)}/${part}/${randomUUID()}.${sha256}`;
    await this.sh.io.put(`${this.store.base}${ref}`, bytes, o.signal);
    this.#staged.set(ref, { size: bytes.byteLength, sha256 });
    return { name: part, size: bytes.byteLength, sha256, ref };
  }

  /** GET epoch + PUT manifest (+ one DeleteObjects when retention retires checkpoints): ≤3 requests. */
  async commit(t: number, parts: CheckpointPart[], o: OpOptions & { meta?: Record<string, unknown> } = {}): Promise<Checkpoint> {
    await this.ep.check(this.epoch, o.signal);
    for (const p of parts) {
      const staged = this.#staged.get(p.ref) ?? (await this.#stagedElsewhere(p.ref, o.signal));
      if (!staged) throw notStagedError(p);
      checkStagedMatches(p, staged);
    }
    const existing = this.committed.get(t);
    if (existing) return this.#sameOrExists(existing, t, parts);
    const lastT = Math.max(-1, ...this.committed.keys());
    if (t < lastT) {
      throw outOfOrderError(this.store.name, t, lastT);
    }
    const cp: Checkpoint = {
      t, epoch: this.epoch, parts: parts.map((p) => ({ name: p.name, size: p.size, sha256: p.sha256, ref: p.ref })), meta: o.meta ?? {},
      committedAt: this.sh.context.now(),
    };
    const key = this.store.manifestKey(t);
    const r = await this.sh.io.putIfAbsent(key, JSON.stringify(cp), o.signal);
    if (!r.created) {
      // Someone (maybe our own lost-answer attempt) holds t: identical commit or conflict.
      const other = (await this.sh.io.getJson<Checkpoint>(key, o.signal))?.value;
      if (!other) throw new StorageError(`checkpoint ${this.store.name}@${t}: commit outcome unknown`, { code: 'STORAGE_UNAVAILABLE' });
      this.committed.set(t, other);
      return this.#sameOrExists(other, t, parts);
    }
    this.committed.set(t, cp);
    for (const p of parts) this.#staged.delete(p.ref);
    await this.#retire(o.signal);
    return structuredClone(cp);
  }

  /** A part another writer staged: its size from a HEAD, its digest from the key. */
  async #stagedElsewhere(ref: string, signal?: AbortSignal): Promise<{ size: number; sha256?: string } | undefined> {
    const m = PART_REF_RE.exec(ref);
    if (!m) return undefined;
    const h = await this.sh.io.head(`${this.store.base}${ref}`, signal);
    return h && { size: h.size, sha256: m[1] };
  }

  #sameOrExists(existing: Checkpoint, t: number, parts: CheckpointPart[]): Checkpoint {
    if (sameCommit(existing, this.epoch, parts)) return structuredClone(existing);
    throw alreadyCommittedError(this.store.name, t);
  }

  /** Keeps the newest numRetained: drops their manifests now and their parts one commit later. */
  async #retire(signal?: AbortSignal): Promise<void> {
    const ts = [...this.committed.keys()].sort((a, b) => a - b);
    const drop = ts.slice(0, Math.max(0, ts.length - this.store.numRetained));
    if (drop.length === 0 && this.#retiredParts.length === 0) return;
    const keys = [...this.#retiredParts];
    const nextParts: string[] = [];
    for (const t of drop) {
      keys.push(this.store.manifestKey(t));
      for (const p of this.committed.get(t)!.parts) nextParts.push(`${this.store.base}${p.ref}`);
      this.committed.delete(t);
    }
    // A part a kept checkpoint still lists (one part committed at two times) stays.
    const listed = new Set([...this.committed.values()].flatMap((c) => c.parts.map((p) => `${this.store.base}${p.ref}`)));
    await this.sh.io.deleteMany(keys.filter((k) => !listed.has(k)), signal);
    this.#retiredParts = nextParts.filter((k) => !listed.has(k));
  }

  append(t: number, bytes: Uint8Array, o: OpOptions = {}): Promise<Checkpoint> {
    return this.stage(t, 'state', bytes, o).then((p) => this.commit(t, [p], o));
  }

  truncateAfter(t: number, o: OpOptions = {}): Promise<number> {
    return this.#truncate((x) => x > t, o.signal);
  }

  truncateBefore(t: number, o: OpOptions = {}): Promise<number> {
    return this.#truncate((x) => x < t, o.signal);
  }

  async #truncate(gone: (t: number) => boolean, signal?: AbortSignal): Promise<number> {
    await this.ep.check(this.epoch, signal);
    const ts = (await this.store.times(signal)).filter(gone);
    const cps = (await mapLimit(ts, 8, (t) => this.store.get(t, { signal }))).filter((c): c is Checkpoint => c !== undefined);
    // Manifests first (the checkpoint disappears whole), then the parts they named.
    await this.sh.io.deleteMany(ts.map((t) => this.store.manifestKey(t)), signal);
    for (const t of ts) this.committed.delete(t);
    const listed = new Set([...this.committed.values()].flatMap((c) => c.parts.map((p) => p.ref)));
    await this.sh.io.deleteMany(cps.flatMap((c) => c.parts.filter((p) => !listed.has(p.ref)).map((p) => `${this.store.base}${p.ref}`)), signal);
    return ts.length;
  }

  /** Deletes staged parts that no manifest lists and that are older than the grace period. */
  async collectOrphans(signal?: AbortSignal): Promise<number> {
    const listed = await this.sh.io.list(`${this.store.base}parts/`, { signal });
    const referenced = new Set<string>();
    for (const cp of this.committed.values()) for (const p of cp.parts) referenced.add(`${this.store.base}${p.ref}`);
    const cutoff = Date.now() - ORPHAN_GRACE_MS;
    const orphans = listed.keys.filter((k) => !referenced.has(k.key) && (k.lastModified?.getTime() ?? Date.now()) < cutoff).map((k) => k.key);
    await this.sh.io.deleteMany(orphans, signal);
    return orphans.length;
  }
}
