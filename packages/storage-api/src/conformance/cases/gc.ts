import { assert, bytes, type ConformanceCase } from '../harness.js';
import { runGc } from '../../gc.js';

export const gcCases: ConformanceCase[] = [
  {
    group: 'gc',
    name: 'gc applies retention, dry run deletes nothing, and referenced data survives',
    async run({ storage, app }) {
      const a = await app();
      const now = Date.now();
      const cw = await a.checkpoints('cp', { numRetained: 100 }).writer(1);
      for (const t of [100, 200, 300, 400]) await cw.append(t, bytes(`s${t}`));
      const ow = await a.offsets('src').writer(1);
      await ow.appendBatch([50, 150, 250, 350, 450].map((t) => ({ t, value: bytes(`o${t}`) })));
      await a.jars.put('old.js', bytes('old'));
      await a.jars.put('app.js', bytes('current'));
      await a.updateMeta({ status: 'running', jar: 'app.js' });
      await a.logs.append([{ ts: now - 10 * 86_400_000, level: 'info', msg: 'ancient', labels: {} }, { ts: now, level: 'info', msg: 'fresh', labels: {} }]);
      const policy = { checkpoints: { numRetained: 2 }, offsets: { numRetained: 1 }, logs: { maxAgeMs: 86_400_000 }, jars: { numRetained: 0 } } as never;
      const dry = await runGc(storage, policy, { dryRun: true, now, appIds: [a.appId] });
      assert.ok(dry.actions.length > 0);
      assert.equal((await a.checkpoints('cp').range(0, Number.POSITIVE_INFINITY)).length, 4, 'dry run keeps everything');
      assert.ok(await a.jars.stat('old.js'));
      const real = await runGc(storage, policy, { now, appIds: [a.appId] });
      assert.deepEqual(real.errors, []);
      assert.deepEqual((await a.checkpoints('cp').range(0, Number.POSITIVE_INFINITY)).map((c) => c.t), [300, 400]);
      // Offsets: recovery from checkpoint 300 needs the floor(300) = 250 entry, numRetained 1 notwithstanding.
      assert.deepEqual((await a.offsets('src').range(0, Number.POSITIVE_INFINITY)).map((e) => e.t), [250, 350, 450]);
      assert.equal(await a.jars.stat('old.js'), undefined);
      assert.ok(await a.jars.stat('app.js'), 'the running app’s jar survives');
      assert.deepEqual((await a.logs.query({})).records.map((r) => r.msg), ['fresh']);
    },
  },
  {
    group: 'gc',
    name: 'gc without an offsets rule still drops offsets before the oldest kept checkpoint (bounded growth)',
    async run({ storage, app }) {
      const a = await app();
      const cw = await a.checkpoints('cp', { numRetained: 100 }).writer(1);
      for (const t of [100, 200, 300]) await cw.append(t, bytes(`s${t}`));
      const ow = await a.offsets('src').writer(1);
      await ow.appendBatch([50, 150, 250, 350].map((t) => ({ t, value: bytes(`o${t}`) })));
      const r = await runGc(storage, { checkpoints: { numRetained: 1 } } as never, { appIds: [a.appId] });
      assert.deepEqual(r.errors, [], 'runGc errors');
      assert.deepEqual((await a.checkpoints('cp').range(0, Number.POSITIVE_INFINITY)).map((c) => c.t), [300], 'checkpoints after gc with numRetained 1');
      // floor(300) = 250 is what recovery from checkpoint 300 replays from: it stays, older ones go.
      assert.deepEqual((await a.offsets('src').range(0, Number.POSITIVE_INFINITY)).map((e) => e.t), [250, 350], 'offsets after gc without an offsets rule');
    },
  },
];
