// Wrong: retention deletes every part staged for a time before the oldest kept checkpoint,
// as if each checkpoint held only its own parts. With incremental checkpoints a kept
// checkpoint lists a base part staged long before it (readPart of it → STORAGE_CORRUPT).
import { override, wrapCheckpointWriters, wrongModule } from './wrap.mjs';

export default wrongModule('wrong-retention-drops-old-parts', {}, (raw) =>
  wrapCheckpointWriters(raw, (w, state) =>
    override(w, {
      commit: async (t, parts, o) => {
        const cp = await w.commit(t, parts, o);
        const oldest = Math.min(...state.committed.map((c) => c.t));
        for (const ref of [...state.staged.keys()]) if (Number(ref.split('/')[0]) < oldest) state.staged.delete(ref);
        return cp;
      },
    }),
  ),
);
