import { validateName } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import type { SourceFactory, Task, TaskContext, TaskFactory } from './task.js';
import { filterTask, flatMapTask, mapTask } from './operators.js';
import { countTask, keyedProcessTask, reduceTask, type KeyedTask } from '../state/keyed-api.js';
import { DEFAULT_MAX_PARALLELISM } from '../state/key-groups.js';
import { timestampTask } from '../runtime/watermark-assigner.js';
import { isWindowAssigner, parseTimestampOptions, parseWindowOptions, type TimestampOptions, type WindowAssigner, type WindowOptions } from './windows.js';
import { WindowedStream } from './windows-stream.js';
import { isTimedKeyedTask, timedKeyedProcessTask } from '../state/window-keyed-timers.js';
import { intervalJoin, joinTable, windowCoGroup, windowJoin, type IntervalJoinOptions, type JoinedWindow, type JoinSide, type TableJoinOptions, type WindowJoinOptions } from './joins.js';

/**
 * A user callback over the messages of an untyped stream. It may declare what it expects
 * (`(line: string) => …`): method-style signatures are bivariant in their parameters, so
 * that is accepted without `any`; undeclared, a parameter is `unknown`.
 */
type Fn<R> = { bivarianceHack(v: unknown): R }['bivarianceHack'];
type Fn2<R> = { bivarianceHack(acc: unknown, v: unknown): R }['bivarianceHack'];
type PairFn = { bivarianceHack(l: unknown, r: unknown, w: { key: unknown; start: number; end: number }): unknown }['bivarianceHack'];

export type Partition = 'forward' | 'shuffle' | 'hash';

export interface ProcessorSpec {
  name: string;
  kind: 'source' | 'task';
  parallelism: number;
  /** Set for sources. */
  source?: SourceFactory;
  /** Set for tasks (operators, custom tasks and sinks). */
  task?: TaskFactory;
  /** Stable identity of its state across app versions: savepoints match by it, else by name. */
  uid?: string;
}

export interface EdgeSpec {
  from: string;
  to: string;
  partition: Partition;
  /** For 'hash': the partition key of a message. */
  key?: (value: unknown) => unknown;
  /** Set for a side output's edge (e.g. a window's late records): only that output travels on it. */
  port?: string;
}

export interface ProcessorOptions {
  parallelism?: number;
  /** See ProcessorSpec.uid: keep it when renaming a stateful processor. */
  uid?: string;
}

export const MAX_PARALLELISM = 256;

export interface DagOptions {
  checkpointIntervalMs?: number;
  /**
   * Key groups of keyed state (fixed for the app's life, recorded in each checkpoint):
   * the most tasks a keyed processor can ever be split into. Default 128, or the next
   * power of two above the widest processor.
   */
  maxParallelism?: number;
  /** Keyed-state backend: 'heap' (default) or 'disk' (lmdb; app config `stateBackend` overrides). */
  stateBackend?: 'heap' | 'disk';
}

/** A DAG of processors. Built with the fluent DSL (dag().source()...) or processor()/edge(). */
export class Dag {
  readonly processors = new Map<string, ProcessorSpec>();
  readonly edges: EdgeSpec[] = [];
  /** Side outputs (a window's lateOutput) -> the processor that emits them. */
  readonly sideOutputs = new Map<string, string>();
  #auto = 0;
  constructor(readonly name: string, readonly options: DagOptions = {}) {}

  /** The app's number of key groups (see DagOptions.maxParallelism). */
  get maxParallelism(): number {
    if (this.options.maxParallelism !== undefined) return this.options.maxParallelism;
    let widest = 1;
    for (const p of this.processors.values()) widest = Math.max(widest, p.parallelism);
    return Math.max(DEFAULT_MAX_PARALLELISM, 2 ** Math.ceil(Math.log2(widest)));
  }

  /** Low-level: adds a processor. Duplicate names are reported by validate(). */
  processor(spec: ProcessorSpec): this {
    if (this.processors.has(spec.name)) throw new EngineError('DAG_INVALID', `processor ${JSON.stringify(spec.name)} is defined twice`);
    this.processors.set(spec.name, spec);
    return this;
  }

