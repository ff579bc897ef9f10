import { describe, it } from 'vitest';
import { openStorage } from '@sluice/storage-api';
import type { Storage } from '@sluice/storage-api';
import { registerConformance } from '@sluice/storage-api/conformance';
import type { ConformanceInstance } from '@sluice/storage-api/conformance';
import fsModule from '@sluice/storage-fs';
import { removeRoot, tempRoot } from './helpers.js';

registerConformance({ describe, it }, {
  name: 'fs',
  factory: async (): Promise<ConformanceInstance> => {
    const root = tempRoot('sluice-conf-');
    const opened: Storage[] = [];
    const open = async (): Promise<Storage> => {
      const s = await openStorage(fsModule, { root });
      opened.push(s);
      return s;
    };
    return {
      storage: await open(),
      reopen: open, // a second FsStorage on the same root, like another process
      destroy: async () => {
        for (const s of opened) await s.close();
        await removeRoot(root);
      },
      corrupt: async (target) => fsModule.testHooks!.corrupt(opened[0]!, target),
      spec: { module: '@sluice/storage-fs', options: { root } },
    };
  },
});
