import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { unwrapStorage, type BackendStorage, type CorruptTarget } from '@sluice/storage-api';
import { FsStorage } from './fs-storage.js';

function flip(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  if (out.length > 0) out[out.length >> 1]! ^= 0xff;
  return out;
}

/**
 * Flips stored bytes behind the backend's back (the conformance suite's corrupt-data
 * cases, also from `sluice storage conformance -c`): the jar's blob file, or a staged
 * part's row, or an offset's value. Opens the app's database itself, as another process would.
 */
export async function corruptFs(storage: BackendStorage, target: CorruptTarget): Promise<void> {
  const raw = unwrapStorage(storage);
  if (!(raw instanceof FsStorage)) throw new TypeError(`corrupt: not an fs storage (${raw.backend})`);
  const dir = join(raw.root, 'apps', target.appId);
  const db = new Database(join(dir, 'store.db'), { timeout: 10_000 });
  try {
    if ('jar' in target) {
      const sha = db.prepare('SELECT sha256 FROM jars WHERE name = ?').pluck().get(target.jar) as string | undefined;
      if (!sha) throw new Error(`corrupt: app ${target.appId} has no jar ${target.jar}`);
      const blob = join(dir, 'blobs', sha);
      writeFileSync(blob, flip(readFileSync(blob)));
    } else if ('config' in target) {
      const value = db.prepare('SELECT value FROM config WHERE processor_id = ?').pluck().get(target.config) as string | undefined;
      if (value === undefined) throw new Error(`corrupt: app ${target.appId} has no config ${target.config}`);
      db.prepare('UPDATE config SET value = ? WHERE processor_id = ?').run(value.replace(target.from, target.to), target.config);
    } else if ('offsets' in target) {
      const value = db.prepare('SELECT value FROM offsets WHERE store = ? AND t = ?').pluck().get(target.offsets, target.t) as Buffer | undefined;
      if (!value) throw new Error(`corrupt: app ${target.appId} has no offset ${target.offsets}@${target.t}`);
      db.prepare('UPDATE offsets SET value = ? WHERE store = ? AND t = ?').run(flip(value), target.offsets, target.t);
    } else {
      const row = db.prepare('SELECT parts FROM checkpoints WHERE store = ? AND t = ?').pluck().get(target.store, target.t) as string | undefined;
      const ref = row && (JSON.parse(row) as Array<{ name: string; ref: string }>).find((p) => p.name === target.part)?.ref;
      if (!ref) throw new Error(`corrupt: app ${target.appId} has no checkpoint part ${target.store}@${target.t}/${target.part}`);
      const data = db.prepare('SELECT data FROM staged_parts WHERE ref = ?').pluck().get(ref) as Buffer;
      db.prepare('UPDATE staged_parts SET data = ? WHERE ref = ?').run(flip(data), ref);
    }
  } finally {
    db.close();
  }
}
