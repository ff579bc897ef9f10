import { assert, bytes, rejectsWith, text, type ConformanceCase } from '../harness.js';

export const checkpointCases: ConformanceCase[] = [
  {
    group: 'checkpoints',
    name: 'staged parts are invisible until the commit; then every part reads back verified',
    async run({ app }) {
      const cps = (await app()).checkpoints('state');
      const w = await cps.writer(1);
      const p1 = await w.stage(100, 'task-0', bytes('state of task 0'));
      const p2 = await w.stage(100, 'task-1', bytes('state of task 1'));
      assert.equal(await cps.get(100), undefined);
      assert.equal(await cps.last(), undefined);
      assert.deepEqual(await cps.lookUp(100), { status: 'empty' });
      const cp = await w.commit(100, [p1, p2], { meta: { note: 'first' } });
      assert.equal(cp.t, 100);
      assert.equal(cp.epoch, 1);
      assert.deepEqual(cp.meta, { note: 'first' });
      const got = await cps.get(100);
      assert.deepEqual(got?.parts.map((p) => p.name).sort(), ['task-0', 'task-1']);
      assert.equal(text(await cps.readPart(100, 'task-1')), 'state of task 1');
      await rejectsWith(cps.readPart(100, 'task-9'), 'STORAGE_NOT_FOUND');
      await rejectsWith(cps.readPart(99, 'task-0'), 'STORAGE_NOT_FOUND');
    },
  },
  {
    group: 'checkpoints',
    name: 'commit ordering: older → STORAGE_OUT_OF_ORDER, same t → STORAGE_ALREADY_EXISTS, identical retry → no-op',
    async run({ app }) {
      const cps = (await app()).checkpoints('state');
      const w = await cps.writer(1);
      const a = await w.stage(200, 'p', bytes('a'));
      const first = await w.commit(200, [a]);
      const again = await w.commit(200, [a]);
      assert.equal(again.t, first.t);
      assert.equal((await cps.range(0, Number.POSITIVE_INFINITY)).length, 1);
      const b = await w.stage(200, 'p', bytes('b'));
      await rejectsWith(w.commit(200, [b]), 'STORAGE_ALREADY_EXISTS');
      const c = await w.stage(100, 'p', bytes('c'));
      await rejectsWith(w.commit(100, [c]), 'STORAGE_OUT_OF_ORDER');
      assert.equal(text(await cps.readPart(200, 'p')), 'a');
      const dup = await w.stage(300, 'p', bytes('d'));
      await rejectsWith(w.commit(300, [dup, dup]), 'STORAGE_INVALID_ARGUMENT');
    },
  },
  {
    group: 'checkpoints',
    name: 'append = stage + commit; floor, lookUp and range over committed checkpoints',
    async run({ app }) {
      const cps = (await app()).checkpoints('state', { numRetained: 10 });
      const w = await cps.writer(1);
      for (const t of [10, 20, 30]) await w.append(t, bytes(`s${t}`));
      assert.equal((await cps.floor(25))?.t, 20);
      const l = await cps.lookUp(21);
      assert.equal(l.status === 'found' && l.entry.t, 30);
      assert.equal((await cps.lookUp(31)).status, 'overflow');
      assert.equal((await cps.lookUp(1)).status, 'underflow');
      assert.deepEqual((await cps.range(15, 100)).map((c) => c.t), [20, 30]);
      assert.equal(text(await cps.readPart(20, 'state')), 's20');
    },
  },
  {
    group: 'checkpoints',
    name: 'numRetained keeps the newest N and deletes the rest',
    async run({ app }) {
      const cps = (await app()).checkpoints('state', { numRetained: 2 });
      assert.equal(cps.numRetained, 2);
      const w = await cps.writer(1);
      for (const t of [1, 2, 3, 4, 5]) await w.append(t, bytes(`s${t}`));
      assert.deepEqual((await cps.range(0, Number.POSITIVE_INFINITY)).map((c) => c.t), [4, 5]);
      await rejectsWith(cps.readPart(3, 'state'), 'STORAGE_NOT_FOUND');
      assert.equal(text(await cps.readPart(4, 'state')), 's4');
    },
  },
  {
    group: 'checkpoints',
    name: 'retention keeps the bytes a kept checkpoint lists, even when an older one listed the same staged part',
    async run({ app }) {
      const cps = (await app()).checkpoints('state', { numRetained: 1 });
      const w = await cps.writer(1);
      const part = await w.stage(1, 'p', bytes('shared state'));
      await w.commit(1, [part]);
      await w.commit(2, [part]);
      assert.deepEqual((await cps.range(0, Number.POSITIVE_INFINITY)).map((c) => c.t), [2], 'range(0, ∞) after numRetained: 1');
      assert.equal(text(await cps.readPart(2, 'p')), 'shared state', 'readPart(2, "p") after commit(1,[p]), commit(2,[p]) with numRetained: 1');
      // Backends that delete a retired checkpoint's parts one commit later are caught here.
      await w.commit(3, [part]);
      assert.equal(text(await cps.readPart(3, 'p')), 'shared state', 'readPart(3, "p") after commit(1..3, [p]) with numRetained: 1');
      await w.commit(4, [await w.stage(4, 'p', bytes('next state'))]);
      await w.append(5, bytes('later'));
      assert.equal(text(await cps.readPart(5, 'state')), 'later', 'readPart(5) after the shared part was retired');
    },
  },
  {
    group: 'checkpoints',
    name: 'commit refuses a part descriptor whose sha256 or size differ from what was staged',
    async run({ app }) {
      const cps = (await app()).checkpoints('state');
      const w = await cps.writer(1);
      const p = await w.stage(5, 'p', bytes('real bytes'));
      const otherSha = p.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      for (const forged of [{ ...p, sha256: otherSha }, { ...p, size: p.size + 1 }]) {
        const what = `commit(5, [{ ...staged, sha256: ${forged.sha256.slice(0, 8)}…, size: ${forged.size} }]) (staged: ${p.sha256.slice(0, 8)}…, ${p.size} bytes)`;
        const err = await w.commit(5, [forged]).then(() => undefined, (e: unknown) => e as { code?: string });
        assert.ok(err, `${what}: expected STORAGE_INVALID_ARGUMENT or STORAGE_CORRUPT, but it succeeded`);
        assert.ok(err.code === 'STORAGE_INVALID_ARGUMENT' || err.code === 'STORAGE_CORRUPT', `${what}: expected STORAGE_INVALID_ARGUMENT or STORAGE_CORRUPT, got ${err.code}`);
      }
      assert.equal(await cps.get(5), undefined, 'get(5) after refused commits');
      await w.commit(5, [p]);
      assert.equal(text(await cps.readPart(5, 'p')), 'real bytes');
    },
  },
  {
    group: 'checkpoints',
    name: 'truncateAfter discards checkpoints from the future; fencing applies to stage and commit',
    async run({ app }) {
      const cps = (await app()).checkpoints('state', { numRetained: 10 });
      const w1 = await cps.writer(1);
      for (const t of [10, 20, 30]) await w1.append(t, bytes(`s${t}`));
      const staged = await w1.stage(40, 'p', bytes('zombie'));
      const w2 = await cps.writer(2);
      await rejectsWith(w1.commit(40, [staged]), 'STORAGE_FENCED');
      await rejectsWith(w1.stage(40, 'q', bytes('z')), 'STORAGE_FENCED');
      await rejectsWith(w1.append(50, bytes('z')), 'STORAGE_FENCED');
      assert.equal(await w2.truncateAfter(10), 2);
      assert.equal((await cps.last())?.t, 10);
      await w2.append(20, bytes('new20'));
      assert.equal(text(await cps.readPart(20, 'state')), 'new20');
    },
  },
  {
    group: 'checkpoints',
    name: 'writers in four processes racing to commit the same t: exactly one wins, readers never see a mix',
    needs: ['multiProcess', 'multiWriter'],
    timeoutMs: 60_000,
    async run({ app, child }) {
      const a = await app();
      const cps = a.checkpoints('race', { numRetained: 10 });
      // One process per writer for the whole case; this process only reads.
      const writers = await Promise.all([0, 1, 2, 3].map((i) => child(`multiProcess (racing writer ${i})`)));
      for (let round = 1; round <= 5; round++) {
        const t = round * 100;
        for (const [i, w] of writers.entries()) {
          const parts = [{ name: 'x', value: `w${i}-x` }, { name: 'y', value: `w${i}-y` }];
          const staged = await w.send({ cmd: 'checkpoint-stage', appId: a.appId, store: 'race', epoch: 1, t, parts });
          assert.deepEqual(staged, { found: true, ok: true, staged: 2 }, `round ${round}: writer(1).stage(${t}, "x"|"y") in process ${i}`);
        }
        // Every commit line is written at once: the processes race on the store, while this
        // process reads t as soon as it appears (a reader during the race, not only after).
        const commits = Promise.all(writers.map((w) => w.send({ cmd: 'checkpoint-commit', appId: a.appId, store: 'race', epoch: 1, t })));
        let done = false;
        void commits.finally(() => (done = true)).catch(() => undefined);
        const during: string[][] = [];
        for (let polls = 0; !done && polls < 2000; polls++) {
          if (await cps.get(t)) during.push([text(await cps.readPart(t, 'x'))!, text(await cps.readPart(t, 'y'))!]);
          await new Promise((r) => setTimeout(r, 2)); // a timer turn: the children's answers are read in it
        }
        const results = await commits;
        for (const [x, y] of during) assert.equal(x.split('-')[0], y.split('-')[0], `round ${round}: readPart(${t}, "x") = ${x} and readPart(${t}, "y") = ${y} read here while the commits raced: parts of two writers`);
        const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
        assert.equal(winners.length, 1, `round ${round}: commit(${t}, [x, y]) from 4 processes at once: expected exactly one to succeed, got ${JSON.stringify(results)}`);
        for (const [i, r] of results.entries()) {
          if (!r.ok) assert.ok(r.code === 'STORAGE_ALREADY_EXISTS' || r.code === 'STORAGE_FENCED', `round ${round}: losing commit(${t}) in process ${i}: expected STORAGE_ALREADY_EXISTS or STORAGE_FENCED, got ${JSON.stringify(r)}`);
        }
        const w = winners[0]!;
        const got = [text(await cps.readPart(t, 'x')), text(await cps.readPart(t, 'y'))];
        assert.deepEqual(got, [`w${w}-x`, `w${w}-y`], `round ${round}: readPart(${t}, "x"), readPart(${t}, "y") here: both parts from the winner (process ${w}), never a mix`);
      }
      assert.deepEqual((await cps.range(0, Number.POSITIVE_INFINITY)).map((c) => c.t), [100, 200, 300, 400, 500], 'range(0, ∞) after 5 raced rounds');
    },
  },
  {
    group: 'checkpoints',
    name: 'a corrupt part is STORAGE_CORRUPT on read',
    async run({ app, instance }) {
      assert.ok(instance.corrupt, 'the conformance instance must provide corrupt()');
      const a = await app();
      const cps = a.checkpoints('state');
      await (await cps.writer(1)).append(7, bytes('precious state'));
      await instance.corrupt({ appId: a.appId, store: 'state', t: 7, part: 'state' });
      await rejectsWith(cps.readPart(7, 'state'), 'STORAGE_CORRUPT');
    },
  },
  {
    group: 'checkpoints',
    name: 'oversize parts are STORAGE_TOO_LARGE before any I/O',
    async run({ app }) {
      const w = await (await app()).checkpoints('state').writer(1);
      await rejectsWith(w.stage(1, 'p', new Uint8Array(256 * 1024 * 1024 + 1)), 'STORAGE_TOO_LARGE');
      await rejectsWith(w.stage(1, '../p', bytes('x')), 'STORAGE_INVALID_ARGUMENT');
    },
  },
];
