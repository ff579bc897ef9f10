import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '@sluice/storage-api';
import { registerConformance } from '@sluice/storage-api/conformance';
import mod from './json-dir-store.mjs';

// The whole suite, exactly as a user's backend would run it. Skips come only from
// the capabilities the module declares.
registerConformance({ describe, it }, {
  name: 'json-dir-store',
  factory: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-json-dir-'));
    const storage = await openStorage(mod, { dir });
    const opened: Storage[] = [storage];
    return {
      storage,
      reopen: async () => {
        const again = await openStorage(mod, { dir });
        opened.push(again);
        return again;
      },
      destroy: async () => {
        await Promise.allSettled(opened.map((s) => s.close()));
        await rm(dir, { recursive: true, force: true });
      },
      corrupt: (target) => mod.testHooks.corrupt(storage, target),
      spec: { module: join(import.meta.dirname, 'json-dir-store.mjs'), options: { dir } },
    };
  },
});

describe('json-dir-store options', () => {
  it('refuses a missing dir and unknown keys with STORAGE_CONFIG_INVALID naming the key', async () => {
    await expect(openStorage(mod, {})).rejects.toMatchObject({ code: 'STORAGE_CONFIG_INVALID', message: expect.stringContaining('dir') });
    await expect(openStorage(mod, { dir: '/tmp/x', fsync: false })).rejects.toMatchObject({
      code: 'STORAGE_CONFIG_INVALID',
      message: expect.stringContaining('fsync'),
    });
  });

  it('resolves a relative dir against baseDir and creates it (the CLI passes a fresh subfolder)', async () => {
    const base = await mkdtemp(join(tmpdir(), 'sluice-json-base-'));
    try {
      const storage = await openStorage(mod, { dir: 'nested/data' }, { baseDir: base });
      await storage.createAppStorage('n', 'app-1', { owner: 'alice' });
      await storage.close();
      expect(await readdir(join(base, 'nested', 'data', 'apps'))).toEqual(['app-1']);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
