// Checkpoints as I/O hooks (storage-api's checkpoint-store applies the policy): parts
// staged under unique names (`parts/<t 20>/<part>.<uuid>.<size>.<sha256>`), then committed by ONE
// create-only rename of a manifest `_commits/<t padded 20>`. Readers only see what a
// committed manifest lists. Deletions go manifests first, then parts. Epoch markers live
// in `_commits/` too, so one LISTSTATUS both fences and indexes a commit.
import { randomUUID } from 'node:crypto';
import type { Checkpoint, CheckpointBackend, CheckpointCommitState, CheckpointPart, CheckpointPruneState, LookUpResult, OpOptions } from '@sluice/storage-api';
import { StorageError, sha256Hex } from '@sluice/storage-api';
import type { FileStatus } from './client.js';
import type { HdfsCtx } from './context.js';
import { checkSameMarker, maxEpoch, openEpoch } from './epochs.js';
import { ImmutableCache, commitFile, committed, jsonBytes, pad, readJson, removeQuietly } from './files.js';

type Plan = (state: CheckpointPruneState) => { manifests: number[]; refs: string[] };
type CommitPlan = (state: CheckpointCommitState, now: number) => { store: boolean; checkpoint: Checkpoint };

const COMMIT_RE = /^\d{20}$/;
const REF_RE = /^(\d{20})\/[A-Za-z0-9_][A-Za-z0-9._@=-]*$/;
/**
 * `<part>.<uuid>.<size>.<sha256>`: the staged size and digest are in the name, so a commit
 * checks another writer's part with no request. Older refs: `<part>.<uuid>.<sha256>` (the
 * size from a listing) and `<part>.<uuid>` (read whole).
 */
const REF_SHA_RE = /\.[0-9a-f-]{36}(?:\.(\d{1,16}))?\.([0-9a-f]{64})$/;
/**
 * On the commit path the backend knows only the refs its manifests list and the ones it
 * staged itself; `<t 20>/*` stands for whatever else is staged in that directory (parts no
 * manifest lists, since every listed one is known). When the policy drops it and every
 * known ref there, the whole directory goes in one DELETE.
 */
const REST = '/*';

/** The time a ref of this store was staged for (undefined: not a ref this store makes). */
function refTime(ref: string): number | undefined {
  const m = REF_RE.exec(ref);
  return m ? Number(m[1]) : undefined;
}

interface Commit {
  t: number;
  status: FileStatus;
}

export class HdfsCheckpointStore implements CheckpointBackend {
  readonly #dir: string;
  readonly #commits: string;
  readonly #cache = new ImmutableCache<Checkpoint>(64);

  /** Inode ids of the epoch markers this handle opened writers with (see checkSameMarker). */
  readonly #markers = new Map<number, number | undefined>();
  /** Size and digest of the parts this handle staged: committing them needs no listing. */
  readonly #staged = new Map<string, { size: number; sha256: string }>();
  /** Manifests by t that this handle committed or read for retention, kept to those still listed. */
  #known = new Map<number, Checkpoint>();

  constructor(private readonly ctx: HdfsCtx, readonly name: string) {
    this.#dir = `${ctx.appDir}/checkpoints/${name}`;
    this.#commits = `${this.#dir}/_commits`;
  }

  async #index(signal?: AbortSignal): Promise<Commit[]> {
    return (await this.#listing(signal)).commits;
  }

  async #listing(signal?: AbortSignal): Promise<{ list: FileStatus[] | undefined; commits: Commit[] }> {
    const list = await this.ctx.client.list(this.#commits, signal);
    const commits = committed(list)
      .filter((s) => COMMIT_RE.test(s.pathSuffix))
      .map((s) => ({ t: Number(s.pathSuffix), status: s }));
    return { list, commits };
  }

