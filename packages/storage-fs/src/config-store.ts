import { StorageError } from '@sluice/storage-api';
import type { ConfigBackend, ConfigEntry } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapped } from './errors.js';

interface Row {
  processor_id: string;
  value: string;
  version: number;
  updated_at: number;
}

function decode(r: Row): ConfigEntry {
  let value: unknown;
  try {
    value = JSON.parse(r.value);
  } catch (err) {
    throw new StorageError(`config ${r.processor_id}: stored value is not valid JSON`, { code: 'STORAGE_CORRUPT', cause: err });
  }
  return { processorId: r.processor_id, value, version: r.version, updatedAt: r.updated_at };
}

/** Config rows: I/O hooks only (storage-api applies versions and CAS); each write is one IMMEDIATE transaction. */
export class FsConfigStore implements ConfigBackend {
  constructor(private readonly db: Db, private readonly now: () => number) {}

  #get(id: string): ConfigEntry | undefined {
    const r = this.db.prepare('SELECT processor_id, value, version, updated_at FROM config WHERE processor_id = ?').get(id) as Row | undefined;
    return r && decode(r);
  }

  get(processorId: string): Promise<ConfigEntry | undefined> {
    return mapped(`config get ${processorId}`, () => this.#get(processorId));
  }

  list(): Promise<ConfigEntry[]> {
    return mapped('config list', () => (this.db.prepare('SELECT processor_id, value, version, updated_at FROM config').all() as Row[]).map(decode));
  }

  put(processorId: string, next: (current: ConfigEntry | undefined, now: number) => ConfigEntry): Promise<void> {
    return mapped(`config set ${processorId}`, () =>
      writeTx(this.db, () => {
        const e = next(this.#get(processorId), this.now());
        this.db
          .prepare('INSERT INTO config (processor_id, value, version, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (processor_id) DO UPDATE SET value = excluded.value, version = excluded.version, updated_at = excluded.updated_at')
          .run(processorId, JSON.stringify(e.value), e.version, e.updatedAt);
      }),
    );
  }

  remove(processorId: string, check: (current: ConfigEntry | undefined) => void): Promise<void> {
    return mapped(`config delete ${processorId}`, () =>
      writeTx(this.db, () => {
        check(this.#get(processorId));
        this.db.prepare('DELETE FROM config WHERE processor_id = ?').run(processorId);
      }),
    );
  }
}
