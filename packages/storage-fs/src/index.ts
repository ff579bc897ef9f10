import type { StorageContext, StorageModule } from '@sluice/storage-api';
import { FS_CAPABILITIES, FsStorage } from './fs-storage.js';
import { type FsStorageOptions, type ResolvedFsOptions, fsOptionsSchema } from './options.js';
import { corruptFs } from './test-hooks.js';

export { FsStorage, FS_CAPABILITIES } from './fs-storage.js';
export { fsOptionsSchema, type FsStorageOptions, type ResolvedFsOptions } from './options.js';
export { mapNativeError } from './errors.js';

/** `module: '@sluice/storage-fs'` in cluster config. */
const fsModule: StorageModule<ResolvedFsOptions> = {
  name: '@sluice/storage-fs',
  capabilities: FS_CAPABILITIES,
  // The contract shape this module implements (a literal: it must not follow a bump).
  contractVersion: 2,
  optionsSchema: fsOptionsSchema,
  async create(options: ResolvedFsOptions, context: StorageContext) {
    // Fill defaults when called without openStorage() (which already parsed the options).
    const parsed = fsOptionsSchema.parse(options ?? ({} as FsStorageOptions));
    return new FsStorage(parsed, context).init();
  },
  // The suite's corrupt-data cases run from `sluice storage conformance -c` too.
  testHooks: { corrupt: corruptFs },
};

export default fsModule;
export { fsModule };
