import { describe, expect, it } from 'vitest';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  loadStorageModule, openStorage, defaultContext, checkStoreHooks, isStorageError, STORAGE_CONTRACT_VERSION, CONTRACT_HOOKS, type StorageModule,
} from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = (f: string): string => join(here, 'contract-v1', f);

async function refusal(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(isStorageError(err), `expected a StorageError, got ${String(err)}`).toBe(true);
  return err as Error & { code?: string };
}

describe('storage contract version', () => {
  it('is 2, with the offsets and config hooks by name', () => {
    expect(STORAGE_CONTRACT_VERSION).toBe(2);
    expect(CONTRACT_HOOKS.offsets).toContain('openEpoch');
    expect(CONTRACT_HOOKS.config).toEqual(['get', 'list', 'put', 'remove']);
  });

  it('refuses a module declaring contractVersion 1 at load, naming both versions, the missing hooks and the guide', async () => {
    const err = await refusal(loadStorageModule(fixture('v1-module.mjs')));
    expect(err.code).toBe('STORAGE_MODULE_INVALID');
    expect(err.message).toContain('contractVersion 1');
    expect(err.message).toContain(`contractVersion ${STORAGE_CONTRACT_VERSION}`);
    for (const hook of ['ceiling', 'openEpoch', 'append', 'truncate', 'put', 'remove']) expect(err.message).toContain(hook);
    expect(err.message).toContain('docs/writing-a-storage-module.md#contract-versions');
  });

  it('refuses a v1 module object handed to openStorage before create() runs', async () => {
    const v1 = (await import(fixture('v1-module.mjs'))) as { default: StorageModule<unknown> };
    let created = false;
    const mod: StorageModule<unknown> = { ...v1.default, create: async (o, c) => { created = true; return v1.default.create(o, c); } };
    const err = await refusal(openStorage(mod));
    expect(err.code).toBe('STORAGE_MODULE_INVALID');
    expect(err.message).toContain('contractVersion 1');
    expect(created).toBe(false);
  });

  it('refuses a module declaring a newer contract as too new', async () => {
    const err = await refusal(loadStorageModule(fixture('v3-module.mjs')));
    expect(err.code).toBe('STORAGE_MODULE_INVALID');
    expect(err.message).toMatch(/contractVersion 3, newer than this storage-api implements \(contractVersion 2\)/);
  });

  it('refuses an undeclared v1-shaped module when its first app store is handed out, naming each missing hook', async () => {
    const mod = await loadStorageModule(fixture('v1-module-undeclared.mjs'));
    const storage = await openStorage(mod);
    try {
      const err = await refusal(storage.createAppStorage('a', 'app-1', { owner: 'u' }));
      expect(err.code).toBe('STORAGE_MODULE_INVALID');
      expect(err.message).toContain('config store lacks the contractVersion 2 hooks put, remove');
    } finally {
      await storage.close();
    }
  });

  it('names each missing offsets hook of a v1-shaped offsets store', async () => {
    const v1 = (await import(fixture('v1-module-undeclared.mjs'))) as { default: StorageModule<unknown> };
    const raw = await v1.default.create({}, defaultContext({ baseDir: here }));
    const app = await raw.createAppStorage('a', 'app-1', { owner: 'u' });
    let err: unknown;
    try {
      checkStoreHooks('offsets', app.offsets('src'), raw.backend);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('STORAGE_MODULE_INVALID');
    expect((err as Error).message).toContain('offsets store lacks the contractVersion 2 hooks ceiling, openEpoch, append, truncate');
  });

  it('passes the in-repo modules, which declare contractVersion 2', async () => {
    expect(memoryModule.contractVersion).toBe(2);
    for (const spec of ['@sluice/storage-fs', '@sluice/storage-s3', '@sluice/storage-hdfs', join(here, '../../../examples/custom-storage/json-dir-store.mjs')]) {
      expect((await loadStorageModule(spec)).contractVersion, spec).toBe(2);
    }
    const storage = await openStorage(memoryModule as StorageModule<unknown>);
    try {
      const app = await storage.createAppStorage('a', 'app-1', { owner: 'u' });
      const w = await app.offsets('src').writer(1);
      await w.append(1, new Uint8Array([7]));
      expect((await app.offsets('src').last())?.value).toEqual(new Uint8Array([7]));
    } finally {
      await storage.close();
    }
  });
});
