// The streamed (two-pass) references of the join queries equal the in-memory ones, so the
// bench can check runs too large to hold in memory against them.
import { describe, expect, it } from 'vitest';
import { formatRecord, nexmark } from '@sluice/engine';

describe('streamed nexmark references', () => {
  // 30 s of event time at 1000 events per second: 3 windows of 10 s for q7 and q8, not one.
  const options = { events: 30_000, firstEventRate: 1000 };
  const all = [...nexmark.nexmarkEvents(options)];
  for (const [query, s] of Object.entries(nexmark.STREAMED_REFERENCES)) {
    it(`${query} equals the in-memory reference`, () => {
      const want = nexmark.referenceLines(query, all);
      expect(s.kind).toBe(want.kind);
      const got = [...s.ref(() => nexmark.nexmarkEvents(options))].map(formatRecord);
      expect(want.lines.length).toBeGreaterThan(0);
      expect(nexmark.diffOutput(want.kind, got, want.lines)).toBeUndefined();
      expect(got.length).toBe(want.lines.length);
    });
  }
  it('covers the join queries', () => {
    expect(Object.keys(nexmark.STREAMED_REFERENCES).sort()).toEqual(['q20', 'q3', 'q4', 'q7', 'q8', 'q9']);
  });
});
