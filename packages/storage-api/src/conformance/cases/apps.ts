import { assert, bytes, rejectsWith, type ConformanceCase } from '../harness.js';
import { assertAccess, hasAccess } from '../../acl.js';

const BAD_NAMES = ['', '..', '../x', 'a/b', '/abs', 'a\\b', 'x\u0000y', 'new\nline', 'x'.repeat(200), '.hidden', 'sp ace'];

export const appCases: ConformanceCase[] = [
  {
    group: 'apps',
    name: 'create, get, list and meta of an app',
    async run({ storage, uid }) {
      const id = uid('app');
      const app = await storage.createAppStorage('word-count', id, { owner: 'alice', acl: ['u:bob:r', 'o::r'], labels: { team: 'x' } });
      assert.equal(app.appId, id);
      assert.equal(app.appName, 'word-count');
      const m = await app.meta();
      assert.equal(m.owner, 'alice');
      assert.equal(m.status, 'created');
      assert.deepEqual(m.acl, ['u:bob:r', 'o::r']);
      assert.deepEqual(m.labels, { team: 'x' });
      assert.ok(m.version >= 1);
      const again = await storage.getAppStorage(id);
      assert.ok(again);
      assert.equal((await again.meta()).appName, 'word-count');
      assert.ok((await storage.listApps()).some((a) => a.appId === id));
      await rejectsWith(storage.createAppStorage('word-count', id, { owner: 'alice' }), 'STORAGE_ALREADY_EXISTS');
    },
  },
  {
    group: 'apps',
    name: 'a handle kept across delete and re-create of the same id neither writes into the new app nor acknowledges lost writes',
    async run({ storage, uid }) {
      const id = uid('app');
      const old = await storage.createAppStorage('first', id, { owner: 'alice' });
      const oldOffsets = old.offsets('src');
      const oldCps = old.checkpoints('state');
      const oldOffsetWriter = await oldOffsets.writer(1);
      const oldCpWriter = await oldCps.writer(1);
      await oldOffsetWriter.append(1, bytes('old-1'));
      await storage.deleteAppStorage(id);
      const fresh = await storage.createAppStorage('second', id, { owner: 'alice' });
      // Each write through the old handle must fail (STORAGE_NOT_FOUND, STORAGE_FENCED or
      // STORAGE_CLOSED): succeeding means it went into the new app or into nothing.
      const writes: Array<[string, () => Promise<unknown>]> = [
        ['offsets writer.append(2, "stale")', () => oldOffsetWriter.append(2, bytes('stale'))],
        ['checkpoints writer.append(2, "stale")', () => oldCpWriter.append(2, bytes('stale'))],
        ['offsets("src").writer(1) on the old handle', () => old.offsets('src').writer(1)],
        ['config.set("p", 1) on the old handle', () => old.config.set('p', 1)],
        ['logs.append([stale]) on the old handle', () => old.logs.append([{ ts: 1, level: 'info', msg: 'stale', labels: {} }])],
      ];
      for (const [what, op] of writes) {
        const err = await op().then(() => undefined, (e: unknown) => e as { code?: string });
        assert.ok(err, `${what} after deleteAppStorage(${id}) and createAppStorage(${id}): expected it to fail, but it succeeded`);
        assert.ok(['STORAGE_NOT_FOUND', 'STORAGE_FENCED', 'STORAGE_CLOSED'].includes(err.code ?? ''),
          `${what} after delete and re-create: expected STORAGE_NOT_FOUND, STORAGE_FENCED or STORAGE_CLOSED, got ${err.code}`);
      }
      assert.equal(await fresh.offsets('src').last(), undefined, 'the re-created app has no offsets from the old handle');
      assert.equal(await fresh.checkpoints('state').last(), undefined, 'the re-created app has no checkpoints from the old handle');
      assert.equal(await fresh.config.get('p'), undefined, 'the re-created app has no config from the old handle');
      assert.equal((await fresh.logs.stats()).count, 0, 'the re-created app has no logs from the old handle');
    },
  },
  {
    group: 'apps',
    name: 'a writer kept across delete and re-create fails even when the new app opened the same epoch',
    async run({ storage, uid }) {
      const id = uid('app');
      const old = await storage.createAppStorage('first', id, { owner: 'alice' });
      const oldOffsetWriter = await old.offsets('src').writer(1);
      const oldCpWriter = await old.checkpoints('state').writer(1);
      await oldOffsetWriter.append(1, bytes('old-1'));
      await storage.deleteAppStorage(id);
      const fresh = await storage.createAppStorage('second', id, { owner: 'alice' });
      // The new app's first attempt uses epoch 1 too: epochs alone cannot tell the apps apart.
      await (await fresh.offsets('src').writer(1)).append(5, bytes('new-5'));
      await (await fresh.checkpoints('state').writer(1)).append(5, bytes('new-5'));
      const writes: Array<[string, () => Promise<unknown>]> = [
        ['old offsets writer(1).append(10, "stale")', () => oldOffsetWriter.append(10, bytes('stale'))],
        ['old offsets writer(1).truncateBefore(100)', () => oldOffsetWriter.truncateBefore(100)],
        ['old checkpoints writer(1).append(10, "stale")', () => oldCpWriter.append(10, bytes('stale'))],
      ];
      for (const [what, op] of writes) {
        const err = await op().then(() => undefined, (e: unknown) => e as { code?: string });
        assert.ok(err, `${what} after delete, re-create and writer(1) in the new app: expected it to fail, but it succeeded`);
        assert.ok(['STORAGE_NOT_FOUND', 'STORAGE_FENCED', 'STORAGE_CLOSED'].includes(err.code ?? ''), `${what}: expected STORAGE_NOT_FOUND, STORAGE_FENCED or STORAGE_CLOSED, got ${err.code}`);
      }
      assert.deepEqual((await fresh.offsets('src').range(0, Number.POSITIVE_INFINITY)).map((e) => e.t), [5], 'the new app holds only its own offsets');
      assert.deepEqual((await fresh.checkpoints('state').range(0, Number.POSITIVE_INFINITY)).map((c) => c.t), [5], 'the new app holds only its own checkpoints');
    },
  },
  {
    group: 'apps',
    name: 'absent apps: get → undefined, delete → STORAGE_NOT_FOUND',
    async run({ storage, uid }) {
      assert.equal(await storage.getAppStorage(uid('nope')), undefined);
      await rejectsWith(storage.deleteAppStorage(uid('nope')), 'STORAGE_NOT_FOUND');
    },
  },
  {
    group: 'apps',
    name: 'traversal and malformed names are STORAGE_INVALID_ARGUMENT everywhere',
    async run({ storage, app }) {
      const a = await app();
      for (const bad of BAD_NAMES) {
        await rejectsWith(storage.createAppStorage('n', bad, { owner: 'alice' }), 'STORAGE_INVALID_ARGUMENT', `app id ${JSON.stringify(bad)}`);
        await rejectsWith(a.jars.put(bad, bytes('x')), 'STORAGE_INVALID_ARGUMENT', `jar ${JSON.stringify(bad)}`);
        await rejectsWith(a.config.get(bad), 'STORAGE_INVALID_ARGUMENT', `processor ${JSON.stringify(bad)}`);
        assert.throws(() => a.offsets(bad), (e: { code?: string }) => e.code === 'STORAGE_INVALID_ARGUMENT');
        assert.throws(() => a.checkpoints(bad), (e: { code?: string }) => e.code === 'STORAGE_INVALID_ARGUMENT');
      }
      await rejectsWith(storage.createAppStorage('n', 'ok-id', { owner: '../root' }), 'STORAGE_INVALID_ARGUMENT');
    },
  },
  {
    group: 'apps',
    name: 'updateMeta is compare-and-set on version',
    async run({ app }) {
      const a = await app();
      const m = await a.meta();
      const m2 = await a.updateMeta({ status: 'running', jar: 'app.js' }, { ifVersion: m.version });
      assert.equal(m2.status, 'running');
      assert.equal(m2.jar, 'app.js');
      assert.ok(m2.version > m.version);
      await rejectsWith(a.updateMeta({ status: 'stopped' }, { ifVersion: m.version }), 'STORAGE_PRECONDITION_FAILED');
      assert.equal((await a.meta()).status, 'running');
      await rejectsWith(a.updateMeta({ status: 'bogus' as never }), 'STORAGE_INVALID_ARGUMENT');
    },
  },
  {
    group: 'apps',
    name: 'delete is refused while running and removes every sub-store after',
    async run({ storage, app }) {
      const a = await app();
      const w = await a.offsets('src').writer(1);
      await w.append(10, bytes('o10'));
      await a.config.set('p', { x: 1 });
      await a.jars.put('app.js', bytes('code'));
      await a.updateMeta({ status: 'running', jar: 'app.js' });
      await rejectsWith(storage.deleteAppStorage(a.appId), 'STORAGE_IN_USE');
      await a.updateMeta({ status: 'stopped' });
      await storage.deleteAppStorage(a.appId);
      assert.equal(await storage.getAppStorage(a.appId), undefined);
      assert.ok(!(await storage.listApps()).some((m) => m.appId === a.appId));
      // Kafka Connect's lesson: nothing outlives a deleted app.
      const b = await storage.createAppStorage('again', a.appId, { owner: 'alice' });
      assert.equal(await b.offsets('src').last(), undefined);
      assert.equal(await b.config.get('p'), undefined);
      assert.equal(await b.jars.stat('app.js'), undefined);
    },
  },
  {
    group: 'apps',
    name: 'ACL entries are stored with the app, validated, and checked by the helper',
    async run({ storage, uid }) {
      const a = await storage.createAppStorage('n', uid('acl'), { owner: 'alice', acl: ['u:bob:r', 'u:carol:rwa'] });
      await rejectsWith(storage.createAppStorage('n', uid('acl'), { owner: 'alice', acl: ['bob:r'] }), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.updateMeta({ acl: ['u:bob:rwx'] }), 'STORAGE_INVALID_ARGUMENT');
      const m = await a.updateMeta({ acl: ['u:bob:r', 'o::r'] });
      assert.deepEqual((await a.meta()).acl, ['u:bob:r', 'o::r']);
      assert.ok(hasAccess(m, 'alice', 'a'));
      assert.ok(hasAccess(m, 'bob', 'r'));
      assert.ok(!hasAccess(m, 'bob', 'w'));
      assert.ok(hasAccess(m, 'eve', 'r'));
      assert.ok(!hasAccess(m, 'eve', 'w'));
      assert.ok(hasAccess(m, 'root', 'a', { superusers: ['root'] }));
      assert.throws(() => assertAccess(m, 'eve', 'w'), (e: { code?: string }) => e.code === 'STORAGE_PERMISSION_DENIED');
      assert.doesNotThrow(() => assertAccess(m, 'bob', 'r'));
    },
  },
  {
    group: 'apps',
    name: 'data outlives the instance: another process, opened after this one closed, sees apps, meta and data',
    needs: ['persistent'],
    timeoutMs: 60_000,
    async run({ app, storage, inChild }) {
      const a = await app();
      await a.updateMeta({ status: 'stopped', labels: { k: 'v' } });
      await (await a.offsets('src').writer(3)).append(5, bytes('five'));
      await a.config.set('p', 'v1');
      await a.jars.put('j', bytes('jar-bytes'));
      await storage.close();
      const seen = await inChild({ cmd: 'read-app', appId: a.appId }, 'persistent');
      assert.deepEqual(seen, { found: true, labels: { k: 'v' }, offset5: 'five', epoch: 3, config: 'v1', jarSize: 9 },
        `a separate process reading app ${a.appId} after the writer closed (labels, offsets("src").get(5), currentEpoch, config.get("p"), jars.stat("j").size)`);
    },
  },
];
