import { randomUUID } from 'node:crypto';
import { StorageError, type ConfigEntry, type ConfigStore, type OpOptions } from '@sluice/storage-api';
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

export function checkVersion(id: string, current: number, expected: number | undefined): void {
  if (expected !== undefined && expected !== current) {
    throw new StorageError(`config ${id}: version is ${current}, expected ${expected}`, {
      code: 'STORAGE_PRECONDITION_FAILED',
      details: { current, expected },
    });
  }
}

export class S3ConfigStore implements ConfigStore {
  constructor(private readonly sh: Shared, private readonly dir: string) {}

  #key(id: string): string {
    return `${this.dir}${id}.json`;
  }

  async get(processorId: string, o: OpOptions = {}): Promise<ConfigEntry | undefined> {
    const r = await this.sh.io.getJson<ConfigEntry & Versioned>(this.#key(processorId), o.signal);
    return r && strip(r.value);
  }

  async set(processorId: string, value: unknown, o: OpOptions & { ifVersion?: number } = {}): Promise<ConfigEntry> {
    this.sh.requireSafeWrites(`config ${processorId}: set`);
    return casUpdate<ConfigEntry>(
      this.sh,
      this.#key(processorId),
      `config ${processorId}`,
      (cur) => {
        checkVersion(processorId, cur?.version ?? 0, o.ifVersion);
        return { processorId, value, version: (cur?.version ?? 0) + 1, updatedAt: this.sh.context.now() };
      },
      o.signal,
    );
  }

  async list(o: OpOptions = {}): Promise<ConfigEntry[]> {
    const keys = await this.sh.io.listKeys(this.dir, o.signal);
    const all = await mapLimit(keys, 8, async (k) => (await this.sh.io.getJson<ConfigEntry & Versioned>(k, o.signal))?.value);
    return all
      .filter((e): e is ConfigEntry & Versioned => e !== undefined)
      .map((e) => strip(e))
      .sort((a, b) => (a.processorId < b.processorId ? -1 : a.processorId > b.processorId ? 1 : 0));
  }

  async delete(processorId: string, o: OpOptions & { ifVersion?: number } = {}): Promise<void> {
    this.sh.requireSafeWrites(`config ${processorId}: delete`);
    const cur = await this.get(processorId, o);
    if (!cur) throw new StorageError(`config ${processorId} not found`, { code: 'STORAGE_NOT_FOUND' });
    checkVersion(processorId, cur.version, o.ifVersion);
    await this.sh.io.delete(this.#key(processorId), o.signal);
  }
}
