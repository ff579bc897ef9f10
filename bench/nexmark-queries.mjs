// The Nexmark queries as one Sluice app: `--config query=q3` picks the query. Submit with
//   sluice submit bench/nexmark-queries.mjs --config query=q1 --config events=1000000 --config output=/abs/out
// Each query is written here on the engine's DSL only (no engine internals), independently
// of the plain-JS reference (packages/engine/src/nexmark/reference.ts) it is checked against.
// Append queries write one JSON record a line; upsert queries (running aggregates, top-n,
// joins that update) write `key\tvalue` changes at checkpoint boundaries, the last one per
// key being the result. Which queries are missing and why: NEXMARK_QUERIES (queries.ts).

const day = (ms) => new Date(ms).toISOString().slice(0, 10);
const hourMinute = (ms) => new Date(ms).toISOString().slice(11, 16);
const euro = (price) => Math.round(price * 908) / 1000;
const rankOf = (price) => (price < 10_000 ? 1 : price < 1_000_000 ? 2 : 3);
const isBid = (e) => e.type === 'bid';
/** Top-n order: price desc, then time, bidder and extra asc (SQL leaves ties open; this closes them). */
const compareBids = (x, y) => y.price - x.price || x.dateTime - y.dateTime || x.bidder - y.bidder || (x.extra < y.extra ? -1 : x.extra > y.extra ? 1 : 0);
const plainBid = (b) => ({ auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, url: b.url, dateTime: b.dateTime, extra: b.extra });

/** Filter and map in one task: `fn` returns the output record or undefined to drop. */
function select(fn) {
  return () => ({
    onNext(values, ts, ctx) {
      const out = [];
      for (let i = 0; i < values.length; i++) {
        const r = fn(values[i]);
        if (r !== undefined) out.push(r);
      }
      if (out.length) ctx.emit(out, ts);
    },
  });
}

/**
 * A keyed process whose output is an upsert stream: `step(e, ctx)` updates the key's state
 * and returns its new result (or undefined: unchanged). The changed keys are emitted once
 * per boundary, before the snapshot, so this buffer is always empty at a checkpoint;
 * `merge` combines two results of one key within an interval (default: the newer wins).
 */
function upsertProcess(step, merge = (_old, r) => r) {
  return () => {
    let dirty = new Map();
    return {
      onElement(e, ts, ctx) {
        const r = step(e, ctx);
        if (r === undefined) return;
        const old = dirty.get(ctx.key);
        dirty.set(ctx.key, old === undefined ? r : merge(old, r));
      },
      onClock(t, ctx) {
        if (dirty.size === 0) return;
        const out = [];
        for (const [k, v] of dirty) out.push([String(k), v]);
        dirty = new Map();
        ctx.emit(out, t - 1);
      },
    };
  };
}

/** Distinct counts per price rank (q15, q16): bitmask per bidder/auction of the ranks seen. */
function countRanked(c, ctx, b) {
  const rank = rankOf(b.price);
  const n = { ...c };
  n.total_bids++;
  n[`rank${rank}_bids`]++;
  for (const [what, id] of [['bidders', b.bidder], ['auctions', b.auction]]) {
    const seen = ctx.state.map(what);
    const old = seen.get(id) ?? 0;
    const bits = old | 1 | (1 << rank);
    if (bits === old) continue;
    seen.set(id, bits);
    if (!(old & 1)) n[`total_${what}`]++;
    if (!(old & (1 << rank))) n[`rank${rank}_${what}`]++;
  }
  return n;
}
const ZERO_RANKED = { total_bids: 0, rank1_bids: 0, rank2_bids: 0, rank3_bids: 0, total_bidders: 0, rank1_bidders: 0, rank2_bidders: 0, rank3_bidders: 0, total_auctions: 0, rank1_auctions: 0, rank2_auctions: 0, rank3_auctions: 0 };

function q9Row(a, b) {
  return {
    id: a.id, itemName: a.itemName, description: a.description, initialBid: a.initialBid, reserve: a.reserve, dateTime: a.dateTime, expires: a.expires, seller: a.seller, category: a.category, extra: a.extra,
    auction: b.auction, bidder: b.bidder, price: b.price, bid_dateTime: b.dateTime, bid_extra: b.extra,
  };
}

