import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadStorageModule, openStorage } from '@sluice/storage-api';
import { ChildSession } from '@sluice/storage-api/conformance';

// The conformance suite's other process: one per side of a case, driven line by line.
const here = dirname(fileURLToPath(import.meta.url));
const locked = join(here, 'wrong-modules', 'file-volume-locked.mjs');

describe('ChildSession (child.js session mode)', () => {
  it('runs commands against the data this process wrote, in order, and ends its process on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-child-session-'));
    const storage = await openStorage(await loadStorageModule(locked), { dir });
    try {
      const app = await storage.createAppStorage('n', 'app-1', { owner: 'alice' });
      await app.config.set('p', 'here');
      const s = await ChildSession.start({ module: locked, options: { dir } }, 'test');
      try {
        expect(await s.send({ cmd: 'config-set', appId: 'app-1', key: 'p', value: 'there', ifVersion: 1 })).toEqual({ found: true, ok: true, version: 2 });
        expect(await s.send({ cmd: 'config-set', appId: 'app-1', key: 'p', value: 'late', ifVersion: 1 })).toMatchObject({ found: true, ok: false, code: 'STORAGE_PRECONDITION_FAILED' });
        expect(await s.send({ cmd: 'log-append', appId: 'nope', msg: 'x' })).toEqual({ found: false });
        // A malformed line is refused by the child's schema, naming the field; the session goes on.
        await expect(s.send({ cmd: 'config-set', appId: 'app-1', key: 7 } as never)).rejects.toThrow(/test: child process config-set .* failed: .*invalid child command .*key: /);
        expect(await s.send({ cmd: 'config-set', appId: 'app-1', key: 'q', value: 1 })).toEqual({ found: true, ok: true, version: 1 });
        expect((await app.config.get('p'))?.value).toBe('there');
      } finally {
        await s.close();
      }
      await expect(s.send({ cmd: 'log-append', appId: 'app-1', msg: 'x' })).rejects.toThrow(/test: child process exited before/);
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('a child that cannot open the store fails start() with the reason', async () => {
    await expect(ChildSession.start({ module: join(here, 'wrong-modules', 'no-such-module.mjs'), options: {} }, 'multiProcess (test)'))
      .rejects.toThrow(/multiProcess \(test\): child process (did not open the store|exited \\(code 1\\) before answering opening the store): .*no-such-module/);
  }, 30_000);
});
