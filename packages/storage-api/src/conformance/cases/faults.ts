import { assert, bytes, rejectsWith, text, type ConformanceCase } from '../harness.js';
import { faultPlan, withFaults } from '../faults.js';
import { withRetry } from '../../util/retry.js';

const fast = { attempts: 6, baseDelayMs: 1, maxDelayMs: 5 };

export const faultCases: ConformanceCase[] = [
  {
    group: 'faults',
    name: 'transient failures before and after writes are retried; nothing acknowledged is lost or doubled',
    timeoutMs: 60_000,
    async run({ storage, app }) {
      const a0 = await app();
      const plan = faultPlan([
        { op: 'offsetWriter.append', when: 'before', probability: 0.2 },
        { op: 'offsetWriter.append', when: 'after', probability: 0.2 }, // written, ack lost
        { op: 'checkpointWriter.commit', when: 'after', probability: 0.3 },
        { op: 'checkpointWriter.stage', when: 'before', probability: 0.2 },
      ], 42);
      const faulty = withFaults(storage, plan);
      const a = (await faulty.getAppStorage(a0.appId))!;
      const w = await withRetry(() => a.offsets('src').writer(1), fast);
      const acked: number[] = [];
      for (let t = 1; t <= 200; t++) {
        await withRetry(() => w.append(t, bytes(`o${t}`)), fast);
        acked.push(t);
      }
      const cw = await withRetry(() => a.checkpoints('cp', { numRetained: 50 }).writer(1), fast);
      const committed: number[] = [];
      for (let t = 10; t <= 200; t += 10) {
        const part = await withRetry(() => cw.stage(t, 'task-0', bytes(`s${t}`)), fast);
        await withRetry(() => cw.commit(t, [part]), fast);
        committed.push(t);
      }
      assert.ok((plan.fired.get('offsetWriter.append') ?? 0) > 10, 'faults actually fired');
      const clean = a0.offsets('src');
      const stored = await clean.range(0, Number.POSITIVE_INFINITY);
      assert.deepEqual(stored.map((e) => e.t), acked, 'each acknowledged append exactly once');
      assert.ok(stored.every((e) => text(e.value) === `o${e.t}`));
      const cps = a0.checkpoints('cp', { numRetained: 50 });
      assert.deepEqual((await cps.range(0, Number.POSITIVE_INFINITY)).map((c) => c.t), committed);
      for (const t of committed) assert.equal(text(await cps.readPart(t, 'task-0')), `s${t}`);
    },
  },
  {
    group: 'faults',
    name: 'a hung operation ends with the caller’s timeout and leaves the store usable',
    async run({ storage, app }) {
      const a0 = await app();
      const plan = faultPlan([{ op: 'offsetWriter.append', mode: 'hang', times: 1 }]);
      const a = (await withFaults(storage, plan).getAppStorage(a0.appId))!;
      const w = await a.offsets('src').writer(1);
      await rejectsWith(w.append(1, bytes('x'), { signal: AbortSignal.timeout(100) }), 'STORAGE_ABORTED');
      await w.append(1, bytes('x'));
      await w.append(2, bytes('y'));
      assert.deepEqual((await a0.offsets('src').range(0, Number.POSITIVE_INFINITY)).map((e) => e.t), [1, 2]);
    },
  },
  {
    group: 'faults',
    name: 'non-transient failures are not retried',
    async run({ storage, app }) {
      const a0 = await app();
      const plan = faultPlan([{ op: 'config.set', transient: false }]);
      const a = (await withFaults(storage, plan).getAppStorage(a0.appId))!;
      let attempts = 0;
      await rejectsWith(withRetry(() => (attempts++, a.config.set('p', 1)), fast), 'STORAGE_IO_ERROR');
      assert.equal(attempts, 1);
    },
  },
];
