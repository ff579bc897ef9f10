import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { guardStorage } from '../guard.js';
import { isStorageError, type StorageErrorCode } from '../errors.js';
import type { AppStorage, BackendStorage, CorruptTarget, Storage, StorageCapabilities } from '../types.js';

export type { CorruptTarget } from '../types.js';

export interface ConformanceInstance {
  storage: Storage | BackendStorage;
  /** A second, independent instance over the same data (like another process). */
  reopen(): Promise<Storage | BackendStorage>;
  /** Closes everything opened and removes the data. */
  destroy(): Promise<void>;
  /**
   * Flips bytes of stored content behind the backend's back (corrupt-data cases).
   * Every backend must provide it: verify-on-read is part of the contract.
   */
  corrupt?(target: CorruptTarget): Promise<void>;
}

export type ConformanceFactory = () => Promise<ConformanceInstance>;

export type Capability = keyof StorageCapabilities;

export interface CaseContext {
  storage: Storage;
  instance: ConformanceInstance;
  /** A fresh app with a unique id. */
  app(owner?: string): Promise<AppStorage>;
  /** Opens (and tracks for closing) a second instance over the same data. */
  reopen(): Promise<Storage>;
  /** Unique name with a prefix. */
  uid(prefix: string): string;
}

export interface ConformanceCase {
  group: string;
  name: string;
  /** Capabilities that must be true for the case to run. */
  needs?: Capability[];
  /** Case timeout (ms); default 30 s. */
  timeoutMs?: number;
  run(ctx: CaseContext): Promise<void>;
}

export async function rejectsWith(p: Promise<unknown> | (() => Promise<unknown>), code: StorageErrorCode, what = ''): Promise<Error> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (!isStorageError(err, code)) {
      const e = err as { code?: string; message?: string };
      assert.fail(`${what ? what + ': ' : ''}expected ${code}, got ${e?.code ?? 'no code'}: ${e?.message ?? String(err)}`);
    }
    return err as Error;
  }
  assert.fail(`${what ? what + ': ' : ''}expected ${code}, but it succeeded`);
}

export function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s));
}

export function text(b: Uint8Array | undefined): string | undefined {
  return b && Buffer.from(b).toString();
}

export { assert };

/** Runs one case against a fresh instance; returns 'skipped' with the missing capability. */
export async function runCase(c: ConformanceCase, factory: ConformanceFactory): Promise<{ status: 'passed' | 'skipped'; reason?: string }> {
  const instance = await factory();
  const extra: Storage[] = [];
  try {
    const storage = guardStorage(instance.storage as BackendStorage);
    const missing = (c.needs ?? []).filter((cap) => !storage.capabilities[cap]);
    if (missing.length) return { status: 'skipped', reason: `backend does not declare ${missing.join(', ')}` };
    const ctx: CaseContext = {
      storage,
      instance,
      uid: (p) => `${p}-${randomUUID().slice(0, 8)}`,
      app: async (owner = 'alice') => storage.createAppStorage('conformance', `app-${randomUUID().slice(0, 12)}`, { owner }),
      reopen: async () => {
        const s = guardStorage((await instance.reopen()) as BackendStorage);
        extra.push(s);
        return s;
      },
    };
    await withTimeout(c.run(ctx), c.timeoutMs ?? 30_000, `${c.group} › ${c.name}`);
    return { status: 'passed' };
  } finally {
    await Promise.allSettled(extra.map((s) => s.close()));
    await instance.destroy();
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
