import type { TaskContext } from '../dsl/task.js';
import { asEventTimeContext, type EventTimeTask } from '../runtime/watermark.js';
import { newKeyedBackend, type StateTable } from './backend.js';
import { keyedState, Scope, type KeyedContext, type KeyedTask, type StatefulTask } from './keyed-api.js';
import type { StateKey } from './key-groups.js';
import { TimerHeap } from './window-timers.js';

/** Timers of a keyed processor, scoped to the current key (deduplicated per key and time). */
export interface KeyedTimers {
  /** Fires onTimer(t, 'event') once the watermark reaches t. */
  registerEventTime(t: number): void;
  /** Fires onTimer(t, 'processing') once the processing clock reaches t. */
  registerProcessingTime(t: number): void;
  deleteEventTime(t: number): void;
  deleteProcessingTime(t: number): void;
}

export interface TimerContext extends KeyedContext {
  readonly timers: KeyedTimers;
  /** The task's current watermark (-Infinity before the first). */
  readonly watermark: number;
}

/** A KeyedTask with timers: `onTimer` runs with the timer's key current. */
export interface TimedKeyedTask extends KeyedTask {
  onElement(value: unknown, ts: number, ctx: TimerContext): void;
  /** Timer `t` fired; emit results stamped `ts` (the processing time it fired at). */
  onTimer(t: number, ts: number, ctx: TimerContext, domain: 'event' | 'processing'): void;
}

export function isTimedKeyedTask(t: KeyedTask): t is TimedKeyedTask {
  return typeof (t as Partial<TimedKeyedTask>).onTimer === 'function';
}

/** A key's timers in the keyed state: its key as given, and its times in order. */
interface KeyTimers {
  k: unknown;
  t: number[];
}

/** One domain's timers: the keyed state is the truth, the heap (rebuilt after a restore) only orders it. */
class TimerDomain {
  readonly #heap = new TimerHeap();
  #built = false;
  constructor(readonly table: StateTable) {}

  add(sk: StateKey, key: unknown, t: number): void {
    this.#build();
    const cur = this.table.get(sk) as KeyTimers | undefined;
    if (cur?.t.includes(t)) return;
    const next = cur ? [...cur.t, t].sort((a, b) => a - b) : [t];
    this.table.put(sk, { k: key, t: next });
    this.#heap.push(t, sk);
  }

  delete(sk: StateKey, t: number): void {
    const cur = this.table.get(sk) as KeyTimers | undefined;
    if (!cur?.t.includes(t)) return;
    const next = cur.t.filter((x) => x !== t);
    if (next.length) this.table.put(sk, { k: cur.k, t: next });
    else this.table.delete(sk);
  }

  /** Removes and yields the timers due at `now`, earliest first. */
  *due(now: number): IterableIterator<[unknown, StateKey, number]> {
    this.#build();
    while (this.#heap.size > 0 && this.#heap.peek() <= now) {
      const sk = this.#heap.pop()!;
      const cur = this.table.get(sk) as KeyTimers | undefined;
      if (!cur || cur.t[0]! > now) continue;
      const t = cur.t[0]!;
      const rest = cur.t.slice(1);
      if (rest.length) {
        this.table.put(sk, { k: cur.k, t: rest });
        this.#heap.push(rest[0]!, sk);
      } else this.table.delete(sk);
      yield [cur.k, sk, t];
    }
  }

  #build(): void {
    if (this.#built) return;
    this.#built = true;
    for (const sk of this.table.keys()) this.#heap.push((this.table.get(sk) as KeyTimers).t[0]!, sk);
  }
}

/**
 * Runs a KeyedTask with event-time and processing-time timers. Timers live in the keyed
 * state (checkpointed with it, by key group); event timers fire on watermark advance,
 * processing timers on the processing clock; what onTimer emits is stamped with the
 * processing time of the watermark or clock that fired it.
 */
export function timedKeyedProcessTask(key: (v: unknown) => unknown, user: TimedKeyedTask, maxParallelism: number): StatefulTask & EventTimeTask {
  const backend = newKeyedBackend(maxParallelism);
  const scope = new Scope();
  const event = new TimerDomain(backend.table('t:event'));
  const processing = new TimerDomain(backend.table('t:processing'));
  let tctx: TimerContext | undefined;
  let base: TaskContext | undefined;
  const ctxOf = (ctx: TaskContext): TimerContext => {
    if (tctx && base === ctx) return tctx;
    base = ctx;
    const timers: KeyedTimers = {
      registerEventTime: (t) => event.add(scope.sk, scope.key, t),
      registerProcessingTime: (t) => processing.add(scope.sk, scope.key, t),
      deleteEventTime: (t) => event.delete(scope.sk, t),
      deleteProcessingTime: (t) => processing.delete(scope.sk, t),
    };
    tctx = Object.create(ctx as object, {
      key: { get: () => scope.key },
      state: { value: keyedState(backend, scope) },
      timers: { value: timers },
      watermark: { get: () => asEventTimeContext(ctx).watermark },
    }) as TimerContext;
    return tctx;
  };
  const fire = (domain: TimerDomain, kind: 'event' | 'processing', now: number, ts: number, ctx: TaskContext): void => {
    const c = ctxOf(ctx);
    for (const [k, , t] of domain.due(now)) {
      scope.set(k);
      user.onTimer(t, ts, c, kind);
    }
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
    onWatermark: (wm, ts, ctx) => fire(event, 'event', wm, ts, ctx),
    onProcessingTime: (now, ctx) => fire(processing, 'processing', now, now, ctx),
    onClock: (t, ctx) => user.onClock?.(t, ctxOf(ctx)),
    onStop: (ctx) => user.onStop?.(ctxOf(ctx)),
  };
}
