/**
 * The storage contract's version: the shape of what a backend implements, separate from
 * the package version (STORAGE_API_VERSION, checked against peer ranges).
 *
 * History:
 * - 1: round-1 shape. `offsets(name)` returned an OffsetStore whose `writer(epoch)` gave an
 *   OffsetWriter with `append(t, value)` / `appendBatch(entries)`; `config` had
 *   `set`/`delete`. The backend did fencing, ordering and retries itself, storing values
 *   unframed.
 * - 2: hook-shaped offsets and config (commits 1eef878, fe07849): the backend gives I/O hooks
 *   (OffsetBackend, ConfigBackend); storage-api fences, orders and frames every value.
 *   (The checkpoint `stager(epoch)` came later without a bump: storage-api falls back.)
 *
 * A module built for another version is refused, not adapted: a v1 module stores unframed
 * bytes and fences on its own, so wrapping it would silently change what is on disk.
 */
import { StorageError } from './errors.js';

export const STORAGE_CONTRACT_VERSION = 2;

/** Where the module guide explains the versions and the upgrade. */
export const CONTRACT_GUIDE = 'docs/writing-a-storage-module.md#contract-versions';

/** The hook functions each store must have at version 2, by name. */
export const CONTRACT_HOOKS = Object.freeze({
  offsets: Object.freeze(['get', 'floor', 'ceiling', 'first', 'last', 'range', 'currentEpoch', 'openEpoch', 'append', 'truncate'] as const),
  config: Object.freeze(['get', 'list', 'put', 'remove'] as const),
});

export type ContractStore = keyof typeof CONTRACT_HOOKS;

/** The v2 hooks a version-1 module lacks (by name: v1 offsets had `writer`, config `set`/`delete`). */
const MISSING_IN_V1: Readonly<Record<ContractStore, readonly string[]>> = { offsets: ['ceiling', 'openEpoch', 'append', 'truncate'], config: ['put', 'remove'] };

function hookList(missing: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(missing)
    .filter(([, names]) => names.length > 0)
    .map(([store, names]) => `${store}: ${names.join(', ')}`)
    .join('; ');
}

/**
 * Refuses a module whose declared `contractVersion` is not this one, before it is created.
 * Undeclared passes here: its stores are checked by name when first handed out (checkStoreHooks).
 */
export function checkDeclaredContract(mod: { name?: unknown; contractVersion?: unknown }, spec: string): void {
  const declared = mod.contractVersion;
  if (declared === undefined || declared === STORAGE_CONTRACT_VERSION) return;
  const details = { module: spec, declared, implemented: STORAGE_CONTRACT_VERSION };
  if (typeof declared !== 'number' || !Number.isSafeInteger(declared) || declared < 1) {
    throw new StorageError(`${spec} declares contractVersion ${JSON.stringify(declared) ?? typeof declared}, which is not a version (storage-api implements contractVersion ${STORAGE_CONTRACT_VERSION})`, {
      code: 'STORAGE_MODULE_INVALID', details,
    });
  }
  if (declared > STORAGE_CONTRACT_VERSION) {
    throw new StorageError(
      `${spec} declares contractVersion ${declared}, newer than this storage-api implements (contractVersion ${STORAGE_CONTRACT_VERSION}): upgrade the engine, or install a module built for contractVersion ${STORAGE_CONTRACT_VERSION}`,
      { code: 'STORAGE_MODULE_INVALID', details },
    );
  }
  const missing = hookList(MISSING_IN_V1);
  throw new StorageError(
    `${spec} declares contractVersion ${declared}, but this storage-api implements contractVersion ${STORAGE_CONTRACT_VERSION}, whose stores need hooks it lacks (${missing}); ` +
      `it is refused, not adapted (a v${declared} module stores unframed values and fences itself): upgrade it as ${CONTRACT_GUIDE} describes`,
    { code: 'STORAGE_MODULE_INVALID', details: { ...details, missing: MISSING_IN_V1 } },
  );
}

/** Refuses a store object (of a module that declares no version) that lacks a v2 hook, naming each one. */
export function checkStoreHooks(kind: ContractStore, store: unknown, backend: string): void {
  const obj = (store ?? {}) as Record<string, unknown>;
  const missing = CONTRACT_HOOKS[kind].filter((h) => typeof obj[h] !== 'function');
  if (missing.length === 0) return;
  throw new StorageError(
    `${backend}: its ${kind} store lacks the contractVersion ${STORAGE_CONTRACT_VERSION} hooks ${missing.join(', ')} ` +
      `(a module written for an older contract? it declares no contractVersion): upgrade it as ${CONTRACT_GUIDE} describes`,
    { code: 'STORAGE_MODULE_INVALID', details: { backend, store: kind, missing, implemented: STORAGE_CONTRACT_VERSION } },
  );
}
