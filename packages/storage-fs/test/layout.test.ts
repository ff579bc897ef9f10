import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectBytes, isStorageError, openStorage, sha256Hex } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
import { openFs, removeRoot, tempRoot } from './helpers.js';

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await removeRoot(r);
});

function root(): string {
  const r = tempRoot();
  roots.push(r);
  return join(r, 'data'); // not yet existing: the backend creates it
}

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('fs layout', () => {
  it('creates root and app directories owner-only (0700)', async () => {
    const r = root();
    const s = await openFs(r);
    await s.createAppStorage('demo', 'app-a', { owner: 'alice' });
    expect(mode(r)).toBe(0o700);
    expect(mode(join(r, 'apps'))).toBe(0o700);
    expect(mode(join(r, 'apps', 'app-a'))).toBe(0o700);
    expect(existsSync(join(r, 'apps', 'app-a', 'store.db'))).toBe(true);
    await s.close();
  });

  it('stores jars as content-addressed blobs, once per content, and removes unreferenced blobs', async () => {
    const r = root();
    const s = await openFs(r);
    const app = await s.createAppStorage('demo', 'app-b', { owner: 'alice' });
    const body = Buffer.from('same bytes');
    const sha = sha256Hex(body);
    await app.jars.put('one.jar', body);
    await app.jars.put('two.jar', body);
    const blobs = join(r, 'apps', 'app-b', 'blobs');
    expect(readdirSync(blobs)).toEqual([sha]);
    expect(readdirSync(join(r, 'apps', 'app-b', 'tmp'))).toEqual([]);
    await app.jars.delete('one.jar');
    expect(readdirSync(blobs)).toEqual([sha]);
    await app.jars.put('two.jar', Buffer.from('new bytes'));
    expect(readdirSync(blobs)).toEqual([sha256Hex(Buffer.from('new bytes'))]);
    await s.close();
  });

  it('leaves nothing behind when a put fails its expected digest', async () => {
    const r = root();
    const s = await openFs(r);
    const app = await s.createAppStorage('demo', 'app-c', { owner: 'alice' });
    const err = await app.jars.put('x.jar', Buffer.from('abc'), { expectedSha256: '0'.repeat(64) }).catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_CORRUPT')).toBe(true);
    expect(await app.jars.stat('x.jar')).toBeUndefined();
    expect(readdirSync(join(r, 'apps', 'app-c', 'blobs'))).toEqual([]);
    expect(readdirSync(join(r, 'apps', 'app-c', 'tmp'))).toEqual([]);
    await s.close();
  });

  it('copyToLocal writes the verified file and no temp file; copyFromLocal reads a local file', async () => {
    const r = root();
    const s = await openFs(r);
    const app = await s.createAppStorage('demo', 'app-d', { owner: 'alice' });
    const out = join(r, '..', 'out');
    const body = Buffer.alloc(3 * 1024 * 1024 + 7, 7);
    await app.jars.put('big.jar', body);
    const info = await app.jars.copyToLocal('big.jar', join(out, 'big.jar'));
    expect(info.size).toBe(body.length);
    expect(readdirSync(out)).toEqual(['big.jar']);
    const again = await app.jars.copyFromLocal(join(out, 'big.jar'), 'copy.jar');
    expect(again.sha256).toBe(sha256Hex(body));
    expect((await collectBytes(await app.jars.get('copy.jar'))).equals(body)).toBe(true);
    const missing = await app.jars.copyFromLocal(join(out, 'nope.jar'), 'n.jar').catch((e: unknown) => e);
    expect(isStorageError(missing, 'STORAGE_NOT_FOUND')).toBe(true);
    await s.close();
  });

  it('rejects unknown options with STORAGE_CONFIG_INVALID naming the key', async () => {
    const err = await openStorage(fsModule, { root: root(), rooot: 'typo' }).catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_CONFIG_INVALID')).toBe(true);
    expect(String((err as Error).message)).toContain('rooot');
  });

  it('resolves a relative root against the working directory', async () => {
    const r = root();
    const cwd = process.cwd();
    process.chdir(join(r, '..'));
    try {
      const s = await openFs('./rel-root');
      await s.createAppStorage('demo', 'app-e', { owner: 'alice' });
      await s.close();
    } finally {
      process.chdir(cwd);
    }
    expect(existsSync(join(r, '..', 'rel-root', 'apps', 'app-e', 'store.db'))).toBe(true);
  });

  it('resolves a relative root against the config folder (context.baseDir) when one is given', async () => {
    const r = root();
    const s = await openStorage(fsModule, { root: './by-config' }, { baseDir: r });
    await s.createAppStorage('demo', 'app-f', { owner: 'alice' });
    await s.close();
    expect(existsSync(join(r, 'by-config', 'apps', 'app-f', 'store.db'))).toBe(true);
  });

  it('deleteAppStorage removes the directory, and refuses while the app runs', async () => {
    const r = root();
    const s = await openFs(r);
    const app = await s.createAppStorage('demo', 'app-f', { owner: 'alice' });
    await app.updateMeta({ status: 'running' });
    const err = await s.deleteAppStorage('app-f').catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_IN_USE')).toBe(true);
    await app.updateMeta({ status: 'stopped' });
    await s.deleteAppStorage('app-f');
    expect(existsSync(join(r, 'apps', 'app-f'))).toBe(false);
    expect(readdirSync(join(r, 'tmp'))).toEqual([]);
    await s.close();
  });
});
