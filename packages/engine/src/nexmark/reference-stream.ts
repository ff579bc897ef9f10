import type { Auction, Bid, NexmarkEvent, Person } from './generator.js';
import { compareBids, q20Row, q9Row, type QueryKind } from './reference.js';

/**
 * References of the join queries that stream: two passes over the generator (it is a pure
 * function of the event number) instead of the whole stream in memory, keeping only what a
 * join needs of the smaller side (persons, auctions or window maxima). Equal to REFERENCES
 * (a test checks it); the bench uses them above the in-memory limit.
 */
export type Events = () => Iterable<NexmarkEvent>;

const TEN_S = 10_000;
const tumbleStart = (ts: number): number => Math.floor(ts / TEN_S) * TEN_S;

/** The valid bids of each auction (a.dateTime <= b.dateTime <= a.expires) folded by `pick`, per auction id. */
function perOpenAuction<T>(events: Events, pick: (cur: T | undefined, a: Auction, b: Bid) => T): Map<number, [Auction, T]> {
  const auctions = new Map<number, Auction>();
  for (const e of events()) if (e.type === 'auction') auctions.set(e.id, e);
  const out = new Map<number, [Auction, T]>();
  for (const e of events()) {
    if (e.type !== 'bid') continue;
    const a = auctions.get(e.auction);
    if (!a || e.dateTime < a.dateTime || e.dateTime > a.expires) continue;
    out.set(a.id, [a, pick(out.get(a.id)?.[1], a, e)]);
  }
  return out;
}

export const STREAMED_REFERENCES: Record<string, { kind: QueryKind; ref: (events: Events) => Iterable<unknown> }> = {
  q3: {
    kind: 'append',
    *ref(events) {
      const people = new Map<number, Person>();
      for (const e of events()) if (e.type === 'person' && (e.state === 'OR' || e.state === 'ID' || e.state === 'CA')) people.set(e.id, e);
      for (const e of events()) {
        if (e.type !== 'auction' || e.category !== 10) continue;
        const p = people.get(e.seller);
        if (p) yield { name: p.name, city: p.city, state: p.state, id: e.id };
      }
    },
  },
  q4: {
    kind: 'upsert',
    ref(events) {
      const byCat = new Map<number, { sum: number; count: number }>();
      for (const [a, max] of perOpenAuction<number>(events, (cur, _a, b) => Math.max(cur ?? -Infinity, b.price)).values()) {
        const c = byCat.get(a.category) ?? { sum: 0, count: 0 };
        c.sum += max;
        c.count++;
        byCat.set(a.category, c);
      }
      return [...byCat].map(([k, c]) => [String(k), Math.trunc(c.sum / c.count)]);
    },
  },
  q7: {
    kind: 'append',
    *ref(events) {
      const max = new Map<number, number>();
      for (const e of events()) if (e.type === 'bid') max.set(tumbleStart(e.dateTime) + TEN_S, Math.max(max.get(tumbleStart(e.dateTime) + TEN_S) ?? -Infinity, e.price));
      for (const b of events()) {
        if (b.type !== 'bid') continue;
        const own = tumbleStart(b.dateTime) + TEN_S;
        for (const end of b.dateTime % TEN_S === 0 ? [own, b.dateTime] : [own]) {
          if (max.get(end) === b.price) yield { auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra };
        }
      }
    },
  },
  q8: {
    kind: 'append',
    *ref(events) {
      const sellers = new Set<string>();
      for (const e of events()) if (e.type === 'auction') sellers.add(`${e.seller}@${tumbleStart(e.dateTime)}`);
      const seen = new Set<string>();
      for (const p of events()) {
        if (p.type !== 'person') continue;
        const k = `${p.id}@${tumbleStart(p.dateTime)}`;
        const distinct = `${k}@${p.name}`;
        if (!sellers.has(k) || seen.has(distinct)) continue;
        seen.add(distinct);
        yield { id: p.id, name: p.name, stime: tumbleStart(p.dateTime) };
      }
    },
  },
  q9: {
    kind: 'upsert',
    ref(events) {
      const best = perOpenAuction<Bid>(events, (cur, _a, b) => (cur === undefined || compareBids(b, cur) < 0 ? b : cur));
      return [...best.values()].map(([a, b]) => [String(a.id), q9Row(a, b)]);
    },
  },
  q20: {
    kind: 'append',
    *ref(events) {
      const auctions = new Map<number, Auction>();
      for (const e of events()) if (e.type === 'auction' && e.category === 10) auctions.set(e.id, e);
      for (const b of events()) {
        if (b.type !== 'bid') continue;
        const a = auctions.get(b.auction);
        if (a) yield q20Row(b, a);
      }
    },
  },
};
