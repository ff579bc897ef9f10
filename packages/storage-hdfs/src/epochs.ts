// Epoch fencing: one marker file `e.<epoch padded 20>` per opened epoch, in the store's
// directory, created with a create-only rename. Writers list the directory before every
// write (the same LISTSTATUS that locates segments) and stop if a higher marker exists.
//
// Race window (documented in the README): HDFS has no compare-and-set across two paths,
// so a write whose check passed can still land after a higher epoch's marker appears;
// at most the one write in flight per zombie writer gets through, never a later one.
import { StorageError, checkWriterEpoch } from '@sluice/storage-api';
import type { FileStatus } from './client.js';
import { commitFile, isTmp, pad, removeQuietly, type FileOps } from './files.js';

/** Temp files older than this belong to writers that died (no upload of a small file lasts an hour). */
export const TMP_MAX_AGE_MS = 3_600_000;

const EPOCH_RE = /^e\.(\d{20})$/;

export function maxEpoch(list: FileStatus[] | undefined): number {
  let max = 0;
  for (const s of list ?? []) {
    const m = EPOCH_RE.exec(s.pathSuffix);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}


/** Fenced by a higher epoch; STORAGE_NOT_FOUND when a lower one shows the store was wiped (app deleted) since the writer opened. */
export function checkEpoch(store: string, list: FileStatus[] | undefined, epoch: number): void {
  checkWriterEpoch(store, epoch, maxEpoch(list));
}

/**
 * Registers `epoch` as a writer of the store in `dir`. `decide` (the policy) sees the
 * highest epoch before and again after the marker is written, and refuses a lower one.
 * Returns the marker's inode id (see sameMarker).
 */
export async function openEpoch(ops: FileOps, dir: string, epoch: number, decide: (current: number) => void, signal?: AbortSignal): Promise<number | undefined> {
  const list = await ops.client.list(dir, signal);
  decide(maxEpoch(list));
  // Opening a writer is rare and already lists the directory: sweep dead writers' temp files.
  const cutoff = Date.now() - TMP_MAX_AGE_MS;
  for (const s of list ?? []) {
    if (isTmp(s.pathSuffix) && s.modificationTime < cutoff) await removeQuietly(ops, `${dir}/${s.pathSuffix}`);
  }
  const marker = `e.${pad(epoch)}`;
  const found = (list ?? []).find((s) => s.pathSuffix === marker);
  if (found) return found.fileId;
  try {
    await commitFile(ops, `${dir}/${marker}`, new Uint8Array(0), 'create-only', signal);
  } catch (err) {
    if ((err as StorageError).code !== 'STORAGE_ALREADY_EXISTS') throw err;
  }
  // A higher epoch may have opened between the list and the marker.
  const after = await ops.client.list(dir, signal);
  decide(maxEpoch(after));
  return after?.find((s) => s.pathSuffix === marker)?.fileId;
}

/**
 * Epoch markers cannot tell a deleted app from its re-creation when both opened the same
 * epoch; their inodes can. A writer remembers its marker's inode id at open, and every
 * write (whose LISTSTATUS shows the markers anyway) checks it is still the same file.
 */
export function checkSameMarker(store: string, list: FileStatus[] | undefined, epoch: number, fileId: number | undefined): void {
  if (fileId === undefined) return; // a server without inode ids: the epoch check alone
  const now = (list ?? []).find((s) => s.pathSuffix === `e.${pad(epoch)}`);
  if (now && now.fileId !== fileId) {
    throw new StorageError(`store ${store}: its app was deleted and re-created since this writer (epoch ${epoch}) opened`, { code: 'STORAGE_NOT_FOUND' });
  }
}
