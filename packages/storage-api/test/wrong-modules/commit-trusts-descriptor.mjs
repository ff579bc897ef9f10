// Wrong: commit takes the caller's part descriptor on trust (a sha256/size that differ
// from what was staged are accepted; here the descriptor is silently "fixed up").
import { createHash } from 'node:crypto';
import { override, wrapCheckpointWriters, wrongModule } from './wrap.mjs';

export default wrongModule('wrong-commit-trusts-descriptor', {}, (raw) =>
  wrapCheckpointWriters(raw, (w, state) =>
    override(w, {
      commit: (t, parts, o) =>
        w.commit(t, parts.map((p) => {
          const b = state.staged.get(p.ref);
          return b ? { ...p, size: b.byteLength, sha256: createHash('sha256').update(b).digest('hex') } : p;
        }), o),
    }),
  ),
);
