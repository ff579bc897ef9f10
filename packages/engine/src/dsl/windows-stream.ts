import { EngineError } from '../errors.js';
import type { WindowFunction } from '../state/window-operator.js';
import { windowTask } from '../state/window-task.js';
import type { TaskFactory } from './task.js';
import type { WindowAggregate, WindowAssigner } from './windows.js';

/** A user callback (method-style: bivariant, so typed parameters are accepted without `any`). */
type Fn<R> = { bivarianceHack(v: unknown): R }['bivarianceHack'];
type Fn2<R> = { bivarianceHack(acc: unknown, v: unknown): R }['bivarianceHack'];

/** What a windowed stream needs of the DSL: adds the window processor, returns its results stream. */
export interface WindowHost<S> {
  key: (v: unknown) => unknown;
  time: (v: unknown) => number;
  maxParallelism: () => number;
  add(name: string, factory: TaskFactory, lateOutput: string | undefined, parallelism: number | undefined): S;
}

/** The window a `process` function sees: its key, bounds and records (in arrival order). */
export interface WindowContents {
  key: unknown;
  start: number;
  end: number;
  elements: readonly unknown[];
}

const plus = (a: unknown, b: unknown): number => (a as number) + (b as number);

/**
 * `keyed.window(assigner, options)`: pick the aggregate. Each returns the stream of
 * results `{ key, start, end, value }`.
 */
export class WindowedStream<S> {
  constructor(readonly host: WindowHost<S>, readonly assigner: WindowAssigner, readonly options: { allowedLatenessMs: number; lateOutput?: string }) {}

  #add(name: string, fn: WindowFunction, parallelism?: number): S {
    const h = this.host;
    const factory: TaskFactory = () => windowTask({ assigner: this.assigner, ...this.options, fn, key: h.key, time: h.time, maxParallelism: h.maxParallelism() });
    return h.add(name, factory, this.options.lateOutput, parallelism);
  }

  /** Records per window. */
  count(name: string, opts: { parallelism?: number } = {}): S {
    return this.#add(name, { add: (acc) => ((acc as number | undefined) ?? 0) + 1, merge: plus, result: (acc) => acc }, opts.parallelism);
  }

  /** Sum of `value(v)` per window (default: the record itself as a number). */
  sum(name: string, value?: Fn<number>, opts: { parallelism?: number } = {}): S {
    const get = value ?? ((v: unknown) => Number(v));
    return this.#add(name, { add: (acc, v) => ((acc as number | undefined) ?? 0) + get(v), merge: plus, result: (acc) => acc }, opts.parallelism);
  }

  /** fn(acc, record) per window, starting from its first record. */
  reduce(name: string, fn: Fn2<unknown>, opts: { parallelism?: number } = {}): S {
    return this.#add(name, { add: (acc, v) => (acc === undefined ? v : fn(acc, v)), merge: (a, b) => fn(a, b), result: (acc) => acc }, opts.parallelism);
  }

  /** A user aggregate: create/add/result (merge too for session windows). */
  aggregate(name: string, agg: WindowAggregate, opts: { parallelism?: number } = {}): S {
    if (typeof agg?.create !== 'function' || typeof agg.add !== 'function' || typeof agg.result !== 'function') {
      throw new EngineError('DAG_INVALID', `window aggregate ${name}: needs create, add and result functions`);
    }
    if (this.assigner.merging && typeof agg.merge !== 'function') throw new EngineError('DAG_INVALID', `window aggregate ${name}: session windows need merge(a, b)`);
    return this.#add(name, {
      add: (acc, v) => agg.add(acc === undefined ? agg.create() : acc, v),
      merge: (a, b) => agg.merge!(a, b),
      result: (acc) => agg.result(acc),
    }, opts.parallelism);
  }

  /** fn over the window's records when it fires (they are kept in the state until then). */
  process(name: string, fn: (w: WindowContents) => unknown, opts: { parallelism?: number } = {}): S {
    if (typeof fn !== 'function') throw new EngineError('DAG_INVALID', `window process ${name}: needs a function`);
    return this.#add(name, {
      add: (acc, v) => {
        const list = (acc as unknown[] | undefined) ?? [];
        list.push(v);
        return list;
      },
      merge: (a, b) => [...(a as unknown[]), ...(b as unknown[])],
      result: (acc, key, start, end) => fn({ key, start, end, elements: acc as unknown[] }),
    }, opts.parallelism);
  }
}
