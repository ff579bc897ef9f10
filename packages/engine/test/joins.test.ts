// Joins (interval, window, stream-table) in one process on the memory store: the committed
// output equals a plain-JS reference over the same out-of-order events, also across a crash
// and restore (exactly once); with records beyond the bound, the late ones go to the late
// output and the output equals the reference over the others.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorage, type AppStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { dag, type Dag, type KeyedStream, type Stream } from '../src/dsl/dag.js';
import { windows } from '../src/dsl/windows.js';
import { fileSink } from '../src/connectors/file-sink.js';
import { fileSource } from '../src/connectors/file-source.js';
import { InProcessApp } from '../src/runtime/in-process.js';
import { EngineError } from '../src/errors.js';
import { committedLines, makeEvents, writeEvents, type Ev } from '../../../test/e2e/helpers/event-time-data.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const BOUND = 300;
const EVERY = 50;
/** Every third event is a right-side record (or a table row), the rest left ones. */
const isRight = (e: Ev): boolean => e.id % 3 === 0;

type Build = (left: KeyedStream, right: KeyedStream) => Stream;

function app(input: string, out: string, late: string, build: Build, maxLinesPerSec?: number): Dag {
  const d = dag('joins', { checkpointIntervalMs: 50 });
  const events = d.source('events', fileSource({ path: input, ...(maxLinesPerSec ? { maxLinesPerSec } : {}) }))
    .map('parse', (l: string) => JSON.parse(l) as Ev)
    .withTimestamps((e: Ev) => e.ts, { maxOutOfOrdernessMs: BOUND, watermarkEveryRecords: EVERY, name: 'stamp' });
  const left = events.filter('lefts', (e: Ev) => !isRight(e)).groupBy((e: Ev) => e.key);
  const right = events.filter('rights', (e: Ev) => isRight(e)).groupBy((e: Ev) => e.key);
  build(left, right).sink('out', fileSink({ dir: out }), { parallelism: 2 });
  d.sideOutput('late').sink('late-out', fileSink({ dir: late }));
  return d;
}

async function memoryApp(volume: string): Promise<AppStorage> {
  const storage = await openStorage(memoryModule, { volume });
  return storage.createAppStorage('joins', `joins-${volume}`, { owner: 'test' });
}

