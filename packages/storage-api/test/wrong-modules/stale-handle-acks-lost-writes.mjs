// Wrong: a handle kept across delete (and re-create) of its app keeps acknowledging
// writes, which land in the deleted app's data and are lost.
import { override, wrongModule } from './wrap.mjs';

export default wrongModule('wrong-stale-handle-acks-lost-writes', {}, (raw) =>
  override(raw, {
    deleteAppStorage: async (id) => {
      const app = raw.volume.apps.get(id);
      await raw.deleteAppStorage(id);
      if (app) app.deleted = false;
    },
  }),
);
