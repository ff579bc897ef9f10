import { StorageError, type BackendStorage } from '@sluice/storage-api';
import { S3Storage } from './storage.js';

type CorruptTarget = { appId: string; jar: string } | { appId: string; store: string; t: number; part: string };

/**
 * Conformance hook (`sluice storage conformance` against a live bucket): flips the last
 * byte of a stored jar or checkpoint part, following the key layout in the README.
 */
export async function corrupt(storage: BackendStorage, target: CorruptTarget): Promise<void> {
  if (!(storage instanceof S3Storage)) throw new StorageError('corrupt hook needs an S3Storage', { code: 'STORAGE_INVALID_ARGUMENT' });
  const io = storage.io;
  const root = storage.root;
  const meta = await io.getJson<{ gen: string }>(`${root}apps/${target.appId}/meta.json`);
  if (!meta) throw new StorageError(`app ${target.appId} not found`, { code: 'STORAGE_NOT_FOUND' });
  const data = `${root}apps/${target.appId}/${meta.value.gen}/`;
  let key: string | undefined;
  if ('jar' in target) {
    key = (await io.getJson<{ dataKey: string }>(`${data}jars/names/${target.jar}.json`))?.value.dataKey;
  } else {
    const base = `${data}checkpoints/${target.store}/`;
    const m = await io.getJson<{ parts: Array<{ name: string; ref: string }> }>(`${base}_commits/${String(target.t).padStart(20, '0')}.json`);
    const ref = m?.value.parts.find((p) => p.name === target.part)?.ref;
    key = ref && base + ref;
  }
  if (!key) throw new StorageError('corrupt target not found', { code: 'STORAGE_NOT_FOUND' });
  const obj = await io.getBytes(key);
  if (!obj) throw new StorageError(`${key} not found`, { code: 'STORAGE_NOT_FOUND' });
  const body = Buffer.from(obj.body);
  if (body.length > 0) body[body.length - 1]! ^= 0xff;
  await io.put(key, body.length > 0 ? body : Buffer.from([1]));
}
