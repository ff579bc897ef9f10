import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, it } from 'vitest';
import { openStorage } from '@sluice/storage-api';
import type { Storage } from '@sluice/storage-api';
import { registerConformance } from '@sluice/storage-api/conformance';
import type { ConformanceInstance, CorruptTarget } from '@sluice/storage-api/conformance';
import fsModule from '@sluice/storage-fs';
import { removeRoot, tempRoot } from './helpers.js';

function flip(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  if (out.length > 0) out[out.length >> 1]! ^= 0xff;
  return out;
}

/** Flips stored bytes behind the backend's back: the jar's blob file, or a part's row. */
function corrupt(root: string, target: CorruptTarget): void {
  const db = new Database(join(root, 'apps', target.appId, 'store.db'), { timeout: 10_000 });
  try {
    if ('jar' in target) {
      const sha = db.prepare('SELECT sha256 FROM jars WHERE name = ?').pluck().get(target.jar) as string;
      const blob = join(root, 'apps', target.appId, 'blobs', sha);
      writeFileSync(blob, flip(readFileSync(blob)));
    } else {
      const parts = JSON.parse(db.prepare('SELECT parts FROM checkpoints WHERE store = ? AND t = ?').pluck().get(target.store, target.t) as string) as Array<{ name: string; ref: string }>;
      const ref = parts.find((p) => p.name === target.part)!.ref;
      const data = db.prepare('SELECT data FROM staged_parts WHERE ref = ?').pluck().get(ref) as Buffer;
      db.prepare('UPDATE staged_parts SET data = ? WHERE ref = ?').run(flip(data), ref);
    }
  } finally {
    db.close();
  }
}

registerConformance({ describe, it }, {
  name: 'fs',
  factory: async (): Promise<ConformanceInstance> => {
    const root = tempRoot('sluice-conf-');
    const opened: Storage[] = [];
    const open = async (): Promise<Storage> => {
      const s = await openStorage(fsModule, { root });
      opened.push(s);
      return s;
    };
    return {
      storage: await open(),
      reopen: open, // a second FsStorage on the same root, like another process
      destroy: async () => {
        for (const s of opened) await s.close();
        await removeRoot(root);
      },
      corrupt: async (target) => corrupt(root, target),
    };
  },
});