  /** Low-level: connects two processors (may create cycles; validate() rejects them). */
  edge(from: string, to: string, options: { partition?: Partition; key?: (v: unknown) => unknown; port?: string } = {}): this {
    this.edges.push({ from, to, partition: options.partition ?? (options.key ? 'hash' : 'shuffle'), ...(options.key ? { key: options.key } : {}), ...(options.port === undefined ? {} : { port: options.port }) });
    return this;
  }

  source(name: string, factory: SourceFactory, options: ProcessorOptions = {}): Stream {
    this.processor({ name, kind: 'source', parallelism: options.parallelism ?? 1, source: factory, ...(options.uid === undefined ? {} : { uid: options.uid }) });
    return new Stream(this, name);
  }

  /**
   * A named side output as a stream (e.g. the records a window's `lateOutput` receives):
   * sink it or transform it like any stream.
   */
  sideOutput(name: string): Stream {
    const from = this.sideOutputs.get(name);
    if (from === undefined) throw new EngineError('DAG_INVALID', `dag ${this.name}: no side output ${JSON.stringify(name)} (declare it with window(..., { lateOutput }) and its aggregate first)`);
    return new Stream(this, from, undefined, { port: name });
  }

  /** @internal */
  autoName(op: string): string {
    return `${op}${++this.#auto}`;
  }
}

type NameOr<F> = [string, F, ProcessorOptions?] | [F, ProcessorOptions?];

function split<F>(args: NameOr<F>, dag: Dag, op: string): { name: string; fn: F; opts: ProcessorOptions } {
  if (typeof args[0] === 'string') return { name: args[0], fn: args[1] as F, opts: (args[2] as ProcessorOptions) ?? {} };
  return { name: dag.autoName(op), fn: args[0] as F, opts: (args[1] as ProcessorOptions) ?? {} };
}

/** What a stream carries besides its records: their event time (withTimestamps), a side output port. */
export interface StreamExtras {
  eventTime?: (v: unknown) => number;
  port?: string;
}

/** A processor's output; each operator adds a processor and an edge. */
export class Stream {
  constructor(protected readonly dag: Dag, readonly from: string, protected readonly key?: (v: unknown) => unknown, protected readonly extras: StreamExtras = {}) {}

  protected add(name: string, task: TaskFactory, opts: ProcessorOptions): Stream {
    const parallelism = opts.parallelism ?? 1;
    this.dag.processor({ name, kind: 'task', parallelism, task, ...(opts.uid === undefined ? {} : { uid: opts.uid }) });
    const up = this.dag.processors.get(this.from);
    const partition: Partition = this.key ? 'hash' : up && up.parallelism === parallelism ? 'forward' : 'shuffle';
    this.dag.edge(this.from, name, { partition, ...(this.key ? { key: this.key } : {}), ...(this.extras.port === undefined ? {} : { port: this.extras.port }) });
    return new Stream(this.dag, name);
  }

  /** The event time of this stream's records, if withTimestamps assigned one upstream (kept by filter and groupBy). */
  get eventTime(): ((v: unknown) => number) | undefined {
    return this.extras.eventTime;
  }

  /**
   * Gives each record an event time (`fn(record)`, ms) and emits watermarks trailing the
   * highest one seen by maxOutOfOrdernessMs (one assigning task per upstream task). A
   * map or flatMap after it yields new records: call withTimestamps again on those.
   */
  withTimestamps(fn: Fn<number>, options: TimestampOptions): Stream {
    if (typeof fn !== 'function') throw new EngineError('DAG_INVALID', `dag ${this.dag.name}: withTimestamps needs a function (record => event time in ms)`);
    const o = parseTimestampOptions(options);
    const up = this.dag.processors.get(this.from);
    const name = o.name ?? this.dag.autoName('timestamps');
    const s = this.add(name, () => timestampTask(fn, { maxOutOfOrdernessMs: o.maxOutOfOrdernessMs, watermarkEveryRecords: o.watermarkEveryRecords, ...(o.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: o.idleTimeoutMs }) }), { parallelism: up?.parallelism ?? 1 });
    return new Stream(this.dag, s.from, undefined, { eventTime: fn });
  }

  map(...args: NameOr<Fn<unknown>>): Stream {
    const { name, fn, opts } = split(args, this.dag, 'map');
    return this.add(name, () => mapTask(fn), opts);
  }
  flatMap(...args: NameOr<Fn<Iterable<unknown>>>): Stream {
    const { name, fn, opts } = split(args, this.dag, 'flatMap');
    return this.add(name, () => flatMapTask(fn), opts);
  }
  filter(...args: NameOr<Fn<boolean>>): Stream {
    const { name, fn, opts } = split(args, this.dag, 'filter');
    const s = this.add(name, () => filterTask(fn), opts);
    return this.extras.eventTime ? new Stream(this.dag, s.from, undefined, { eventTime: this.extras.eventTime }) : s;
  }
  /** Routes messages by key: the next processor sees every message of a key in one task. */
  groupBy(key: Fn<unknown>): KeyedStream {
    return new KeyedStream(this.dag, this.from, key, this.extras);
  }
  /** A custom processor built on the Task API. */
  process(name: string, factory: TaskFactory, opts: ProcessorOptions = {}): Stream {
    return this.add(name, factory, opts);
  }
  /** A sink: a task that emits nothing (e.g. connectors.fileSink). Returns the Dag. */
  sink(name: string, factory: TaskFactory, opts: ProcessorOptions = {}): Dag {
    this.add(name, factory, opts);
    return this.dag;
  }
}

