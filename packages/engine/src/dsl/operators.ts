import type { Task } from './task.js';

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
