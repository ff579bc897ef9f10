import { assert, rejectsWith, type ConformanceCase } from '../harness.js';
import type { LogLevel, LogRecord, LogStore } from '../../types.js';

const LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error'];

function records(n: number, t0 = 1_000_000): LogRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    ts: t0 + Math.floor(i / 3) * 1000, // three records share each timestamp: cursors must break ties
    level: LEVELS[i % 4]!,
    msg: i % 10 === 0 ? `Checkpoint ${i} committed` : `processed batch ${i}`,
    labels: { executor: `e${i % 2}`, processor: i % 3 === 0 ? 'split' : 'count', task: String(i % 5) },
    fields: { i },
  }));
}

async function all(logs: LogStore, q: Parameters<LogStore['query']>[0]): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await logs.query({ ...q, cursor });
    out.push(...page.records);
    if (!page.cursor) return out;
    cursor = page.cursor;
  }
  throw new Error('too many pages');
}

export const logCases: ConformanceCase[] = [
  {
    group: 'logs',
    name: 'query by time window, level, text and labels',
    async run({ app }) {
      const a = await app();
      const recs = records(200);
      await a.logs.append(recs);
      const win = await all(a.logs, { from: 1_010_000, to: 1_020_000 });
      assert.equal(win.length, recs.filter((r) => r.ts >= 1_010_000 && r.ts < 1_020_000).length);
      const warn = await all(a.logs, { minLevel: 'warn' });
      assert.equal(warn.length, recs.filter((r) => r.level === 'warn' || r.level === 'error').length);
      assert.ok(warn.every((r) => r.level === 'warn' || r.level === 'error'));
      const txt = await all(a.logs, { text: 'CHECKPOINT' });
      assert.equal(txt.length, 20);
      const lab = await all(a.logs, { labels: { processor: 'split', executor: 'e1' } });
      assert.equal(lab.length, recs.filter((r) => r.labels.processor === 'split' && r.labels.executor === 'e1').length);
      const combo = await all(a.logs, { minLevel: 'error', labels: { executor: 'e1' }, from: 1_000_000, to: 1_050_000 });
      assert.ok(combo.length > 0 && combo.every((r) => r.level === 'error' && r.labels.executor === 'e1'));
      assert.deepEqual(win[0]!.fields, { i: win[0]!.fields!.i });
    },
  },
  {
    group: 'logs',
    name: 'pages with a cursor visit every record once, in time order, both directions',
    async run({ app }) {
      const a = await app();
      await a.logs.append(records(95));
      const asc = await all(a.logs, { limit: 7 });
      assert.equal(asc.length, 95);
      assert.equal(new Set(asc.map((r) => r.fields!.i)).size, 95);
      assert.ok(asc.every((r, i) => i === 0 || r.ts >= asc[i - 1]!.ts));
      const desc = await all(a.logs, { limit: 10, order: 'desc' });
      assert.equal(new Set(desc.map((r) => r.fields!.i)).size, 95);
      assert.ok(desc.every((r, i) => i === 0 || r.ts <= desc[i - 1]!.ts));
      const first = await a.logs.query({ limit: 5, order: 'desc' });
      assert.equal(first.records.length, 5);
      assert.ok(first.cursor);
      await rejectsWith(a.logs.query({ cursor: 'not-a-cursor' }), 'STORAGE_INVALID_ARGUMENT');
    },
  },
  {
    group: 'logs',
    name: 'follow delivers new matching records',
    needs: ['follow'],
    async run({ app }) {
      const a = await app();
      await a.logs.append([{ ts: 1, level: 'error', msg: 'old', labels: {} }]);
      const ac = new AbortController();
      const got: LogRecord[] = [];
      const reader = (async () => {
        for await (const r of a.logs.follow({ minLevel: 'warn' }, { signal: ac.signal, pollIntervalMs: 50 })) {
          got.push(r);
          if (got.length === 2) ac.abort();
        }
      })();
      reader.catch(() => undefined); // a throwing follow fails this case at `await reader`, never the run
      await new Promise((r) => setTimeout(r, 150));
      await a.logs.append([
        { ts: Date.now(), level: 'info', msg: 'skip me', labels: {} },
        { ts: Date.now(), level: 'warn', msg: 'live 1', labels: {} },
      ]);
      await a.logs.append([{ ts: Date.now(), level: 'error', msg: 'live 2', labels: {} }]);
      const deadline = setTimeout(() => ac.abort(), 5000);
      try {
        await reader;
      } finally {
        clearTimeout(deadline);
        ac.abort();
      }
      assert.deepEqual(got.map((r) => r.msg), ['live 1', 'live 2']);
    },
  },
  {
    group: 'logs',
    name: 'follow starts at the call: records appended before the first read are delivered',
    needs: ['follow'],
    async run({ app }) {
      const a = await app();
      await a.logs.append([{ ts: 1, level: 'info', msg: 'before the call', labels: {} }]);
      const ac = new AbortController();
      const deadline = setTimeout(() => ac.abort(), 5000);
      try {
        const it = a.logs.follow({}, { signal: ac.signal, pollIntervalMs: 50 })[Symbol.asyncIterator]();
        // Give a backend that starts lazily every chance to show it: the records land
        // well after the call and before the first next().
        await new Promise((r) => setTimeout(r, 200));
        await a.logs.append([{ ts: 2, level: 'info', msg: 'after the call', labels: {} }]);
        const first = await it.next();
        assert.equal(first.done ? 'nothing (follow ended)' : first.value.msg, 'after the call',
          'follow({}) called, then append([after the call]), then the first next()');
        await it.return?.();
      } finally {
        clearTimeout(deadline);
        ac.abort();
      }
    },
  },
  {
    group: 'logs',
    name: 'follow sees records appended by another process',
    needs: ['follow', 'multiProcess'],
    timeoutMs: 60_000,
    async run({ app, child }) {
      const a = await app();
      const other = await child('multiProcess (log appender)');
      const ac = new AbortController();
      const got: string[] = [];
      const reader = (async () => {
        for await (const r of a.logs.follow({}, { signal: ac.signal, pollIntervalMs: 50 })) {
          got.push(r.msg);
          if (got.length === 2) ac.abort();
        }
      })();
      reader.catch(() => undefined); // a throwing follow fails this case at `await reader`, never the run
      const deadline = setTimeout(() => ac.abort(), 10_000);
      try {
        await new Promise((r) => setTimeout(r, 150));
        for (const msg of ['from elsewhere 1', 'from elsewhere 2']) {
          const r = await other.send({ cmd: 'log-append', appId: a.appId, msg });
          assert.deepEqual(r, { found: true, ok: true }, `logs.append([${msg}]) in another process`);
        }
        await reader;
      } finally {
        clearTimeout(deadline);
        ac.abort();
      }
      assert.deepEqual(got, ['from elsewhere 1', 'from elsewhere 2'], 'follow({}) here, then two appends in another process (10 s budget)');
    },
  },
  {
    group: 'logs',
    name: 'stats and deleteBefore (retention)',
    async run({ app }) {
      const a = await app();
      await a.logs.append(records(30));
      const st = await a.logs.stats();
      assert.equal(st.count, 30);
      assert.ok(st.bytes > 0);
      assert.equal(st.oldestTs, 1_000_000);
      assert.equal(st.newestTs, 1_009_000);
      const removed = await a.logs.deleteBefore(1_005_000);
      assert.equal(removed, 15);
      assert.equal((await a.logs.stats()).count, 15);
      assert.equal((await all(a.logs, { to: 1_005_000 })).length, 0);
    },
  },
  {
    group: 'logs',
    name: 'malformed records and queries are typed errors and store nothing',
    async run({ app }) {
      const a = await app();
      const ok: LogRecord = { ts: 5, level: 'info', msg: 'fine', labels: {} };
      await rejectsWith(a.logs.append([ok, { ...ok, level: 'loud' as never }]), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.logs.append([{ ...ok, ts: -5 }]), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.logs.append([{ ...ok, msg: 'x'.repeat(70_000) }]), 'STORAGE_TOO_LARGE');
      await rejectsWith(a.logs.append([{ ...ok, labels: { a: 1 as never } }]), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.logs.query({ minLevel: 'nope' as never }), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(a.logs.query({ limit: 0 }), 'STORAGE_INVALID_ARGUMENT');
      assert.equal((await a.logs.stats()).count, 0);
    },
  },
];