/**
 * A stream partitioned by key (by key group: see DagOptions.maxParallelism). Its
 * aggregates keep keyed state and emit `[key, value]` at checkpoint boundaries.
 */
export class KeyedStream extends Stream {
  constructor(dag: Dag, from: string, key: (v: unknown) => unknown, extras: StreamExtras = {}) {
    super(dag, from, key, extras);
  }
  /**
   * Event-time windows per key (`sluice.windows.tumbling(ms) | sliding(size, slide) |
   * session(gap)`); needs withTimestamps upstream. Then `.count | .sum | .reduce |
   * .aggregate | .process(name, ...)` give the results `{ key, start, end, value }`.
   */
  window(assigner: WindowAssigner, options: WindowOptions = {}): WindowedStream<Stream> {
    if (!isWindowAssigner(assigner)) throw new EngineError('DAG_INVALID', `dag ${this.dag.name}: window needs sluice.windows.tumbling(ms), sliding(size, slide) or session(gap)`);
    const time = this.extras.eventTime;
    if (!time) throw new EngineError('DAG_INVALID', `dag ${this.dag.name}: window needs event time: call withTimestamps(fn, ...) on this stream before groupBy (after any map)`);
    const o = parseWindowOptions(options);
    if (o.lateOutput !== undefined && this.dag.sideOutputs.has(o.lateOutput)) throw new EngineError('DAG_INVALID', `dag ${this.dag.name}: side output ${JSON.stringify(o.lateOutput)} is declared twice`);
    return new WindowedStream<Stream>({
      key: this.key!,
      time,
      maxParallelism: this.#mp,
      add: (name, factory, lateOutput, parallelism) => {
        const s = this.add(name, factory, parallelism === undefined ? {} : { parallelism });
        if (lateOutput !== undefined) this.dag.sideOutputs.set(lateOutput, name);
        return s;
      },
    }, assigner, { allowedLatenessMs: o.allowedLatenessMs, ...(o.lateOutput === undefined ? {} : { lateOutput: o.lateOutput }) });
  }
  /** The key groups of the app, read when a task is created (after the DAG is complete). */
  #mp = (): number => this.dag.maxParallelism;

