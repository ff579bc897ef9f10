import { formatRecord } from '../connectors/file-sink.js';
import type { Auction, Bid, NexmarkEvent, Person } from './generator.js';

/**
 * Plain-JS reference of each Nexmark query over the whole stream at once (no engine), after
 * the SQL of nexmark/nexmark (nexmark-flink/src/main/resources/queries). Results are the
 * lines a file sink holds: an `append` query's lines are a multiset (order free); an
 * `upsert` query's are `key\tvalue`, one per key, the final value (what the changelog of a
 * running aggregate or a top-n settles to).
 */
export type QueryKind = 'append' | 'upsert';

type Ref = (events: readonly NexmarkEvent[]) => unknown[];

const bidsOf = (es: readonly NexmarkEvent[]): Bid[] => es.filter((e): e is Bid => e.type === 'bid');
const auctionsOf = (es: readonly NexmarkEvent[]): Auction[] => es.filter((e): e is Auction => e.type === 'auction');
const personsOf = (es: readonly NexmarkEvent[]): Person[] => es.filter((e): e is Person => e.type === 'person');

/** Flink's DATE_FORMAT in UTC. */
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const hourMinute = (ms: number): string => new Date(ms).toISOString().slice(11, 16);
/** 0.908 * price as DECIMAL(23, 3). */
const euro = (price: number): number => Math.round(price * 908) / 1000;
const groupBy = <T, K>(xs: Iterable<T>, key: (x: T) => K): Map<K, T[]> => {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    const g = m.get(k);
    if (g) g.push(x);
    else m.set(k, [x]);
  }
  return m;
};
const upsert = (m: Map<string, unknown>): unknown[] => [...m].map(([k, v]) => [k, v]);
const TEN_S = 10_000;

/** FILTER (WHERE price < 10000 / < 1000000 / >= 1000000): the three price ranks of q15-q17. */
const rankOf = (price: number): 1 | 2 | 3 => (price < 10_000 ? 1 : price < 1_000_000 ? 2 : 3);

function rankedCounts(bids: readonly Bid[]): Record<string, number> {
  const r: Record<string, number> = { total_bids: bids.length, rank1_bids: 0, rank2_bids: 0, rank3_bids: 0, total_bidders: 0, rank1_bidders: 0, rank2_bidders: 0, rank3_bidders: 0, total_auctions: 0, rank1_auctions: 0, rank2_auctions: 0, rank3_auctions: 0 };
  const bidders = [new Set<number>(), new Set<number>(), new Set<number>(), new Set<number>()];
  const auctions = [new Set<number>(), new Set<number>(), new Set<number>(), new Set<number>()];
  for (const b of bids) {
    const k = rankOf(b.price);
    r[`rank${k}_bids`]++;
    bidders[0]!.add(b.bidder);
    bidders[k]!.add(b.bidder);
    auctions[0]!.add(b.auction);
    auctions[k]!.add(b.auction);
  }
  r.total_bidders = bidders[0]!.size;
  r.total_auctions = auctions[0]!.size;
  for (const k of [1, 2, 3] as const) {
    r[`rank${k}_bidders`] = bidders[k]!.size;
    r[`rank${k}_auctions`] = auctions[k]!.size;
  }
  return r;
}

/** The bids of an auction made while it was open (B.dateTime BETWEEN A.dateTime AND A.expires). */
function validBidsByAuction(events: readonly NexmarkEvent[]): Array<[Auction, Bid[]]> {
  const bids = groupBy(bidsOf(events), (b) => b.auction);
  const out: Array<[Auction, Bid[]]> = [];
  for (const a of auctionsOf(events)) {
    const valid = (bids.get(a.id) ?? []).filter((b) => b.dateTime >= a.dateTime && b.dateTime <= a.expires);
    if (valid.length) out.push([a, valid]);
  }
  return out;
}

/** A total order on bids for the top-n queries: price desc, then time, bidder and extra asc (SQL leaves ties open). */
export function compareBids(x: Bid, y: Bid): number {
  return y.price - x.price || x.dateTime - y.dateTime || x.bidder - y.bidder || (x.extra < y.extra ? -1 : x.extra > y.extra ? 1 : 0);
}

