import type { Task, TaskContext } from '../dsl/task.js';
import { newKeyedBackend, type KeyedBackend, type StateTable } from './backend.js';
import { normalizeKey, type StateKey } from './key-groups.js';

/**
 * The keyed state API of tasks after `groupBy`: named value, map and list states, each
 * scoped to the key of the record being processed. Values must be structured-clonable
 * (V8 serialisation) and are treated as immutable: write a new value with `set`.
 */
export interface StateOptions {
  /** Entries not written for this long read as absent and are dropped by the cleaner. */
  ttlMs?: number;
}

export interface ValueState<T = unknown> {
  get(): T | undefined;
  set(value: T): void;
  clear(): void;
}

export interface MapState<K = unknown, V = unknown> {
  get(k: K): V | undefined;
  has(k: K): boolean;
  set(k: K, v: V): void;
  delete(k: K): void;
  entries(): IterableIterator<[K, V]>;
  readonly size: number;
  clear(): void;
}

export interface ListState<T = unknown> {
  add(value: T): void;
  get(): readonly T[];
  clear(): void;
}

export interface KeyedState {
  value<T = unknown>(name: string, options?: StateOptions): ValueState<T>;
  map<K = unknown, V = unknown>(name: string, options?: StateOptions): MapState<K, V>;
  list<T = unknown>(name: string, options?: StateOptions): ListState<T>;
}

export interface KeyedContext extends TaskContext {
  /** The key of the record being processed (as the groupBy function returned it). */
  readonly key: unknown;
  readonly state: KeyedState;
}

/** A task after groupBy: called once per record with the record's key current. */
export interface KeyedTask {
  onStart?(ctx: KeyedContext): void | Promise<void>;
  onElement(value: unknown, ts: number, ctx: KeyedContext): void;
  /** As Task.onClock; `ctx.state` is not scoped to a key here (use it inside onElement). */
  onClock?(t: number, ctx: KeyedContext): void;
  onStop?(ctx: KeyedContext): void | Promise<void>;
}

/** The key of the record (or timer) being processed, as given and as state stores it. */
export class Scope {
  key: unknown = undefined;
  sk: StateKey = '';
  set(k: unknown): void {
    this.key = k;
    this.sk = normalizeKey(k);
  }
}

const empty: readonly unknown[] = Object.freeze([]);

export function keyedState(backend: KeyedBackend, scope: Scope): KeyedState {
  const cache = new Map<string, unknown>();
  const once = <T>(kind: string, name: string, make: (t: StateTable) => T): T => {
    const id = `${kind}:${name}`;
    let h = cache.get(id) as T | undefined;
    if (h === undefined) cache.set(id, (h = make(backend.table(id))));
    return h;
  };
  return {
    value: <T>(name: string, o: StateOptions = {}) =>
      once('v', name, (t): ValueState<T> => ({
        get: () => t.get(scope.sk) as T | undefined,
        set: (v) => t.put(scope.sk, v, o.ttlMs),
        clear: () => t.delete(scope.sk),
      })),
    map: <K, V>(name: string, o: StateOptions = {}) =>
      once('m', name, (t): MapState<K, V> => {
        const cur = (): Map<K, V> | undefined => t.get(scope.sk) as Map<K, V> | undefined;
        const w = (): Map<K, V> => t.mutable(scope.sk, () => new Map<K, V>(), (m) => new Map(m), o.ttlMs);
        return {
          get: (k) => cur()?.get(k),
          has: (k) => cur()?.has(k) ?? false,
          set: (k, v) => void w().set(k, v),
          delete: (k) => {
            if (!cur()?.has(k)) return;
            const m = w();
            m.delete(k);
            if (m.size === 0) t.delete(scope.sk);
          },
          entries: () => (cur() ?? new Map<K, V>()).entries(),
          get size() {
            return cur()?.size ?? 0;
          },
          clear: () => t.delete(scope.sk),
        };
      }),
    list: <T>(name: string, o: StateOptions = {}) =>
      once('l', name, (t): ListState<T> => ({
        add: (v) => void t.mutable(scope.sk, () => [] as T[], (a) => [...a], o.ttlMs).push(v),
        get: () => (t.get(scope.sk) as T[] | undefined) ?? (empty as readonly T[]),
        clear: () => t.delete(scope.sk),
      })),
  };
}

/** A Task whose keyed state the runtime checkpoints incrementally (see KeyedBackend). */
export interface StatefulTask extends Task {
  readonly keyedState: KeyedBackend;
}

export function isStatefulTask(t: Task): t is StatefulTask {
  return typeof (t as Partial<StatefulTask>).keyedState?.freeze === 'function';
}

/** Runs a KeyedTask: sets the current key per record, hands it the scoped state. */
export function keyedProcessTask(key: (v: unknown) => unknown, user: KeyedTask, maxParallelism: number): StatefulTask {
  const backend = newKeyedBackend(maxParallelism);
  const scope = new Scope();
  let kctx: KeyedContext | undefined;
  const ctxOf = (ctx: TaskContext): KeyedContext => {
    if (kctx) return kctx;
    const state = keyedState(backend, scope);
    kctx = Object.create(ctx as object, {
      key: { get: () => scope.key },
      state: { value: state },
    }) as KeyedContext;
    return kctx;
  };
  return {
    keyedState: backend,
    onStart: (ctx) => user.onStart?.(ctxOf(ctx)),
    onNext(values, ts, ctx) {
      const c = ctxOf(ctx);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        scope.set(key(v));
        user.onElement(v, ts, c);
      }
    },
    onClock(t, ctx) {
      user.onClock?.(t, ctxOf(ctx));
    },
    onStop: (ctx) => user.onStop?.(ctxOf(ctx)),
  };
}

/**
 * Keyed aggregate over one table: the accumulator per key; at each boundary the keys
 * written since the last one are emitted as `[key, acc]`, stamped t-1 (downstream's
 * checkpoint t then includes them).
 */
export function reduceTask(key: (v: unknown) => unknown, fn: (acc: unknown, v: unknown) => unknown, maxParallelism: number, init?: (v: unknown) => unknown): StatefulTask {
  return aggregateTask(key, 'v:acc', maxParallelism, (v) => (acc) => (acc === undefined ? (init ? init(v) : v) : fn(acc, v)));
}

const increment = (n: unknown): number => ((n as number | undefined) ?? 0) + 1;

/** Counts per key; the hot loop of word count, so it avoids the generic reduce's closures. */
export function countTask(key: (v: unknown) => unknown, maxParallelism: number): StatefulTask {
  return aggregateTask(key, 'v:count', maxParallelism, () => increment);
}

/** One accumulator per key in one table, updated with one lookup per record; emits what changed at each boundary. */
function aggregateTask(key: (v: unknown) => unknown, table: string, maxParallelism: number, step: (v: unknown) => (acc: unknown) => unknown): StatefulTask {
  const backend = newKeyedBackend(maxParallelism);
  const t = backend.table(table);
  return {
    keyedState: backend,
    onNext(values) {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        t.update(normalizeKey(key(v)), step(v));
      }
    },
    onClock(b, ctx) {
      emitWritten(backend, b, ctx);
    },
  };
}

function emitWritten(backend: KeyedBackend, b: number, ctx: TaskContext): void {
  const out = backend.writtenPairs();
  if (out.length) ctx.emit(out, b - 1);
}