  #side(): JoinSide {
    return { dag: this.dag, from: this.from, key: this.key!, ...(this.extras.eventTime ? { eventTime: this.extras.eventTime } : {}), ...(this.extras.port === undefined ? {} : { port: this.extras.port }) };
  }
  #other(kind: string, other: unknown): JoinSide {
    if (!(other instanceof KeyedStream)) throw new EngineError('DAG_INVALID', `dag ${this.dag.name}: ${kind}: the other side must be a keyed stream (call groupBy on it)`);
    return other.#side();
  }

  /**
   * Interval join with another keyed stream (both need withTimestamps): `fn(l, r)` for each
   * pair of the same key with l.time + lowerMs <= r.time <= l.time + upperMs, emitted when
   * the second arrives; undefined emits nothing. State expires with the watermark.
   */
  intervalJoin(other: KeyedStream, options: IntervalJoinOptions, fn: Fn2<unknown>): Stream {
    return new Stream(this.dag, intervalJoin(this.#side(), this.#other('intervalJoin', other), options, fn));
  }

  /** Window join: `fn(l, r, { key, start, end })` per pair of a key's records in one window, emitted when the watermark passes its end. */
  windowJoin(other: KeyedStream, assigner: WindowAssigner, fn: PairFn, options?: WindowJoinOptions): Stream {
    return new Stream(this.dag, windowJoin(this.#side(), this.#other('windowJoin', other), assigner, fn, options));
  }

  /** Window coGroup: `fn({ key, start, end, left, right })` once per window of a key; the records it returns are emitted. */
  windowCoGroup(other: KeyedStream, assigner: WindowAssigner, fn: (w: JoinedWindow) => Iterable<unknown> | undefined, options?: WindowJoinOptions): Stream {
    return new Stream(this.dag, windowCoGroup(this.#side(), this.#other('windowCoGroup', other), assigner, fn, options));
  }

  /**
   * Joins each record with the row of its key in `table` (a keyed stream whose records are
   * the table's rows, the latest per key): `fn(record, row)`. asOf 'eventTime' (default)
   * is Flink's event-time temporal join; 'latest' the latest row received (see README).
   */
  joinTable(table: KeyedStream, fn: Fn2<unknown>, options?: TableJoinOptions): Stream {
    return new Stream(this.dag, joinTable(this.#side(), this.#other('joinTable', table), fn, options));
  }
  reduce(name: string, fn: Fn2<unknown>, opts: ProcessorOptions = {}): Stream {
    const key = this.key!;
    return this.add(name, () => reduceTask(key, fn, this.#mp()), opts);
  }
  /** Counts messages per key. */
  count(name = this.dag.autoName('count'), opts: ProcessorOptions = {}): Stream {
    const key = this.key!;
    return this.add(name, () => countTask(key, this.#mp()), opts);
  }
  /**
   * A custom keyed processor: a KeyedTask sees one record at a time with its key current
   * and `ctx.state` (value, map, list) scoped to it; a plain Task runs as on any stream.
   * With `onTimer(t, ts, ctx, domain)`, `ctx.timers` registers event-time timers (fired as
   * the watermark passes) and processing-time ones, kept in the keyed state.
   */
  override process(name: string, factory: () => KeyedTask | Task, opts: ProcessorOptions = {}): Stream {
    const key = this.key!;
    return this.add(name, () => {
      const t = factory();
      if (!('onElement' in t)) return t;
      return isTimedKeyedTask(t) ? timedKeyedProcessTask(key, t, this.#mp()) : keyedProcessTask(key, t, this.#mp());
    }, opts);
  }
  /** Sums `value(v)` (default: v itself, or v[1] for [key, n] pairs) per key. */
  sum(name = this.dag.autoName('sum'), value?: Fn<number>, opts: ProcessorOptions = {}): Stream {
    const key = this.key!;
    const get = value ?? ((v: unknown) => (Array.isArray(v) ? Number(v[1]) : Number(v)));
    return this.add(name, () => reduceTask(key, (a: unknown, v: unknown) => (a as number) + get(v), this.#mp(), get), opts);
  }
}

export function dag(name: string, options: DagOptions = {}): Dag {
  return new Dag(name, options);
}

/**
 * Checks a DAG before anything runs: valid unique names, parallelism, known
 * endpoints, sources without inputs, every task reachable, no cycle. Throws EngineError.
 */
export function validateDag(d: unknown): Dag {
  if (!(d instanceof Dag)) throw new EngineError('DAG_INVALID', 'the artifact did not produce a Dag (use sluice.dag(name) and return it)');
  if (d.processors.size === 0) throw new EngineError('DAG_INVALID', `dag ${d.name}: has no processors`);
  const mp = d.options.maxParallelism;
  if (mp !== undefined && (!Number.isInteger(mp) || mp < 1 || mp > 32768)) throw new EngineError('DAG_INVALID', `dag ${d.name}: maxParallelism must be an integer in 1..32768, got ${String(mp)}`);
  // A processor's state identity (uid, else its name) must be unique: savepoints match by it.
  const stateIds = new Set<string>();
  for (const p of d.processors.values()) {
    try {
      validateName('processor', p.name);
      if (p.uid !== undefined) validateName('processor', p.uid);
    } catch (err) {
      throw new EngineError('DAG_INVALID', `dag ${d.name}: ${(err as Error).message}`);
    }
    const sid = p.uid ?? p.name;
    if (stateIds.has(sid)) throw new EngineError('DAG_INVALID', `dag ${d.name}: processor ${p.name}: uid ${JSON.stringify(sid)} is another processor's uid or name`);
    stateIds.add(sid);
    if (!Number.isInteger(p.parallelism) || p.parallelism < 1 || p.parallelism > MAX_PARALLELISM) {
      throw new EngineError('DAG_INVALID', `dag ${d.name}: processor ${p.name}: parallelism must be an integer in 1..${MAX_PARALLELISM}, got ${String(p.parallelism)}`);
    }
    if (p.kind === 'source' ? typeof p.source !== 'function' : typeof p.task !== 'function') {
      throw new EngineError('DAG_INVALID', `dag ${d.name}: processor ${p.name}: missing ${p.kind === 'source' ? 'source' : 'task'} factory`);
    }
  }
  const inputs = new Map<string, number>();
  for (const e of d.edges) {
    for (const end of [e.from, e.to]) {
      if (!d.processors.has(end)) throw new EngineError('UNKNOWN_PROCESSOR', `dag ${d.name}: edge ${e.from} -> ${e.to} names unknown processor ${JSON.stringify(end)}`);
    }
    if (d.processors.get(e.to)!.kind === 'source') throw new EngineError('DAG_INVALID', `dag ${d.name}: source ${e.to} cannot have an input (edge from ${e.from})`);
    if (e.partition === 'hash' && typeof e.key !== 'function') throw new EngineError('DAG_INVALID', `dag ${d.name}: edge ${e.from} -> ${e.to}: hash partition needs a key function`);
    if (e.partition === 'forward' && d.processors.get(e.from)!.parallelism !== d.processors.get(e.to)!.parallelism) {
      throw new EngineError('DAG_INVALID', `dag ${d.name}: edge ${e.from} -> ${e.to}: forward needs equal parallelism`);
    }
    if (e.partition === 'hash' && d.processors.get(e.to)!.parallelism > d.maxParallelism) {
      throw new EngineError('DAG_INVALID', `dag ${d.name}: processor ${e.to}: parallelism ${d.processors.get(e.to)!.parallelism} is above maxParallelism ${d.maxParallelism} (its key groups)`);
    }
    inputs.set(e.to, (inputs.get(e.to) ?? 0) + 1);
  }
  const sources = [...d.processors.values()].filter((p) => p.kind === 'source');
  if (sources.length === 0) throw new EngineError('DAG_INVALID', `dag ${d.name}: has no source`);
  for (const p of d.processors.values()) {
    if (p.kind === 'task' && !inputs.get(p.name)) throw new EngineError('DAG_INVALID', `dag ${d.name}: processor ${p.name} has no input`);
  }
  for (const [port, from] of d.sideOutputs) {
    // Late records sent to an output nobody reads would be lost without a trace.
    if (!d.edges.some((e) => e.from === from && e.port === port)) throw new EngineError('DAG_INVALID', `dag ${d.name}: side output ${JSON.stringify(port)} of ${from} is never read (use dag.sideOutput(${JSON.stringify(port)}).sink(...))`);
  }
  const cycle = findCycle(d);
  if (cycle) throw new EngineError('DAG_CYCLE', `dag ${d.name}: has a cycle: ${cycle.join(' -> ')}`, { details: { cycle } });
  return d;
}

function findCycle(d: Dag): string[] | undefined {
  const out = new Map<string, string[]>();
  for (const e of d.edges) out.set(e.from, [...(out.get(e.from) ?? []), e.to]);
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const m of out.get(n) ?? []) {
      if (state.get(m) === 1) return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of d.processors.keys()) {
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return undefined;
}

/** Processors in topological order (validate first). */
export function topoOrder(d: Dag): string[] {
  const indeg = new Map([...d.processors.keys()].map((k) => [k, 0]));
  for (const e of d.edges) indeg.set(e.to, indeg.get(e.to)! + 1);
  const order: string[] = [];
  const ready = [...indeg].filter(([, n]) => n === 0).map(([k]) => k);
  while (ready.length) {
    const n = ready.shift()!;
    order.push(n);
    for (const e of d.edges) if (e.from === n) {
      indeg.set(e.to, indeg.get(e.to)! - 1);
      if (indeg.get(e.to) === 0) ready.push(e.to);
    }
  }
  return order;
}

export type { Task, TaskContext };
