// Wrong: follow() notes "what exists now" late (after its first await), so records
// appended after the call but before that moment are never delivered.
import { setTimeout as sleep } from 'node:timers/promises';
import { override, wrapApps, wrongModule } from './wrap.mjs';

export default wrongModule('wrong-lazy-follow', {}, (raw) =>
  wrapApps(raw, (app) =>
    override(app, {
      logs: override(app.logs, {
        follow: async function* (q, o) {
          await sleep(400);
          yield* app.logs.follow(q, o);
        },
      }),
    }),
  ),
);
