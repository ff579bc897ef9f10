import { describe, expect, it } from 'vitest';
import { ClockService } from '@sluice/engine';

describe('clock service', () => {
  // src.0, src.1 -> split.0 -> sink.0
  const upstream = (): Map<string, string[]> => new Map([
    ['src.0', []], ['src.1', []], ['split.0', ['src.0', 'src.1']], ['sink.0', ['split.0']],
  ]);

  it('app min-clock is the minimum over upstream clocks and pending messages', () => {
    const c = new ClockService(upstream(), 0);
    c.update('src.0', 100);
    c.update('src.1', 50);
    c.update('split.0', 50);
    c.update('sink.0', 50);
    expect(c.appMinClock()).toBe(50);
    c.update('src.1', 120);
    c.update('split.0', 100);
    c.update('sink.0', 100);
    expect(c.taskMinClock('sink.0')).toBe(100);
    // split holds back a message at 70 (waiting for alignment): downstream min-clock drops
    c.update('split.0', 100, 70);
    expect(c.taskMinClock('sink.0')).toBe(70);
    expect(c.appMinClock()).toBe(70);
    c.update('split.0', 110);
    expect(c.appMinClock()).toBe(100);
  });

  it('ignores stale (backwards) reports and unknown tasks', () => {
    const c = new ClockService(upstream(), 10);
    c.update('src.0', 200);
    c.update('src.0', 150);
    expect(c.clocks()['src.0']).toBe(200);
    c.update('ghost', 1);
    expect(c.clocks().ghost).toBeUndefined();
    expect(c.appMinClock()).toBe(10);
  });

  it('keeps each processor\'s watermark: the min over its tasks that reported one, never moving back', () => {
    const c = new ClockService(new Map([['src.0', []], ['src.1', []], ['win.dow.0', ['src.0', 'src.1']], ['win.dow.1', ['src.0', 'src.1']]]), 0);
    expect(c.processorWatermarks()).toEqual({});
    expect(c.appWatermark()).toBeUndefined();
    c.update('win.dow.0', 10, undefined, 500);
    c.update('win.dow.1', 10, undefined, 300);
    c.update('win.dow.1', 11, undefined, 200); // stale: a watermark never moves back
    c.update('src.0', 10);
    expect(c.processorWatermarks()).toEqual({ 'win.dow': 300 });
    c.update('win.dow.1', 12, undefined, 900);
    expect(c.processorWatermarks()).toEqual({ 'win.dow': 500 });
    expect(c.appWatermark()).toBe(500);
  });
});
