import { assert, bytes, rejectsWith, type ConformanceCase } from '../harness.js';

export const lifecycleCases: ConformanceCase[] = [
  {
    group: 'lifecycle',
    name: 'every operation on a closed storage is STORAGE_CLOSED',
    async run({ storage, app }) {
      const a = await app();
      const off = a.offsets('src');
      const w = await off.writer(1);
      const cw = await a.checkpoints('cp').writer(1);
      await storage.close();
      await storage.close(); // idempotent
      const ops: Array<[string, () => Promise<unknown>]> = [
        ['createAppStorage', () => storage.createAppStorage('n', 'x1', { owner: 'alice' })],
        ['getAppStorage', () => storage.getAppStorage(a.appId)],
        ['listApps', () => storage.listApps()],
        ['deleteAppStorage', () => storage.deleteAppStorage(a.appId)],
        ['meta', () => a.meta()],
        ['jars.put', () => a.jars.put('j', bytes('x'))],
        ['jars.get', () => a.jars.get('j')],
        ['jars.list', () => a.jars.list()],
        ['offsets.get', () => off.get(1)],
        ['offsets.lookUp', () => off.lookUp(1)],
        ['writer.append', () => w.append(1, bytes('x'))],
        ['checkpoint.commit', () => cw.append(1, bytes('x'))],
        ['logs.append', () => a.logs.append([{ ts: 1, level: 'info', msg: 'm', labels: {} }])],
        ['logs.query', () => a.logs.query({})],
        ['metrics.query', () => a.metrics.query({ name: 'x', from: 0, to: 1 })],
        ['config.get', () => a.config.get('p')],
        ['config.set', () => a.config.set('p', 1)],
      ];
      for (const [name, op] of ops) await rejectsWith(op, 'STORAGE_CLOSED', name);
      assert.throws(() => a.offsets('other'), (e: { code?: string }) => e.code === 'STORAGE_CLOSED');
    },
  },
  {
    group: 'lifecycle',
    name: 'a closed app storage is STORAGE_CLOSED while the storage stays open',
    async run({ storage, app }) {
      const a = await app();
      await a.close();
      await rejectsWith(a.meta(), 'STORAGE_CLOSED');
      await rejectsWith(a.config.get('p'), 'STORAGE_CLOSED');
      const again = await storage.getAppStorage(a.appId);
      assert.ok(again);
      await again.config.set('p', 1);
    },
  },
  {
    group: 'lifecycle',
    name: 'an aborted signal is STORAGE_ABORTED (name AbortError) on every operation',
    async run({ app }) {
      const a = await app();
      const w = await a.offsets('src').writer(1);
      const signal = AbortSignal.abort(new Error('stop'));
      const ops: Array<[string, () => Promise<unknown>]> = [
        ['offsets.get', () => a.offsets('src').get(1, { signal })],
        ['offsets.lookUp', () => a.offsets('src').lookUp(1, { signal })],
        ['append', () => w.append(1, bytes('x'), { signal })],
        ['jars.put', () => a.jars.put('j', bytes('x'), { signal })],
        ['jars.stat', () => a.jars.stat('j', { signal })],
        ['logs.query', () => a.logs.query({}, { signal })],
        ['metrics.write', () => a.metrics.write([{ name: 'x', labels: {}, ts: 1, value: 1, kind: 'gauge' }], { signal })],
        ['config.set', () => a.config.set('p', 1, { signal })],
      ];
      for (const [name, op] of ops) {
        const err = await rejectsWith(op, 'STORAGE_ABORTED', name);
        assert.equal(err.name, 'AbortError');
      }
      assert.equal(await a.offsets('src').last(), undefined, 'aborted before start: nothing written');
      assert.equal(await a.config.get('p'), undefined);
    },
  },
];
