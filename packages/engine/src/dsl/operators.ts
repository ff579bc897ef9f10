import type { Task, TaskContext } from './task.js';

/** Built-in stateless operators: one emit per input batch, same timestamp. */
export function mapTask(fn: (v: unknown) => unknown): Task {
  return {
    onNext(values, ts, ctx) {
      const out = new Array<unknown>(values.length);
      for (let i = 0; i < values.length; i++) out[i] = fn(values[i]);
      ctx.emit(out, ts);
    },
  };
}

export function flatMapTask(fn: (v: unknown) => Iterable<unknown>): Task {
  return {
    onNext(values, ts, ctx) {
      const out: unknown[] = [];
      for (let i = 0; i < values.length; i++) {
        const r = fn(values[i]);
        if (Array.isArray(r)) for (let j = 0; j < r.length; j++) out.push(r[j]);
        else for (const x of r) out.push(x);
      }
      if (out.length) ctx.emit(out, ts);
    },
  };
}

export function filterTask(fn: (v: unknown) => boolean): Task {
  return {
    onNext(values, ts, ctx) {
      const out = values.filter((v) => fn(v));
      if (out.length) ctx.emit(out, ts);
    },
  };
}

/**
 * Keyed aggregate. State: key → accumulator, plus the keys changed since the last
 * boundary. At each boundary the changed `[key, acc]` pairs are emitted (stamped t-1,
 * so they land in downstream's checkpoint t) and then the state is snapshotted.
 */
export function reduceTask(key: (v: unknown) => unknown, fn: (acc: unknown, v: unknown) => unknown, init?: (v: unknown) => unknown): Task {
  const acc = new Map<unknown, unknown>();
  const dirty = new Set<unknown>();
  return {
    onNext(values) {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        const k = key(v);
        const prev = acc.get(k);
        acc.set(k, prev === undefined && !acc.has(k) ? (init ? init(v) : v) : fn(prev, v));
        dirty.add(k);
      }
    },
    onClock(t: number, ctx: TaskContext) {
      if (dirty.size === 0) return;
      const out: unknown[] = [];
      for (const k of dirty) out.push([k, acc.get(k)]);
      dirty.clear();
      ctx.emit(out, t - 1);
    },
    snapshot() {
      return [...acc];
    },
    restore(state) {
      acc.clear();
      dirty.clear();
      for (const [k, v] of state as Array<[unknown, unknown]>) acc.set(k, v);
    },
  };
}

/** Counts per key; the hot loop of word count, so it avoids the generic reduce's closures. */
export function countTask(key: (v: unknown) => unknown): Task {
  const counts = new Map<unknown, number>();
  const dirty = new Set<unknown>();
  return {
    onNext(values) {
      for (let i = 0; i < values.length; i++) {
        const k = key(values[i]);
        counts.set(k, (counts.get(k) ?? 0) + 1);
        dirty.add(k);
      }
    },
    onClock(t, ctx) {
      if (dirty.size === 0) return;
      const out: unknown[] = [];
      for (const k of dirty) out.push([k, counts.get(k)]);
      dirty.clear();
      ctx.emit(out, t - 1);
    },
    snapshot() {
      return [...counts];
    },
    restore(state) {
      counts.clear();
      dirty.clear();
      for (const [k, v] of state as Array<[unknown, number]>) counts.set(k, v);
    },
  };
}
