import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildCommand, ChildSpec } from './child.js';
import { ChildSession } from './child-session.js';
import { guardStorage } from '../guard.js';
import { isStorageError, type StorageErrorCode } from '../errors.js';
import type { AppStorage, BackendStorage, CorruptTarget, Storage, StorageCapabilities } from '../types.js';

export type { CorruptTarget } from '../types.js';
export type { ChildCommand, ChildSpec } from './child.js';
export type { ChildSession } from './child-session.js';

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
  corrupt?: (target: CorruptTarget) => Promise<void>;
  /**
   * How another process opens the same store (module name or path, options, baseDir).
   * Required by the cases that prove `persistent`, `multiProcess` and bounded jar memory:
   * those run part of their work in a separate Node process.
   */
  spec?: ChildSpec;
}

export type ConformanceFactory = () => Promise<ConformanceInstance>;

export type Capability = keyof StorageCapabilities;

// Members are function-typed properties, not methods: cases destructure them
// (`run({ storage, uid })`) and the context's functions do not use `this`.
export interface CaseContext {
  storage: Storage;
  instance: ConformanceInstance;
  /** A fresh app with a unique id. */
  app: (owner?: string) => Promise<AppStorage>;
  /** Opens (and tracks for closing) a second instance over the same data. */
  reopen: () => Promise<Storage>;
  /** Unique name with a prefix. */
  uid: (prefix: string) => string;
  /** Runs one command in a separate Node process over the same store (instance.spec); fails loudly without a spec. */
  inChild: (command: ChildCommand, why: string) => Promise<Record<string, unknown>>;
  /**
   * Starts a separate Node process over the same store that runs commands until the case
   * ends (closed by the harness). Commands sent to several at once start together.
   */
  child: (why: string) => Promise<ChildSession>;
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
export async function runCase(c: ConformanceCase, factory: ConformanceFactory): Promise<{ status: 'passed' | 'skipped'; reason?: string; missing?: Capability[] }> {
  const instance = await factory();
  const extra: Storage[] = [];
  const children: Array<Promise<ChildSession>> = [];
  const last: LastCall = {};
  try {
    const storage = traced(guardStorage(instance.storage as BackendStorage), 'storage', last);
    const missing = (c.needs ?? []).filter((cap) => !storage.capabilities[cap]);
    if (missing.length) return { status: 'skipped', reason: `backend does not declare ${missing.join(', ')}`, missing };
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
      inChild: (command, why) => inChild(instance.spec, command, why),
      child: (why) => {
        const started = ChildSession.start(requireSpec(instance.spec, why), why);
        children.push(started);
        return started;
      },
    };
    await withTimeout(c.run(ctx), c.timeoutMs ?? 30_000, `${c.group} › ${c.name}`);
    return { status: 'passed' };
  } catch (err) {
    // Name the call the case made last, with its arguments: the assertion says what was expected.
    if (err instanceof Error && last.call && !err.message.includes(last.call)) err.message = `${err.message}\n  last storage call: ${last.call}`;
    throw err;
  } finally {
    await Promise.allSettled(children.map(async (c) => (await c).close()));
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

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

/** Runs child.js with the instance's spec; bounded in time; its JSON line is the result. */
function requireSpec(spec: ChildSpec | undefined, why: string): ChildSpec {
  assert.ok(spec, `${why}: this must be shown in a separate process, so the conformance instance must provide spec ({ module, options, baseDir })`);
  return spec;
}

export async function inChild(spec: ChildSpec | undefined, command: ChildCommand, why: string): Promise<Record<string, unknown>> {
  requireSpec(spec, why);
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [CHILD, JSON.stringify(spec), JSON.stringify(command)], { timeout: 170_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      // A failed command still prints its JSON line; only a missing line is an error here.
      if (stdout.trim()) resolve(stdout);
      else reject(new Error(`${why}: child process ${command.cmd} failed: ${err?.message ?? ''} ${stderr.slice(-2000)}`));
    });
  });
  const line = out.trim().split('\n').pop()!;
  const result = JSON.parse(line) as Record<string, unknown>;
  if (result.error) assert.fail(`${why}: child process ${command.cmd} ${JSON.stringify(command)} failed: ${JSON.stringify(result.error)}`);
  return result;
}

interface LastCall {
  call?: string;
}

function fmtArg(a: unknown): string {
  if (a instanceof Uint8Array) return a.byteLength <= 32 ? JSON.stringify(Buffer.from(a).toString()) : `<${a.byteLength} bytes>`;
  if (typeof a === 'function') return '<fn>';
  if (a && typeof a === 'object' && (Symbol.asyncIterator in a)) return '<stream>';
  if (a && typeof a === 'object' && 'aborted' in a) return '<signal>';
  try {
    const j = JSON.stringify(a, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.byteLength} bytes>` : v && typeof v === 'object' && 'aborted' in v ? '<signal>' : v));
    return j === undefined ? String(a) : j.length > 200 ? `${j.slice(0, 200)}…` : j;
  } catch {
    return '<unprintable>';
  }
}

/** A view of the storage that records the last call made through it (method path and arguments). */
function traced<T>(x: T, path: string, last: LastCall): T {
  if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x) || Array.isArray(x) || x instanceof Promise) return x;
  return new Proxy(x as object, {
    get(t, k) {
      const v = Reflect.get(t, k) as unknown;
      if (typeof k === 'symbol') return v;
      if (typeof v !== 'function') return traced(v, `${path}.${k}`, last);
      return (...args: unknown[]) => {
        const call = `${path}.${k}(${args.map(fmtArg).join(', ')})`;
        last.call = call;
        const out = (v as (...a: unknown[]) => unknown).apply(t, args);
        if (out instanceof Promise) return (out as Promise<unknown>).then((r) => traced(r, call, last));
        return traced(out, call, last);
      };
    },
  }) as T;
}