const plainBid = (b: Bid): Omit<Bid, 'type'> => ({ auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, url: b.url, dateTime: b.dateTime, extra: b.extra });

const windowsOfSize = (ts: number, size: number, slide: number): number[] => {
  const starts: number[] = [];
  for (let s = Math.floor(ts / slide) * slide; s > ts - size; s -= slide) starts.push(s);
  return starts;
};

/**
 * The stateless queries as one function per bid (undefined: filtered out), so a reference
 * can also be computed while streaming (bench runs of millions of events).
 */
export const ROW_REFERENCES: Record<string, (b: Bid) => unknown> = {
  q0: (b) => ({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra }),
  q1: (b) => ({ auction: b.auction, bidder: b.bidder, price: euro(b.price), dateTime: b.dateTime, extra: b.extra }),
  q2: (b) => (b.auction % 123 === 0 ? { auction: b.auction, price: b.price } : undefined),
  q10: (b) => ({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra, dt: day(b.dateTime), hm: hourMinute(b.dateTime) }),
  // The side input of nexmark-flink's SideInputGenerator: rows "i,i" for i < 10000.
  q13: (b) => ({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, value: String(b.auction % 10_000) }),
  q14: (b) => {
    if (!(euro(b.price) > 1_000_000 && euro(b.price) < 50_000_000)) return undefined;
    const h = new Date(b.dateTime).getUTCHours();
    const bidTimeType = h >= 8 && h <= 18 ? 'dayTime' : h <= 6 || h >= 20 ? 'nightTime' : 'otherTime';
    return { auction: b.auction, bidder: b.bidder, price: euro(b.price), bidTimeType, dateTime: b.dateTime, extra: b.extra, c_counts: b.extra.split('c').length - 1 };
  },
  q21: (b) => {
    const m = /(?:&|^)channel_id=([^&]*)/.exec(b.url);
    const known = CHANNEL_IDS[b.channel.toLowerCase()];
    if (known === undefined && !m) return undefined;
    return { auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, channel_id: known ?? m![1]! };
  },
  q22: (b) => {
    const parts = b.url.split('/');
    return { auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, dir1: parts[3] ?? null, dir2: parts[4] ?? null, dir3: parts[5] ?? null };
  },
};
const CHANNEL_IDS: Record<string, string> = { apple: '0', google: '1', facebook: '2', baidu: '3' };

