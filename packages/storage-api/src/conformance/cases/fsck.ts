import { assert, bytes, text, type ConformanceCase } from '../harness.js';
import { runFsck } from '../../fsck.js';

export const fsckCases: ConformanceCase[] = [
  {
    group: 'fsck',
    name: 'fsck: a clean app has no findings; a corrupt jar and a corrupt checkpoint part are damage',
    async run({ storage, app, instance }) {
      assert.ok(instance.corrupt, 'the conformance instance must provide corrupt()');
      const a = await app();
      await a.jars.put('app.js', bytes('the jar'));
      const cw = await a.checkpoints('state').writer(1);
      await cw.append(1, bytes('state 1'));
      await cw.append(2, bytes('state 2'));
      await (await a.offsets('src').writer(1)).appendBatch([1, 2, 3].map((t) => ({ t, value: bytes(`o${t}`) })));
      const clean = await runFsck(storage, { appIds: [a.appId] });
      assert.deepEqual(clean.findings, [], 'runFsck on a clean app');
      assert.equal(clean.apps, 1);
      await instance.corrupt({ appId: a.appId, jar: 'app.js' });
      await instance.corrupt({ appId: a.appId, store: 'state', t: 2, part: 'state' });
      const r = await runFsck(storage, { appIds: [a.appId] });
      const got = r.findings.map((f) => `${f.kind} ${f.subStore} ${f.target} ${f.code}`).sort();
      assert.deepEqual(got, ['damage checkpoints state@2/state STORAGE_CORRUPT', 'damage jars app.js STORAGE_CORRUPT'], 'runFsck after corrupting jar app.js and part state@2/state');
      assert.equal(r.damage, 2);
      const again = await runFsck(storage, { appIds: [a.appId], repair: true });
      assert.equal(again.damage, 2, 'repair never removes damaged committed data (it is reported again)');
      assert.equal(text(await a.checkpoints('state').readPart(1, 'state')), 'state 1', 'readPart(1) after fsck --repair');
    },
  },
  {
    group: 'fsck',
    name: 'fsck: a staged part never committed is an orphan; repair removes it and nothing committed',
    async run({ storage, app }) {
      const a = await app();
      const cps = a.checkpoints('state', { numRetained: 10 });
      const w = await cps.writer(1);
      const lost = await w.stage(1, 'lost', bytes('never committed'));
      await w.append(2, bytes('state 2'));
      const r = await runFsck(storage, { appIds: [a.appId] });
      assert.equal(r.damage, 0, `damage on a healthy app: ${JSON.stringify(r.findings)}`);
      if (r.orphanScan) {
        const orphan = r.findings.find((f) => f.kind === 'orphan' && f.subStore === 'checkpoints');
        assert.ok(orphan, `runFsck lists the part staged at t=1 and never committed (${lost.ref}); found ${JSON.stringify(r.findings)}`);
        const fixed = await runFsck(storage, { appIds: [a.appId], repair: true });
        assert.ok(fixed.findings.some((f) => f.kind === 'orphan' && f.repaired), 'runFsck --repair reports what it removed');
        const after = await runFsck(storage, { appIds: [a.appId] });
        assert.deepEqual(after.findings, [], 'runFsck after --repair');
      }
      assert.equal(text(await cps.readPart(2, 'state')), 'state 2', 'readPart(2) after fsck --repair');
    },
  },
];
