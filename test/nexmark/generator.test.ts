// The Nexmark generator: same seed → same stream, the 1:3:46 proportions, ids that join,
// exact splits across parallel source tasks, replay from a position, typed option errors,
// and `sluice nexmark generate` printing the same events.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { connectors, isEngineError, nexmark, type SourceTask, type TaskContext } from '@sluice/engine';
import { CLI } from '../e2e/helpers/engine-cluster.js';

type Event = nexmark.NexmarkEvent;
const events = (o: nexmark.NexmarkOptions): Event[] => [...nexmark.nexmarkEvents(o)];

function ctxOf(index: number, parallelism: number): TaskContext {
  return { appId: 'a', taskId: `events.${index}`, processor: 'events', index, parallelism, config: {}, logger: { debug() {}, info() {}, warn() {}, error() {} }, blobs: { path: () => '', version: () => 0 }, emit() {} };
}

/** Drains a source task in batches of `batch`; stops after `limit` events if given. */
function drain(task: SourceTask, batch: number, limit = Infinity): Event[] {
  const out: Event[] = [];
  for (let i = 0; i < 1_000_000 && out.length < limit; i++) {
    const r = task.read(Math.min(batch, limit - out.length)) as Event[] | null;
    if (r === null) break;
    out.push(...r);
  }
  return out;
}