/** Flink's DDL: WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND. */
const OUT_OF_ORDERNESS_MS = 4000;
const TEN_S = 10_000;
const stamped = (s, name) => s.withTimestamps((e) => e.dateTime, { maxOutOfOrdernessMs: OUT_OF_ORDERNESS_MS, name });
/**
 * q4 and q9: each bid with its auction while it was open (a.dateTime <= b.dateTime <= a.expires),
 * as an event-time temporal join of the bids against the table of auctions.
 */
function openBids(s, sink, row) {
  const ev = stamped(s.filter('auctionsAndBids', (e) => e.type !== 'person', sink.opts), 'stamp');
  const bids = ev.filter('bids', isBid, sink.opts).groupBy((b) => b.auction);
  const auctions = ev.filter('auctions', (e) => e.type === 'auction', sink.opts).groupBy((a) => a.id);
  return bids.joinTable(auctions, (b, a) => (b.dateTime <= a.expires ? row(b, a) : undefined), { name: 'join', asOf: 'eventTime', ...sink.opts });
}
/** compareBids over q9's rows (the bid's fields under their q9 names). */
const compareRows = (x, y) => compareBids({ price: x.price, dateTime: x.bid_dateTime, bidder: x.bidder, extra: x.bid_extra }, { price: y.price, dateTime: y.bid_dateTime, bidder: y.bidder, extra: y.bid_extra });

