import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseStorageConfig, parseStorageConfigYaml, loadStorageModule, openStorage, isStorageError, validateName, withRetry,
  StorageError, parseAclEntry, hasAccess, assertAccess,
} from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('config schema', () => {
  it('fills defaults', () => {
    const c = parseStorageConfig(undefined);
    expect(c.default).toBeUndefined();
    expect(c.routes).toEqual({});
    expect(c.retention).toEqual({});
  });

  it('names every bad key path', () => {
    let err: unknown;
    try {
      parseStorageConfigYaml('storage:\n  default: { module: "" }\n  routes:\n    jarz: { module: x }\n  retention:\n    logs: { maxAgeMs: -1 }\n');
    } catch (e) {
      err = e;
    }
    expect(isStorageError(err, 'STORAGE_CONFIG_INVALID')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('storage.default.module');
    expect(msg).toContain('storage.routes');
    expect(msg).toContain('jarz');
    expect(msg).toContain('storage.retention.logs.maxAgeMs');
  });

  it('rejects YAML that does not parse', () => {
    expect(codeOf(() => parseStorageConfigYaml('storage: [unclosed'))).toBe('STORAGE_CONFIG_INVALID');
  });
});

describe('module loader', () => {
  it('loads the built-in memory module and validates options with its schema', async () => {
    const mod = await loadStorageModule('memory');
    expect(mod.name).toBe('memory');
    const err = await openStorage(mod, { volume: 3 } as never, {}, ['storage', 'routes', 'jars', 'options']).catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toContain('storage.routes.jars.options.volume');
    const unknownKey = await openStorage(mod, { volumes: 'x' } as never).catch((e: unknown) => e);
    expect(isStorageError(unknownKey, 'STORAGE_CONFIG_INVALID')).toBe(true);
  });

  it('refuses missing files, non-modules and unknown packages with STORAGE_MODULE_INVALID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-loader-'));
    try {
      await writeFile(join(dir, 'not-a-module.mjs'), 'export default { hello: 1 };\n');
      await writeFile(join(dir, 'throws.mjs'), 'throw new Error("boom at load");\n');
      for (const spec of ['./absent.mjs', './not-a-module.mjs', './throws.mjs', '@sluice/no-such-backend']) {
        const err = await loadStorageModule(spec, { baseDir: dir }).catch((e: unknown) => e);
        expect(isStorageError(err, 'STORAGE_MODULE_INVALID'), spec).toBe(true);
      }
      const msg = ((await loadStorageModule('./not-a-module.mjs', { baseDir: dir }).catch((e: unknown) => e)) as Error).message;
      expect(msg).toContain('create(options, context) is missing');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a guarded storage is guarded once', async () => {
    const s = await openStorage(memoryModule, {});
    expect(s.capabilities.persistent).toBe(false);
    await s.close();
  });
});

describe('names', () => {
  it('accepts ordinary names and rejects traversal', () => {
    for (const ok of ['app-0001', 'word_count.js', 'a@b=c', 'X']) expect(validateName('jar', ok)).toBe(ok);
    for (const bad of ['..', 'a/../b', '/etc/passwd', 'C:\\x', '', 'a'.repeat(129), 'tab\there', '-flag']) {
      expect(codeOf(() => validateName('jar', bad)), bad).toBe('STORAGE_INVALID_ARGUMENT');
    }
  });
});

describe('ACL model', () => {
  it('parses Storm-style entries', () => {
    expect(parseAclEntry('u:bob:rw')).toMatchObject({ type: 'user', name: 'bob' });
    expect([...parseAclEntry('o::r').perms]).toEqual(['r']);
    for (const bad of ['u::r', 'x:bob:r', 'u:bob:rwx', 'o:eve:r']) expect(codeOf(() => parseAclEntry(bad)), bad).toBe('STORAGE_INVALID_ARGUMENT');
  });

  it('a user entry wins over o::', () => {
    const meta = { appId: 'a', owner: 'alice', acl: ['u:bob:-', 'o::rw'] };
    expect(hasAccess(meta, 'bob', 'r')).toBe(false);
    expect(hasAccess(meta, 'carol', 'w')).toBe(true);
    expect(hasAccess(meta, 'carol', 'a')).toBe(false);
    expect(codeOf(() => assertAccess(meta, 'carol', 'a'))).toBe('STORAGE_PERMISSION_DENIED');
  });
});

describe('withRetry', () => {
  it('retries transient errors with bounded attempts and gives up on the rest', async () => {
    let n = 0;
    const v = await withRetry(async () => {
      if (++n < 3) throw new StorageError('flaky', { code: 'STORAGE_UNAVAILABLE' });
      return 'ok';
    }, { baseDelayMs: 1 });
    expect(v).toBe('ok');
    expect(n).toBe(3);
    n = 0;
    await expect(withRetry(async () => {
      n++;
      throw new StorageError('down', { code: 'STORAGE_UNAVAILABLE' });
    }, { attempts: 4, baseDelayMs: 1 })).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(n).toBe(4);
    n = 0;
    await expect(withRetry(async () => {
      n++;
      throw new StorageError('bad', { code: 'STORAGE_INVALID_ARGUMENT' });
    })).rejects.toMatchObject({ code: 'STORAGE_INVALID_ARGUMENT' });
    expect(n).toBe(1);
  });

  it('stops waiting when the signal aborts', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await expect(withRetry(async () => {
      throw new StorageError('down', { code: 'STORAGE_UNAVAILABLE' });
    }, { attempts: 100, baseDelayMs: 1000, maxDelayMs: 1000, random: () => 1, signal: ac.signal })).rejects.toMatchObject({ code: 'STORAGE_ABORTED' });
  });
});
