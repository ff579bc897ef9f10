import { StorageError, unwrapStorage, type BackendStorage, type CorruptTarget } from '@sluice/storage-api';
import { decodeEntries, encodeEntries } from './offsets.js';
import { S3Storage } from './storage.js';

/**
 * Conformance hook (`sluice storage conformance` against a live bucket): flips the last
 * byte of a stored jar or checkpoint part, or of one offset value in every segment that
 * holds it, following the key layout in the README.
 */
export async function corrupt(guarded: BackendStorage, target: CorruptTarget): Promise<void> {
  const storage = unwrapStorage(guarded);
  if (!(storage instanceof S3Storage)) throw new StorageError('corrupt hook needs an S3Storage', { code: 'STORAGE_INVALID_ARGUMENT' });
  const io = storage.io;
  const root = storage.root;
  const meta = await io.getJson<{ gen: string }>(`${root}apps/${target.appId}/meta.json`);
  if (!meta) throw new StorageError(`app ${target.appId} not found`, { code: 'STORAGE_NOT_FOUND' });
  const data = `${root}apps/${target.appId}/${meta.value.gen}/`;
  let key: string | undefined;
  if ('jar' in target) {
    key = (await io.getJson<{ dataKey: string }>(`${data}jars/names/${target.jar}.json`))?.value.dataKey;
  } else if ('config' in target) {
    const k = `${data}config/${target.config}.json`;
    const obj = await io.getBytes(k);
    if (!obj) throw new StorageError(`config ${target.config} not found`, { code: 'STORAGE_NOT_FOUND' });
    await io.put(k, obj.body.toString('utf8').replace(target.from, target.to));
    return;
  } else if ('offsets' in target) {
    let hit = 0;
    for (const k of await io.listKeys(`${data}offsets/${target.offsets}/seg/`)) {
      const obj = await io.getBytes(k);
      const entries = obj ? decodeEntries(obj.body, k) : [];
      const e = entries.find((x) => x.t === target.t);
      if (!e || e.value.length === 0) continue;
      e.value[e.value.length - 1]! ^= 0xff;
      await io.put(k, encodeEntries(entries));
      storage.forgetCached(k);
      hit++;
    }
    if (hit === 0) throw new StorageError(`offset ${target.offsets}@${target.t} not found`, { code: 'STORAGE_NOT_FOUND' });
    return;
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
