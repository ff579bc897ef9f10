import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { openConfiguredStorage, parseStorageConfig, storagePlan, isStorageError } from '@sluice/storage-api';
import { dropVolume, namedVolume } from '@sluice/storage-api/memory';
import { registerConformance } from '@sluice/storage-api/conformance';

function routedConfig(main: string, side: string) {
  return parseStorageConfig({
    default: { module: 'memory', options: { volume: main } },
    routes: {
      jars: { module: 'memory', options: { volume: side } },
      checkpoints: { module: 'memory', options: { volume: side } },
    },
  });
}

// The suite re-runs against the routing wrapper: it must be exactly as compliant.
registerConformance({ describe, it }, {
  name: 'routing (memory + memory)',
  factory: async () => {
    const main = `main-${randomUUID()}`;
    const side = `side-${randomUUID()}`;
    const cfg = routedConfig(main, side);
    const storage = await openConfiguredStorage(cfg);
    return {
      storage,
      reopen: () => openConfiguredStorage(cfg),
      destroy: async () => {
        await storage.close();
        dropVolume(main);
        dropVolume(side);
      },
      corrupt: async (target) => {
        const app = namedVolume(side).apps.get(target.appId)!;
        if ('jar' in target) app.blobs.get(app.jars.get(target.jar)!.sha256)![0]! ^= 0xff;
        else if ('config' in target) {
          const m = namedVolume(main).apps.get(target.appId)!;
          const e = m.config.get(target.config)!;
          m.config.set(target.config, JSON.parse(JSON.stringify(e).replace(target.from, target.to)) as typeof e);
        } else if ('offsets' in target) {
          // Offsets stay on the default (main) volume.
          const e = namedVolume(main).apps.get(target.appId)!.offsets.get(target.offsets)!.entries.find((x) => x.t === target.t)!;
          e.value[e.value.length - 1]! ^= 0xff;
        } else {
          const s = app.checkpoints.get(target.store)!;
          s.staged.get(s.committed.find((c) => c.t === target.t)!.parts.find((p) => p.name === target.part)!.ref)![0]! ^= 0xff;
        }
      },
    };
  },
});

describe('routing', () => {
  it('sends each sub-store to its backend and keeps the registry on the default', async () => {
    const main = `main-${randomUUID()}`;
    const side = `side-${randomUUID()}`;
    const s = await openConfiguredStorage(routedConfig(main, side));
    expect(s.backend).toBe('routing(memory)');
    const app = await s.createAppStorage('wc', 'app-1', { owner: 'alice' });
    await app.jars.put('a.js', new Uint8Array([1, 2, 3]));
    await (await app.checkpoints('c').writer(1)).append(5, new Uint8Array([9]));
    await (await app.offsets('o').writer(1)).append(5, new Uint8Array([9]));
    expect(namedVolume(side).apps.get('app-1')!.jars.has('a.js')).toBe(true);
    expect(namedVolume(main).apps.get('app-1')!.jars.size).toBe(0);
    expect(namedVolume(side).apps.get('app-1')!.checkpoints.has('c')).toBe(true);
    expect(namedVolume(main).apps.get('app-1')!.offsets.has('o')).toBe(true);
    // The jar backend learns the app is running, so its own IN_USE check works.
    await app.updateMeta({ status: 'running', jar: 'a.js' });
    expect(namedVolume(side).apps.get('app-1')!.meta.status).toBe('running');
    await expect(app.jars.delete('a.js')).rejects.toMatchObject({ code: 'STORAGE_IN_USE' });
    await s.close();
  });

  it('routes shared blobs to their own backend (routes.blobs), which never learns about apps', async () => {
    const main = `main-${randomUUID()}`;
    const blobVol = `blobs-${randomUUID()}`;
    const s = await openConfiguredStorage(parseStorageConfig({ default: { module: 'memory', options: { volume: main } }, routes: { blobs: { module: 'memory', options: { volume: blobVol } } } }));
    expect(s.capabilities.blobs).toBe(true);
    await s.blobs!.create('dict', (async function* () {
      yield new Uint8Array([1, 2, 3]);
    })(), { owner: 'alice' });
    const direct = await openConfiguredStorage(parseStorageConfig({ default: { module: 'memory', options: { volume: blobVol } } }));
    const other = await openConfiguredStorage(parseStorageConfig({ default: { module: 'memory', options: { volume: main } } }));
    expect((await direct.blobs!.head('dict'))?.version).toBe(1);
    expect(await other.blobs!.head('dict')).toBeUndefined();
    await s.createAppStorage('wc', 'app-b', { owner: 'alice' });
    expect(namedVolume(blobVol).apps.has('app-b')).toBe(false);
    expect(storagePlan(parseStorageConfig({ routes: { blobs: { module: 'memory', options: { volume: blobVol } } } })).find((r) => r.subStore === 'blobs')?.source).toBe('storage.routes.blobs');
    await Promise.all([s.close(), direct.close(), other.close()]);
  });

  it('plans name where each route came from and redact secrets', () => {
    const plan = storagePlan(
      parseStorageConfig({ routes: { checkpoints: { module: '@sluice/storage-s3', options: { bucket: 'b', credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' } } } } }),
    );
    expect(plan.find((r) => r.subStore === 'jars')).toMatchObject({ module: '@sluice/storage-fs', source: '(built-in default)' });
    const cp = plan.find((r) => r.subStore === 'checkpoints')!;
    expect(cp.source).toBe('storage.routes.checkpoints');
    expect(JSON.stringify(cp.options)).not.toContain('SK');
    expect(JSON.stringify(cp.options)).toContain('***');
  });

  it('a backend that fails to open closes the ones already opened and reports the key path', async () => {
    const cfg = parseStorageConfig({ default: { module: 'memory' }, routes: { logs: { module: 'memory', options: { volume: 5 } } } });
    const err = await openConfiguredStorage(cfg).catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toContain('storage.routes.logs.options.volume');
  });
});
