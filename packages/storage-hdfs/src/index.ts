import type { StorageContext, StorageModule } from '@sluice/storage-api';
import { hdfsOptionsSchema, type HdfsOptions } from './options.js';
import { HDFS_CAPABILITIES, HdfsStorage } from './storage.js';
import { corruptStorage } from './test-hooks.js';

export { HdfsStorage, HDFS_CAPABILITIES } from './storage.js';
export { WebHdfsClient, encodePath, type FileStatus, type ClientOptions } from './client.js';
export { mapHdfsError, type HdfsFailure, type RemoteException } from './errors.js';
export { hdfsOptionsSchema, type HdfsOptions, type HdfsOptionsInput } from './options.js';
export { corruptAt } from './test-hooks.js';
export { COMPACT_AT_SEGMENTS, FULL_SEGMENT_ENTRIES } from './offsets.js';

/** `module: '@sluice/storage-hdfs'` in cluster config. */
const hdfsModule: StorageModule<HdfsOptions> = {
  name: '@sluice/storage-hdfs',
  capabilities: HDFS_CAPABILITIES,
  // The contract shape this module implements (a literal: it must not follow a bump).
  contractVersion: 2,
  optionsSchema: hdfsOptionsSchema,
  async create(options: HdfsOptions, context: StorageContext) {
    const s = new HdfsStorage(options, context);
    try {
      await s.init();
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  },
  testHooks: { corrupt: corruptStorage },
};

export default hdfsModule;
export { hdfsModule };
