import { assert, bytes, rejectsWith, text, type ConformanceCase } from '../harness.js';

export const offsetCases: ConformanceCase[] = [
  {
    group: 'offsets',
    name: 'an empty store: get/floor/first/last undefined, lookUp empty, range []',
    async run({ app }) {
      const s = (await app()).offsets('src');
      assert.equal(await s.get(1), undefined);
      assert.equal(await s.floor(1), undefined);
      assert.equal(await s.first(), undefined);
      assert.equal(await s.last(), undefined);
      assert.deepEqual(await s.lookUp(1), { status: 'empty' });
      assert.deepEqual(await s.range(0, Number.POSITIVE_INFINITY), []);
      assert.equal(await s.currentEpoch(), 0);
    },
  },
  {
    group: 'offsets',
    name: 'get, floor, lookUp (found/underflow/overflow) and range',
    async run({ app }) {
      const s = (await app()).offsets('src');
      const w = await s.writer(1);
      await w.append(10, bytes('a'));
      await w.append(20, bytes('b'));
      await w.append(30, bytes('c'));
      assert.equal(text((await s.get(20))?.value), 'b');
      assert.equal(await s.get(25), undefined);
      assert.equal((await s.floor(25))?.t, 20);
      assert.equal((await s.floor(30))?.t, 30);
      assert.equal((await s.floor(1000))?.t, 30);
      assert.equal(await s.floor(9), undefined);
      const under = await s.lookUp(5);
      assert.equal(under.status, 'underflow');
      assert.equal(under.status === 'underflow' && under.min.t, 10);
      const exact = await s.lookUp(10);
      assert.equal(exact.status === 'found' && exact.entry.t, 10);
      const mid = await s.lookUp(15);
      assert.equal(mid.status === 'found' && text(mid.entry.value), 'b');
      const last = await s.lookUp(30);
      assert.equal(last.status === 'found' && last.entry.t, 30);
      const over = await s.lookUp(31);
      assert.equal(over.status, 'overflow');
      assert.equal(over.status === 'overflow' && text(over.max.value), 'c');
      assert.deepEqual((await s.range(10, 30)).map((e) => e.t), [10, 20]);
      assert.deepEqual((await s.range(0, Number.POSITIVE_INFINITY)).map((e) => e.t), [10, 20, 30]);
      assert.deepEqual((await s.range(0, Number.POSITIVE_INFINITY, { limit: 2 })).map((e) => e.t), [10, 20]);
      assert.equal((await s.first())?.t, 10);
      assert.equal((await s.last())?.t, 30);
    },
  },
  {
    group: 'offsets',
    name: 'times strictly increase: STORAGE_OUT_OF_ORDER, except an identical retry of the last entry',
    async run({ app }) {
      const s = (await app()).offsets('src');
      const w = await s.writer(1);
      await w.append(10, bytes('a'));
      await rejectsWith(w.append(5, bytes('x')), 'STORAGE_OUT_OF_ORDER');
      await rejectsWith(w.append(10, bytes('different')), 'STORAGE_OUT_OF_ORDER');
      await w.append(10, bytes('a')); // lost-ack retry: a no-op
      assert.equal((await s.range(0, Number.POSITIVE_INFINITY)).length, 1);
      await rejectsWith(w.append(-1, bytes('x')), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(w.append(1.5, bytes('x')), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(w.append(Number.NaN, bytes('x')), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(w.append(11, 'not bytes' as never), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(w.append(11, new Uint8Array(64 * 1024 + 1)), 'STORAGE_TOO_LARGE');
      await rejectsWith(s.writer(-1), 'STORAGE_INVALID_ARGUMENT');
    },
  },
  {
    group: 'offsets',
    name: 'appendBatch is all or nothing and 1000 entries stay searchable',
    async run({ app }) {
      const s = (await app()).offsets('src');
      const w = await s.writer(1);
      await w.append(100, bytes('x'));
      await rejectsWith(w.appendBatch([{ t: 101, value: bytes('a') }, { t: 101, value: bytes('b') }]), 'STORAGE_OUT_OF_ORDER');
      await rejectsWith(w.appendBatch([{ t: 50, value: bytes('a') }, { t: 200, value: bytes('b') }]), 'STORAGE_OUT_OF_ORDER');
      assert.equal((await s.last())?.t, 100, 'nothing of a rejected batch is visible');
      const batch = Array.from({ length: 1000 }, (_, i) => ({ t: 1000 + i * 10, value: bytes(`o${i}`) }));
      await w.appendBatch(batch);
      assert.equal((await s.range(0, Number.POSITIVE_INFINITY)).length, 1001);
      assert.equal(text((await s.floor(5555))?.value), 'o455');
      const l = await s.lookUp(5551);
      assert.equal(l.status === 'found' && l.entry.t, 5560);
      assert.equal((await s.last())?.t, 1000 + 999 * 10);
      await w.appendBatch([]);
    },
  },
  {
    group: 'offsets',
    name: 'truncateAfter discards the future; truncateBefore drops the past',
    async run({ app }) {
      const s = (await app()).offsets('src');
      const w = await s.writer(1);
      await w.appendBatch([10, 20, 30, 40, 50].map((t) => ({ t, value: bytes(String(t)) })));
      assert.equal(await w.truncateAfter(30), 2);
      assert.equal((await s.last())?.t, 30);
      await w.append(35, bytes('35')); // replay after recovery writes new times past 30
      assert.equal(await w.truncateBefore(20), 1);
      assert.deepEqual((await s.range(0, Number.POSITIVE_INFINITY)).map((e) => e.t), [20, 30, 35]);
      const l = await s.lookUp(5);
      assert.equal(l.status === 'underflow' && l.min.t, 20);
    },
  },
  {
    group: 'offsets',
    name: 'epoch fencing: a higher epoch fences every write of a lower one',
    async run({ app }) {
      const s = (await app()).offsets('src');
      const old = await s.writer(1);
      await old.append(1, bytes('a'));
      const fresh = await s.writer(2);
      assert.equal(await s.currentEpoch(), 2);
      await rejectsWith(old.append(2, bytes('zombie')), 'STORAGE_FENCED');
      await rejectsWith(old.appendBatch([{ t: 3, value: bytes('z') }]), 'STORAGE_FENCED');
      await rejectsWith(old.truncateAfter(0), 'STORAGE_FENCED');
      await rejectsWith(s.writer(1), 'STORAGE_FENCED');
      await fresh.append(2, bytes('b'));
      const same = await s.writer(2); // the same epoch may reopen (a restarted task of this attempt)
      await same.append(3, bytes('c'));
      assert.deepEqual((await s.range(0, Number.POSITIVE_INFINITY)).map((e) => text(e.value)), ['a', 'b', 'c']);
    },
  },
  {
    group: 'offsets',
    name: 'fencing holds across instances (two processes)',
    needs: ['multiProcess', 'multiWriter'],
    timeoutMs: 60_000,
    async run({ app, inChild }) {
      const a = await app();
      const zombie = await a.offsets('src').writer(1);
      await zombie.append(1, bytes('a'));
      // The successor is another process: epoch 2 opens there and appends t=2.
      const successor = await inChild({ cmd: 'offset-writer', appId: a.appId, store: 'src', epoch: 2, append: { t: 2, value: 'b' } }, 'multiProcess');
      assert.deepEqual(successor, { found: true, ok: true }, 'writer(2).append(2, "b") in another process');
      await rejectsWith(zombie.append(3, bytes('zombie')), 'STORAGE_FENCED', 'epoch-1 append(3) here after epoch 2 opened in another process');
      assert.equal(text((await a.offsets('src').last())?.value), 'b', 'offsets("src").last() here sees the other process\'s append');
      const late = await inChild({ cmd: 'offset-writer', appId: a.appId, store: 'src', epoch: 1 }, 'multiProcess');
      assert.equal(late.code, 'STORAGE_FENCED', `writer(1) in another process after epoch 2: expected STORAGE_FENCED, got ${JSON.stringify(late)}`);
    },
  },
  {
    group: 'offsets',
    name: 'stores are isolated by name and by app, and listed',
    async run({ app }) {
      const a = await app();
      const b = await app();
      await (await a.offsets('s1').writer(1)).append(1, bytes('a1'));
      await (await a.offsets('s2').writer(1)).append(2, bytes('a2'));
      await (await b.offsets('s1').writer(1)).append(3, bytes('b1'));
      assert.deepEqual((await a.offsets('s1').range(0, Number.POSITIVE_INFINITY)).map((e) => e.t), [1]);
      assert.deepEqual((await b.offsets('s1').range(0, Number.POSITIVE_INFINITY)).map((e) => e.t), [3]);
      assert.deepEqual((await a.listTimeStores('offsets')).sort(), ['s1', 's2']);
      assert.deepEqual(await b.listTimeStores('checkpoints'), []);
    },
  },
  {
    group: 'offsets',
    name: 'a changed offset value is STORAGE_CORRUPT on every read, never returned',
    async run({ app, instance }) {
      assert.ok(instance.corrupt, 'the conformance instance must provide corrupt() (offset values are verified on read)');
      const a = await app();
      const s = a.offsets('src');
      const w = await s.writer(1);
      await w.appendBatch([10, 20, 30].map((t) => ({ t, value: bytes(`offset-${t}`) })));
      await instance.corrupt({ appId: a.appId, offsets: 'src', t: 20 });
      await rejectsWith(s.get(20), 'STORAGE_CORRUPT', 'get(20) after its stored value changed');
      await rejectsWith(s.floor(25), 'STORAGE_CORRUPT', 'floor(25) lands on the changed entry 20');
      await rejectsWith(s.lookUp(15), 'STORAGE_CORRUPT', 'lookUp(15) lands on the changed entry 20');
      await rejectsWith(s.range(0, Number.POSITIVE_INFINITY), 'STORAGE_CORRUPT', 'range over the changed entry 20');
      assert.equal(text((await s.get(10))?.value), 'offset-10', 'get(10): entries around the damage still read');
      assert.equal(text((await s.last())?.value), 'offset-30', 'last(): entries around the damage still read');
    },
  },
  {
    group: 'offsets',
    name: '150 single appends (compacted by backends that segment) stay exact through truncation',
    timeoutMs: 60_000,
    async run({ app }) {
      const s = (await app()).offsets('src');
      const w = await s.writer(1);
      for (let i = 1; i <= 150; i++) await w.append(i * 10, bytes(`v${i}`));
      await w.append(1500, bytes('v150')); // identical retry of the last entry, after compaction
      const all = await s.range(0, Number.POSITIVE_INFINITY);
      assert.deepEqual(all.map((e) => e.t), Array.from({ length: 150 }, (_, i) => (i + 1) * 10), 'range after 150 appends');
      assert.deepEqual(all.map((e) => text(e.value)), Array.from({ length: 150 }, (_, i) => `v${i + 1}`), 'values after 150 appends');
      assert.equal(text((await s.floor(755))?.value), 'v75', 'floor(755)');
      assert.equal(await w.truncateAfter(1000), 50, 'truncateAfter(1000)');
      await w.append(1005, bytes('new'));
      assert.equal(await w.truncateBefore(505), 50, 'truncateBefore(505)');
      const kept = await s.range(0, Number.POSITIVE_INFINITY);
      assert.deepEqual(kept.map((e) => e.t), [...Array.from({ length: 50 }, (_, i) => 510 + i * 10), 1005], 'range after truncations');
      const l = await s.lookUp(0);
      assert.equal(l.status === 'underflow' && l.min.t, 510, 'lookUp(0) after truncateBefore');
    },
  },
];
