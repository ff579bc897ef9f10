import { randomUUID } from 'node:crypto';
import type { OpOptions } from '../types.js';
import type { BlobBackend } from '../blobs.js';
import { StorageError } from '../errors.js';
import type { MemoryVolume } from './volume.js';

interface BlobSpace {
  content: Map<string, Buffer>;
  records: Map<string, Map<number, Buffer>>;
}

// Per volume, so instances on one named volume share blobs like processes share a disk.
const spaces = new WeakMap<MemoryVolume, BlobSpace>();

function spaceOf(volume: MemoryVolume): BlobSpace {
  let s = spaces.get(volume);
  if (!s) spaces.set(volume, (s = { content: new Map(), records: new Map() }));
  return s;
}

/** The reference blob primitives: a map of content and a map of create-only records. */
export class MemoryBlobBackend implements BlobBackend {
  readonly #space: BlobSpace;

  constructor(volume: MemoryVolume) {
    this.#space = spaceOf(volume);
  }

  async writeContent(source: AsyncIterable<Uint8Array>, _options: OpOptions): Promise<string> {
    // Memory holds the bytes by nature; the bounded-memory promise is for persistent backends.
    const chunks: Buffer[] = [];
    for await (const c of source) chunks.push(Buffer.from(c));
    const ref = randomUUID();
    this.#space.content.set(ref, Buffer.concat(chunks));
    return ref;
  }

  async readContent(ref: string): Promise<AsyncIterable<Uint8Array>> {
    const data = this.#space.content.get(ref);
    if (!data) throw new StorageError(`blob content ${ref} not found`, { code: 'STORAGE_NOT_FOUND' });
    return (async function* () {
      for (let i = 0; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
    })();
  }

  async deleteContent(ref: string): Promise<void> {
    this.#space.content.delete(ref);
  }

  async createRecord(name: string, seq: number, data: Uint8Array): Promise<void> {
    let m = this.#space.records.get(name);
    if (!m) this.#space.records.set(name, (m = new Map<number, Buffer>()));
    if (m.has(seq)) throw new StorageError(`blob ${name} record ${seq} exists`, { code: 'STORAGE_ALREADY_EXISTS' });
    m.set(seq, Buffer.from(data));
  }

  async listRecords(name: string): Promise<number[]> {
    return [...(this.#space.records.get(name)?.keys() ?? [])];
  }

  async readRecord(name: string, seq: number): Promise<Uint8Array | undefined> {
    const r = this.#space.records.get(name)?.get(seq);
    return r && Buffer.from(r);
  }

  async deleteRecord(name: string, seq: number): Promise<void> {
    const m = this.#space.records.get(name);
    m?.delete(seq);
    if (m?.size === 0) this.#space.records.delete(name);
  }

  async listNames(): Promise<string[]> {
    return [...this.#space.records.keys()];
  }
}
