import { createHash, type Hash } from 'node:crypto';
import type { ByteSource } from '../types.js';
import { StorageError, throwIfAborted } from '../errors.js';

/** Iterates any ByteSource as Uint8Array chunks without buffering it whole. */
export async function* iterateBytes(source: ByteSource, signal?: AbortSignal): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) {
    throwIfAborted(signal);
    yield source;
    return;
  }
  for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
    throwIfAborted(signal);
    yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  }
}

/**
 * Passes chunks through while hashing and counting them; reports progress.
 * `result()` is valid once the iteration has finished.
 */
export class HashingCounter {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;
  #digest?: string;

  constructor(private readonly onProgress?: (done: number, total?: number) => void, private readonly total?: number) {}

  async *wrap(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    for await (const chunk of source) {
      this.#hash.update(chunk);
      this.#size += chunk.byteLength;
      this.onProgress?.(this.#size, this.total);
      yield chunk;
    }
  }

  result(): { sha256: string; size: number } {
    this.#digest ??= this.#hash.digest('hex');
    return { sha256: this.#digest, size: this.#size };
  }
}

/**
 * Verify-on-read: yields the chunks and throws STORAGE_CORRUPT at the end if the
 * content does not hash to `expected` (or has the wrong size).
 */
export async function* verifyingStream(
  source: AsyncIterable<Uint8Array>,
  expected: { sha256: string; size: number; what: string },
  options: { signal?: AbortSignal; onProgress?: (done: number, total?: number) => void } = {},
): AsyncIterable<Uint8Array> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of source) {
    throwIfAborted(options.signal);
    hash.update(chunk);
    size += chunk.byteLength;
    options.onProgress?.(size, expected.size);
    if (size > expected.size) break; // longer than recorded: corrupt, no need to read on
    yield chunk;
  }
  const digest = hash.digest('hex');
  if (size !== expected.size || digest !== expected.sha256) {
    throw new StorageError(`${expected.what} is corrupt: expected sha256 ${expected.sha256} (${expected.size} B), read ${digest} (${size}${size > expected.size ? '+' : ''} B)`, {
      code: 'STORAGE_CORRUPT',
      details: { expected: expected.sha256, actual: digest },
    });
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

export async function collectBytes(source: AsyncIterable<Uint8Array>, limit = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of source) {
    n += c.byteLength;
    if (n > limit) throw new StorageError(`content larger than ${limit} bytes`, { code: 'STORAGE_TOO_LARGE' });
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
