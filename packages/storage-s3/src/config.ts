import { randomUUID } from 'node:crypto';
import { StorageError, type ConfigBackend, type ConfigEntry, type OpOptions } from '@sluice/storage-api';
import { mapLimit } from './keys.js';
import type { Shared } from './shared.js';

/** Stored form: the entry plus the id of the write, so a retried CAS recognises its own success. */
export interface Versioned {
  writeId: string;
}

/**
 * Read-check-CAS loop on one small JSON object. `next` returns the new document or throws
 * (e.g. version mismatch). Bounded: 50 rounds of contention.
 */
export async function casUpdate<T extends object>(
  sh: Shared,
  key: string,
  what: string,
  next: (cur: T | undefined) => T,
  signal?: AbortSignal,
): Promise<T> {
  const writeId = randomUUID();
  for (let i = 0; i < 50; i++) {
    const cur = await sh.io.getJson<T & Versioned>(key, signal);
    if (cur && cur.value.writeId === writeId) return strip(cur.value); // our earlier attempt landed
    const doc = { ...next(cur && strip(cur.value)), writeId };
    const ok = await sh.io.putIfMatch(key, JSON.stringify(doc), cur?.etag, signal);
    if (ok !== false) return strip(doc);
  }
  throw new StorageError(`${what}: too much contention`, { code: 'STORAGE_UNAVAILABLE' });
}

export function strip<T extends object>(v: T & Partial<Versioned>): T {
  const { writeId: _w, ...rest } = v;
  return rest as T;
}

/** Config entries as one JSON object each: I/O hooks only (storage-api applies versions and CAS). */
export class S3ConfigStore implements ConfigBackend {
  constructor(private readonly sh: Shared, private readonly dir: string) {}

  #key(id: string): string {
    return `${this.dir}${id}.json`;
  }

  async get(processorId: string, o: OpOptions = {}): Promise<ConfigEntry | undefined> {
    const r = await this.sh.io.getJson<ConfigEntry & Versioned>(this.#key(processorId), o.signal);
    return r && strip(r.value);
  }

  /** Read, decide, PUT with If-Match (If-None-Match for a new entry): a lost race re-reads and decides again. */
  async put(processorId: string, next: (current: ConfigEntry | undefined, now: number) => ConfigEntry, o: OpOptions = {}): Promise<void> {
    this.sh.requireSafeWrites(`config ${processorId}: set`);
    await casUpdate<ConfigEntry>(this.sh, this.#key(processorId), `config ${processorId}`, (cur) => next(cur, this.sh.context.now()), o.signal);
  }

  async list(o: OpOptions = {}): Promise<ConfigEntry[]> {
    const keys = await this.sh.io.listKeys(this.dir, o.signal);
    const all = await mapLimit(keys, 8, async (k) => (await this.sh.io.getJson<ConfigEntry & Versioned>(k, o.signal))?.value);
    return all.filter((e): e is ConfigEntry & Versioned => e !== undefined).map((e) => strip(e));
  }

  // The check and the DELETE are two requests (S3 has no conditional delete everywhere).
  async remove(processorId: string, check: (current: ConfigEntry | undefined) => void, o: OpOptions = {}): Promise<void> {
    this.sh.requireSafeWrites(`config ${processorId}: delete`);
    check(await this.get(processorId, o));
    await this.sh.io.delete(this.#key(processorId), o.signal);
  }
}