const QUERIES = {
  q0: (s, sink) => s.process('q0', select((e) => (isBid(e) ? { auction: e.auction, bidder: e.bidder, price: e.price, dateTime: e.dateTime, extra: e.extra } : undefined)), sink.opts).sink('out', sink.factory, sink.opts),
  q1: (s, sink) => s.process('q1', select((e) => (isBid(e) ? { auction: e.auction, bidder: e.bidder, price: euro(e.price), dateTime: e.dateTime, extra: e.extra } : undefined)), sink.opts).sink('out', sink.factory, sink.opts),
  q2: (s, sink) => s.process('q2', select((e) => (isBid(e) && e.auction % 123 === 0 ? { auction: e.auction, price: e.price } : undefined)), sink.opts).sink('out', sink.factory, sink.opts),
  // A regular join on a unique key (a person's row is written once): the latest-row table join.
  q3: (s, sink) => {
    const auctions = s.filter('auctions10', (e) => e.type === 'auction' && e.category === 10, sink.opts).groupBy((a) => a.seller);
    const sellers = s.filter('sellersOrIdCa', (e) => e.type === 'person' && (e.state === 'OR' || e.state === 'ID' || e.state === 'CA'), sink.opts).groupBy((p) => p.id);
    return auctions.joinTable(sellers, (a, p) => ({ name: p.name, city: p.city, state: p.state, id: a.id }), { name: 'join', asOf: 'latest', ...sink.opts })
      .sink('out', sink.factory, sink.opts);
  },
  // The bids of an auction while it was open: the event-time temporal join finds the auction
  // for bids at or after its dateTime (its only version), the function keeps those up to expires.
  q4: (s, sink) => openBids(s, sink, (b, a) => ({ auction: a.id, category: a.category, price: b.price }))
    .groupBy((r) => r.auction)
    .process('winningPrice', upsertProcess((r, ctx) => {
      // The max price while open, sent on as a change of the category's (sum, count).
      const final = ctx.state.value('final');
      const old = final.get();
      if (old !== undefined && old >= r.price) return undefined;
      final.set(r.price);
      return { category: r.category, sum: r.price - (old ?? 0), count: old === undefined ? 1 : 0 };
    }, (x, y) => ({ category: x.category, sum: x.sum + y.sum, count: x.count + y.count })), sink.opts)
    .map('delta', ([, d]) => d, sink.opts)
    .groupBy((d) => d.category)
    .reduce('avgPerCategory', (x, y) => ({ category: x.category, sum: x.sum + y.sum, count: x.count + y.count }), sink.opts)
    .map('avg', ([k, acc]) => [String(k), Math.trunc(acc.sum / acc.count)], sink.opts)
    .sink('out', sink.factory, sink.opts),
  q5: (s, sink, { windows }) => stamped(s.filter('bids', isBid, sink.opts), 'stamp')
    .groupBy((b) => b.auction)
    .window(windows.sliding(TEN_S, 2000))
    .count('bidsPerAuction', sink.opts)
    // Stage 2: all counts of one window meet in one task (key: its start), stamped at its end.
    // One watermark step fires windows in key order, not time order; at the end of input it
    // fires every open one (ends up to size + out-of-orderness apart): the bound covers that.
    .withTimestamps((r) => r.end - 1, { maxOutOfOrdernessMs: TEN_S + OUT_OF_ORDERNESS_MS, name: 'stampCounts' })
    .groupBy((r) => r.start)
    .window(windows.tumbling(2000))
    .process('hottest', (w) => {
      let max = 0;
      for (const r of w.elements) if (r.value > max) max = r.value;
      return w.elements.filter((r) => r.value >= max).map((r) => ({ auction: r.key, num: r.value }));
    }, sink.opts)
    .flatMap('rows', (r) => r.value, sink.opts)
    .sink('out', sink.factory, sink.opts),
  // The max price per 10 s tumbling window, then an interval join on the price: a bid at tb
  // meets the max of the window ending at e when e - 10 s <= tb <= e (BETWEEN is inclusive).
  q7: (s, sink, { windows }) => {
    const bids = stamped(s.process('bids', select((e) => (isBid(e) ? { auction: e.auction, bidder: e.bidder, price: e.price, dateTime: e.dateTime, extra: e.extra } : undefined)), sink.opts), 'stamp');
    const maxes = bids
      .groupBy(() => 0)
      .window(windows.tumbling(TEN_S))
      .aggregate('maxPrice', { create: () => -1, add: (m, b) => Math.max(m, b.price), result: (m) => m }, { parallelism: 1 })
      // Maxes come out in window order (at the end of input two at most at once): a watermark per record, one window of slack.
      .withTimestamps((r) => r.end, { maxOutOfOrdernessMs: TEN_S, watermarkEveryRecords: 1, name: 'stampMax' })
      .groupBy((r) => r.value);
    return bids.groupBy((b) => b.price)
      .intervalJoin(maxes, { lowerMs: 0, upperMs: TEN_S, name: 'highestBid', ...sink.opts }, (b) => b)
      .sink('out', sink.factory, sink.opts);
  },
  // Persons and the auctions they opened in the same 10 s window: a window coGroup on person id = seller.
  q8: (s, sink, { windows }) => {
    const ev = stamped(s.process('slim', select((e) => (e.type === 'person' ? { type: 'person', id: e.id, name: e.name, dateTime: e.dateTime } : e.type === 'auction' ? { type: 'auction', seller: e.seller, dateTime: e.dateTime } : undefined)), sink.opts), 'stamp');
    const persons = ev.filter('persons', (e) => e.type === 'person', sink.opts).groupBy((p) => p.id);
    const sellers = ev.filter('sellers', (e) => e.type === 'auction', sink.opts).groupBy((a) => a.seller);
    return persons.windowCoGroup(sellers, windows.tumbling(TEN_S), (w) => {
      if (w.right.length === 0) return [];
      const names = new Set(w.left.map((p) => p.name));
      return [...names].map((name) => ({ id: w.key, name, stime: w.start }));
    }, { name: 'newSellers', ...sink.opts })
      .sink('out', sink.factory, sink.opts);
  },
  q9: (s, sink) => openBids(s, sink, (b, a) => q9Row(a, b))
    .groupBy((r) => r.id)
    .process('winningBid', upsertProcess((r, ctx) => {
      const best = ctx.state.value('best');
      const cur = best.get();
      if (cur && compareRows(cur, r) <= 0) return undefined;
      best.set(r);
      return r;
    }), sink.opts)
    .sink('out', sink.factory, sink.opts),
  q10: (s, sink) => s.process('q10', select((e) => (isBid(e) ? { auction: e.auction, bidder: e.bidder, price: e.price, dateTime: e.dateTime, extra: e.extra, dt: day(e.dateTime), hm: hourMinute(e.dateTime) } : undefined)), sink.opts).sink('out', sink.factory, sink.opts),
  q11: (s, sink, { windows }) => stamped(s.filter('bids', isBid, sink.opts), 'stamp')
    .groupBy((b) => b.bidder)
    .window(windows.session(TEN_S))
    .count('sessions', sink.opts)
    .map('rows', (r) => ({ bidder: r.key, bid_count: r.value, starttime: r.start, endtime: r.end }), sink.opts)
    .sink('out', sink.factory, sink.opts),
  q13: (s, sink) => {
    // The bounded side input of nexmark-flink's SideInputGenerator: rows "i,i" for i < 10000.
    const side = new Map(Array.from({ length: 10_000 }, (_, i) => [i, String(i)]));
    return s.process('q13', select((e) => (isBid(e) ? { auction: e.auction, bidder: e.bidder, price: e.price, dateTime: e.dateTime, value: side.get(e.auction % 10_000) } : undefined)), sink.opts).sink('out', sink.factory, sink.opts);
  },
  q14: (s, sink) => s.process('q14', select((e) => {
    if (!isBid(e)) return undefined;
    const price = euro(e.price);
    if (!(price > 1_000_000 && price < 50_000_000)) return undefined;
    const h = new Date(e.dateTime).getUTCHours();
    const bidTimeType = h >= 8 && h <= 18 ? 'dayTime' : h <= 6 || h >= 20 ? 'nightTime' : 'otherTime';
    let c = 0;
    for (let i = 0; i < e.extra.length; i++) if (e.extra.charCodeAt(i) === 99) c++;
    return { auction: e.auction, bidder: e.bidder, price, bidTimeType, dateTime: e.dateTime, extra: e.extra, c_counts: c };
  }), sink.opts).sink('out', sink.factory, sink.opts),
  q15: (s, sink) => s
    .filter('bids', isBid, sink.opts)
    .groupBy((b) => day(b.dateTime))
    .process('perDay', upsertProcess((b, ctx) => {
      const counts = ctx.state.value('counts');
      const n = countRanked(counts.get() ?? ZERO_RANKED, ctx, b);
      counts.set(n);
      return n;
    }), sink.opts)
    .sink('out', sink.factory, sink.opts),
  q16: (s, sink) => s
    .filter('bids', isBid, sink.opts)
    .groupBy((b) => `${b.channel}|${day(b.dateTime)}`)
    .process('perChannelDay', upsertProcess((b, ctx) => {
      const counts = ctx.state.value('counts');
      const old = counts.get() ?? { minute: '', ...ZERO_RANKED };
      const n = countRanked(old, ctx, b);
      const m = hourMinute(b.dateTime);
      if (m > n.minute) n.minute = m;
      counts.set(n);
      return n;
    }), sink.opts)
    .sink('out', sink.factory, sink.opts),
  q17: (s, sink) => s
    .process('perBid', select((b) => {
      if (!isBid(b)) return undefined;
      const r = rankOf(b.price);
      return { k: `${b.auction}|${day(b.dateTime)}`, total_bids: 1, rank1_bids: r === 1 ? 1 : 0, rank2_bids: r === 2 ? 1 : 0, rank3_bids: r === 3 ? 1 : 0, min_price: b.price, max_price: b.price, sum_price: b.price };
    }), sink.opts)
    .groupBy((r) => r.k)
    .reduce('perAuctionDay', (x, y) => ({
      k: x.k, total_bids: x.total_bids + y.total_bids, rank1_bids: x.rank1_bids + y.rank1_bids, rank2_bids: x.rank2_bids + y.rank2_bids, rank3_bids: x.rank3_bids + y.rank3_bids,
      min_price: Math.min(x.min_price, y.min_price), max_price: Math.max(x.max_price, y.max_price), sum_price: x.sum_price + y.sum_price,
    }), sink.opts)
    .map('row', ([k, a]) => [k, { total_bids: a.total_bids, rank1_bids: a.rank1_bids, rank2_bids: a.rank2_bids, rank3_bids: a.rank3_bids, min_price: a.min_price, max_price: a.max_price, avg_price: Math.trunc(a.sum_price / a.total_bids), sum_price: a.sum_price }], sink.opts)
    .sink('out', sink.factory, sink.opts),
  q18: (s, sink) => s
    .filter('bids', isBid, sink.opts)
    .groupBy((b) => `${b.bidder}|${b.auction}`)
    .reduce('lastBid', (x, y) => (y.dateTime > x.dateTime || (y.dateTime === x.dateTime && compareBids(y, x) < 0) ? y : x), sink.opts)
    .map('row', ([k, b]) => [k, plainBid(b)], sink.opts)
    .sink('out', sink.factory, sink.opts),
  q19: (s, sink) => s
    .filter('bids', isBid, sink.opts)
    .groupBy((b) => b.auction)
    .process('top10', upsertProcess((b, ctx) => {
      const top = ctx.state.value('top');
      const cur = top.get() ?? [];
      if (cur.length === 10 && compareBids(b, cur[9]) >= 0) return undefined;
      const next = [...cur, plainBid(b)].sort(compareBids).slice(0, 10);
      top.set(next);
      return next.map((x, i) => ({ ...x, rank_number: i + 1 }));
    }), sink.opts)
    .sink('out', sink.factory, sink.opts),
  // A regular join on the auction id (an auction is written once): the latest-row table join.
  q20: (s, sink) => {
    const bids = s.filter('bids', isBid, sink.opts).groupBy((b) => b.auction);
    // Other categories stay in the table as such, so their bids meet a row (and are dropped), not wait for one.
    const auctions = s.process('auctions', select((e) => (e.type !== 'auction' ? undefined : e.category === 10 ? e : { id: e.id, category: e.category })), sink.opts).groupBy((a) => a.id);
    return bids.joinTable(auctions, (b, a) => (a.category === 10 ? {
      auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, url: b.url, bid_dateTime: b.dateTime, bid_extra: b.extra,
      itemName: a.itemName, description: a.description, initialBid: a.initialBid, reserve: a.reserve, auction_dateTime: a.dateTime, expires: a.expires, seller: a.seller, category: a.category, auction_extra: a.extra,
    } : undefined), { name: 'join', asOf: 'latest', ...sink.opts })
      .sink('out', sink.factory, sink.opts);
  },
  q21: (s, sink) => s.process('q21', select((e) => {
    if (!isBid(e)) return undefined;
    const m = /(?:&|^)channel_id=([^&]*)/.exec(e.url);
    const known = { apple: '0', google: '1', facebook: '2', baidu: '3' }[e.channel.toLowerCase()];
    if (known === undefined && !m) return undefined;
    return { auction: e.auction, bidder: e.bidder, price: e.price, channel: e.channel, channel_id: known ?? m[1] };
  }), sink.opts).sink('out', sink.factory, sink.opts),
  q22: (s, sink) => s.process('q22', select((e) => {
    if (!isBid(e)) return undefined;
    const p = e.url.split('/');
    return { auction: e.auction, bidder: e.bidder, price: e.price, channel: e.channel, dir1: p[3] ?? null, dir2: p[4] ?? null, dir3: p[5] ?? null };
  }), sink.opts).sink('out', sink.factory, sink.opts),
};

