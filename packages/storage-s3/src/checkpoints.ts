import { randomUUID } from 'node:crypto';
import {
  StorageError, resolveLookUp, sha256Hex, type Checkpoint, type CheckpointBackend, type CheckpointCommitState, type CheckpointPart, type CheckpointPruneState,
  type LookUpResult, type OpOptions,
} from '@sluice/storage-api';
import { EpochRecord } from './epoch.js';
import { mapLimit, pad } from './keys.js';
import type { Shared } from './shared.js';

type Plan = (state: CheckpointPruneState) => { manifests: number[]; refs: string[] };
type CommitPlan = (state: CheckpointCommitState, now: number) => { store: boolean; checkpoint: Checkpoint };

const COMMIT_RE = /^(\d{20})\.json$/;
const MANIFEST_KEY_RE = /^_commits\/(\d{20})\.json$/;
// parts/<t pad20>/<part>/<uuid>.<size>.<sha256>: the staged content's size and digest are
// in the key, so a commit checks a part staged by another process with no request at all.
// Refs of older versions: `<uuid>.<sha256>` (a commit HEADs those for the size) and
// `<uuid>` (read whole).
const PART_REF_RE = /^parts\/(\d{20})\/[A-Za-z0-9_][A-Za-z0-9._@=-]*\/[0-9a-f-]{36}(?:(?:\.(\d{1,16}))?\.([0-9a-f]{64}))?$/;

/** The time a ref of this store was staged for (undefined: not a ref this store makes). */
function refTime(ref: string): number | undefined {
  const m = PART_REF_RE.exec(ref);
  return m ? Number(m[1]) : undefined;
}

/**
 * Checkpoints per protocols.md §D.7, as I/O hooks (storage-api's checkpoint-store applies
 * the policy): parts under unique keys, commit = one create-only PUT of
 * `_commits/<t padded to 20>.json`; readers list `_commits/` and read only what a manifest
 * names. A commit costs GET epoch + PUT manifest (+ one DeleteObjects when retention
 * retires checkpoints): ≤ 3 requests, whatever the number of parts and whichever process
 * staged them (a ref carries its part's size and digest; see #stagedElsewhere).
 */
export class S3CheckpointStore implements CheckpointBackend {
  readonly #commits: string;
  readonly #epoch: EpochRecord;
  /**
   * The manifests, filled when a writer opens or prunes and kept up to date by this
   * handle's commits: the commit's `atT`/`last` and retention come from here, not from a
   * LIST per commit. Fencing makes that safe: a writer that opened elsewhere raised the
   * epoch, and every commit reads the epoch before its conditional PUT.
   */
  #committed: Map<number, Checkpoint> | undefined;
  /** Size and digest of the parts this handle staged (other handles' come from the ref). */
  readonly #staged = new Map<string, { size: number; sha256: string }>();
  /**
   * Part keys retention decided to delete at the previous commit: they go with the next
   * commit's DeleteObjects, after their manifests (a crash never leaves a manifest whose
   * part is gone, and a reader holding a just-retired manifest still finds its bytes).
   */
  #retiredParts: string[] = [];