export const REFERENCES: Record<string, { kind: QueryKind; ref: Ref }> = {
  q3: {
    kind: 'append',
    ref: (es) => {
      const people = new Map(personsOf(es).filter((p) => ['OR', 'ID', 'CA'].includes(p.state)).map((p) => [p.id, p]));
      const out: unknown[] = [];
      for (const a of auctionsOf(es)) {
        const p = a.category === 10 ? people.get(a.seller) : undefined;
        if (p) out.push({ name: p.name, city: p.city, state: p.state, id: a.id });
      }
      return out;
    },
  },
  q4: {
    kind: 'upsert',
    ref: (es) => {
      const byCat = new Map<number, { sum: number; count: number }>();
      for (const [a, bids] of validBidsByAuction(es)) {
        const final = Math.max(...bids.map((b) => b.price));
        const c = byCat.get(a.category) ?? { sum: 0, count: 0 };
        c.sum += final;
        c.count++;
        byCat.set(a.category, c);
      }
      return upsert(new Map([...byCat].map(([k, c]) => [String(k), Math.trunc(c.sum / c.count)])));
    },
  },
  q5: {
    kind: 'append',
    ref: (es) => {
      // HOP(10 s, slide 2 s): bid counts per (window, auction); the auctions at the window's max.
      const counts = new Map<number, Map<number, number>>();
      for (const b of bidsOf(es)) {
        for (const s of windowsOfSize(b.dateTime, TEN_S, 2000)) {
          let w = counts.get(s);
          if (!w) counts.set(s, (w = new Map<number, number>()));
          w.set(b.auction, (w.get(b.auction) ?? 0) + 1);
        }
      }
      const out: unknown[] = [];
      for (const w of counts.values()) {
        const max = Math.max(...w.values());
        for (const [auction, num] of w) if (num >= max) out.push({ auction, num });
      }
      return out;
    },
  },
  q7: {
    kind: 'append',
    ref: (es) => {
      const bids = bidsOf(es);
      const max = new Map<number, number>(); // window end → max price of the bids in [end-10s, end)
      for (const b of bids) {
        const end = Math.floor(b.dateTime / TEN_S) * TEN_S + TEN_S;
        max.set(end, Math.max(max.get(end) ?? -Infinity, b.price));
      }
      const out: unknown[] = [];
      // B.dateTime BETWEEN end - 10 s AND end: both bounds inclusive, so a bid at an exact
      // window end is compared with that window's max as well as its own window's.
      for (const b of bids) {
        const own = Math.floor(b.dateTime / TEN_S) * TEN_S + TEN_S;
        for (const end of b.dateTime % TEN_S === 0 ? [own, b.dateTime] : [own]) {
          if (max.get(end) === b.price) out.push({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra });
        }
      }
      return out;
    },
  },
  q8: {
    kind: 'append',
    ref: (es) => {
      const start = (ts: number): number => Math.floor(ts / TEN_S) * TEN_S;
      const sellers = new Set(auctionsOf(es).map((a) => `${a.seller}@${start(a.dateTime)}`));
      const seen = new Set<string>();
      const out: unknown[] = [];
      for (const p of personsOf(es)) {
        const k = `${p.id}@${start(p.dateTime)}`;
        const distinct = `${k}@${p.name}`;
        if (sellers.has(k) && !seen.has(distinct)) {
          seen.add(distinct);
          out.push({ id: p.id, name: p.name, stime: start(p.dateTime) });
        }
      }
      return out;
    },
  },
  q9: {
    kind: 'upsert',
    ref: (es) => {
      const m = new Map<string, unknown>();
      for (const [a, bids] of validBidsByAuction(es)) {
        const w = [...bids].sort(compareBids)[0]!;
        m.set(String(a.id), q9Row(a, w));
      }
      return upsert(m);
    },
  },
  q11: {
    kind: 'append',
    ref: (es) => {
      // SESSION(10 s) per bidder: a bid joins the session if it is at most 10 s after its last
      // bid (windows [t, t + 10 s) that touch merge, as in Flink's TimeWindow.intersects).
      const out: unknown[] = [];
      for (const [bidder, bids] of groupBy(bidsOf(es), (b) => b.bidder)) {
        const ts = bids.map((b) => b.dateTime).sort((x, y) => x - y);
        let first = ts[0]!;
        let last = first;
        let n = 0;
        for (const t of ts) {
          if (t > last + TEN_S) {
            out.push({ bidder, bid_count: n, starttime: first, endtime: last + TEN_S });
            first = t;
            n = 0;
          }
          last = t;
          n++;
        }
        out.push({ bidder, bid_count: n, starttime: first, endtime: last + TEN_S });
      }
      return out;
    },
  },
  q15: { kind: 'upsert', ref: (es) => upsert(new Map([...groupBy(bidsOf(es), (b) => day(b.dateTime))].map(([d, bids]) => [d, rankedCounts(bids)]))) },
  q16: {
    kind: 'upsert',
    ref: (es) => upsert(new Map([...groupBy(bidsOf(es), (b) => `${b.channel}|${day(b.dateTime)}`)].map(([k, bids]) => {
      const minute = bids.map((b) => hourMinute(b.dateTime)).reduce((x, y) => (y > x ? y : x));
      return [k, { minute, ...rankedCounts(bids) }];
    }))),
  },
  q17: {
    kind: 'upsert',
    ref: (es) => upsert(new Map([...groupBy(bidsOf(es), (b) => `${b.auction}|${day(b.dateTime)}`)].map(([k, bids]) => {
      const r: Record<string, number> = { total_bids: bids.length, rank1_bids: 0, rank2_bids: 0, rank3_bids: 0, min_price: Infinity, max_price: -Infinity, avg_price: 0, sum_price: 0 };
      for (const b of bids) {
        r[`rank${rankOf(b.price)}_bids`]++;
        r.min_price = Math.min(r.min_price, b.price);
        r.max_price = Math.max(r.max_price, b.price);
        r.sum_price += b.price;
      }
      r.avg_price = Math.trunc(r.sum_price / r.total_bids);
      return [k, r];
    }))),
  },
  q18: {
    kind: 'upsert',
    ref: (es) => upsert(new Map([...groupBy(bidsOf(es), (b) => `${b.bidder}|${b.auction}`)].map(([k, bids]) => {
      // The latest bid; ties by the top-n order.
      const last = bids.reduce((x, y) => (y.dateTime > x.dateTime || (y.dateTime === x.dateTime && compareBids(y, x) < 0) ? y : x));
      return [k, plainBid(last)];
    }))),
  },
  q19: {
    kind: 'upsert',
    ref: (es) => upsert(new Map([...groupBy(bidsOf(es), (b) => b.auction)].map(([k, bids]) => [String(k), [...bids].sort(compareBids).slice(0, 10).map((b, i) => ({ ...plainBid(b), rank_number: i + 1 }))]))),
  },
  q20: {
    kind: 'append',
    ref: (es) => {
      const auctions = new Map(auctionsOf(es).filter((a) => a.category === 10).map((a) => [a.id, a]));
      const out: unknown[] = [];
      for (const b of bidsOf(es)) {
        const a = auctions.get(b.auction);
        if (a) out.push(q20Row(b, a));
      }
      return out;
    },
  },
};

