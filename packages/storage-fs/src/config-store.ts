import { StorageError } from '@sluice/storage-api';
import type { ConfigEntry, ConfigStore } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapped, notFound } from './errors.js';

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

function checkVersion(id: string, current: number, expected: number | undefined): void {
  if (expected !== undefined && expected !== current) {
    throw new StorageError(`config ${id}: version is ${current}, expected ${expected}`, { code: 'STORAGE_PRECONDITION_FAILED', details: { current, expected } });
  }
}

/** Versioned per-processor config; compare-and-set runs inside one IMMEDIATE transaction. */
export class FsConfigStore implements ConfigStore {
  constructor(private readonly db: Db, private readonly now: () => number) {}

  #get(id: string): Row | undefined {
    return this.db.prepare('SELECT processor_id, value, version, updated_at FROM config WHERE processor_id = ?').get(id) as Row | undefined;
  }

  get(processorId: string): Promise<ConfigEntry | undefined> {
    return mapped(`config get ${processorId}`, () => {
      const r = this.#get(processorId);
      return r && decode(r);
    });
  }

  set(processorId: string, value: unknown, options: { ifVersion?: number } = {}): Promise<ConfigEntry> {
    return mapped(`config set ${processorId}`, () =>
      writeTx(this.db, () => {
        const cur = this.#get(processorId);
        checkVersion(processorId, cur?.version ?? 0, options.ifVersion);
        const e: ConfigEntry = { processorId, value, version: (cur?.version ?? 0) + 1, updatedAt: this.now() };
        this.db
          .prepare('INSERT INTO config (processor_id, value, version, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (processor_id) DO UPDATE SET value = excluded.value, version = excluded.version, updated_at = excluded.updated_at')
          .run(processorId, JSON.stringify(value), e.version, e.updatedAt);
        return { ...e, value: JSON.parse(JSON.stringify(value)) as unknown };
      }),
    );
  }

  list(): Promise<ConfigEntry[]> {
    return mapped('config list', () => (this.db.prepare('SELECT processor_id, value, version, updated_at FROM config ORDER BY processor_id').all() as Row[]).map(decode));
  }

  delete(processorId: string, options: { ifVersion?: number } = {}): Promise<void> {
    return mapped(`config delete ${processorId}`, () =>
      writeTx(this.db, () => {
        const cur = this.#get(processorId);
        if (!cur) throw notFound(`config ${processorId} not found`);
        checkVersion(processorId, cur.version, options.ifVersion);
        this.db.prepare('DELETE FROM config WHERE processor_id = ?').run(processorId);
      }),
    );
  }
}
