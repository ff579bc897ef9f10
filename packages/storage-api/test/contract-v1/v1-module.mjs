// A module in the round-1 shape (contractVersion 1), kept to show that such a module is
// refused: its offsets store hands out writers with append/appendBatch and fences itself,
// its config store has set/delete. Values are stored as given (no storage-api frame).
const CAPABILITIES = Object.freeze({ persistent: false, multiProcess: false, multiWriter: false, follow: false, metricsRollups: false });

class V1Offsets {
  constructor(name) {
    this.name = name;
    this.entries = [];
    this.epoch = 0;
  }
  async get(t) { return this.entries.find((e) => e.t === t); }
  async floor(t) { return [...this.entries].reverse().find((e) => e.t <= t); }
  async lookUp(t) {
    if (this.entries.length === 0) return { status: 'empty' };
    const e = this.entries.find((x) => x.t >= t);
    return e ? { status: 'found', entry: e } : { status: 'overflow', max: this.entries.at(-1) };
  }
  async first() { return this.entries[0]; }
  async last() { return this.entries.at(-1); }
  async range(from, to, o = {}) { return this.entries.filter((e) => e.t >= from && e.t < to).slice(0, o.limit ?? 10000); }
  async currentEpoch() { return this.epoch; }
  async writer(epoch) {
    if (epoch < this.epoch) throw Object.assign(new Error('fenced'), { code: 'STORAGE_FENCED' });
    this.epoch = epoch;
    const store = this;
    return {
      epoch,
      async append(t, value) { store.entries.push({ t, value }); },
      async appendBatch(entries) { store.entries.push(...entries); },
      async truncateAfter(t) { const n = store.entries.length; store.entries = store.entries.filter((e) => e.t <= t); return n - store.entries.length; },
      async truncateBefore(t) { const n = store.entries.length; store.entries = store.entries.filter((e) => e.t >= t); return n - store.entries.length; },
    };
  }
}

class V1Config {
  constructor() { this.entries = new Map(); }
  async get(id) { return this.entries.get(id); }
  async set(id, value) {
    const e = { processorId: id, value, version: (this.entries.get(id)?.version ?? 0) + 1, updatedAt: Date.now() };
    this.entries.set(id, e);
    return e;
  }
  async list() { return [...this.entries.values()]; }
  async delete(id) { this.entries.delete(id); }
}

const none = async () => undefined;

function app(appName, appId, options) {
  const offsets = new Map();
  const meta = { appId, appName, owner: options.owner, acl: options.acl ?? [], status: 'created', labels: options.labels ?? {}, createdAt: 0, updatedAt: 0, version: 1 };
  return {
    appId,
    appName,
    meta: async () => meta,
    updateMeta: async (patch) => Object.assign(meta, patch, { version: meta.version + 1 }),
    jars: { put: none, get: none, stat: none, list: async () => [], delete: none },
    logs: { append: none, query: async () => ({ records: [] }), follow: async function* () {}, stats: async () => ({ count: 0, bytes: 0 }), deleteBefore: async () => 0 },
    metrics: { write: none, query: async () => [], listSeries: async () => [], deleteBefore: async () => 0 },
    config: new V1Config(),
    offsets(name) {
      if (!offsets.has(name)) offsets.set(name, new V1Offsets(name));
      return offsets.get(name);
    },
    checkpoints() { throw new Error('not in this fixture'); },
    listTimeStores: async () => [],
    close: none,
  };
}

export default {
  name: 'v1-module',
  contractVersion: 1,
  capabilities: CAPABILITIES,
  async create() {
    const apps = new Map();
    return {
      capabilities: CAPABILITIES,
      backend: 'v1-module',
      async createAppStorage(appName, appId, options) {
        const a = app(appName, appId, options);
        apps.set(appId, a);
        return a;
      },
      getAppStorage: async (appId) => apps.get(appId),
      listApps: async () => Promise.all([...apps.values()].map((a) => a.meta())),
      deleteAppStorage: async (appId) => void apps.delete(appId),
      close: none,
    };
  },
};
