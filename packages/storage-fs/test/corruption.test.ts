import { openSync, writeSync, closeSync, readdirSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { collectBytes, isStorageError } from '@sluice/storage-api';
import { openFs, removeRoot, tempRoot } from './helpers.js';

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await removeRoot(r);
});
function root(): string {
  const r = tempRoot();
  roots.push(r);
  return r;
}

function overwrite(file: string, offset: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

describe('fs corruption', () => {
  it('a database file that is not a database gives STORAGE_CORRUPT on open and listApps, not a crash', async () => {
    const r = root();
    const s = await openFs(r);
    await (await s.createAppStorage('demo', 'bad-db', { owner: 'alice' })).close();
    await s.close();
    overwrite(join(r, 'apps', 'bad-db', 'store.db'), 0, Buffer.alloc(4096, 0x5a));
    const s2 = await openFs(r);
    const err = await s2.getAppStorage('bad-db').catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_CORRUPT')).toBe(true);
    const listed = await s2.listApps().catch((e: unknown) => e);
    expect(isStorageError(listed, 'STORAGE_CORRUPT')).toBe(true);
    await s2.close();
  });

  it('a corrupt jar blob gives STORAGE_CORRUPT on read and copyToLocal leaves no file', async () => {
    const r = root();
    const s = await openFs(r);
    const app = await s.createAppStorage('demo', 'bad-blob', { owner: 'alice' });
    const info = await app.jars.put('a.jar', Buffer.alloc(200_000, 1));
    overwrite(join(r, 'apps', 'bad-blob', 'blobs', info.sha256), 100_000, Buffer.from([2]));
    const err = await collectBytes(await app.jars.get('a.jar')).catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_CORRUPT')).toBe(true);
    const out = join(r, 'out');
    const err2 = await app.jars.copyToLocal('a.jar', join(out, 'a.jar')).catch((e: unknown) => e);
    expect(isStorageError(err2, 'STORAGE_CORRUPT')).toBe(true);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
    rmSync(join(r, 'apps', 'bad-blob', 'blobs', info.sha256));
    const err3 = await app.jars.get('a.jar').catch((e: unknown) => e);
    expect(isStorageError(err3, 'STORAGE_CORRUPT')).toBe(true);
    await s.close();
  });

  it('a corrupt checkpoint part gives STORAGE_CORRUPT on readPart', async () => {
    const r = root();
    const s = await openFs(r);
    const app = await s.createAppStorage('demo', 'bad-part', { owner: 'alice' });
    const w = await app.checkpoints('cp').writer(1);
    await w.append(10, Buffer.from('good state'));
    const db = new Database(join(r, 'apps', 'bad-part', 'store.db'));
    db.prepare('UPDATE staged_parts SET data = ?').run(Buffer.from('evil state'));
    db.close();
    const err = await app.checkpoints('cp').readPart(10, 'state').catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_CORRUPT')).toBe(true);
    await s.close();
  });
});
