import type { ConfigBackend, ConfigEntry, OpOptions } from '@sluice/storage-api';
import { StorageError } from '@sluice/storage-api';
import type { HdfsCtx } from './context.js';
import { readLatest, writeVersion } from './versioned.js';

/** Rounds of losing the race for the next sequence number before giving up. */
const MAX_ROUNDS = 50;

interface ConfigDoc {
  entry: ConfigEntry | null;
}

/**
 * Per processor: versioned files `config/<processorId>/<seq>`; a delete is a tombstone, then
 * the directory goes. I/O hooks only (storage-api applies versions and CAS): each write
 * claims the next sequence number create-only, so a lost race re-reads and decides again.
 */
export class HdfsConfigStore implements ConfigBackend {
  readonly #dir: string;

  constructor(private readonly ctx: HdfsCtx) {
    this.#dir = `${ctx.appDir}/config`;
  }

  async #current(id: string, signal?: AbortSignal) {
    const v = await readLatest<ConfigDoc>(this.ctx, `${this.#dir}/${id}`, signal);
    return { seq: v?.seq ?? 0, entry: v?.doc.entry ?? undefined };
  }

  async get(id: string, o: OpOptions = {}): Promise<ConfigEntry | undefined> {
    return (await this.#current(id, o.signal)).entry;
  }

  async put(id: string, next: (current: ConfigEntry | undefined, now: number) => ConfigEntry, o: OpOptions = {}): Promise<void> {
    for (let attempt = 0; attempt < MAX_ROUNDS; attempt++) {
      const cur = await this.#current(id, o.signal);
      if (await writeVersion<ConfigDoc>(this.ctx, `${this.#dir}/${id}`, cur.seq + 1, { entry: next(cur.entry, this.ctx.now()) }, o.signal)) return;
    }
    throw new StorageError(`config ${id}: too much contention`, { code: 'STORAGE_UNAVAILABLE', transient: true });
  }

  async list(o: OpOptions = {}): Promise<ConfigEntry[]> {
    const out: ConfigEntry[] = [];
    for (const s of (await this.ctx.client.list(this.#dir, o.signal)) ?? []) {
      if (s.type !== 'DIRECTORY') continue;
      const e = await this.get(s.pathSuffix, o);
      if (e) out.push(e);
    }
    return out;
  }

  async remove(id: string, check: (current: ConfigEntry | undefined) => void, o: OpOptions = {}): Promise<void> {
    for (let attempt = 0; attempt < MAX_ROUNDS; attempt++) {
      const cur = await this.#current(id, o.signal);
      check(cur.entry);
      // The tombstone is the atomic step; removing the directory is cleanup.
      if (await writeVersion<ConfigDoc>(this.ctx, `${this.#dir}/${id}`, cur.seq + 1, { entry: null }, o.signal)) {
        await this.ctx.client.delete(`${this.#dir}/${id}`, true, o.signal).catch(() => undefined);
        return;
      }
    }
    throw new StorageError(`config ${id}: too much contention`, { code: 'STORAGE_UNAVAILABLE', transient: true });
  }
}
