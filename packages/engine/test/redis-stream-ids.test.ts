// Redis stream entry ids: ordering as Redis orders them (numerically, ms then seq), the id before
// one (XREAD's exclusive start), and fromTime's mapping to `<ms>-0`.
import { describe, expect, it } from 'vitest';
import { compareStreamIds, isStreamId, redisStreamIdAtTime, streamIdBefore } from '../src/connectors/redis-stream-ids.js';

describe('stream entry ids', () => {
  it('compare numerically, not as strings, ms first then seq', () => {
    expect(compareStreamIds('9-0', '10-0')).toBe(-1);
    expect(compareStreamIds('10-2', '10-10')).toBe(-1);
    expect(compareStreamIds('10-10', '10-2')).toBe(1);
    expect(compareStreamIds('1700000000000-5', '1700000000000-5')).toBe(0);
    expect(compareStreamIds('18446744073709551615-0', '18446744073709551614-18446744073709551615')).toBe(1);
    expect(compareStreamIds('5', '5-0')).toBe(0);
  });

  it('the id before one is the largest id below it', () => {
    expect(streamIdBefore('10-3')).toBe('10-2');
    expect(streamIdBefore('10-0')).toBe('9-18446744073709551615');
    expect(streamIdBefore('0-1')).toBe('0-0');
    expect(streamIdBefore('0-0')).toBe('0-0');
    expect(compareStreamIds(streamIdBefore('2000-0'), '1999-999999')).toBe(1);
    expect(() => streamIdBefore('nope')).toThrow(RangeError);
  });

  it('fromTime maps to <ms>-0; only non-negative integer ms', () => {
    expect(redisStreamIdAtTime(0)).toBe('0-0');
    expect(redisStreamIdAtTime(1733300000000)).toBe('1733300000000-0');
    expect(() => redisStreamIdAtTime(1.5)).toThrow(RangeError);
    expect(() => redisStreamIdAtTime(-1)).toThrow(RangeError);
    expect(isStreamId('1-2')).toBe(true);
    expect(isStreamId('1-')).toBe(false);
    expect(isStreamId('*')).toBe(false);
  });
});
