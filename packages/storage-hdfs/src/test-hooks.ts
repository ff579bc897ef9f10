import type { BackendStorage, CorruptTarget } from '@sluice/storage-api';
import type { WebHdfsClient } from './client.js';
import type { HdfsStorage } from './storage.js';
import { decodeSegment, encodeSegment } from './segments.js';

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
  } else if ('config' in target) {
    // The newest version file of the entry (names are zero-padded sequence numbers).
    const dir = `${app}/config/${target.config}`;
    const seqs = ((await client.list(dir)) ?? []).map((s) => s.pathSuffix).filter((n) => /^\d{20}$/.test(n)).sort();
    const newest = seqs[seqs.length - 1];
    if (!newest) throw new Error(`corrupt: no config ${target.config} in ${dir}`);
    const text = (await client.readAll(`${dir}/${newest}`)).toString('utf8');
    await client.create(`${dir}/${newest}`, Buffer.from(text.replace(target.from, target.to)), { overwrite: true, permission: '600' });
    return;
  } else if ('offsets' in target) {
    // Every segment file holding t (a stale copy too): its value's last byte flipped.
    const dir = `${app}/offsets/${target.offsets}`;
    let hit = 0;
    for (const s of (await client.list(dir)) ?? []) {
      if (!s.pathSuffix.startsWith('s.')) continue;
      const entries = decodeSegment(await client.readAll(`${dir}/${s.pathSuffix}`), s.pathSuffix);
      const e = entries.find((x) => x.t === target.t);
      if (!e || e.value.length === 0) continue;
      e.value[e.value.length - 1]! ^= 0xff;
      await client.create(`${dir}/${s.pathSuffix}`, encodeSegment(entries), { overwrite: true, permission: '600' });
      hit++;
    }
    if (hit === 0) throw new Error(`corrupt: no offset ${target.offsets}@${target.t} in ${dir}`);
    return;
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
