import { z } from 'zod';
import { formatIssues } from '@sluice/storage-api';
import { EngineError } from '../errors.js';

/**
 * Generator options after the Nexmark/Beam `NexmarkConfiguration` defaults (nexmark/nexmark,
 * GeneratorConfig): the 1:3:46 person/auction/bid proportion, hot ratios, in-flight
 * auctions and active people. Event time advances by 1e6/firstEventRate µs per event from
 * `baseTime`, independent of the wall clock, so the same options give the same stream.
 */
export const nexmarkOptionsSchema = z.object({
  /** Events in the whole stream (over all parallel source tasks). */
  events: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER / 64),
  seed: z.number().int().min(0).max(0xffffffff).default(1),
  /** Event-time rate: events per second of event time (Nexmark's first-event.rate). */
  firstEventRate: z.number().int().min(1).max(1e9).default(10_000),
  /** Event time of event 0, ms since the epoch (default 2026-01-01T00:00:00Z: fixed, so outputs are too). */
  baseTime: z.number().int().min(0).default(Date.UTC(2026, 0, 1)),
  personProportion: z.number().int().min(1).max(1000).default(1),
  auctionProportion: z.number().int().min(1).max(1000).default(3),
  bidProportion: z.number().int().min(0).max(1000).default(46),
  avgPersonByteSize: z.number().int().min(0).max(1 << 20).default(200),
  avgAuctionByteSize: z.number().int().min(0).max(1 << 20).default(500),
  avgBidByteSize: z.number().int().min(0).max(1 << 20).default(100),
  hotAuctionRatio: z.number().int().min(1).default(2),
  hotSellersRatio: z.number().int().min(1).default(4),
  hotBiddersRatio: z.number().int().min(1).default(4),
  numInFlightAuctions: z.number().int().min(1).default(100),
  numActivePeople: z.number().int().min(1).default(1000),
  /**
   * Beam's jitter: event numbers are permuted within groups of this size, so timestamps go
   * back by up to (size-1) inter-event delays. 1 = in order.
   */
  outOfOrderGroupSize: z.number().int().min(1).max(1_000_000).default(1),
  /** Occasional late events: with this probability an event's time is set back by up to maxDelayMs. */
  probDelayedEvent: z.number().min(0).max(1).default(0),
  maxDelayMs: z.number().int().min(0).max(86_400_000).default(0),
}).strict();

export type NexmarkOptions = z.input<typeof nexmarkOptionsSchema>;
export type NexmarkConfig = z.output<typeof nexmarkOptionsSchema>;

/** Validates generator options; a bad one is CONFIG_INVALID naming its key (`nexmark.seed: ...`). */
export function parseNexmarkOptions(input: unknown, prefix: string[] = ['nexmark']): NexmarkConfig {
  const r = nexmarkOptionsSchema.safeParse(input ?? {});
  if (!r.success) {
    const lines = formatIssues(r.error.issues, prefix);
    throw new EngineError('CONFIG_INVALID', `invalid Nexmark options:\n  ${lines.join('\n  ')}`, { details: { issues: lines } });
  }
  return r.data;
}
