import { EngineError } from '../errors.js';

/**
 * Binary length-prefixed framing between executors:
 *   u32 BE length of (kind + body) | u8 kind | body
 * DATA  body: u32 from | u32 to | f64 ts | u8 encoding | payload   (one batch, one timestamp)
 * CLOCK body: f64 clock | u32 from | u32 n | n × u32 to            (no more messages before clock)
 * JSON  body: UTF-8 JSON                                           (control and hello)
 * WATERMARK body: f64 ts | f64 watermark | u8 idle | u32 from | u32 n | n × u32 to
 *                                         (event time: nothing at or below watermark follows;
 *                                          ts is the processing time it is aligned with)
 * Batches of strings and of [string, number] pairs get compact encodings: JSON per
 * message is what limits Node throughput.
 */
export const FrameKind = { DATA: 1, CLOCK: 2, JSON: 3, WATERMARK: 4 } as const;
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const ENC_JSON = 0;
const ENC_STRINGS = 1;
const ENC_PAIRS = 2;
const SEP = '\u0000';

export type Frame =
  | { kind: typeof FrameKind.DATA; from: number; to: number; ts: number; values: unknown[] }
  | { kind: typeof FrameKind.CLOCK; clock: number; from: number; to: number[] }
  | { kind: typeof FrameKind.JSON; message: unknown }
  | { kind: typeof FrameKind.WATERMARK; ts: number; watermark: number; idle: boolean; from: number; to: number[] };

function encodingOf(values: unknown[]): number {
  let strings = true;
  let pairs = true;
  for (let i = 0; i < values.length && (strings || pairs); i++) {
    const v = values[i];
    if (typeof v === 'string') {
      pairs = false;
      if (v.includes(SEP)) strings = false;
    } else {
      strings = false;
      if (!(Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'number' && !(v[0] as string).includes(SEP))) pairs = false;
    }
  }
  return values.length === 0 ? ENC_JSON : strings ? ENC_STRINGS : pairs ? ENC_PAIRS : ENC_JSON;
}

function header(kind: number, bodyLen: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b.writeUInt32BE(bodyLen + 1, 0);
  b[4] = kind;
  return b;
}

/** Encodes one batch as a DATA frame (a single Buffer). */
export function encodeData(from: number, to: number, ts: number, values: unknown[]): Buffer {
  const enc = encodingOf(values);
  let payload: Buffer;
  if (enc === ENC_STRINGS) {
    const text = Buffer.from((values as string[]).join(SEP), 'utf8');
    payload = Buffer.allocUnsafe(4 + text.length);
    payload.writeUInt32BE(values.length, 0);
    text.copy(payload, 4);
  } else if (enc === ENC_PAIRS) {
    const pairs = values as Array<[string, number]>;
    const keys = Buffer.from(pairs.map((p) => p[0]).join(SEP), 'utf8');
    payload = Buffer.allocUnsafe(4 + pairs.length * 8 + keys.length);
    payload.writeUInt32BE(pairs.length, 0);
    for (let i = 0; i < pairs.length; i++) payload.writeDoubleBE(pairs[i]![1], 4 + i * 8);
    keys.copy(payload, 4 + pairs.length * 8);
  } else {
    payload = Buffer.from(JSON.stringify(values), 'utf8');
  }
  const body = 4 + 4 + 8 + 1 + payload.length;
  const out = Buffer.allocUnsafe(5 + body);
  header(FrameKind.DATA, body).copy(out, 0);
  out.writeUInt32BE(from, 5);
  out.writeUInt32BE(to, 9);
  out.writeDoubleBE(ts, 13);
  out[21] = enc;
  payload.copy(out, 22);
  return out;
}

export function encodeClock(clock: number, from: number, to: number[]): Buffer {
  const body = 8 + 4 + 4 + to.length * 4;
  const out = Buffer.allocUnsafe(5 + body);
  header(FrameKind.CLOCK, body).copy(out, 0);
  out.writeDoubleBE(clock, 5);
  out.writeUInt32BE(from, 13);
  out.writeUInt32BE(to.length, 17);
  for (let i = 0; i < to.length; i++) out.writeUInt32BE(to[i]!, 21 + i * 4);
  return out;
}

export function encodeWatermark(ts: number, watermark: number, idle: boolean, from: number, to: number[]): Buffer {
  const body = 8 + 8 + 1 + 4 + 4 + to.length * 4;
  const out = Buffer.allocUnsafe(5 + body);
  header(FrameKind.WATERMARK, body).copy(out, 0);
  out.writeDoubleBE(ts, 5);
  out.writeDoubleBE(watermark, 13);
  out[21] = idle ? 1 : 0;
  out.writeUInt32BE(from, 22);
  out.writeUInt32BE(to.length, 26);
  for (let i = 0; i < to.length; i++) out.writeUInt32BE(to[i]!, 30 + i * 4);
  return out;
}