export const QUERY_NAMES = Object.keys(QUERIES);

const num = (v, d) => (v === undefined ? d : Number(v));

export default function nexmarkApp(sluice, config) {
  const { dag, connectors } = sluice;
  const build = QUERIES[config.query];
  if (!build) throw new Error(`nexmark: --config query=<${QUERY_NAMES.join('|')}> (got ${JSON.stringify(config.query)}); the others are not expressible yet, see NEXMARK_QUERIES`);
  if (!config.output) throw new Error('nexmark: needs --config output=<dir>');
  const parallelism = num(config.parallelism, 2);
  const source = connectors.nexmarkSource({
    events: num(config.events, 100_000),
    seed: num(config.seed, 1),
    ...(config.rate === undefined ? {} : { firstEventRate: Number(config.rate) }),
    ...(config.outOfOrderGroupSize === undefined ? {} : { outOfOrderGroupSize: Number(config.outOfOrderGroupSize) }),
    ...(config.eventsPerSec === undefined ? {} : { maxEventsPerSec: Number(config.eventsPerSec) }),
  });
  const d = dag(`nexmark-${config.query}`, { checkpointIntervalMs: num(config.checkpointIntervalMs, 1000) });
  const s = d.source('events', source, { parallelism });
  return build(s, { factory: connectors.fileSink({ dir: config.output }), opts: { parallelism } }, sluice);
}
