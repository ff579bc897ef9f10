// Wrong: retention deletes the bytes of every dropped checkpoint's parts, even when a kept
// checkpoint lists the same staged part (readPart of the newest → STORAGE_CORRUPT).
import { override, wrapCheckpointWriters, wrongModule } from './wrap.mjs';

export default wrongModule('wrong-retention-drops-shared-part', {}, (raw) =>
  wrapCheckpointWriters(raw, (w, state) =>
    override(w, {
      commit: async (t, parts, o) => {
        const before = [...state.committed];
        const cp = await w.commit(t, parts, o);
        for (const c of before) if (!state.committed.includes(c)) for (const p of c.parts) state.staged.delete(p.ref);
        return cp;
      },
    }),
  ),
);
