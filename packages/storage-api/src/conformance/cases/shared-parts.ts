import { assert, bytes, rejectsWith, text, type CaseContext, type ConformanceCase } from '../harness.js';
import { faultPlan, withFaults } from '../faults.js';
import { runFsck } from '../../fsck.js';
import type { AppStorage, CheckpointPart, Storage } from '../../types.js';

/**
 * Incremental checkpoints: checkpoint t lists the parts staged for t plus parts staged and
 * committed earlier, by the same descriptor (same ref). storage-api owns what that means
 * on every backend: a part is deleted only when no retained checkpoint lists it; a crash
 * at any step leaves nothing fsck --repair cannot name and remove; fsck never removes a
 * part a checkpoint lists, and says which checkpoints share parts.
 */

const all = Number.POSITIVE_INFINITY;

/** Every part of every retained checkpoint reads back verified; returns the retained times. */
async function readsBack(a: AppStorage, store: string, what: string): Promise<number[]> {
  const cps = a.checkpoints(store);
  const kept = await cps.range(0, all);
  for (const cp of kept) {
    for (const p of cp.parts) {
      const got = await cps.readPart(cp.t, p.name).catch((err: unknown) => assert.fail(`${what}: readPart(${cp.t}, "${p.name}") (${p.ref}): ${(err as Error).message}`));
      assert.equal(got.byteLength, p.size, `${what}: readPart(${cp.t}, "${p.name}") size`);
    }
  }
  return kept.map((c) => c.t);
}

/**
 * After a crash: fsck --repair finds no damage (it never removes a listed part), then a
 * plain fsck finds nothing left (no orphan it could not name), and every retained
 * checkpoint reads back.
 */
async function repairAndCheck(storage: Storage, a: AppStorage, store: string, what: string): Promise<void> {
  const fixed = await runFsck(storage, { appIds: [a.appId], repair: true });
  assert.equal(fixed.damage, 0, `${what}: runFsck --repair found damage: ${JSON.stringify(fixed.findings)}`);
  const after = await runFsck(storage, { appIds: [a.appId] });
  assert.deepEqual(after.findings, [], `${what}: runFsck after --repair`);
  await readsBack(a, store, `${what}, after fsck --repair`);
}

async function commitRefused(a: AppStorage, store: string, epoch: number, t: number, part: CheckpointPart, what: string): Promise<void> {
  const w = await a.checkpoints(store).writer(epoch);
  await rejectsWith(w.commit(t, [part]), 'STORAGE_INVALID_ARGUMENT', what);
}

/** The same app through a second instance over the same data (another handle, like another process). */
async function otherHandle(ctx: CaseContext, appId: string): Promise<AppStorage> {
  const a = await (await ctx.reopen()).getAppStorage(appId);
  assert.ok(a, `getAppStorage(${appId}) on a second instance`);
  return a;
}

