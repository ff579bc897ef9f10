import type { BackendStorage, CorruptTarget } from '@sluice/storage-api';
import type { WebHdfsClient } from './client.js';
import type { HdfsStorage } from './storage.js';

function flip(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  if (out.length > 0) out[out.length >> 1]! ^= 0xff;
  return out;
}

/**
 * Rewrites stored bytes behind the backend's back, for the conformance suite's
 * verify-on-read cases (also through `sluice storage conformance -c`).
 */
export async function corruptAt(client: WebHdfsClient, root: string, target: CorruptTarget): Promise<void> {
  const app = `${root.replace(/\/+$/, '')}/apps/${target.appId}`;
  let path: string;
  if ('jar' in target) {
    const rec = JSON.parse((await client.readAll(`${app}/jars/names/${target.jar}`)).toString()) as { sha256: string };
    path = `${app}/jars/blobs/${rec.sha256}`;
  } else {
    const m = JSON.parse((await client.readAll(`${app}/checkpoints/${target.store}/_commits/${String(target.t).padStart(20, '0')}`)).toString()) as {
      parts: Array<{ name: string; ref: string }>;
    };
    path = `${app}/checkpoints/${target.store}/parts/${m.parts.find((p) => p.name === target.part)!.ref}`;
  }
  await client.create(path, flip(await client.readAll(path)), { overwrite: true, permission: '600' });
}

export function corruptStorage(storage: BackendStorage, target: CorruptTarget): Promise<void> {
  const s = storage as unknown as HdfsStorage;
  return corruptAt(s.client, s.options.root, target);
}
