import { assert, bytes, rejectsWith, text, type ConformanceCase } from '../harness.js';

/**
 * Bounded growth: staged parts that can never be committed are swept on every backend,
 * not only when retention drops a checkpoint (storage-api's planCheckpointSweep, run when
 * a writer opens).
 */
export const checkpointSweepCases: ConformanceCase[] = [
  {
    group: 'checkpoints',
    name: 'a new writer sweeps parts staged before the newest commit and never committed; listed parts and parts staged ahead stay',
    async run({ app }) {
      const cps = (await app()).checkpoints('state', { numRetained: 10 });
      const w1 = await cps.writer(1);
      const lost = await w1.stage(1, 'lost', bytes('crashed before its commit'));
      const listed = await w1.stage(1, 'state', bytes('staged at 1, committed at 2'));
      await w1.commit(2, [listed]);
      const ahead = await w1.stage(5, 'ahead', bytes('staged ahead of the next commit'));
      const w2 = await cps.writer(2);
      await rejectsWith(
        w2.commit(3, [lost]),
        'STORAGE_INVALID_ARGUMENT',
        'commit(3, [a part writer 1 staged at t=1 and never committed]) once writer(2) opened: the sweep must have removed it',
      );
      assert.equal(text(await cps.readPart(2, 'state')), 'staged at 1, committed at 2', 'readPart(2, "state") after writer(2) opened (a part a manifest lists is never swept)');
      const cp = await w2.commit(5, [ahead]);
      assert.equal(cp.t, 5, 'commit(5, [a part staged at t=5, after the newest commit 2]) after writer(2) opened');
      assert.equal(text(await cps.readPart(5, 'ahead')), 'staged ahead of the next commit', 'readPart(5, "ahead")');
    },
  },
];
