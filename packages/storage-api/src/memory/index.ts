import { z } from 'zod';
import type { StorageContext, StorageModule } from '../types.js';
import { unwrapStorage } from '../guard.js';
import { MEMORY_CAPABILITIES, MemoryStorage } from './storage.js';
import { MemoryVolume, namedVolume } from './volume.js';

export { MemoryStorage, MEMORY_CAPABILITIES } from './storage.js';
export { MemoryVolume, dropVolume, namedVolume } from './volume.js';

const optionsSchema = z
  .object({
    /** Instances opened with the same volume name share data (within one process). */
    volume: z.string().min(1).optional(),
  })
  .strict();

export type MemoryStorageOptions = z.infer<typeof optionsSchema>;

/** `module: memory` in cluster config, or `@sluice/storage-api/memory`. */
const memoryModule: StorageModule<MemoryStorageOptions> = {
  name: 'memory',
  capabilities: MEMORY_CAPABILITIES,
  // The contract shape this module implements (a literal: it must not follow a bump).
  contractVersion: 2,
  optionsSchema,
  async create(options: MemoryStorageOptions, context: StorageContext) {
    const volume = options.volume ? namedVolume(options.volume) : new MemoryVolume();
    return new MemoryStorage(volume, context);
  },
  testHooks: {
    async corrupt(storage, target) {
      const volume = (unwrapStorage(storage) as unknown as MemoryStorage).volume;
      const app = volume.apps.get(target.appId);
      if (!app) throw new Error(`no app ${target.appId}`);
      if ('jar' in target) {
        app.blobs.get(app.jars.get(target.jar)!.sha256)![0]! ^= 0xff;
      } else if ('config' in target) {
        const e = app.config.get(target.config);
        if (!e) throw new Error(`no config ${target.config}`);
        app.config.set(target.config, JSON.parse(JSON.stringify(e).replace(target.from, target.to)) as typeof e);
      } else if ('offsets' in target) {
        const e = app.offsets.get(target.offsets)!.entries.find((x) => x.t === target.t)!;
        e.value[e.value.length - 1]! ^= 0xff;
      } else {
        const s = app.checkpoints.get(target.store)!;
        const ref = s.committed.find((c) => c.t === target.t)!.parts.find((p) => p.name === target.part)!.ref;
        s.staged.get(ref)![0]! ^= 0xff;
      }
    },
  },
};

export default memoryModule;
export { memoryModule };
