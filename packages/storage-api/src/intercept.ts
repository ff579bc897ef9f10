import type { SubStoreKind } from './types.js';

/** One intercepted call: `kind.method`, e.g. `offsetWriter.append`, with its sub-store. */
export interface InterceptedCall {
  /** storage, app, jars, logs, metrics, config, offsets, checkpoints, offsetWriter, checkpointWriter, checkpointStager */
  kind: string;
  method: string;
  subStore?: SubStoreKind;
  args: unknown[];
}

/** Runs around every asynchronous method: call `proceed()` to run the real one. */
export type Around = (call: InterceptedCall, proceed: () => Promise<unknown>) => Promise<unknown>;

// Objects reached through these members are wrapped too, under these kinds.
const CHILD_KIND: Record<string, string> = {
  createAppStorage: 'app',
  getAppStorage: 'app',
  offsets: 'offsets',
  checkpoints: 'checkpoints',
  jars: 'jars',
  logs: 'logs',
  metrics: 'metrics',
  config: 'config',
};

const SUB_STORE: Record<string, SubStoreKind> = {
  jars: 'jars',
  logs: 'logs',
  metrics: 'metrics',
  config: 'config',
  offsets: 'offsets',
  offsetWriter: 'offsets',
  checkpoints: 'checkpoints',
  checkpointWriter: 'checkpoints',
  checkpointStager: 'checkpoints',
};

// Synchronous members of the contract: they are passed through (their results wrapped).
const SYNC = new Set(['offsets', 'checkpoints', 'stager', 'follow', 'describe']);

/**
 * Wraps a Storage or AppStorage (and everything reached through it) so that every
 * asynchronous operation runs inside `around`. The one mechanism behind fault injection
 * (conformance) and storage-operation metrics (engine).
 */
export function intercept<T extends object>(target: T, around: Around, kind = 'storage'): T {
  return new Proxy(target, {
    get(t, prop, recv) {
      const v = Reflect.get(t, prop, recv) as unknown;
      if (typeof prop !== 'string') return v;
      if (typeof v !== 'function') {
        return v && typeof v === 'object' && CHILD_KIND[prop] ? intercept(v as object, around, CHILD_KIND[prop]) : v;
      }
      const fn = v as (...a: unknown[]) => unknown;
      const childKind =
        prop === 'writer' ? (kind === 'offsets' ? 'offsetWriter' : 'checkpointWriter') : prop === 'stager' && kind === 'checkpoints' ? 'checkpointStager' : CHILD_KIND[prop];
      const wrap = (x: unknown): unknown => (childKind && x && typeof x === 'object' ? intercept(x as object, around, childKind) : x);
      if (SYNC.has(prop)) return (...args: unknown[]) => wrap(fn.apply(t, args));
      return (...args: unknown[]) =>
        around({ kind, method: prop, subStore: SUB_STORE[kind], args }, async () => wrap(await fn.apply(t, args)));
    },
  });
}
