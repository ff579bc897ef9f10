import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { STORAGE_API_VERSION, loadStorageModule, satisfiesCaret } from '@sluice/storage-api';

async function fakePackage(dir: string, name: string, peer: string, prelude = ''): Promise<void> {
  const pkg = join(dir, 'node_modules', ...name.split('/'));
  await mkdir(pkg, { recursive: true });
  await writeFile(join(pkg, 'package.json'), JSON.stringify({ name, version: '9.9.9', type: 'module', exports: { '.': './index.js', './package.json': './package.json' }, peerDependencies: { '@sluice/storage-api': peer } }));
  await writeFile(join(pkg, 'index.js'), prelude + "export default { name: 'fake', capabilities: { persistent: false, multiProcess: false, multiWriter: false, follow: false, metricsRollups: false }, async create() { throw new Error('unused'); } };\n");
}

describe('engine and backend versions', () => {
  it('a backend whose peer range on @sluice/storage-api excludes the installed one is refused at load, naming both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-peer-'));
    try {
      await fakePackage(dir, '@acme/newer-store', '^7.0.0');
      await expect(loadStorageModule('@acme/newer-store', { baseDir: dir })).rejects.toMatchObject({
        code: 'STORAGE_MODULE_INVALID',
        message: `@acme/newer-store@9.9.9 needs @sluice/storage-api ^7.0.0, but ${STORAGE_API_VERSION} is installed: install a @acme/newer-store built for it (or upgrade the engine)`,
      });
      await fakePackage(dir, '@acme/fitting-store', `^${STORAGE_API_VERSION}`);
      expect((await loadStorageModule('@acme/fitting-store', { baseDir: dir })).name).toBe('fake');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the version is checked before the import: a backend needing an export this storage-api lacks still gets the version error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-peer-'));
    try {
      // The backend resolves this very storage-api, as an installed project's backend would.
      await mkdir(join(dir, 'node_modules', '@sluice'), { recursive: true });
      await symlink(resolve(import.meta.dirname, '..'), join(dir, 'node_modules', '@sluice', 'storage-api'), 'dir');
      const prelude = "import { storageApiOfTheFuture } from '@sluice/storage-api';\nvoid storageApiOfTheFuture;\n";
      await fakePackage(dir, '@acme/future-store', '^7.0.0', prelude);
      await expect(loadStorageModule('@acme/future-store', { baseDir: dir })).rejects.toMatchObject({
        code: 'STORAGE_MODULE_INVALID',
        message: expect.stringContaining(`@acme/future-store@9.9.9 needs @sluice/storage-api ^7.0.0, but ${STORAGE_API_VERSION} is installed`) as unknown,
        details: { module: '@acme/future-store', needs: '^7.0.0', installed: STORAGE_API_VERSION },
      });
      // The same module with a fitting range gets past the check and fails at import, as it must.
      await fakePackage(dir, '@acme/fitting-future-store', `^${STORAGE_API_VERSION}`, prelude);
      await expect(loadStorageModule('@acme/fitting-future-store', { baseDir: dir })).rejects.toMatchObject({
        code: 'STORAGE_MODULE_INVALID',
        message: expect.stringMatching(/^cannot load storage module @acme\/fitting-future-store: .*storageApiOfTheFuture/) as unknown,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('caret ranges as npm reads them', () => {
    expect(satisfiesCaret('0.1.3', '^0.1.0')).toBe(true);
    expect(satisfiesCaret('0.2.0', '^0.1.0')).toBe(false);
    expect(satisfiesCaret('1.4.0', '^1.2.0')).toBe(true);
    expect(satisfiesCaret('2.0.0', '^1.2.0')).toBe(false);
    expect(satisfiesCaret('1.1.0', '^1.2.0')).toBe(false);
    expect(satisfiesCaret('0.0.3', '^0.0.3')).toBe(true);
    expect(satisfiesCaret('0.0.4', '^0.0.3')).toBe(false);
    expect(satisfiesCaret('0.1.0', '0.1.0')).toBe(true);
    expect(satisfiesCaret('0.3.0', '^0.1.0 || ^0.3.0')).toBe(true);
  });
});