  async #load(c: Commit, signal?: AbortSignal): Promise<Checkpoint | undefined> {
    const key = this.#cache.key(this.#commits, c.status);
    const hit = this.#cache.get(key);
    if (hit) return hit;
    try {
      const cp = await readJson<Checkpoint>(this.ctx.client, `${this.#commits}/${c.status.pathSuffix}`, signal);
      this.#cache.set(key, cp);
      return cp;
    } catch (err) {
      if ((err as StorageError).code === 'STORAGE_NOT_FOUND') return undefined; // truncated meanwhile
      throw err;
    }
  }

  async get(t: number, o: OpOptions = {}): Promise<Checkpoint | undefined> {
    const c = (await this.#index(o.signal)).find((x) => x.t === t);
    return c && this.#load(c, o.signal);
  }

  async floor(t: number, o: OpOptions = {}): Promise<Checkpoint | undefined> {
    const idx = await this.#index(o.signal);
    let found: Commit | undefined;
    for (const c of idx) if (c.t <= t) found = c;
    return found && this.#load(found, o.signal);
  }

  async lookUp(t: number, o: OpOptions = {}): Promise<LookUpResult<Checkpoint>> {
    const idx = await this.#index(o.signal);
    const first = idx[0];
    const last = idx[idx.length - 1];
    if (!first || !last) return { status: 'empty' };
    if (t < first.t) {
      const min = await this.#load(first, o.signal);
      return min ? { status: 'underflow', min } : { status: 'empty' };
    }
    if (t > last.t) {
      const max = await this.#load(last, o.signal);
      return max ? { status: 'overflow', max } : { status: 'empty' };
    }
    const c = idx.find((x) => x.t >= t)!;
    const entry = await this.#load(c, o.signal);
    return entry ? { status: 'found', entry } : { status: 'empty' };
  }

  async first(o: OpOptions = {}): Promise<Checkpoint | undefined> {
    const c = (await this.#index(o.signal))[0];
    return c && this.#load(c, o.signal);
  }

  async last(o: OpOptions = {}): Promise<Checkpoint | undefined> {
    const idx = await this.#index(o.signal);
    const c = idx[idx.length - 1];
    return c && this.#load(c, o.signal);
  }

  async range(from: number, to: number, o: OpOptions & { limit: number }): Promise<Checkpoint[]> {
    const limit = o.limit;
    const out: Checkpoint[] = [];
    for (const c of await this.#index(o.signal)) {
      if (c.t < from || c.t >= to) continue;
      if (out.length >= limit) break;
      const cp = await this.#load(c, o.signal);
      if (cp) out.push(cp);
    }
    return out;
  }

  async currentEpoch(o: OpOptions = {}): Promise<number> {
    return maxEpoch(await this.ctx.client.list(this.#commits, o.signal));
  }


  async openEpoch(epoch: number, decide: (current: number) => void, o: OpOptions = {}): Promise<void> {
    this.#markers.set(epoch, await openEpoch(this.ctx, this.#commits, epoch, decide, o.signal));
  }

  /** Fails if a marker this handle opened with was replaced: the app was deleted and re-created. */
  #checkSameApp(list: FileStatus[] | undefined): void {
    for (const [epoch, id] of this.#markers) checkSameMarker(this.name, list, epoch, id);
  }

  /** One LISTSTATUS of _commits (the epoch), then the part under a fresh name. */
  async stage(t: number, part: Omit<CheckpointPart, 'ref'>, bytes: Uint8Array, check: (current: number) => void, o: OpOptions = {}): Promise<string> {
    const list = await this.ctx.client.list(this.#commits, o.signal);
    check(maxEpoch(list));
    this.#checkSameApp(list);
    const ref = `${pad(t)}/${part.name}.${randomUUID()}.${part.size}.${part.sha256}`;
    await commitFile(this.ctx, `${this.#dir}/parts/${ref}`, bytes, 'create-only', o.signal);
    this.#staged.set(ref, { size: part.size, sha256: part.sha256 });
    return ref;
  }

  async readStaged(ref: string, o: OpOptions = {}): Promise<Uint8Array | undefined> {
    if (refTime(ref) === undefined) return undefined; // a forged ref never reaches a path
    try {
      return await this.ctx.client.readAll(`${this.#dir}/parts/${ref}`, o.signal);
    } catch (err) {
      if ((err as StorageError).code === 'STORAGE_NOT_FOUND') return undefined;
      throw err;
    }
  }

  /**
   * LISTSTATUS _commits (epoch and index at once), CREATE + RENAME NONE of the manifest;
   * retention from the manifests alone (known to this handle, or read once), then
   * DELETEs of what it drops.
   */
  async commit(cp: Checkpoint, plan: CommitPlan, retain: Plan, o: OpOptions = {}): Promise<Checkpoint> {
    const signal = o.signal;
    const { list, commits } = await this.#listing(signal);
    this.#checkSameApp(list);
    const epoch = maxEpoch(list);
    const at = commits.find((c) => c.t === cp.t);
    const lastC = commits[commits.length - 1];
    const atT = at && (await this.#manifest(at, signal));
    const last = lastC && (await this.#manifest(lastC, signal));
    const listed = [...this.#known.values(), ...(atT ? [atT] : []), ...(last ? [last] : [])];
    const state: CheckpointCommitState = { epoch, atT, last, staged: await this.#stagedState(cp.parts, listed, lastC?.t ?? -Infinity, signal) };
    const now = this.ctx.now();
    let r = plan(state, now);
    if (r.store) {
      try {
        await commitFile(this.ctx, `${this.#commits}/${pad(cp.t)}`, jsonBytes(r.checkpoint), 'create-only', signal);
        this.#known.set(cp.t, r.checkpoint);
        for (const p of cp.parts) this.#staged.delete(p.ref);
      } catch (err) {
        if ((err as StorageError).code !== 'STORAGE_ALREADY_EXISTS') throw err;
        // Someone (maybe our own lost answer) committed t: the policy decides again with it.
        const c = (await this.#index(signal)).find((x) => x.t === cp.t);
        const other = c && (await this.#load(c, signal));
        if (!other) throw new StorageError(`checkpoint ${this.name}@${cp.t}: commit outcome unknown`, { code: 'STORAGE_UNAVAILABLE', transient: true });
        this.#known.set(cp.t, other);
        r = plan({ ...state, atT: other }, now);
        if (r.store) throw new StorageError(`checkpoint ${this.name}@${cp.t}: the policy would overwrite a committed manifest`, { code: 'STORAGE_IO_ERROR' });
      }
    }
    // Retention from the listing taken before the commit (plus t): a commit racing in
    // meanwhile is trimmed by the next one.
    const manifests: Checkpoint[] = [];
    for (const c of commits) {
      const m = await this.#manifest(c, signal);
      if (m) manifests.push(m);
    }
    const mine = this.#known.get(cp.t);
    if (!at && mine) manifests.push(mine);
    this.#known = new Map(manifests.map((m) => [m.t, m]));
    const known = new Map<string, string[]>();
    for (const ref of new Set([...manifests.flatMap((m) => m.parts.map((p) => p.ref)), ...this.#staged.keys()])) {
      if (refTime(ref) === undefined) continue;
      const d = ref.slice(0, 20);
      known.set(d, [...(known.get(d) ?? []), ref]);
    }
    const staged = [...known].flatMap(([d, refs]) => [...refs, `${d}${REST}`].map((ref) => ({ ref, t: Number(d) })));
    await this.#apply(retain({ epoch, committed: manifestsOf(manifests), staged }), known, false, signal);
    return r.checkpoint;
  }

  /** Every manifest and every staged part (a LISTSTATUS per staging directory): truncation and the sweep. */
  async prune(plan: Plan, o: OpOptions = {}): Promise<number> {
    const signal = o.signal;
    const { list, commits } = await this.#listing(signal);
    this.#checkSameApp(list);
    const manifests: Checkpoint[] = [];
    for (const c of commits) {
      const m = await this.#manifest(c, signal);
      if (m) manifests.push(m);
    }
    this.#known = new Map(manifests.map((m) => [m.t, m]));
    const files = new Map<string, string[]>();
    for (const d of (await this.ctx.client.list(`${this.#dir}/parts`, signal)) ?? []) {
      if (d.type !== 'DIRECTORY' || !COMMIT_RE.test(d.pathSuffix)) continue;
      const inDir = (await this.ctx.client.list(`${this.#dir}/parts/${d.pathSuffix}`, signal)) ?? [];
      // An empty staging directory holds nothing (a CREATE in flight shows its temp file).
      if (inDir.length === 0) await removeQuietly(this.ctx, `${this.#dir}/parts/${d.pathSuffix}`);
      else files.set(d.pathSuffix, committed(inDir).map((f) => `${d.pathSuffix}/${f.pathSuffix}`));
    }
    const staged = [...files.values()].flat().map((ref) => ({ ref, t: refTime(ref) ?? -1 })).filter((x) => x.t >= 0);
    return this.#apply(plan({ epoch: maxEpoch(list), committed: manifestsOf(manifests), staged }), files, true, signal);
  }

  /**
   * Deletes what the policy named: manifests first, then parts. A staging directory goes
   * in one recursive DELETE when everything in it was dropped (`complete`: the listing
   * showed all of it; else its `REST` entry stands for what this handle did not see).
   */
  async #apply(r: { manifests: number[]; refs: string[] }, files: Map<string, string[]>, complete: boolean, signal?: AbortSignal): Promise<number> {
    let n = 0;
    for (const t of r.manifests) {
      if (await this.ctx.client.delete(`${this.#commits}/${pad(t)}`, false, signal)) n++;
      this.#known.delete(t);
    }
    const drop = new Set(r.refs);
    const dirs = new Set(r.refs.map((ref) => ref.slice(0, 20)));
    for (const d of dirs) {
      const all = (files.get(d) ?? []).every((ref) => drop.has(ref));
      if (all && (complete || drop.has(`${d}${REST}`))) {
        await removeQuietly(this.ctx, `${this.#dir}/parts/${d}`, true);
        continue;
      }
      for (const ref of r.refs) if (ref.startsWith(`${d}/`) && !ref.endsWith(REST)) await removeQuietly(this.ctx, `${this.#dir}/parts/${ref}`);
      if (all) await removeQuietly(this.ctx, `${this.#dir}/parts/${d}`); // non-recursive: goes only if nothing else is there
    }
    for (const ref of drop) this.#staged.delete(ref);
    return n;
  }

  /** A manifest this handle knows (committed or read before), else read once (cached by inode). */
  async #manifest(c: Commit, signal?: AbortSignal): Promise<Checkpoint | undefined> {
    return this.#known.get(c.t) ?? (await this.#load(c, signal));
  }

  /**
   * Size and digest of the parts a commit lists, with no request for: this handle's own
   * (memory), parts a known manifest lists (shared with an earlier checkpoint), and refs
   * staged at or after the newest commit (the ref carries them). The rest — staged before
   * the newest commit, so perhaps swept since, or refs of older versions — from one
   * LISTSTATUS per staging directory.
   */
  async #stagedState(parts: CheckpointPart[], manifests: Checkpoint[], lastT: number, signal?: AbortSignal): Promise<Map<string, { size: number; sha256: string }>> {
    const out = new Map<string, { size: number; sha256: string }>();
    const listed = new Map<string, { size: number; sha256: string }>();
    for (const m of manifests) for (const p of m.parts) listed.set(p.ref, { size: p.size, sha256: p.sha256 });
    const byDir = new Map<string, string[]>();
    for (const p of parts) {
      const t = refTime(p.ref);
      const enc = REF_SHA_RE.exec(p.ref);
      const known = this.#staged.get(p.ref) ?? listed.get(p.ref);
      if (known) out.set(p.ref, known);
      else if (t !== undefined && t >= lastT && enc?.[1] !== undefined) out.set(p.ref, { size: Number(enc[1]), sha256: enc[2]! });
      else if (t !== undefined) byDir.set(p.ref.slice(0, 20), [...(byDir.get(p.ref.slice(0, 20)) ?? []), p.ref]);
    }
    for (const [dir, refs] of byDir) {
      const sizes = new Map(committed(await this.ctx.client.list(`${this.#dir}/parts/${dir}`, signal)).map((s) => [`${dir}/${s.pathSuffix}`, s.length]));
      for (const ref of refs) {
        const size = sizes.get(ref);
        if (size === undefined) continue;
        const sha = REF_SHA_RE.exec(ref)?.[2];
        if (sha) out.set(ref, { size, sha256: sha });
        else {
          // A ref of an older version has no digest in its name: read it whole.
          const bytes = await this.readStaged(ref, { signal });
          if (bytes) out.set(ref, { size: bytes.byteLength, sha256: sha256Hex(bytes) });
        }
      }
    }
    return out;
  }
}

function manifestsOf(manifests: Checkpoint[]): Array<{ t: number; refs: string[] }> {
  return manifests.map((m) => ({ t: m.t, refs: m.parts.map((p) => p.ref) }));
}
