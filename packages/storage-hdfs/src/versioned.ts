// Versioned JSON documents with compare-and-set: each change is a new file
// `<dir>/<seq padded 20>` committed by a create-only rename, so of two racing writers
// exactly one wins a sequence number. The newest file is the current state; older ones
// are pruned after a successful write.
import { randomUUID } from 'node:crypto';
import { StorageError } from '@sluice/storage-api';
import type { FileOps } from './files.js';
import { commitFile, committed, jsonBytes, pad, readJson, removeQuietly } from './files.js';

const SEQ_RE = /^\d{20}$/;

export interface Versioned<T> {
  seq: number;
  doc: T & { writer: string };
}

export async function readLatest<T>(ops: FileOps, dir: string, signal?: AbortSignal): Promise<Versioned<T> | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const list = await ops.client.list(dir, signal);
    if (list === undefined) return undefined;
    const files = committed(list).filter((s) => SEQ_RE.test(s.pathSuffix));
    const last = files[files.length - 1];
    if (!last) return undefined;
    try {
      return { seq: Number(last.pathSuffix), doc: await readJson<T & { writer: string }>(ops.client, `${dir}/${last.pathSuffix}`, signal) };
    } catch (err) {
      // Pruned between the list and the read: a newer one exists, look again.
      if ((err as StorageError).code !== 'STORAGE_NOT_FOUND') throw err;
    }
  }
  throw new StorageError(`${dir}: changing too fast to read`, { code: 'STORAGE_UNAVAILABLE', transient: true });
}

/**
 * Writes `doc` as sequence `seq` if nobody has. Returns false if another writer took
 * that sequence number first. `writer` (unique per call) tells our own lost-answer
 * commit apart from someone else's.
 */
export async function writeVersion<T extends object>(ops: FileOps, dir: string, seq: number, doc: T, signal?: AbortSignal): Promise<boolean> {
  const writer = randomUUID();
  const path = `${dir}/${pad(seq)}`;
  try {
    await commitFile(ops, path, jsonBytes({ ...doc, writer }), 'create-only', signal);
  } catch (err) {
    if ((err as StorageError).code !== 'STORAGE_ALREADY_EXISTS') throw err;
    if ((err as StorageError).details?.maybeOurs === true) {
      const cur = await readJson<{ writer?: string }>(ops.client, path, signal).catch(() => undefined);
      if (cur?.writer === writer) return true;
    }
    return false;
  }
  // Keep the newest two; older ones are history nobody reads.
  if (seq > 2) await removeQuietly(ops, `${dir}/${pad(seq - 2)}`);
  return true;
}
