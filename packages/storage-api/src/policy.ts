/**
 * Contract policy that backends share instead of restating: the errors of fencing and
 * ordering, and the checks that keep a handle of a deleted app from writing.
 */
import { StorageError, toStorageError } from './errors.js';
import type { AppMeta, AppMetaPatch, CheckpointPart, CreateAppOptions, OffsetState, OpOptions, TimeEntry } from './types.js';
import { bytesEqual } from './util/bytes.js';

export function fencedError(store: string, mine: number, current: number): StorageError {
  return new StorageError(`store ${store}: epoch ${mine} is fenced by epoch ${current}`, { code: 'STORAGE_FENCED', details: { epoch: mine, currentEpoch: current } });
}

export function outOfOrderError(store: string, t: number, last: number): StorageError {
  return new StorageError(`store ${store}: time ${t} is not after the last time ${last}`, { code: 'STORAGE_OUT_OF_ORDER', details: { t, last } });
}

/**
 * The write-time epoch check of a time-keyed store. A higher epoch fences this writer. A
 * lower one means the store was wiped since the writer opened (only deleting the app
 * lowers an epoch): the writer belongs to a deleted app and must not write into nothing
 * or into a re-created app of the same id.
 */
export function checkWriterEpoch(store: string, mine: number, current: number): void {
  if (current > mine) throw fencedError(store, mine, current);
  if (current < mine) {
    throw new StorageError(`store ${store}: its app was deleted since this writer (epoch ${mine}) opened`, { code: 'STORAGE_NOT_FOUND', details: { epoch: mine, currentEpoch: current } });
  }
}

/**
 * Makes the named write methods of a sub-store first await `alive` (which throws
 * STORAGE_NOT_FOUND once the app is deleted or re-created), for backends whose writes
 * would otherwise land in a deleted app's data and be acknowledged.
 */
export function checkAliveBefore<T extends object>(store: T, methods: ReadonlyArray<keyof T & string>, alive: (signal?: AbortSignal) => Promise<unknown>): T {
  for (const m of methods) {
    const orig = store[m] as unknown as (...args: unknown[]) => Promise<unknown>;
    if (typeof orig !== 'function') throw new TypeError(`checkAliveBefore: ${m} is not a method`);
    Object.defineProperty(store, m, {
      value: async (...args: unknown[]) => {
        const last = args[args.length - 1] as OpOptions | undefined;
        await alive(last && typeof last === 'object' && 'signal' in last ? last.signal : undefined);
        return orig.apply(store, args);
      },
    });
  }
  return store;
}

/** The metadata of a new app: every backend creates the same record. */
export function newAppMeta(appName: string, appId: string, options: CreateAppOptions, now: number): AppMeta {
  return {
    appId, appName, owner: options.owner, acl: [...(options.acl ?? [])], status: 'created', labels: { ...(options.labels ?? {}) },
    createdAt: now, updatedAt: now, version: 1,
  };
}

/** listApps() entry for an app whose metadata cannot be read: reported, never fatal to the listing. */
export function damagedAppMeta(appId: string, err: unknown): AppMeta {
  const e = toStorageError(err, `app ${appId}`);
  return {
    appId, appName: appId, owner: '', acl: [], status: 'failed', labels: {}, createdAt: 0, updatedAt: 0, version: 0,
    damaged: { code: e.code === 'STORAGE_IO_ERROR' ? 'STORAGE_CORRUPT' : e.code, message: e.message },
  };
}

export function alreadyCommittedError(store: string, t: number): StorageError {
  return new StorageError(`checkpoint ${store}@${t} is already committed`, { code: 'STORAGE_ALREADY_EXISTS' });
}

export function notStagedError(p: CheckpointPart): StorageError {
  return new StorageError(`part ${p.name} (${p.ref}) was not staged`, { code: 'STORAGE_INVALID_ARGUMENT' });
}

/** A commit never takes a part's size or digest on trust: they must be what was staged. */
export function checkStagedMatches(p: CheckpointPart, staged: { size: number; sha256?: string }): void {
  if (staged.size !== p.size || (staged.sha256 !== undefined && staged.sha256 !== p.sha256)) {
    throw new StorageError(`part ${p.name} (${p.ref}): size/sha256 differ from what was staged`, { code: 'STORAGE_INVALID_ARGUMENT' });
  }
}

/** An identical commit (same epoch, same parts in order) is an idempotent retry. */
export function sameCommit(existing: { epoch: number; parts: CheckpointPart[] }, epoch: number, parts: CheckpointPart[]): boolean {
  return existing.epoch === epoch && existing.parts.length === parts.length && existing.parts.every((p, i) => p.ref === parts[i]!.ref && p.sha256 === parts[i]!.sha256);
}

