/**
 * The public config store over a backend's I/O hooks: versions, compare-and-set and a
 * checksum of every value are applied here, once, for every backend. Arguments arrive
 * validated (the guard), values already JSON round-tripped.
 */
import { crc32 } from 'node:zlib';
import { StorageError } from './errors.js';
import { checkConfigVersion } from './policy.js';
import type { ConfigBackend, ConfigEntry, ConfigStore } from './types.js';
import { checkStoreHooks } from './contract-version.js';

const POLICY_APPLIED = Symbol.for('@sluice/storage-api.config-policy');

/**
 * The stored value: the JSON text and a CRC-32 over processor id, version and text, so a
 * value changed at rest (or an entry moved or rolled back) is STORAGE_CORRUPT on read.
 */
interface Frame {
  $json: string;
  $crc32: number;
}

function crcOf(id: string, version: number, json: string): number {
  return crc32(`${id}\u0000${version}\u0000${json}`);
}

function frame(id: string, version: number, value: unknown): Frame {
  const json = JSON.stringify(value);
  return { $json: json, $crc32: crcOf(id, version, json) };
}

function open(e: ConfigEntry): ConfigEntry {
  const f = e.value as Partial<Frame> | null;
  const bad = (why: string): StorageError => new StorageError(`config ${e.processorId}: the stored value ${why}`, { code: 'STORAGE_CORRUPT', details: { processorId: e.processorId } });
  if (!f || typeof f !== 'object' || typeof f.$json !== 'string' || typeof f.$crc32 !== 'number') throw bad('is not a checksummed frame');
  if (crcOf(e.processorId, e.version, f.$json) !== f.$crc32) throw bad('fails its checksum');
  try {
    return { processorId: e.processorId, value: JSON.parse(f.$json) as unknown, version: e.version, updatedAt: e.updatedAt };
  } catch (err) {
    throw new StorageError(`config ${e.processorId}: the stored value is not JSON`, { code: 'STORAGE_CORRUPT', cause: err });
  }
}

/** The public store over `b`; a store that already applies the policy (routing) passes through. */
export function configStoreOver(b: ConfigBackend | ConfigStore, backend = 'storage module'): ConfigStore {
  if ((b as unknown as Record<symbol, unknown>)[POLICY_APPLIED]) return b as ConfigStore;
  // Before any operation: a module of an older contract has set/delete, not these hooks.
  checkStoreHooks('config', b, backend);
  const hooks = b as ConfigBackend;
  return markConfigPolicy({
    get: async (id, o) => {
      const e = await hooks.get(id, o);
      return e && open(e);
    },
    list: async (o) => (await hooks.list(o)).map(open).sort((x, y) => (x.processorId < y.processorId ? -1 : x.processorId > y.processorId ? 1 : 0)),
    set: async (id, value, o = {}) => {
      let stored: ConfigEntry | undefined;
      await hooks.put(
        id,
        (cur, now) => {
          checkConfigVersion(id, cur?.version ?? 0, o.ifVersion);
          const version = (cur?.version ?? 0) + 1;
          stored = { processorId: id, value: frame(id, version, value), version, updatedAt: now };
          return stored;
        },
        o,
      );
      return open(stored!);
    },
    delete: (id, o = {}) =>
      hooks.remove(
        id,
        (cur) => {
          if (!cur) throw new StorageError(`config ${id} not found`, { code: 'STORAGE_NOT_FOUND' });
          checkConfigVersion(id, cur.version, o.ifVersion);
        },
        o,
      ),
  });
}

/** Marks a store (or a guard around one) as applying the policy already. */
export function markConfigPolicy<T extends ConfigStore>(store: T): T {
  Object.defineProperty(store, POLICY_APPLIED, { value: true });
  return store;
}
