/**
 * The 23 Nexmark queries and whether Sluice runs them (the apps are in
 * bench/nexmark-queries.mjs, the references in reference.ts). `flinkPerCore` is Flink's
 * published throughput per core (nexmark GUIDE_V1: 100M events, 8 × 8-core workers), in
 * events/s; q6 has none because Flink does not run it.
 */
export interface NexmarkQueryInfo {
  name: string;
  what: string;
  /** true: a Sluice app exists and is checked against the reference; else why not. */
  sluice: true | string;
  flinkPerCore: number | null;
}

export const NEXMARK_QUERIES: readonly NexmarkQueryInfo[] = [
  { name: 'q0', what: 'pass-through of bids', sluice: true, flinkPerCore: 155_020 },
  { name: 'q1', what: 'bid price in euros (map)', sluice: true, flinkPerCore: 157_940 },
  { name: 'q2', what: 'bids of auctions with id % 123 = 0 (filter)', sluice: true, flinkPerCore: 175_210 },
  { name: 'q3', what: 'local item suggestion: auctions of category 10 joined with their OR/ID/CA sellers (regular join)', sluice: true, flinkPerCore: 152_120 },
  { name: 'q4', what: 'average winning price per category (join, max per auction, average per category)', sluice: true, flinkPerCore: 34_330 },
  { name: 'q5', what: 'hot items: auctions with the most bids per 10 s window sliding by 2 s', sluice: true, flinkPerCore: 22_140 },
  { name: 'q6', what: 'average selling price of the last 10 closed auctions per seller', sluice: 'needs an OVER window on a changelog and closed-auction detection (event-time timers); Flink\'s suite does not run it either, so there is no reference here', flinkPerCore: null },
  { name: 'q7', what: 'highest bid per 10 s tumbling window', sluice: true, flinkPerCore: 12_330 },
  { name: 'q8', what: 'new users who opened an auction in the same 10 s window (window join)', sluice: true, flinkPerCore: 146_140 },
  { name: 'q9', what: 'winning bid of each auction (top-1 of the bids while it was open)', sluice: true, flinkPerCore: 14_240 },
  { name: 'q10', what: 'bids with their day and minute (Flink writes them to partitioned files)', sluice: true, flinkPerCore: 57_810 },
  { name: 'q11', what: 'bids per bidder session (10 s gap)', sluice: true, flinkPerCore: 39_700 },
  { name: 'q12', what: 'bids per bidder per 10 s processing-time window', sluice: 'processing-time windows: the output depends on the wall clock, so no reference can check it, and the engine\'s windows are on event time only', flinkPerCore: 75_670 },
  { name: 'q13', what: 'bids joined with a bounded side input (auction % 10000)', sluice: true, flinkPerCore: 130_730 },
  { name: 'q14', what: 'filter on the euro price, time-of-day bucket, count of \'c\' in extra', sluice: true, flinkPerCore: 161_230 },
  { name: 'q15', what: 'per day: bids, bidders and auctions, total and per price rank (distinct counts)', sluice: true, flinkPerCore: 72_420 },
  { name: 'q16', what: 'q15 per channel and day, with the last minute', sluice: true, flinkPerCore: 18_650 },
  { name: 'q17', what: 'per auction and day: bid counts per rank, min/max/avg/sum of price', sluice: true, flinkPerCore: 116_800 },
  { name: 'q18', what: 'last bid of each bidder on each auction (dedup)', sluice: true, flinkPerCore: 53_700 },
  { name: 'q19', what: 'top 10 bids of each auction by price', sluice: true, flinkPerCore: 44_040 },
  { name: 'q20', what: 'bids joined with their auction, category 10 (regular join)', sluice: true, flinkPerCore: 18_980 },
  { name: 'q21', what: 'bids with a channel id (from the channel name or the url)', sluice: true, flinkPerCore: 98_490 },
  { name: 'q22', what: 'bids with the first three directories of their url', sluice: true, flinkPerCore: 129_960 },
];
