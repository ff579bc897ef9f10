// Wrong: follow() throws on its first read. The suite must report failed cases and go on
// to its summary, not crash.
import { StorageError } from '@sluice/storage-api';
import { override, wrapApps, wrongModule } from './wrap.mjs';

export default wrongModule('wrong-throwing-follow', {}, (raw) =>
  wrapApps(raw, (app) =>
    override(app, {
      logs: override(app.logs, {
        // eslint-disable-next-line require-yield
        follow: async function* () {
          throw new StorageError('follow exploded', { code: 'STORAGE_IO_ERROR' });
        },
      }),
    }),
  ),
);
