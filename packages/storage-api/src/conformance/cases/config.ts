import { assert, rejectsWith, type ConformanceCase } from '../harness.js';

export const configCases: ConformanceCase[] = [
  {
    group: 'config',
    name: 'versioned values with compare-and-set',
    async run({ app }) {
      const a = await app();
      assert.equal(await a.config.get('split'), undefined);
      const v1 = await a.config.set('split', { sep: ' ', lower: true }, { ifVersion: 0 });
      assert.equal(v1.version, 1);
      await rejectsWith(a.config.set('split', { sep: ',' }, { ifVersion: 0 }), 'STORAGE_PRECONDITION_FAILED');
      const v2 = await a.config.set('split', { sep: ',' }, { ifVersion: 1 });
      assert.equal(v2.version, 2);
      await rejectsWith(a.config.set('split', { sep: ';' }, { ifVersion: 1 }), 'STORAGE_PRECONDITION_FAILED');
      const v3 = await a.config.set('split', [1, 'two', null]);
      assert.equal(v3.version, 3);
      assert.deepEqual((await a.config.get('split'))?.value, [1, 'two', null]);
      await a.config.set('count', 5);
      assert.deepEqual((await a.config.list()).map((e) => [e.processorId, e.version]), [['count', 1], ['split', 3]]);
      await rejectsWith(a.config.delete('split', { ifVersion: 2 }), 'STORAGE_PRECONDITION_FAILED');
      await a.config.delete('split', { ifVersion: 3 });
      assert.equal(await a.config.get('split'), undefined);
      await rejectsWith(a.config.delete('split'), 'STORAGE_NOT_FOUND');
    },
  },
  {
    group: 'config',
    name: 'values must be JSON and bounded',
    async run({ app }) {
      const a = await app();
      await rejectsWith(a.config.set('p', { big: 1n } as never), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.config.set('p', undefined), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.config.set('p', 'x'.repeat(1024 * 1024 + 1)), 'STORAGE_TOO_LARGE');
      await rejectsWith(a.config.set('p', 1, { ifVersion: -1 }), 'STORAGE_INVALID_ARGUMENT');
      assert.equal(await a.config.get('p'), undefined);
      const d = await a.config.set('p', { when: new Date(0) });
      assert.deepEqual(d.value, { when: '1970-01-01T00:00:00.000Z' });
    },
  },
  {
    group: 'config',
    name: 'concurrent compare-and-set from three processes: one winner per version',
    needs: ['multiProcess', 'multiWriter'],
    timeoutMs: 60_000,
    async run({ app, child }) {
      const a = await app();
      const writers = await Promise.all([0, 1, 2].map((i) => child(`multiProcess (config writer ${i})`)));
      await a.config.set('p', 0);
      for (let v = 1; v <= 5; v++) {
        // Every set line is written at once: the processes race on version v.
        const res = await Promise.all(writers.map((w, i) => w.send({ cmd: 'config-set', appId: a.appId, key: 'p', value: `v${v}-by-${i}`, ifVersion: v })));
        for (const [i, r] of res.entries()) assert.equal(r.found, true, `getAppStorage(${a.appId}) in config writer process ${i}: the app this process created is not there (${JSON.stringify(r)})`);
        const winners = res.flatMap((r, i) => (r.ok ? [i] : []));
        assert.equal(winners.length, 1, `config.set("p", …, { ifVersion: ${v} }) from 3 processes at once: expected exactly one to succeed, got ${JSON.stringify(res)}`);
        for (const [i, r] of res.entries()) {
          if (!r.ok) assert.equal(r.code, 'STORAGE_PRECONDITION_FAILED', `losing config.set("p", …, { ifVersion: ${v} }) in process ${i}: ${JSON.stringify(r)}`);
        }
        assert.equal(res[winners[0]!]!.version, v + 1, `the winner of ifVersion ${v} wrote version ${v + 1}`);
        const seen = await a.config.get('p');
        assert.deepEqual([seen?.version, seen?.value], [v + 1, `v${v}-by-${winners[0]}`], `config.get("p") here after round ${v}: the winner's value`);
      }
    },
  },
  {
    group: 'config',
    name: 'a config value changed at rest is STORAGE_CORRUPT on get and list, never returned',
    async run({ app, instance }) {
      assert.ok(instance.corrupt, 'the conformance instance must provide corrupt() (config values are verified on read)');
      const a = await app();
      await a.config.set('split', { mode: 'fast', sep: ' ' });
      await a.config.set('other', { mode: 'kept' });
      await instance.corrupt({ appId: a.appId, config: 'split', from: 'fast', to: 'slow' });
      await rejectsWith(a.config.get('split'), 'STORAGE_CORRUPT', "config.get('split') after its stored value changed");
      await rejectsWith(a.config.list(), 'STORAGE_CORRUPT', 'config.list() over the changed entry');
      assert.deepEqual((await a.config.get('other'))?.value, { mode: 'kept' }, "config.get('other'): other entries still read");
      const fixed = await a.config.set('split', { mode: 'fast' }, { ifVersion: 1 });
      assert.equal(fixed.version, 2, 'a compare-and-set over the damaged entry rewrites it');
      assert.deepEqual((await a.config.get('split'))?.value, { mode: 'fast' });
    },
  },
];
