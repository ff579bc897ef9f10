import { describe, expect, it } from 'vitest';
import { encodeClock, encodeData, encodeJson, FrameDecoder, FrameKind, isEngineError, type Frame } from '@sluice/engine';

function decodeAll(buf: Buffer, chunk = buf.length): Frame[] {
  const d = new FrameDecoder();
  const out: Frame[] = [];
  for (let i = 0; i < buf.length; i += chunk) out.push(...d.push(buf.subarray(i, i + chunk)));
  expect(d.buffered).toBe(0);
  return out;
}

describe('binary framing', () => {
  it('round-trips batches of strings, pairs and JSON values, clocks and control messages', () => {
    const frames = Buffer.concat([
      encodeData(1, 2, 1000, ['a', 'bé', '', 'ünïcode 🚀']),
      encodeData(3, 4, 2000, [['the', 3], ['of', 1.5]]),
      encodeData(5, 6, 3000, [{ x: 1 }, 2, null, 'mixed', ['a', 'b']]),
      encodeData(7, 8, 4000, ['has\u0000nul']),
      encodeClock(4242, 9, [1, 2, 3]),
      encodeJson({ type: 'hello', epoch: 3 }),
    ]);
    for (const chunk of [frames.length, 7, 1]) {
      const f = decodeAll(frames, chunk);
      expect(f).toEqual([
        { kind: FrameKind.DATA, from: 1, to: 2, ts: 1000, values: ['a', 'bé', '', 'ünïcode 🚀'] },
        { kind: FrameKind.DATA, from: 3, to: 4, ts: 2000, values: [['the', 3], ['of', 1.5]] },
        { kind: FrameKind.DATA, from: 5, to: 6, ts: 3000, values: [{ x: 1 }, 2, null, 'mixed', ['a', 'b']] },
        { kind: FrameKind.DATA, from: 7, to: 8, ts: 4000, values: ['has\u0000nul'] },
        { kind: FrameKind.CLOCK, clock: 4242, from: 9, to: [1, 2, 3] },
        { kind: FrameKind.JSON, message: { type: 'hello', epoch: 3 } },
      ]);
    }
  });

  it('keeps a partial frame until the rest arrives', () => {
    const f = encodeData(1, 2, 5, ['x', 'y']);
    const d = new FrameDecoder();
    expect(d.push(f.subarray(0, f.length - 1))).toEqual([]);
    expect(d.buffered).toBe(f.length - 1);
    expect(d.push(f.subarray(f.length - 1))).toHaveLength(1);
  });

  it('rejects garbage with FRAME_INVALID instead of buffering forever', () => {
    const bad = (buf: Buffer): string | undefined => {
      try {
        new FrameDecoder().push(buf);
      } catch (err) {
        return isEngineError(err) ? err.code : String(err);
      }
      return undefined;
    };
    expect(bad(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))).toBe('FRAME_INVALID');
    expect(bad(Buffer.from([0, 0, 0, 0]))).toBe('FRAME_INVALID');
    expect(bad(Buffer.from([0, 0, 0, 2, 99, 0]))).toBe('FRAME_INVALID');
    expect(bad(Buffer.from([0, 0, 0, 3, FrameKind.JSON, 0x7b, 0x7b]))).toBe('FRAME_INVALID');
  });
});