/** Opening a writer: only a higher epoch already seen refuses it. */
export function checkOpenEpoch(store: string, mine: number, current: number): void {
  if (mine < current) throw fencedError(store, mine, current);
}

/**
 * What an append stores, decided from the store's state read atomically with the write:
 * the writer's epoch must still be current, times strictly increase, and re-sending
 * exactly the last entry (same time, same bytes) is a no-op so a retry after a lost
 * acknowledgement is safe. All or nothing: any refusal throws before anything is stored.
 */
export function planOffsetAppend(store: string, epoch: number, entries: readonly TimeEntry[], state: OffsetState): TimeEntry[] {
  checkWriterEpoch(store, epoch, state.epoch);
  let last = state.last;
  const out: TimeEntry[] = [];
  for (const e of entries) {
    if (last && e.t <= last.t) {
      if (e.t === last.t && out.length === 0) {
        if (!last.value) throw new StorageError(`store ${store}: the backend left out the value of the last entry (${last.t})`, { code: 'STORAGE_IO_ERROR' });
        if (bytesEqual(e.value, last.value)) continue;
      }
      throw outOfOrderError(store, e.t, last.t);
    }
    out.push(e);
    last = e;
  }
  return out;
}

/** Config compare-and-set: `ifVersion` (0 = must not exist yet) must be the current version. */
export function checkConfigVersion(id: string, current: number, expected: number | undefined): void {
  if (expected !== undefined && expected !== current) {
    throw new StorageError(`config ${id}: version is ${current}, expected ${expected}`, { code: 'STORAGE_PRECONDITION_FAILED', details: { current, expected } });
  }
}

// ---- app lifecycle and jars: the same decisions and errors on every backend ----

export function appExistsError(appId: string, cause?: unknown): StorageError {
  return new StorageError(`app ${appId} already exists`, { code: 'STORAGE_ALREADY_EXISTS', ...(cause ? { cause } : {}) });
}

export function appNotFoundError(appId: string): StorageError {
  return new StorageError(`app ${appId} not found`, { code: 'STORAGE_NOT_FOUND' });
}

/** A handle whose app was deleted (and maybe re-created under the same id) may not read or write. */
export function appDeletedError(appId: string): StorageError {
  return new StorageError(`app ${appId} was deleted`, { code: 'STORAGE_NOT_FOUND' });
}

/** deleteAppStorage: the app must exist and must not be running (its daemons still write). */
export function checkAppDeletable<M extends Pick<AppMeta, 'status'>>(appId: string, meta: M | undefined): asserts meta is M {
  if (!meta) throw appNotFoundError(appId);
  if (meta.status === 'running') throw new StorageError(`app ${appId} is running`, { code: 'STORAGE_IN_USE' });
}

/**
 * updateMeta: what replaces `cur`, read atomically with the write by the backend. A stale
 * `ifVersion` is refused; every update bumps the version and stamps the backend's clock.
 */
export function nextAppMeta<M extends AppMeta>(cur: M, patch: AppMetaPatch, ifVersion: number | undefined, now: number): M {
  if (ifVersion !== undefined && ifVersion !== cur.version) {
    throw new StorageError(`app ${cur.appId}: meta version is ${cur.version}, expected ${ifVersion}`, { code: 'STORAGE_PRECONDITION_FAILED', details: { version: cur.version, ifVersion } });
  }
  return { ...cur, ...structuredClone(patch), version: cur.version + 1, updatedAt: now };
}

/** jars.put / jars.delete: the running app's artifact is never replaced or removed under it. */
export function checkJarReplaceable(meta: Pick<AppMeta, 'appId' | 'status' | 'jar'>, name: string): void {
  if (meta.status === 'running' && meta.jar === name) {
    throw new StorageError(`jar ${name} is in use by running app ${meta.appId}`, { code: 'STORAGE_IN_USE' });
  }
}

/** jars.put with expectedSha256: content that hashes otherwise is refused before its name is written. */
export function checkJarDigest(name: string, sha256: string, expected: string | undefined): void {
  if (expected !== undefined && expected !== sha256) {
    throw new StorageError(`jar ${name}: content hashes to ${sha256}, expected ${expected}`, { code: 'STORAGE_CORRUPT', details: { sha256, expected } });
  }
}

export function jarNotFoundError(name: string): StorageError {
  return new StorageError(`jar ${name} not found`, { code: 'STORAGE_NOT_FOUND' });
}
