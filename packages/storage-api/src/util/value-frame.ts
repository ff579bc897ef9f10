import { crc32 } from 'node:zlib';
import { StorageError } from '../errors.js';

/**
 * Offset values are stored framed: a version byte, then a CRC-32 over the entry's time and
 * value, then the value. Reads check the CRC, so a changed value (or a value moved to another
 * time) is STORAGE_CORRUPT instead of being returned silently. CRC-32, not SHA-256: it is for
 * bit rot and stray writes, not an adversary, and costs 4 bytes per entry.
 */
const FRAME_V1 = 0x01;
const HEADER = 5;

function crcOf(t: number, value: Uint8Array): number {
  const time = Buffer.alloc(8);
  time.writeDoubleBE(t);
  return crc32(value, crc32(time));
}

export function frameValue(t: number, value: Uint8Array): Uint8Array {
  const out = Buffer.alloc(HEADER + value.byteLength);
  out[0] = FRAME_V1;
  out.writeUInt32BE(crcOf(t, value), 1);
  out.set(value, HEADER);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The value inside a frame; STORAGE_CORRUPT if the frame is malformed or its CRC differs. */
export function unframeValue(t: number, stored: Uint8Array, what: string): Uint8Array {
  const b = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (b.byteLength < HEADER || b[0] !== FRAME_V1) {
    throw new StorageError(`${what}: the value stored at ${t} is not a checksummed frame`, { code: 'STORAGE_CORRUPT', details: { t } });
  }
  const value = new Uint8Array(b.subarray(HEADER));
  if (b.readUInt32BE(1) !== crcOf(t, value)) {
    throw new StorageError(`${what}: the value stored at ${t} fails its checksum`, { code: 'STORAGE_CORRUPT', details: { t } });
  }
  return value;
}

/** Bytes a frame adds to each value (backends size their limits with it). */
export const FRAME_OVERHEAD = HEADER;