export const sharedPartCases: ConformanceCase[] = [
  {
    group: 'checkpoints',
    name: 'a stager opens no writer and does no I/O when made; its stage is validated and fenced like the writer’s',
    async run({ app }) {
      const a = await app();
      const cps = a.checkpoints('state', { numRetained: 10 });
      const w1 = await cps.writer(1);
      const ahead = cps.stager(2);
      assert.equal(typeof (ahead as unknown as { then?: unknown }).then, 'undefined', 'stager(2) returns the stager itself, not a promise');
      assert.equal(ahead.epoch, 2);
      await w1.append(1, bytes('s1')); // stager(2) fenced nobody: it opened no writer
      assert.equal(await cps.currentEpoch(), 1, 'currentEpoch() after stager(2)');
      const st = cps.stager(1);
      const p = await st.stage(2, 'task-0', bytes('staged by an executor'));
      assert.equal(p.size, 'staged by an executor'.length);
      await w1.commit(2, [p]);
      assert.equal(text(await cps.readPart(2, 'task-0')), 'staged by an executor');
      await rejectsWith(st.stage(3, '../p', bytes('x')), 'STORAGE_INVALID_ARGUMENT', 'stager(1).stage(3, "../p")');
      await rejectsWith(st.stage(-1, 'p', bytes('x')), 'STORAGE_INVALID_ARGUMENT', 'stager(1).stage(-1, "p")');
      await rejectsWith(st.stage(3, 'p', new Uint8Array(256 * 1024 * 1024 + 1)), 'STORAGE_TOO_LARGE', 'stager(1).stage of an oversize part');
      await rejectsWith(async () => cps.stager(-1), 'STORAGE_INVALID_ARGUMENT', 'stager(-1)');
      const staged = await st.stage(3, 'task-0', bytes('before the new epoch'));
      await cps.writer(2);
      await rejectsWith(st.stage(3, 'task-1', bytes('zombie')), 'STORAGE_FENCED', 'stager(1).stage once writer(2) opened');
      await rejectsWith(w1.commit(3, [staged]), 'STORAGE_FENCED', 'writer(1).commit once writer(2) opened');
    },
  },
  {
    group: 'checkpoints',
    name: 'incremental chain: a base part shared by every checkpoint stays while one lists it; a part goes once no retained checkpoint lists it',
    timeoutMs: 60_000,
    async run(ctx) {
      const a = await ctx.app();
      const N = 3;
      const cps = a.checkpoints('chain', { numRetained: N });
      const w = await cps.writer(1);
      // The executors' side: another handle stages, this one commits (no part staged here).
      const st = (await otherHandle(ctx, a.appId)).checkpoints('chain', { numRetained: N }).stager(1);
      const base = await st.stage(1, 'base', bytes('base state'));
      await w.commit(1, [base]);
      const deltas = new Map<number, CheckpointPart>();
      for (let t = 2; t <= 6; t++) {
        const d = await st.stage(t, 'delta', bytes(`delta ${t}`));
        deltas.set(t, d);
        await w.commit(t, [base, d]);
        const kept = await readsBack(a, 'chain', `after commit(${t}, [base, delta ${t}])`);
        const first = Math.max(1, t - N + 1);
        assert.deepEqual(kept, Array.from({ length: t - first + 1 }, (_, i) => first + i), `range(0, ∞) after commit ${t} with numRetained ${N}`);
        for (const k of kept) assert.equal(text(await cps.readPart(k, 'base')), 'base state', `readPart(${k}, "base") after commit ${t}`);
        assert.equal(text(await cps.readPart(t, 'delta')), `delta ${t}`, `readPart(${t}, "delta")`);
      }
      // Deltas of dropped checkpoints are gone (at the latest once a new writer swept).
      await cps.writer(2);
      for (const t of [2, 3]) await commitRefused(a, 'chain', 2, 7, deltas.get(t)!, `commit(7, [delta ${t}]): checkpoint ${t} was dropped and nothing retained lists its delta`);
      // Checkpoints that stop listing the base: it goes once the last one listing it is dropped.
      const w2 = await cps.writer(2);
      for (let t = 7; t <= 7 + N; t++) await w2.commit(t, [await w2.stage(t, 'delta', bytes(`solo ${t}`))]);
      assert.deepEqual(await readsBack(a, 'chain', 'after the chain stopped listing the base'), [8, 9, 10]);
      await cps.writer(3);
      await commitRefused(a, 'chain', 3, 11, base, 'commit(11, [base]) after no retained checkpoint lists the base any more');
    },
  },
  {
    group: 'checkpoints',
    name: 'a crash after a stage, before a commit, or after a commit (its answer lost): a new writer and fsck --repair leave every retained checkpoint readable and no orphan',
    timeoutMs: 60_000,
    async run({ storage, app }) {
      const a = await app();
      const N = 2;
      const cps = a.checkpoints('inc', { numRetained: N });
      const w1 = await cps.writer(1);
      const base = await w1.stage(1, 'base', bytes('base'));
      await w1.commit(1, [base]);
      await w1.commit(2, [base, await w1.stage(2, 'delta', bytes('d2'))]);

      // 1. The stage happened, its answer was lost and the process died.
      const lostStage = faultPlan([{ op: 'checkpointStager.stage', when: 'after', transient: false }]);
      const crashed = (await withFaults(storage, lostStage).getAppStorage(a.appId))!;
      await rejectsWith(crashed.checkpoints('inc', { numRetained: N }).stager(1).stage(3, 'delta', bytes('d3, answer lost')), 'STORAGE_IO_ERROR', 'the injected crash after stage');
      assert.equal(lostStage.fired.get('checkpointStager.stage'), 1, 'the crash after stage fired');
      const w2 = await cps.writer(2);
      await w2.commit(4, [base, await w2.stage(4, 'delta', bytes('d4'))]);
      await repairAndCheck(storage, a, 'inc', 'crash after stage(3) with its answer lost, then writer(2) and commit(4)');

      // 2. Staged, then the process died before its commit.
      const orphan = await w2.stage(5, 'delta', bytes('d5, never committed'));
      const w3 = await cps.writer(3);
      await w3.commit(6, [base, await w3.stage(6, 'delta', bytes('d6'))]);
      await repairAndCheck(storage, a, 'inc', 'crash after stage(5) and before its commit, then writer(3) and commit(6)');
      const r = await runFsck(storage, { appIds: [a.appId] });
      if (r.orphanScan) await commitRefused(a, 'inc', 3, 7, orphan, 'commit(7, [the part staged at 5 by a crashed writer]) after fsck --repair');

      // 3. The commit happened (and its retention), its answer was lost and the process died.
      const lostCommit = faultPlan([{ op: 'checkpointWriter.commit', when: 'after', transient: false }]);
      const crashed2 = (await withFaults(storage, lostCommit).getAppStorage(a.appId))!;
      const cw = await crashed2.checkpoints('inc', { numRetained: N }).writer(3);
      await rejectsWith(cw.commit(8, [base, await cw.stage(8, 'delta', bytes('d8'))]), 'STORAGE_IO_ERROR', 'the injected crash after commit(8)');
      const w4 = await cps.writer(4);
      assert.deepEqual(await readsBack(a, 'inc', 'after the crash after commit(8)'), [6, 8]);
      await repairAndCheck(storage, a, 'inc', 'crash after commit(8) with its answer lost, then writer(4)');
      await w4.commit(9, [base, await w4.stage(9, 'delta', bytes('d9'))]);
      assert.deepEqual(await readsBack(a, 'inc', 'after commit(9)'), [8, 9]);
      assert.equal(text(await cps.readPart(9, 'base')), 'base', 'readPart(9, "base"): the part every checkpoint shares');
    },
  },
  {
    group: 'checkpoints',
    name: 'kill -9 at any step of an incremental chain (stage, commit, retention of manifests and of parts): a new writer and fsck --repair leave every retained checkpoint readable and no orphan',
    needs: ['multiProcess', 'persistent'],
    timeoutMs: 120_000,
    async run({ storage, app, child }) {
      const a = await app();
      const N = 2;
      const cps = a.checkpoints('killed', { numRetained: N });
      const w = await cps.writer(1);
      const base = await w.stage(1, 'base', bytes('base'));
      await w.commit(1, [base]);
      let from = 2;
      // Different delays land the kill in different steps of the loop.
      for (const [i, delayMs] of [15, 40, 90, 160, 250].entries()) {
        const epoch = i + 2;
        const c = await child(`multiProcess (chain writer ${epoch}, killed)`);
        const started = await c.send({ cmd: 'checkpoint-chain', appId: a.appId, store: 'killed', epoch, from, count: 100_000, numRetained: N, base });
        assert.deepEqual(started, { found: true, ok: true }, `checkpoint-chain in process ${epoch}`);
        await new Promise((r) => setTimeout(r, delayMs));
        await c.kill();
        const what = `kill -9 of chain writer ${epoch} after ${delayMs} ms`;
        await cps.writer(epoch + 1);
        await repairAndCheck(storage, a, 'killed', what);
        const last = (await cps.last())?.t ?? 1;
        for (const t of await readsBack(a, 'killed', what)) assert.equal(text(await cps.readPart(t, 'base')), 'base', `${what}: readPart(${t}, "base")`);
        from = last + 1;
      }
      const w2 = await cps.writer(100);
      await w2.commit(from, [base, await w2.stage(from, 'delta', bytes('after the crashes'))]);
      assert.equal(text(await cps.readPart(from, 'delta')), 'after the crashes');
    },
  },
  {
    group: 'fsck',
    name: 'fsck: per checkpoint, the parts it needs, whether it is self-contained, its new and shared bytes',
    async run({ storage, app }) {
      const a = await app();
      const w = await a.checkpoints('inc', { numRetained: 10 }).writer(1);
      const base = await w.stage(1, 'base', bytes('0123456789')); // 10 bytes
      await w.commit(1, [base]);
      await w.commit(2, [base, await w.stage(2, 'delta', bytes('abc'))]);
      await w.commit(3, [base, await w.stage(3, 'delta', bytes('defg'))]);
      await w.commit(4, [await w.stage(4, 'full', bytes('full state'))]);
      await (await a.checkpoints('solo').writer(1)).append(1, bytes('alone'));
      const r = await runFsck(storage, { appIds: [a.appId] });
      assert.equal(r.damage, 0, `runFsck: ${JSON.stringify(r.findings)}`);
      const got = r.checkpoints
        .filter((c) => c.appId === a.appId)
        .sort((x, y) => x.store.localeCompare(y.store) || x.t - y.t)
        .map((c) => ({ store: c.store, t: c.t, parts: c.parts.map((p) => `${p.name}:${p.size}`), selfContained: c.selfContained, newBytes: c.newBytes, sharedBytes: c.sharedBytes, sharesWith: c.sharesWith }));
      assert.deepEqual(got, [
        { store: 'inc', t: 1, parts: ['base:10'], selfContained: false, newBytes: 10, sharedBytes: 0, sharesWith: [2, 3] },
        { store: 'inc', t: 2, parts: ['base:10', 'delta:3'], selfContained: false, newBytes: 3, sharedBytes: 10, sharesWith: [1, 3] },
        { store: 'inc', t: 3, parts: ['base:10', 'delta:4'], selfContained: false, newBytes: 4, sharedBytes: 10, sharesWith: [1, 2] },
        { store: 'inc', t: 4, parts: ['full:10'], selfContained: true, newBytes: 10, sharedBytes: 0, sharesWith: [] },
        { store: 'solo', t: 1, parts: ['state:5'], selfContained: true, newBytes: 5, sharedBytes: 0, sharesWith: [] },
      ], 'runFsck(...).checkpoints');
      const refs = r.checkpoints.find((c) => c.store === 'inc' && c.t === 2)!.parts.map((p) => p.ref);
      assert.deepEqual(refs, [base.ref, refs[1]], 'the parts of checkpoint 2 name the base by the ref it was staged under');
      // Once the first checkpoints are dropped, the oldest retained one listing the base holds its bytes as new.
      const w2 = await a.checkpoints('inc', { numRetained: 2 }).writer(1);
      await w2.commit(5, [base, await w2.stage(5, 'delta', bytes('hi'))]);
      const again = (await runFsck(storage, { appIds: [a.appId] })).checkpoints.filter((c) => c.store === 'inc');
      assert.deepEqual(again.map((c) => [c.t, c.selfContained, c.newBytes, c.sharedBytes]), [[4, true, 10, 0], [5, true, 12, 0]], 'runFsck(...).checkpoints after numRetained 2 dropped checkpoints 1..3');
    },
  },
];