  constructor(private readonly sh: Shared, readonly base: string, readonly name: string) {
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
    const r = await this.sh.io.getJson<Checkpoint>(this.manifestKey(t), o.signal);
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

  async range(from: number, to: number, o: OpOptions & { limit: number }): Promise<Checkpoint[]> {
    const ts = (await this.times(o.signal)).filter((t) => t >= from && t < to).slice(0, o.limit);
    const cps = await mapLimit(ts, 8, (t) => this.get(t, o));
    return cps.filter((c): c is Checkpoint => c !== undefined);
  }

  async currentEpoch(o: OpOptions = {}): Promise<number> {
    return (await this.#epoch.current(o.signal)).epoch;
  }

  async openEpoch(epoch: number, decide: (current: number) => void, o: OpOptions = {}): Promise<void> {
    this.sh.requireSafeWrites(`checkpoints ${this.name}: opening a writer`);
    await this.#epoch.open(epoch, decide, o.signal);
    this.#committed = undefined; // read again: another process may have committed since
  }

  async stage(t: number, part: Omit<CheckpointPart, 'ref'>, bytes: Uint8Array, check: (current: number) => void, o: OpOptions = {}): Promise<string> {
    check((await this.#epoch.current(o.signal)).epoch);
    const ref = `parts/${pad(t)}/${part.name}/${randomUUID()}.${part.size}.${part.sha256}`;
    await this.sh.io.put(`${this.base}${ref}`, bytes, o.signal);
    this.#staged.set(ref, { size: part.size, sha256: part.sha256 });
    return ref;
  }

  async readStaged(ref: string, o: OpOptions = {}): Promise<Uint8Array | undefined> {
    if (refTime(ref) === undefined) return undefined; // a forged ref never reaches a key
    const r = await this.sh.io.getBytes(`${this.base}${ref}`, o.signal);
    return r && new Uint8Array(r.body);
  }

  async commit(cp: Checkpoint, plan: CommitPlan, retain: Plan, o: OpOptions = {}): Promise<Checkpoint> {
    const epoch = (await this.#epoch.current(o.signal)).epoch;
    const committed = this.#committed ?? (await this.#loadManifests(await this.times(o.signal), o.signal));
    const lastT = Math.max(-Infinity, ...committed.keys());
    const listed = listedParts(committed);
    const staged = new Map<string, { size: number; sha256: string }>();
    for (const p of cp.parts) {
      const s = this.#staged.get(p.ref) ?? listed.get(p.ref) ?? (await this.#stagedElsewhere(p.ref, lastT, o.signal));
      if (s) staged.set(p.ref, s);
    }
    const state: CheckpointCommitState = { epoch, atT: committed.get(cp.t), last: committed.get(lastT), staged };
    const now = this.sh.context.now();
    let r = plan(state, now);
    if (r.store) {
      const key = this.manifestKey(cp.t);
      const put = await this.sh.io.putIfAbsent(key, JSON.stringify(r.checkpoint), o.signal);
      if (put.created) {
        committed.set(cp.t, r.checkpoint);
        for (const p of cp.parts) this.#staged.delete(p.ref);
      } else {
        // Someone (maybe our own lost-answer attempt) holds t: the policy decides again with it.
        const other = (await this.sh.io.getJson<Checkpoint>(key, o.signal))?.value;
        if (!other) throw new StorageError(`checkpoint ${this.name}@${cp.t}: commit outcome unknown`, { code: 'STORAGE_UNAVAILABLE', transient: true });
        committed.set(cp.t, other);
        r = plan({ ...state, atT: other }, now);
        if (r.store) throw new StorageError(`checkpoint ${this.name}@${cp.t}: the policy would overwrite a committed manifest`, { code: 'STORAGE_IO_ERROR' });
      }
    }
    await this.#retain(epoch, committed, retain, o.signal);
    return structuredClone(r.checkpoint);
  }

  /**
   * Retention on the commit path, from the manifests alone (no LIST): the policy sees
   * them and the parts this handle staged; manifests go now, in one DeleteObjects with
   * the parts the previous retention retired.
   */
  async #retain(epoch: number, committed: Map<number, Checkpoint>, retain: Plan, signal?: AbortSignal): Promise<void> {
    const refs = new Set([...committed.values()].flatMap((c) => c.parts.map((p) => p.ref)));
    for (const ref of this.#staged.keys()) refs.add(ref);
    const r = retain({ epoch, committed: manifestsOf(committed), staged: withTimes(refs) });
    for (const t of r.manifests) committed.delete(t);
    for (const ref of r.refs) this.#staged.delete(ref);
    // The previous decision is applied one commit late: a commit since may list a part again.
    const listed = new Set([...committed.values()].flatMap((c) => c.parts.map((p) => `${this.base}${p.ref}`)));
    const keys = [...r.manifests.map((t) => this.manifestKey(t)), ...this.#retiredParts.filter((k) => !listed.has(k))];
    this.#retiredParts = r.refs.map((ref) => `${this.base}${ref}`);
    if (keys.length > 0) await this.sh.io.deleteMany(keys, signal);
  }

  /** Every manifest and every staged part (one LIST of the store), then manifests first, parts after. */
  async prune(plan: Plan, o: OpOptions = {}): Promise<number> {
    const epoch = (await this.#epoch.current(o.signal)).epoch;
    const times: number[] = [];
    const staged: Array<{ ref: string; t: number }> = [];
    for (const k of await this.sh.io.listKeys(this.base, o.signal)) {
      const rel = k.slice(this.base.length);
      const m = MANIFEST_KEY_RE.exec(rel);
      if (m) times.push(Number(m[1]));
      const t = refTime(rel);
      if (t !== undefined) staged.push({ ref: rel, t });
    }
    const committed = await this.#loadManifests(times.sort((a, b) => a - b), o.signal);
    const r = plan({ epoch, committed: manifestsOf(committed), staged });
    const gone = r.manifests.filter((t) => committed.has(t));
    await this.sh.io.deleteMany(gone.map((t) => this.manifestKey(t)), o.signal);
    for (const t of gone) committed.delete(t);
    await this.sh.io.deleteMany(r.refs.map((ref) => `${this.base}${ref}`), o.signal);
    for (const ref of r.refs) this.#staged.delete(ref);
    return gone.length;
  }

  /** The manifests at `times` (the cache's when it has them); becomes the cache. */
  async #loadManifests(times: number[], signal?: AbortSignal): Promise<Map<number, Checkpoint>> {
    const known = this.#committed;
    const cps = await mapLimit(times, 8, async (t) => known?.get(t) ?? (await this.get(t, { signal })));
    this.#committed = new Map(cps.filter((c): c is Checkpoint => c !== undefined).map((c) => [c.t, c]));
    return this.#committed;
  }

  /**
   * A part another process staged and no known manifest lists. A ref staged for a time at
   * or after the newest commit carries its size and digest: no request (the policy
   * compares the descriptor with them). Anything else is looked at: a ref staged before
   * the newest commit may have been swept (a new writer's sweep, retention, fsck), and
   * older refs lack the size (HEAD) or the digest too (read whole).
   */
  async #stagedElsewhere(ref: string, lastT: number, signal?: AbortSignal): Promise<{ size: number; sha256: string } | undefined> {
    const m = PART_REF_RE.exec(ref);
    if (!m) return undefined;
    const [, t, size, sha256] = m;
    if (size !== undefined && sha256 !== undefined && Number(t) >= lastT) return { size: Number(size), sha256 };
    if (sha256 === undefined) {
      const r = await this.sh.io.getBytes(`${this.base}${ref}`, signal);
      return r && { size: r.body.length, sha256: sha256Hex(r.body) };
    }
    const h = await this.sh.io.head(`${this.base}${ref}`, signal);
    return h && { size: h.size, sha256 };
  }
}

/** Size and digest of every part the known manifests list (a part listed before needs no request). */
function listedParts(committed: Map<number, Checkpoint>): Map<string, { size: number; sha256: string }> {
  const out = new Map<string, { size: number; sha256: string }>();
  for (const c of committed.values()) for (const p of c.parts) out.set(p.ref, { size: p.size, sha256: p.sha256 });
  return out;
}

function manifestsOf(committed: Map<number, Checkpoint>): Array<{ t: number; refs: string[] }> {
  return [...committed.values()].map((c) => ({ t: c.t, refs: c.parts.map((p) => p.ref) }));
}

function withTimes(refs: Iterable<string>): Array<{ ref: string; t: number }> {
  const out: Array<{ ref: string; t: number }> = [];
  for (const ref of refs) {
    const t = refTime(ref);
    if (t !== undefined) out.push({ ref, t });
  }
  return out;
}
