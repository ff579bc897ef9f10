import { deserialize, serialize } from 'node:v8';
import { EngineError } from '../errors.js';
import type { StateKey } from './key-groups.js';

/**
 * A state segment's bytes: `SLS1`, the table names (u32 length + JSON), then slices
 * (u32 length + a V8-serialised `[tableIndex[], key[], value[], expiry[]]`; a value of
 * undefined is a deletion). V8's serializer keeps Maps, Sets, Dates and typed arrays,
 * and is native on both ends, which is what keeps a restore of gigabytes fast.
 */
const MAGIC = Buffer.from('SLS1');

type Slice = [number[], StateKey[], unknown[], number[]];

export class SegmentEncoder {
  readonly #head: Buffer;
  readonly #parts: Uint8Array[] = [];
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(names: string[], readonly maxPartBytes: number) {
    const json = Buffer.from(JSON.stringify(names), 'utf8');
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(json.length, 0);
    this.#head = Buffer.concat([MAGIC, len, json]);
  }

  slice(tis: number[], keys: StateKey[], vals: unknown[], exps: number[]): void {
    const body = serialize([tis, keys, vals, exps] satisfies Slice);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(body.length, 0);
    if (this.#size > 0 && this.#size + 4 + body.length > this.maxPartBytes) this.#flush();
    if (this.#size === 0) {
      this.#chunks.push(this.#head);
      this.#size = this.#head.length;
    }
    this.#chunks.push(len, body);
    this.#size += 4 + body.length;
  }

  #flush(): void {
    this.#parts.push(Buffer.concat(this.#chunks, this.#size));
    this.#chunks = [];
    this.#size = 0;
  }

  finish(): Uint8Array[] {
    if (this.#size > 0) this.#flush();
    return this.#parts;
  }
}

function corrupt(why: string): EngineError {
  return new EngineError('INTERNAL', `keyed state segment is corrupt: ${why}`);
}

export function decodeSegment(bytes: Uint8Array, each: (names: string[], tis: number[], keys: StateKey[], vals: unknown[], exps: number[]) => void): void {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 8 || !b.subarray(0, 4).equals(MAGIC)) throw corrupt('bad magic');
  const nl = b.readUInt32BE(4);
  if (8 + nl > b.length) throw corrupt('truncated header');
  const names = JSON.parse(b.toString('utf8', 8, 8 + nl)) as unknown;
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw corrupt('bad table names');
  let off = 8 + nl;
  while (off < b.length) {
    if (off + 4 > b.length) throw corrupt('truncated slice length');
    const len = b.readUInt32BE(off);
    if (off + 4 + len > b.length) throw corrupt('truncated slice');
    const s = deserialize(b.subarray(off + 4, off + 4 + len)) as Slice;
    if (!Array.isArray(s) || s.length !== 4 || s[1].length !== s[0].length) throw corrupt('bad slice');
    each(names as string[], s[0], s[1], s[2], s[3]);
    off += 4 + len;
  }
}