export function encodeJson(message: unknown): Buffer {
  const text = Buffer.from(JSON.stringify(message), 'utf8');
  const out = Buffer.allocUnsafe(5 + text.length);
  header(FrameKind.JSON, text.length).copy(out, 0);
  text.copy(out, 5);
  return out;
}

function decodeBody(kind: number, b: Buffer): Frame {
  if (kind === FrameKind.DATA) {
    if (b.length < 17) throw new EngineError('FRAME_INVALID', 'DATA frame too short');
    const from = b.readUInt32BE(0);
    const to = b.readUInt32BE(4);
    const ts = b.readDoubleBE(8);
    const enc = b[16];
    const p = b.subarray(17);
    let values: unknown[];
    if (enc === ENC_STRINGS) {
      const n = p.readUInt32BE(0);
      values = n === 0 ? [] : p.toString('utf8', 4).split(SEP);
      if (values.length !== n) throw new EngineError('FRAME_INVALID', `DATA frame: expected ${n} strings, got ${values.length}`);
    } else if (enc === ENC_PAIRS) {
      const n = p.readUInt32BE(0);
      const keys = p.toString('utf8', 4 + n * 8).split(SEP);
      if (keys.length !== n) throw new EngineError('FRAME_INVALID', `DATA frame: expected ${n} pairs, got ${keys.length}`);
      values = new Array(n);
      for (let i = 0; i < n; i++) values[i] = [keys[i], p.readDoubleBE(4 + i * 8)];
    } else if (enc === ENC_JSON) {
      values = JSON.parse(p.toString('utf8')) as unknown[];
      if (!Array.isArray(values)) throw new EngineError('FRAME_INVALID', 'DATA frame: JSON payload is not an array');
    } else throw new EngineError('FRAME_INVALID', `DATA frame: unknown encoding ${String(enc)}`);
    return { kind, from, to, ts, values };
  }
  if (kind === FrameKind.CLOCK) {
    if (b.length < 16) throw new EngineError('FRAME_INVALID', 'CLOCK frame too short');
    const n = b.readUInt32BE(12);
    if (b.length !== 16 + n * 4) throw new EngineError('FRAME_INVALID', 'CLOCK frame length mismatch');
    const to = new Array<number>(n);
    for (let i = 0; i < n; i++) to[i] = b.readUInt32BE(16 + i * 4);
    return { kind, clock: b.readDoubleBE(0), from: b.readUInt32BE(8), to };
  }
  if (kind === FrameKind.WATERMARK) {
    if (b.length < 25) throw new EngineError('FRAME_INVALID', 'WATERMARK frame too short');
    const n = b.readUInt32BE(21);
    if (b.length !== 25 + n * 4) throw new EngineError('FRAME_INVALID', 'WATERMARK frame length mismatch');
    const watermark = b.readDoubleBE(8);
    if (Number.isNaN(watermark)) throw new EngineError('FRAME_INVALID', 'WATERMARK frame: watermark is NaN');
    const to = new Array<number>(n);
    for (let i = 0; i < n; i++) to[i] = b.readUInt32BE(25 + i * 4);
    return { kind, ts: b.readDoubleBE(0), watermark, idle: b[16] === 1, from: b.readUInt32BE(17), to };
  }
  if (kind === FrameKind.JSON) {
    try {
      return { kind, message: JSON.parse(b.toString('utf8')) };
    } catch (err) {
      throw new EngineError('FRAME_INVALID', `JSON frame: ${(err as Error).message}`);
    }
  }
  throw new EngineError('FRAME_INVALID', `unknown frame kind ${kind}`);
}

/** Incremental decoder: feed socket chunks, get whole frames; bad input throws FRAME_INVALID. */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #len = 0;

  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#len += chunk.length;
    const frames: Frame[] = [];
    let buf = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#len);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (len < 1 || len > MAX_FRAME_BYTES) throw new EngineError('FRAME_INVALID', `frame length ${len} out of range (1..${MAX_FRAME_BYTES})`);
      if (buf.length - off - 4 < len) break;
      frames.push(decodeBody(buf[off + 4]!, buf.subarray(off + 5, off + 4 + len)));
      off += 4 + len;
    }
    buf = buf.subarray(off);
    this.#chunks = buf.length ? [buf] : [];
    this.#len = buf.length;
    return frames;
  }

  get buffered(): number {
    return this.#len;
  }
}
