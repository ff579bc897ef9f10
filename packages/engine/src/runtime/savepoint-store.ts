import { StorageError, type BlobMeta, type BlobStore, type Storage } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import { decodeSavepoint, encodeSavepoint, SAVEPOINT_FORMAT_VERSION, type SavepointData } from './savepoint-format.js';

/**
 * Where savepoints live: the cluster's blob store, one blob `savepoint@<name>` each
 * (one version, never updated). Blobs are outside every app's store, so app retention and
 * `sluice delete` never touch them; their owner and ACL are copied from the app at
 * creation, and the blob store's SHA-256 check guards the bytes on every read.
 */
export const SAVEPOINT_BLOB_PREFIX = 'savepoint@';
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._=-]{0,99}$/;

export interface SavepointInfo {
  name: string;
  appId: string;
  appName: string;
  t: number;
  createdAt: number;
  size: number;
  owner: string;
  acl: string[];
  format: number;
}

/** A savepoint name: letters, digits and . _ - = (not first), at most 100 characters, no '..'. */
export function validateSavepointName(name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.includes('..')) {
    throw new EngineError('SAVEPOINT_INVALID', `invalid savepoint name ${JSON.stringify(typeof name === 'string' ? name.slice(0, 40) : name)}: use 1-100 letters, digits and . _ - = (not starting with . - =)`);
  }
  return name;
}

export function blobStoreOf(storage: Storage): BlobStore {
  if (!storage.capabilities.blobs || !storage.blobs) throw new StorageError(`the configured storage (${storage.backend}) has no blob store, where savepoints live`, { code: 'STORAGE_NOT_SUPPORTED' });
  return storage.blobs;
}

export function infoOf(m: BlobMeta): SavepointInfo {
  const l = m.labels;
  return {
    name: m.name.slice(SAVEPOINT_BLOB_PREFIX.length), appId: l.appId ?? '', appName: l.appName ?? '', t: Number(l.t), createdAt: m.createdAt,
    size: m.size, owner: m.owner, acl: m.acl, format: Number(l.format ?? SAVEPOINT_FORMAT_VERSION),
  };
}

export async function headSavepoint(storage: Storage, name: string): Promise<BlobMeta> {
  const m = await blobStoreOf(storage).head(SAVEPOINT_BLOB_PREFIX + validateSavepointName(name));
  if (!m) throw new EngineError('SAVEPOINT_NOT_FOUND', `savepoint ${name} not found`, { details: { savepoint: name } });
  return m;
}

/** Stores a new savepoint; SAVEPOINT_INVALID if the name is taken (names are never reused). */
export async function writeSavepoint(storage: Storage, name: string, sp: SavepointData, owner: string, acl: string[]): Promise<SavepointInfo> {
  const bytes = encodeSavepoint(sp);
  try {
    const m = await blobStoreOf(storage).create(SAVEPOINT_BLOB_PREFIX + validateSavepointName(name), bytes, {
      owner, acl, keep: 1, size: bytes.length,
      labels: { kind: 'savepoint', appId: sp.app.appId, appName: sp.app.appName, t: String(sp.t), format: String(SAVEPOINT_FORMAT_VERSION) },
    });
    return infoOf(m);
  } catch (err) {
    if (err instanceof StorageError && err.code === 'STORAGE_ALREADY_EXISTS') throw new EngineError('SAVEPOINT_INVALID', `a savepoint named ${name} exists already`, { details: { savepoint: name } });
    throw err;
  }
}

export async function readSavepoint(storage: Storage, name: string): Promise<SavepointData> {
  await headSavepoint(storage, name);
  const got = await blobStoreOf(storage).get(SAVEPOINT_BLOB_PREFIX + name);
  const chunks: Uint8Array[] = [];
  for await (const c of got.body) chunks.push(c);
  return decodeSavepoint(Buffer.concat(chunks));
}

export async function listSavepoints(storage: Storage): Promise<BlobMeta[]> {
  return (await blobStoreOf(storage).list()).filter((m) => m.name.startsWith(SAVEPOINT_BLOB_PREFIX));
}

export async function deleteSavepoint(storage: Storage, name: string): Promise<void> {
  await headSavepoint(storage, name);
  await blobStoreOf(storage).delete(SAVEPOINT_BLOB_PREFIX + name);
}
