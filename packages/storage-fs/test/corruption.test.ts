import { openSync, writeSync, closeSync, readdirSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { collectBytes, isStorageError, runFsck, runGc } from '@sluice/storage-api';
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
  it('a database file that is not a database: STORAGE_CORRUPT on open; listApps reports that app as damaged and lists the others; gc and fsck go on', async () => {
    const r = root();
    const s = await openFs(r);
    await (await s.createAppStorage('demo', 'bad-db', { owner: 'alice' })).close();
    const good = await s.createAppStorage('demo', 'good', { owner: 'alice' });
    await good.logs.append([{ ts: 1, level: 'info', msg: 'old', labels: {} }]);
    await good.close();
    await s.close();
    overwrite(join(r, 'apps', 'bad-db', 'store.db'), 0, Buffer.alloc(4096, 0x5a));
    const s2 = await openFs(r);
    const err = await s2.getAppStorage('bad-db').catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_CORRUPT')).toBe(true);
    const listed = await s2.listApps();
    expect(listed.map((m) => [m.appId, m.damaged?.code])).toEqual([['bad-db', 'STORAGE_CORRUPT'], ['good', undefined]]);
    const gc = await runGc(s2, { logs: { maxAgeMs: 1000 } }, { now: 10_000 });
    expect(gc.actions.map((a) => [a.appId, a.subStore, a.count])).toEqual([['good', 'logs', 1]]);
    expect(gc.errors.map((e) => [e.appId, e.code])).toEqual([['bad-db', 'STORAGE_CORRUPT']]);
    const fsck = await runFsck(s2);
    expect(fsck.findings.map((f) => [f.appId, f.kind, f.code])).toEqual([['bad-db', 'damage', 'STORAGE_CORRUPT']]);
    await s2.close();
  });

  it('metadata and config values that are not valid JSON are STORAGE_CORRUPT, not STORAGE_IO_ERROR', async () => {
    const r = root();
    const s = await openFs(r);
    const app = await s.createAppStorage('demo', 'bad-json', { owner: 'alice' });
    await app.config.set('p', { a: 1 });
    const db = new Database(join(r, 'apps', 'bad-json', 'store.db'));
    db.prepare("UPDATE config SET value = '{not json'").run();
    db.prepare("UPDATE app_meta SET json = '{not json'").run();
    db.close();
    expect(await app.config.get('p').catch((e: unknown) => e)).toMatchObject({ code: 'STORAGE_CORRUPT' });
    expect(await app.meta().catch((e: unknown) => e)).toMatchObject({ code: 'STORAGE_CORRUPT' });
    expect((await s.listApps()).map((m) => m.damaged?.code)).toEqual(['STORAGE_CORRUPT']);
    await s.close();
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
