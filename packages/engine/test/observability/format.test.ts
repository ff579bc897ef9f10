import { describe, expect, it } from 'vitest';
import { formatLogLine, formatSeriesChart, formatSeriesTable, parseDuration, parseTimeArg, sparkline } from '../../dist/observability/index.js';

const T = Date.UTC(2026, 10, 23, 12, 0, 0);

describe('terminal output', () => {
  it('log lines: coloured level on a TTY, plain otherwise, labels as processor#task@executor, no sid', () => {
    const rec = { ts: T, level: 'error' as const, msg: 'boom', labels: { app: 'wc', processor: 'count', task: '1.0', executor: 'e2' }, fields: { _sid: 'x.1', n: 3, why: 'disk' } };
    expect(formatLogLine(rec)).toBe('2026-11-23 12:00:00.000 ERROR [count#1.0@e2] boom n=3 why=disk');
    const coloured = formatLogLine(rec, { color: true });
    expect(coloured).toContain('\u001b[31mERROR\u001b[0m');
    // eslint-disable-next-line no-control-regex -- strips the ANSI colour escapes (ESC [ n m) under test
    expect(coloured.replace(/\u001b\[\d+m/g, '')).toBe(formatLogLine(rec));
  });

  it('sparkline spans the range; charts show min/max/last; tables align one column per series', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([5, 5])).toBe('▄▄');
    const series = [
      { name: 'm', labels: { processor: 'a' }, points: [{ ts: T, value: 1 }, { ts: T + 10_000, value: 3 }] },
      { name: 'm', labels: { processor: 'b' }, points: [{ ts: T + 10_000, value: 2.5 }] },
    ];
    const chart = formatSeriesChart(series);
    expect(chart).toContain('m{processor="a"}\n  ▁█  min 1  max 3  last 3');
    expect(formatSeriesTable(series).split('\n')).toEqual([
      '[1] m{processor="a"}',
      '[2] m{processor="b"}',
      'TIME                     [1]  [2]',
      '2026-11-23 12:00:00.000  1    -',
      '2026-11-23 12:00:10.000  3    2.500',
      '',
    ]);
  });

  it('time arguments: durations ago, epoch ms, ISO dates', () => {
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseTimeArg('10m', T)).toBe(T - 600_000);
    expect(parseTimeArg(String(T), 0)).toBe(T);
    expect(parseTimeArg('2026-11-23T12:00:00Z', 0)).toBe(T);
    expect(() => parseTimeArg('10 minutes', T)).toThrow(/invalid time/);
  });
});
