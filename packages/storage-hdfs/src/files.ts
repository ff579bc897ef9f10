// Committing files on HDFS: CREATE a temp file in the target's directory, then RENAME
// it with renameoptions (NONE = create-only, OVERWRITE = replace). Never APPEND, never
// a plain rename; a failed upload is never resent to the same path.
import { randomUUID } from 'node:crypto';
import { StorageError, isStorageError } from '@sluice/storage-api';
import type { Body, FileStatus, WebHdfsClient } from './client.js';

export const TMP_PREFIX = '_tmp.';

/** Zero-padded so that byte order (LISTSTATUS order) is numeric order. */
export function pad(n: number): string {
  return n.toString().padStart(20, '0');
}

export function isTmp(name: string): boolean {
  return name.startsWith(TMP_PREFIX);
}

export function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

export function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export type CommitMode = 'create-only' | 'replace';

export interface FileOps {
  client: WebHdfsClient;
  filePermission: string;
  dirPermission: string;
}

/**
 * Writes `body` to `<dir>/_tmp.<name>.<uuid>` and renames it to `path`.
 * create-only: STORAGE_ALREADY_EXISTS if `path` exists (details.maybeOurs when a
 * lost answer makes it possibly our own rename). A buffer body is restarted into a fresh
 * temp path after a transient failure; a stream body cannot be replayed.
 */
export async function commitFile(ops: FileOps, path: string, body: Body, mode: CommitMode, signal?: AbortSignal): Promise<void> {
  const replayable = body instanceof Uint8Array;
  const attempts = replayable ? ops.client.options.maxAttempts : 1;
  for (let attempt = 1; ; attempt++) {
    const tmp = `${dirOf(path)}/${TMP_PREFIX}${baseOf(path)}.${randomUUID()}`;
    try {
      await ops.client.create(tmp, body, { overwrite: false, permission: ops.filePermission, signal });
    } catch (err) {
      await removeQuietly(ops, tmp);
      if (!isStorageError(err) || !err.transient || attempt >= attempts) throw err;
      continue;
    }
    try {
      await ops.client.rename(tmp, path, mode === 'create-only' ? 'NONE' : 'OVERWRITE', signal);
      return;
    } catch (err) {
      await removeQuietly(ops, tmp);
      if (isStorageError(err) && err.details?.maybeApplied === true) {
        // The first RENAME may have landed before its answer was lost.
        if (err.code === 'STORAGE_NOT_FOUND') return;
        throw new StorageError(err.message, { code: 'STORAGE_ALREADY_EXISTS', cause: err, details: { maybeOurs: true } });
      }
      throw err;
    }
  }
}

/** Best effort: a leftover temp file is invisible to readers and swept later. */
export async function removeQuietly(ops: FileOps, path: string, recursive = false): Promise<void> {
  try {
    await ops.client.delete(path, recursive);
  } catch {
    // ignore: temp files never become data
  }
}

export async function readJson<T>(client: WebHdfsClient, path: string, signal?: AbortSignal): Promise<T> {
  const buf = await client.readAll(path, signal);
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch (err) {
    throw new StorageError(`${path} is not valid JSON`, { code: 'STORAGE_CORRUPT', cause: err });
  }
}

export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Committed file names of a directory (temp files excluded), in byte order. */
export function committed(list: FileStatus[] | undefined): FileStatus[] {
  return (list ?? []).filter((s) => s.type === 'FILE' && !isTmp(s.pathSuffix));
}

/** Tiny cache of immutable files, keyed by inode id and length. */
export class ImmutableCache<V> {
  readonly #map = new Map<string, V>();
  constructor(private readonly max = 256) {}
  key(dir: string, s: FileStatus): string {
    return `${dir}/${s.pathSuffix}#${s.fileId ?? ''}:${s.length}:${s.modificationTime}`;
  }
  get(k: string): V | undefined {
    const v = this.#map.get(k);
    if (v !== undefined) {
      this.#map.delete(k);
      this.#map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.#map.set(k, v);
    if (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value!);
  }
}