let runs = 0;
/** Runs the join app to the end (after a crash mid-run if asked); the committed output and late lines. */
async function run(evs: Ev[], build: Build, crash: boolean): Promise<{ out: string[]; late: Ev[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-joins-'));
  dirs.push(dir);
  const input = join(dir, 'events.jsonl');
  writeEvents(input, evs);
  const out = join(dir, 'out');
  const late = join(dir, 'late');
  const store = await memoryApp(`joins-${process.pid}-${++runs}`);
  let epoch = 1;
  if (crash) {
    // Throttled so the crash lands mid-run, with join state in the checkpoint.
    const first = new InProcessApp({ dag: app(input, out, late, build, 20_000), app: store, epoch: epoch++, intervalMs: 50, batchSize: 97 });
    await first.start();
    const deadline = Date.now() + 20_000;
    while (first.committer.commits < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await first.stop();
    expect(first.committer.commits).toBeGreaterThanOrEqual(3);
  }
  const second = new InProcessApp({ dag: app(input, out, late, build), app: store, epoch, intervalMs: 50, batchSize: 256 });
  await second.start();
  if (crash) expect(second.restoredFrom).toBeDefined();
  await second.waitFinished(60_000);
  await second.stop();
  return { out: committedLines(out), late: committedLines(late).map((l) => JSON.parse(l) as Ev) };
}

const line = (x: unknown): string => JSON.stringify(x);
const byKey = (evs: Ev[]): Map<string, Ev[]> => {
  const m = new Map<string, Ev[]>();
  for (const e of evs) m.set(e.key, [...(m.get(e.key) ?? []), e]);
  return m;
};

const LOWER = -200;
const UPPER = 400;
const intervalBuild: Build = (l, r) => l.intervalJoin(r, { lowerMs: LOWER, upperMs: UPPER, name: 'ij', parallelism: 2, lateOutput: 'late' }, (a: Ev, b: Ev) => ({ l: a.id, r: b.id }));
function intervalRef(evs: Ev[]): string[] {
  const out: string[] = [];
  for (const es of byKey(evs).values()) {
    for (const a of es) if (!isRight(a)) for (const b of es) if (isRight(b) && a.ts + LOWER <= b.ts && b.ts <= a.ts + UPPER) out.push(line({ l: a.id, r: b.id }));
  }
  return out.sort();
}

const SIZE = 500;
const windowBuild: Build = (l, r) => l.windowJoin(r, windows.tumbling(SIZE), (a: Ev, b: Ev, w) => ({ l: a.id, r: b.id, start: w.start }), { name: 'wj', parallelism: 2, lateOutput: 'late' });
function windowRef(evs: Ev[]): string[] {
  const out: string[] = [];
  for (const es of byKey(evs).values()) {
    for (const a of es) if (!isRight(a)) for (const b of es) {
      const s = Math.floor(a.ts / SIZE) * SIZE;
      if (isRight(b) && Math.floor(b.ts / SIZE) * SIZE === s) out.push(line({ l: a.id, r: b.id, start: s }));
    }
  }
  return out.sort();
}

const coGroupBuild: Build = (l, r) => l.windowCoGroup(r, windows.tumbling(SIZE), (w) => [{ key: w.key, start: w.start, left: w.left.length, right: w.right.length }], { name: 'cg', parallelism: 2, lateOutput: 'late' });
function coGroupRef(evs: Ev[]): string[] {
  const m = new Map<string, { key: string; start: number; left: number; right: number }>();
  for (const e of evs) {
    const start = Math.floor(e.ts / SIZE) * SIZE;
    const k = `${e.key}@${start}`;
    const w = m.get(k) ?? { key: e.key, start, left: 0, right: 0 };
    if (isRight(e)) w.right++;
    else w.left++;
    m.set(k, w);
  }
  return [...m.values()].map(line).sort();
}

const temporalBuild: Build = (l, r) => l.joinTable(r, (a: Ev, row: Ev | null) => ({ l: a.id, row: row?.id ?? null }), { name: 'tj', parallelism: 2, outer: true, lateOutput: 'late' });
/** The row version at each left record's time: the last right record (in input order) of the highest time <= it. */
function temporalRef(evs: Ev[]): string[] {
  const out: string[] = [];
  for (const es of byKey(evs).values()) {
    const rows = es.filter(isRight);
    for (const a of es) {
      if (isRight(a)) continue;
      let best: Ev | undefined;
      for (const r of rows) if (r.ts <= a.ts && (!best || r.ts >= best.ts)) best = r;
      out.push(line({ l: a.id, row: best?.id ?? null }));
    }
  }
  return out.sort();
}

describe('joins, exactly once in one process', () => {
  // 20 keys, every record within the bound: nothing is late, so the reference is plain SQL semantics.
  const evs = makeEvents(12_000, 7, { keys: 20, bound: BOUND, beyond: 0, farMs: 0 });
  const cases: Array<[string, Build, (e: Ev[]) => string[]]> = [
    ['interval join', intervalBuild, intervalRef],
    ['window join', windowBuild, windowRef],
    ['window coGroup', coGroupBuild, coGroupRef],
    ['event-time table join (temporal, outer)', temporalBuild, temporalRef],
  ];
  for (const [what, build, ref] of cases) {
    for (const crash of [false, true]) {
      it(`${what}${crash ? ' after a crash and restore' : ''} equals the reference`, async () => {
        const want = ref(evs);
        expect(want.length).toBeGreaterThan(1000);
        const { out, late } = await run(evs, build, crash);
        expect(late).toEqual([]);
        expect(out.length).toBe(want.length);
        expect(out).toEqual(want);
      }, 90_000);
    }
  }

  it('the temporal reference exercises both outcomes (a version found, none yet)', () => {
    const rows = temporalRef(evs).map((l) => JSON.parse(l) as { row: number | null });
    expect(rows.some((r) => r.row === null)).toBe(true);
    expect(new Set(rows.map((r) => r.row)).size).toBeGreaterThan(100);
  });

  it('latest-row table join: each record meets its key\'s row whenever it arrives; keys without one give null at the end', async () => {
    // The table: one row per key (the first right record of keys k0..k15); k16..k19 never get one.
    const first = new Map<string, Ev>();
    for (const e of evs) if (isRight(e) && Number(e.key.slice(1)) < 16 && !first.has(e.key)) first.set(e.key, e);
    const rowIds = new Set([...first.values()].map((e) => e.id));
    const build: Build = (l, r) => l.joinTable(r.filter('rows', (e: Ev) => rowIds.has(e.id)).groupBy((e: Ev) => e.key), (a: Ev, row: Ev | null) => ({ l: a.id, row: row?.id ?? null }), { name: 'latest', asOf: 'latest', outer: true, parallelism: 2, lateOutput: 'late' });
    const want = evs.filter((e) => !isRight(e)).map((e) => line({ l: e.id, row: first.get(e.key)?.id ?? null })).sort();
    for (const crash of [false, true]) {
      const { out } = await run(evs, build, crash);
      expect(out).toEqual(want);
    }
  }, 120_000);
});

describe('joins with records beyond the bound', () => {
  const evs = makeEvents(12_000, 11, { keys: 20, bound: BOUND, beyond: 0.03, farMs: 3000 });
  /** The records the assigner's watermark had passed when they came (the join's is never ahead of it). */
  const lateAtAssigner = new Set<number>();
  {
    let wm = -Infinity;
    let max = -Infinity;
    let n = 0;
    for (const e of evs) {
      if (e.ts <= wm) lateAtAssigner.add(e.id);
      max = Math.max(max, e.ts);
      if (++n >= EVERY) {
        n = 0;
        wm = Math.max(wm, max - BOUND - 1);
      }
    }
  }
  for (const [what, build, ref] of [['interval join', intervalBuild, intervalRef], ['window join', windowBuild, windowRef], ['temporal table join', temporalBuild, temporalRef]] as const) {
    it(`${what}: late records go to the late output, never joined; the rest equals the reference over the others`, async () => {
      expect(lateAtAssigner.size).toBeGreaterThan(100);
      const { out, late } = await run(evs, build, false);
      expect(late.length).toBeGreaterThan(0);
      for (const e of late) expect(lateAtAssigner.has(e.id), `record ${e.id} sent late`).toBe(true);
      const lateIds = new Set(late.map((e) => e.id));
      expect(out).toEqual(ref(evs.filter((e) => !lateIds.has(e.id))));
    }, 90_000);
  }
});

describe('join DAG errors', () => {
  const base = (): { l: KeyedStream; r: KeyedStream; raw: KeyedStream } => {
    const d = dag('bad');
    const s = d.source('s', fileSource({ path: '/dev/null' }));
    const t = s.withTimestamps(() => 0, { maxOutOfOrdernessMs: 0 });
    return { l: t.groupBy(() => 1), r: t.groupBy(() => 1), raw: s.groupBy(() => 1) };
  };
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (err) {
      return err instanceof EngineError ? `${err.code}: ${err.message}` : String(err);
    }
    return undefined;
  };
  it('reject a missing event time, bad bounds, a non-keyed side, unknown options', () => {
    const { l, r, raw } = base();
    expect(code(() => l.intervalJoin(raw, { lowerMs: 0, upperMs: 1 }, () => 1))).toMatch(/^DAG_INVALID: .*needs event time on both sides.*right/);
    expect(code(() => l.intervalJoin(r, { lowerMs: 5, upperMs: 1 }, () => 1))).toMatch(/^DAG_INVALID: intervalJoin options: upperMs: must not be below lowerMs/);
    expect(code(() => l.windowJoin(r as never, { nope: 1 } as never, () => 1))).toMatch(/^DAG_INVALID: windowJoin needs sluice.windows/);
    expect(code(() => l.joinTable({} as never, () => 1))).toMatch(/^DAG_INVALID: .*joinTable: the other side must be a keyed stream/);
    expect(code(() => l.joinTable(r, () => 1, { asOf: 'now' } as never))).toMatch(/^DAG_INVALID: joinTable options: asOf/);
    expect(code(() => l.joinTable(r, () => 1, { outr: true } as never))).toMatch(/^DAG_INVALID: joinTable options/);
    // asOf 'latest' needs no event time.
    expect(code(() => raw.joinTable(raw, () => 1, { asOf: 'latest' }))).toBeUndefined();
  });
});
