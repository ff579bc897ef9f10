import { describe, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { openStorage } from '@sluice/storage-api';
import memoryModule, { dropVolume, namedVolume } from '@sluice/storage-api/memory';
import { registerConformance } from '@sluice/storage-api/conformance';

// The reference backend runs the whole suite: it is the executable spec.
registerConformance({ describe, it }, {
  name: 'memory',
  factory: async () => {
    const volume = `conf-${randomUUID()}`;
    const storage = await openStorage(memoryModule, { volume });
    return {
      storage,
      reopen: () => openStorage(memoryModule, { volume }),
      destroy: async () => {
        await storage.close();
        dropVolume(volume);
      },
      corrupt: async (target) => {
        const app = namedVolume(volume).apps.get(target.appId)!;
        if ('jar' in target) {
          const blob = app.blobs.get(app.jars.get(target.jar)!.sha256)!;
          blob[0]! ^= 0xff;
        } else if ('config' in target) {
          const e = app.config.get(target.config)!;
          app.config.set(target.config, JSON.parse(JSON.stringify(e).replace(target.from, target.to)) as typeof e);
        } else if ('offsets' in target) {
          const e = app.offsets.get(target.offsets)!.entries.find((x) => x.t === target.t)!;
          e.value[e.value.length - 1]! ^= 0xff;
        } else {
          const cp = app.checkpoints.get(target.store)!.committed.find((c) => c.t === target.t)!;
          const ref = cp.parts.find((p) => p.name === target.part)!.ref;
          app.checkpoints.get(target.store)!.staged.get(ref)![0]! ^= 0xff;
        }
      },
    };
  },
});