export function q9Row(a: Auction, b: Bid): Record<string, unknown> {
  return {
    id: a.id, itemName: a.itemName, description: a.description, initialBid: a.initialBid, reserve: a.reserve, dateTime: a.dateTime, expires: a.expires, seller: a.seller, category: a.category, extra: a.extra,
    auction: b.auction, bidder: b.bidder, price: b.price, bid_dateTime: b.dateTime, bid_extra: b.extra,
  };
}

export function q20Row(b: Bid, a: Auction): Record<string, unknown> {
  return {
    auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, url: b.url, bid_dateTime: b.dateTime, bid_extra: b.extra,
    itemName: a.itemName, description: a.description, initialBid: a.initialBid, reserve: a.reserve, auction_dateTime: a.dateTime, expires: a.expires, seller: a.seller, category: a.category, auction_extra: a.extra,
  };
}

for (const [name, row] of Object.entries(ROW_REFERENCES)) {
  REFERENCES[name] = {
    kind: 'append',
    ref: (es) => {
      const out: unknown[] = [];
      for (const b of bidsOf(es)) {
        const r = row(b);
        if (r !== undefined) out.push(r);
      }
      return out;
    },
  };
}

/** The reference output of `query` as file-sink lines (see QueryKind). */
export function referenceLines(query: string, events: readonly NexmarkEvent[]): { kind: QueryKind; lines: string[] } {
  const q = REFERENCES[query];
  if (!q) throw new Error(`no reference for Nexmark query ${query} (see NEXMARK_QUERIES)`);
  return { kind: q.kind, lines: q.ref(events).map(formatRecord) };
}

/**
 * Compares committed output lines with the reference: equal multisets for append queries,
 * equal last-value-per-key for upserts. Returns undefined when equal, else a short reason.
 */
export function diffOutput(kind: QueryKind, actual: readonly string[], expected: readonly string[]): string | undefined {
  if (kind === 'upsert') {
    const last = (ls: readonly string[]): Map<string, string> => {
      const m = new Map<string, string>();
      for (const l of ls) {
        const tab = l.indexOf('\t');
        m.set(l.slice(0, tab), l.slice(tab + 1));
      }
      return m;
    };
    const a = last(actual);
    const e = last(expected);
    if (a.size !== e.size) return `${a.size} keys, expected ${e.size}`;
    for (const [k, v] of e) if (a.get(k) !== v) return `key ${k}: ${a.get(k) ?? '(missing)'}, expected ${v}`;
    return undefined;
  }
  if (actual.length !== expected.length) return `${actual.length} records, expected ${expected.length}`;
  const a = [...actual].sort();
  const e = [...expected].sort();
  for (let i = 0; i < e.length; i++) if (a[i] !== e[i]) return `record ${i} of the sorted output: ${a[i]}, expected ${e[i]}`;
  return undefined;
}