describe('nexmark generator', () => {
  it('gives the same stream for the same seed and a different one for another seed', () => {
    const a = events({ events: 5000, seed: 7 });
    expect(JSON.stringify(events({ events: 5000, seed: 7 })) === JSON.stringify(a)).toBe(true);
    const b = events({ events: 5000, seed: 8 });
    expect(b.map((e) => e.type)).toEqual(a.map((e) => e.type)); // kinds depend on the event number only
    expect(JSON.stringify(b)).not.toEqual(JSON.stringify(a));
  });

  it('keeps the 1:3:46 proportion in every 50 events, with increasing person and auction ids', () => {
    const es = events({ events: 100_000 });
    const n = { person: 0, auction: 0, bid: 0 };
    for (const e of es) n[e.type]++;
    expect(n).toEqual({ person: 2000, auction: 6000, bid: 92_000 });
    expect(es.slice(0, 50).map((e) => e.type).join(',')).toBe(['person', 'auction', 'auction', 'auction', ...Array<string>(46).fill('bid')].join(','));
    const persons = es.filter((e): e is nexmark.Person => e.type === 'person').map((p) => p.id);
    const auctions = es.filter((e): e is nexmark.Auction => e.type === 'auction');
    expect(persons).toEqual(persons.map((_, i) => nexmark.FIRST_PERSON_ID + i));
    expect(auctions.map((a) => a.id)).toEqual(auctions.map((_, i) => nexmark.FIRST_AUCTION_ID + i));
    // Foreign keys point at existing (or the next few) persons and auctions; categories 10..14.
    const maxPerson = Math.max(...persons);
    const maxAuction = Math.max(...auctions.map((a) => a.id));
    const bad: string[] = [];
    for (const e of es) {
      if (e.type === 'bid' && (e.auction > maxAuction + 10 || e.bidder > maxPerson + 10 || e.price < 100 || e.price > 100_000_000)) bad.push(JSON.stringify(e));
      if (e.type === 'auction' && (e.category < 10 || e.category > 14 || e.expires <= e.dateTime || e.reserve <= e.initialBid)) bad.push(JSON.stringify(e));
    }
    expect(bad).toEqual([]);
    // Hot auctions: with hotAuctionRatio 2, about half the bids go to one auction of each batch of 100.
    const bids = es.filter((e): e is nexmark.Bid => e.type === 'bid');
    const hot = bids.filter((b) => (b.auction - nexmark.FIRST_AUCTION_ID) % 100 === 0).length / bids.length;
    expect(hot).toBeGreaterThan(0.45);
    expect(hot).toBeLessThan(0.6);
  });

  it('advances event time at the configured rate, and jitters it within out-of-order groups', () => {
    const base = Date.UTC(2026, 0, 1);
    const es = events({ events: 20_000, firstEventRate: 1000, baseTime: base });
    expect(es[0]!.dateTime).toBe(base);
    expect(es[19_999]!.dateTime).toBe(base + 19_999);
    expect(es.every((e, i) => i === 0 || e.dateTime >= es[i - 1]!.dateTime)).toBe(true);
    const j = events({ events: 20_000, firstEventRate: 1000, baseTime: base, outOfOrderGroupSize: 100 });
    const backwards = j.filter((e, i) => i > 0 && e.dateTime < j[i - 1]!.dateTime).length;
    expect(backwards).toBeGreaterThan(1000);
    // Within a group the times are a permutation of the group's: no event leaves it.
    const outOfGroup: number[] = [];
    for (let g = 0; g < 200; g++) {
      const ts = j.slice(g * 100, g * 100 + 100).map((e) => e.dateTime - base).sort((x, y) => x - y);
      if (ts.some((t, i) => t !== g * 100 + i)) outOfGroup.push(g);
    }
    expect(outOfGroup).toEqual([]);
    const late = events({ events: 20_000, firstEventRate: 1000, baseTime: base, probDelayedEvent: 0.1, maxDelayMs: 3000 });
    const delayed = late.filter((e, i) => e.dateTime < base + i).length;
    expect(delayed).toBeGreaterThan(1500);
    expect(delayed).toBeLessThan(2500);
    expect(late.every((e, i) => e.dateTime >= base + i - 3000)).toBe(true);
  });

  it('splits exactly across parallel source tasks, whatever the batch size', () => {
    const all = events({ events: 30_001, seed: 3 });
    for (const p of [1, 2, 3, 8]) {
      const factory = connectors.nexmarkSource({ events: 30_001, seed: 3 });
      const byNumber = new Map<number, Event>();
      for (let i = 0; i < p; i++) {
        const task = factory();
        void task.open(ctxOf(i, p), undefined);
        const got = drain(task, 17 + i * 500);
        got.forEach((e, k) => byNumber.set(i + k * p, e));
        expect(task.read(10)).toBeNull();
      }
      expect(byNumber.size).toBe(all.length);
      const merged = Array.from({ length: all.length }, (_, n) => byNumber.get(n));
      expect(JSON.stringify(merged) === JSON.stringify(all), `split over ${p} tasks differs`).toBe(true);
    }
  });

  it('replays exactly from a recorded position (as after a restore)', () => {
    const factory = connectors.nexmarkSource({ events: 10_000, seed: 5 });
    const first = factory();
    void first.open(ctxOf(1, 3), undefined);
    const head = drain(first, 100, 1200);
    const pos = first.position();
    expect(JSON.parse(JSON.stringify(pos))).toBe(pos); // JSON-serialisable, as the offset store needs
    const rest = drain(first, 100);
    const again = factory();
    void again.open(ctxOf(1, 3), JSON.parse(JSON.stringify(pos)));
    expect(drain(again, 333)).toEqual(rest);
    expect(head.length + rest.length).toBe(3333);
  });

  it('refuses bad options and foreign positions with CONFIG_INVALID naming the key', () => {
    const codeOf = (f: () => unknown): [string | undefined, string] => {
      try {
        f();
      } catch (err) {
        return [isEngineError(err) ? err.code : undefined, (err as Error).message];
      }
      return [undefined, 'no error'];
    };
    expect(codeOf(() => connectors.nexmarkSource({ events: -1 }))).toEqual(['CONFIG_INVALID', expect.stringContaining('nexmark.events') as string]);
    expect(codeOf(() => connectors.nexmarkSource({ events: 10, hotAuctionRatio: 0 }))[1]).toContain('nexmark.hotAuctionRatio');
    expect(codeOf(() => connectors.nexmarkSource({ events: 10, bogus: 1 } as nexmark.NexmarkOptions))[1]).toContain('bogus');
    const t = connectors.nexmarkSource({ events: 10 })();
    expect(codeOf(() => t.open(ctxOf(1, 2), 4))[0]).toBe('CONFIG_INVALID'); // 4 belongs to task 0 of 2
    expect(codeOf(() => t.open(ctxOf(0, 2), 'x'))[0]).toBe('CONFIG_INVALID');
  });

  it('sluice nexmark generate prints the same events as JSON lines; bad flags exit 2', () => {
    const r = spawnSync(process.execPath, [CLI, 'nexmark', 'generate', '--events', '2000', '--seed', '9', '--format', 'jsonl'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(2000);
    expect(lines.join('\n') === events({ events: 2000, seed: 9 }).map((e) => JSON.stringify(e)).join('\n')).toBe(true);
    const bad = spawnSync(process.execPath, [CLI, 'nexmark', 'generate', '--events', '10', '--format', 'csv'], { encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('CONFIG_INVALID');
    expect(bad.stdout).toBe('');
    const noEvents = spawnSync(process.execPath, [CLI, 'nexmark', 'generate'], { encoding: 'utf8', timeout: 30_000 });
    expect(noEvents.status).toBe(2);
  });
});
