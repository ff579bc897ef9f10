import type { ConfigEntry, ConfigStore, OpOptions } from '@sluice/storage-api';
import { StorageError } from '@sluice/storage-api';
import type { HdfsCtx } from './context.js';
import { readLatest, writeVersion } from './versioned.js';

interface ConfigDoc {
  entry: ConfigEntry | null;
}

/** Per processor: versioned files `config/<processorId>/<seq>`; a delete is a tombstone, then the directory goes. */
export class HdfsConfigStore implements ConfigStore {
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

  async set(id: string, value: unknown, o: OpOptions & { ifVersion?: number } = {}): Promise<ConfigEntry> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const cur = await this.#current(id, o.signal);
      checkVersion(id, cur.entry?.version ?? 0, o.ifVersion);
      const entry: ConfigEntry = { processorId: id, value, version: (cur.entry?.version ?? 0) + 1, updatedAt: this.ctx.now() };
      if (await writeVersion<ConfigDoc>(this.ctx, `${this.#dir}/${id}`, cur.seq + 1, { entry }, o.signal)) return entry;
      // Lost the race for this sequence number: re-read and re-check the version.
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
    return out.sort((a, b) => (a.processorId < b.processorId ? -1 : 1));
  }

  async delete(id: string, o: OpOptions & { ifVersion?: number } = {}): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const cur = await this.#current(id, o.signal);
      if (!cur.entry) throw new StorageError(`config ${id} not found`, { code: 'STORAGE_NOT_FOUND' });
      checkVersion(id, cur.entry.version, o.ifVersion);
      // The tombstone is the atomic step; removing the directory is cleanup.
      if (await writeVersion<ConfigDoc>(this.ctx, `${this.#dir}/${id}`, cur.seq + 1, { entry: null }, o.signal)) {
        await this.ctx.client.delete(`${this.#dir}/${id}`, true, o.signal).catch(() => undefined);
        return;
      }
    }
    throw new StorageError(`config ${id}: too much contention`, { code: 'STORAGE_UNAVAILABLE', transient: true });
  }
}

function checkVersion(id: string, current: number, expected: number | undefined): void {
  if (expected !== undefined && expected !== current) {
    throw new StorageError(`config ${id}: version is ${current}, expected ${expected}`, { code: 'STORAGE_PRECONDITION_FAILED', details: { current, expected } });
  }
}
