// Checkpoints: parts staged under unique names (`parts/<t 20>/<part>.<uuid>`), then
// committed by ONE create-only rename of a manifest `_commits/<t padded 20>`. Readers
// only see what a committed manifest lists. Retention deletes manifests first, then parts.
// Epoch markers live in `_commits/` too, so one LISTSTATUS both fences and indexes a commit.
import { randomUUID } from 'node:crypto';
import type { Checkpoint, CheckpointPart, CheckpointStore, CheckpointWriter, LookUpResult, OpOptions } from '@sluice/storage-api';
import { LIMITS, StorageError, alreadyCommittedError, checkOpenEpoch, checkStagedMatches, notStagedError, sameCommit, sha256Hex } from '@sluice/storage-api';
import type { FileStatus } from './client.js';
import type { HdfsCtx } from './context.js';
import { checkEpoch, checkSameMarker, maxEpoch, openEpoch } from './epochs.js';
import { ImmutableCache, commitFile, committed, jsonBytes, pad, readJson, removeQuietly } from './files.js';
import { outOfOrderError as outOfOrder } from '@sluice/storage-api';

const COMMIT_RE = /^\d{20}$/;
const REF_RE = /^(\d{20})\/[A-Za-z0-9_][A-Za-z0-9._@=-]*$/;
/** `<part>.<uuid>.<sha256>`: the staged digest is in the name, so a commit checks another writer's part from a listing. Older refs have none. */
const REF_SHA_RE = /\.[0-9a-f-]{36}\.([0-9a-f]{64})$/;

interface Commit {
  t: number;
  status: FileStatus;
}

export class HdfsCheckpointStore implements CheckpointStore {
  readonly #dir: string;
  readonly #commits: string;
  readonly #cache = new ImmutableCache<Checkpoint>(64);

