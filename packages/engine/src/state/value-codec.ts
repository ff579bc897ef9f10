import { deserialize, serialize } from 'node:v8';

/**
 * A disk-state value with its expiry, as lmdb stores it: numbers and strings without an
 * expiry (the keyed aggregates' accumulators) in a tag byte and their bytes; anything
 * else tagged, with its expiry, in V8's serialisation (structured-clone values, as the
 * segment format keeps them). Creating a V8 serializer per value was the disk backend's
 * largest cost after lmdb's own writes.
 */
const NUM = 0;
const STR = 1;
const V8 = 2;

export function encodeValue(v: unknown, exp: number): Buffer {
  if (exp === 0 && typeof v === 'number') {
    const b = Buffer.allocUnsafe(9);
    b[0] = NUM;
    b.writeDoubleLE(v, 1);
    return b;
  }
  if (exp === 0 && typeof v === 'string') {
    const b = Buffer.allocUnsafe(1 + Buffer.byteLength(v, 'utf8'));
    b[0] = STR;
    b.write(v, 1, 'utf8');
    return b;
  }
  const body = serialize(v);
  const b = Buffer.allocUnsafe(9 + body.length);
  b[0] = V8;
  b.writeDoubleLE(exp, 1);
  body.copy(b, 9);
  return b;
}

/** [value, expiry]; `b` may be a buffer lmdb reuses: nothing returned aliases it. */
export function decodeValue(b: Buffer): [unknown, number] {
  switch (b[0]) {
    case NUM:
      return [b.readDoubleLE(1), 0];
    case STR:
      return [b.toString('utf8', 1), 0];
    default:
      return [deserialize(b.subarray(9)), b.readDoubleLE(1)];
  }
}
