// Helpers for the wrong-module fixtures: each fixture is the reference (memory) backend
// with exactly one contract violation, loadable by path like any user module (so the
// suite's child processes can open it too).
import memoryModule, { MEMORY_CAPABILITIES } from '@sluice/storage-api/memory';
import { LIMITS, checkpointStoreOver } from '@sluice/storage-api';

/** A view of `target` with some members replaced; other methods stay bound to the target. */
export function override(target, overrides) {
  return new Proxy(target, {
    get(t, k) {
      if (Object.prototype.hasOwnProperty.call(overrides, k)) return overrides[k];
      const v = Reflect.get(t, k, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

/** A module over memory: `caps` are declared by module and instance, `wrap(raw)` injects the bug. */
export function wrongModule(name, caps, wrap) {
  const capabilities = Object.freeze({ ...MEMORY_CAPABILITIES, ...caps });
  return {
    name,
    capabilities,
    optionsSchema: memoryModule.optionsSchema,
    async create(options, context) {
      const raw = await memoryModule.create(options, context);
      raw.capabilities = capabilities;
      return wrap ? wrap(raw) : raw;
    },
  };
}

/** Wraps every app handle the storage hands out. */
export function wrapApps(raw, wrapApp) {
  return override(raw, {
    createAppStorage: async (...args) => wrapApp(await raw.createAppStorage(...args), raw),
    getAppStorage: async (id) => {
      const a = await raw.getAppStorage(id);
      return a && wrapApp(a, raw);
    },
  });
}

/**
 * Wraps the writers of every checkpoint store of every app. The memory backend exposes
 * I/O hooks; the fixture turns them into a store first (a module of the older shape that
 * hands out whole stores, which storage-api passes through) and breaks its writer.
 */
export function wrapCheckpointWriters(raw, wrapWriter) {
  return wrapApps(raw, (app) =>
    override(app, {
      checkpoints: (name, opts) => {
        const store = checkpointStoreOver(app.checkpoints(name, opts), opts?.numRetained ?? LIMITS.defaultNumRetained);
        return override(store, {
          writer: async (epoch, o) => wrapWriter(await store.writer(epoch, o), raw.volume.apps.get(app.appId).checkpoints.get(name)),
        });
      },
    }),
  );
}
