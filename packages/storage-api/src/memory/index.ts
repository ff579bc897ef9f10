import { z } from 'zod';
import type { StorageContext, StorageModule } from '../types.js';
import { MEMORY_CAPABILITIES, MemoryStorage } from './storage.js';
import { MemoryVolume, dropVolume, namedVolume } from './volume.js';

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
  optionsSchema,
  async create(options: MemoryStorageOptions, context: StorageContext) {
    const volume = options.volume ? namedVolume(options.volume) : new MemoryVolume();
    return new MemoryStorage(volume, context, options.volume !== undefined);
  },
};

export default memoryModule;
export { memoryModule };