  constructor(private readonly ctx: HdfsCtx, readonly name: string, readonly numRetained: number) {
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

  async range(from: number, to: number, o: OpOptions & { limit?: number } = {}): Promise<Checkpoint[]> {
    const limit = o.limit ?? LIMITS.maxLimit;
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

  async readPart(t: number, part: string, o: OpOptions = {}): Promise<Uint8Array> {
    const cp = await this.get(t, o);
    if (!cp) throw new StorageError(`checkpoint ${this.name}@${t} not found`, { code: 'STORAGE_NOT_FOUND' });
    const p = cp.parts.find((x) => x.name === part);
    if (!p) throw new StorageError(`checkpoint ${this.name}@${t} has no part ${part}`, { code: 'STORAGE_NOT_FOUND' });
    let bytes: Buffer;
    try {
      bytes = await this.ctx.client.readAll(`${this.#dir}/parts/${p.ref}`, o.signal);
    } catch (err) {
      if ((err as StorageError).code !== 'STORAGE_NOT_FOUND') throw err;
      throw new StorageError(`checkpoint ${this.name}@${t} part ${part} is missing its data`, { code: 'STORAGE_CORRUPT', cause: err });
    }
    if (bytes.length !== p.size || sha256Hex(bytes) !== p.sha256) {
      throw new StorageError(`checkpoint ${this.name}@${t} part ${part} is corrupt`, { code: 'STORAGE_CORRUPT' });
    }
    return bytes;
  }

  /**
   * Deletes manifests first (readers stop seeing them), then their parts, except parts a
   * remaining checkpoint still lists (one part committed at two times): those stay, and
   * so does their staging directory.
   */
  async #drop(commits: Commit[], remaining: Commit[], signal?: AbortSignal, known?: Map<number, Checkpoint>): Promise<number> {
    const keep = new Set<string>();
    for (const c of remaining) for (const p of (known?.get(c.t) ?? (await this.#load(c, signal)))?.parts ?? []) keep.add(p.ref);
    const keepDirs = new Set([...keep].map((r) => r.slice(0, 20)));
    let n = 0;
    for (const c of commits) {
      const cp = known?.get(c.t) ?? (await this.#load(c, signal));
      if (await this.ctx.client.delete(`${this.#commits}/${pad(c.t)}`, false, signal)) n++;
      const dirs = new Set([pad(c.t)]);
      for (const p of cp?.parts ?? []) {
        const d = p.ref.slice(0, 20);
        if ((!dirs.has(d) || keepDirs.has(d)) && !keep.has(p.ref)) await removeQuietly(this.ctx, `${this.#dir}/parts/${p.ref}`);
      }
      for (const d of dirs) if (!keepDirs.has(d)) await removeQuietly(this.ctx, `${this.#dir}/parts/${d}`, true);
    }
    return n;
  }

  async writer(epoch: number, o: OpOptions = {}): Promise<CheckpointWriter> {
    const marker = await openEpoch(this.ctx, this.#commits, epoch, (cur) => checkOpenEpoch(this.name, epoch, cur), o.signal);
    const store = this;
    /** One LISTSTATUS of _commits: the epoch fence and the commit index at once. */
    const fenced = async (signal?: AbortSignal): Promise<Commit[]> => {
      const { list, commits } = await store.#listing(signal);
      checkEpoch(store.name, list, epoch);
      checkSameMarker(store.name, list, epoch, marker);
      return commits;
    };
    const fence = async (signal?: AbortSignal): Promise<void> => void (await fenced(signal));
    // What this writer staged and committed itself: no need to list or read it back.
    const staged = new Map<string, { size: number; sha256: string }>();
    const mine = new Map<number, Checkpoint>();
    const writer: CheckpointWriter = {
      epoch,
      stage: async (t, part, bytes, o2 = {}) => {
        await fence(o2.signal);
        const sha256 = sha256Hex(bytes);
        const ref = `${pad(t)}/${part}.${randomUUID()}.${sha256}`;
        await commitFile(store.ctx, `${store.#dir}/parts/${ref}`, bytes, 'create-only', o2.signal);
        staged.set(ref, { size: bytes.byteLength, sha256 });
        return { name: part, size: bytes.byteLength, sha256, ref } satisfies CheckpointPart;
      },
      commit: async (t, parts, o2 = {}) => {
        const idx = await fenced(o2.signal);
        const existing = idx.find((c) => c.t === t);
        if (existing) return sameOrExists(await store.#load(existing, o2.signal));
        const last = idx[idx.length - 1];
        if (last && t < last.t) throw outOfOrder(store.name, t, last.t);
        for (const p of parts) {
          const mineStaged = staged.get(p.ref);
          if (mineStaged) checkStagedMatches(p, mineStaged);
        }
        await store.#checkStaged(parts.filter((p) => !staged.has(p.ref)), o2.signal);
        const cp: Checkpoint = {
          t, epoch, parts: parts.map((p) => ({ name: p.name, size: p.size, sha256: p.sha256, ref: p.ref })), meta: o2.meta ?? {}, committedAt: store.ctx.now(),
        };
        try {
          await commitFile(store.ctx, `${store.#commits}/${pad(t)}`, jsonBytes(cp), 'create-only', o2.signal);
        } catch (err) {
          if ((err as StorageError).code !== 'STORAGE_ALREADY_EXISTS') throw err;
          // Someone (maybe our own lost answer) committed t: identical means success.
          const now = (await store.#index(o2.signal)).find((c) => c.t === t);
          return sameOrExists(now && (await store.#load(now, o2.signal)));
        }
        mine.set(t, cp);
        // Retention from the listing taken before the commit (plus ours): a commit racing
        // in meanwhile is trimmed by the next commit.
        const all = [...idx, { t, status: undefined as unknown as FileStatus }];
        const excess = all.length - store.numRetained;
        if (excess > 0) await store.#drop(all.slice(0, excess), all.slice(excess), o2.signal, mine);
        for (const c of all.slice(0, Math.max(0, excess))) mine.delete(c.t);
        if (mine.size > store.numRetained * 4) mine.clear();
        return cp;
        function sameOrExists(cur: Checkpoint | undefined): Checkpoint {
          if (cur && sameCommit(cur, epoch, parts)) return cur;
          throw alreadyCommittedError(store.name, t);
        }
      },
      append: async (t, bytes, o2 = {}) => writer.commit(t, [await writer.stage(t, 'state', bytes, o2)], o2),
      truncateAfter: async (t, o2 = {}) => {
        const idx = await fenced(o2.signal);
        return store.#drop(idx.filter((c) => c.t > t).reverse(), idx.filter((c) => c.t <= t), o2.signal, mine);
      },
      truncateBefore: async (t, o2 = {}) => {
        const idx = await fenced(o2.signal);
        return store.#drop(idx.filter((c) => c.t < t), idx.filter((c) => c.t >= t), o2.signal, mine);
      },
    };
    return writer;
  }

  /** Every listed part must exist as staged: one LISTSTATUS per staging directory. */
  async #checkStaged(parts: CheckpointPart[], signal?: AbortSignal): Promise<void> {
    const byDir = new Map<string, string[]>();
    for (const p of parts) {
      const m = REF_RE.exec(p.ref);
      if (!m) throw new StorageError(`part ${p.name} (${p.ref}) was not staged by this store`, { code: 'STORAGE_INVALID_ARGUMENT' });
      const files = byDir.get(m[1]!) ?? [];
      files.push(p.ref.slice(21));
      byDir.set(m[1]!, files);
    }
    const byRef = new Map(parts.map((p) => [p.ref, p]));
    for (const [dir, files] of byDir) {
      const sizes = new Map(committed(await this.ctx.client.list(`${this.#dir}/parts/${dir}`, signal)).map((s) => [s.pathSuffix, s.length]));
      for (const f of files) {
        const p = byRef.get(`${dir}/${f}`)!;
        if (!sizes.has(f)) throw notStagedError(p);
        checkStagedMatches(p, { size: sizes.get(f)!, sha256: REF_SHA_RE.exec(f)?.[1] });
      }
    }
  }
}
