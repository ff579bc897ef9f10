import { EngineError } from '../errors.js';
import type { WindowAssigner, WindowResult } from '../dsl/windows.js';
import type { KeyedBackend, StateTable } from './backend.js';
import { normalizeKey, type StateKey } from './key-groups.js';
import { TimerHeap } from './window-timers.js';

/** How a window folds its records: count, sum, reduce, aggregate and process are all one of these. */
export interface WindowFunction {
  add(acc: unknown, value: unknown): unknown;
  merge(a: unknown, b: unknown): unknown;
  result(acc: unknown, key: unknown, start: number, end: number): unknown;
}

/** One window of a key: [start, end), its accumulator, fired (1) or not (0). */
type Win = [number, number, unknown, 0 | 1];
/** A key's windows in the keyed state (its original key kept for the results). */
interface KeyWindows {
  k: unknown;
  w: Win[];
}

export interface WindowOutput {
  results: WindowResult[];
  late: unknown[];
}

export interface WindowOperatorOptions {
  assigner: WindowAssigner;
  allowedLatenessMs: number;
  fn: WindowFunction;
  key: (v: unknown) => unknown;
  time: (v: unknown) => number;
  backend: KeyedBackend;
}

// Accumulators may be mutated in place (process keeps element lists), so a value an
// older segment still holds is deep-copied before its first write of an interval.
const cloneWindows = (v: KeyWindows): KeyWindows => structuredClone(v);

/**
 * Keyed event-time windows over the keyed state (one entry per key: its open windows),
 * so window contents are checkpointed incrementally and by key group like any keyed
 * state. A window fires when the watermark reaches end - 1; until end - 1 + allowed
 * lateness a late record updates it and fires it again; records later than that for all
 * their windows are `late`. Timers live in a heap rebuilt from the state after a restore.
 */
export class WindowOperator {
  readonly #o: WindowOperatorOptions;
  readonly #table: StateTable;
  readonly #timers = new TimerHeap();
  #timersBuilt = false;

  constructor(o: WindowOperatorOptions) {
    this.#o = o;
    this.#table = o.backend.table('w:windows');
  }

  /** Windows open now, over all keys (a gauge). */
  openWindows(): number {
    let n = 0;
    for (const k of this.#table.keys()) n += (this.#table.get(k) as KeyWindows).w.length;
    return n;
  }

  #buildTimers(): void {
    if (this.#timersBuilt) return;
    this.#timersBuilt = true;
    for (const sk of this.#table.keys()) this.#schedule(sk, this.#table.get(sk) as KeyWindows);
  }

  #due(w: Win): number {
    return w[3] === 1 ? w[1] - 1 + this.#o.allowedLatenessMs : w[1] - 1;
  }

  #schedule(sk: StateKey, kw: KeyWindows): void {
    let next = Infinity;
    for (const w of kw.w) next = Math.min(next, this.#due(w));
    if (next !== Infinity) this.#timers.push(next, sk);
  }

  #result(kw: KeyWindows, w: Win): WindowResult {
    return { key: kw.k, start: w[0], end: w[1], value: this.#o.fn.result(w[2], kw.k, w[0], w[1]) };
  }

  #timeOf(v: unknown): number {
    const ts = this.#o.time(v);
    if (typeof ts !== 'number' || !Number.isFinite(ts)) {
      throw new EngineError('EVENT_TIME_INVALID', `the timestamp function returned ${String(ts)} (not a finite number of ms) for ${preview(v)}`);
    }
    return ts;
  }

  /** Adds records given the task's watermark `wm`; late ones go to out.late, late updates to out.results. */
  onRecords(values: readonly unknown[], wm: number, out: WindowOutput): void {
    this.#buildTimers();
    const L = this.#o.allowedLatenessMs;
    const { fn, assigner } = this.#o;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const ts = this.#timeOf(v);
      const key = this.#o.key(v);
      const sk = normalizeKey(key);
      if (assigner.merging) {
        this.#addToSession(v, ts, key, sk, wm, out);
        continue;
      }
      let kw: KeyWindows | undefined;
      let taken = false;
      for (const [s, e] of assigner.assign(ts)) {
        if (e - 1 + L <= wm) continue; // past its lateness: this window is gone
        taken = true;
        kw ??= this.#table.mutable<KeyWindows>(sk, () => ({ k: key, w: [] }), cloneWindows);
        let w = kw.w.find((x) => x[0] === s);
        if (w === undefined) {
          w = [s, e, fn.add(undefined, v), 0];
          kw.w.push(w);
          this.#timers.push(e - 1 <= wm ? e - 1 + L : e - 1, sk);
        } else w[2] = fn.add(w[2], v);
        if (e - 1 <= wm) {
          // Late but within the allowed lateness: the window fires again, updated.
          w[3] = 1;
          out.results.push(this.#result(kw, w));
        }
      }
      if (!taken) out.late.push(v);
    }
  }

  #addToSession(v: unknown, ts: number, key: unknown, sk: StateKey, wm: number, out: WindowOutput): void {
    const L = this.#o.allowedLatenessMs;
    const fn = this.#o.fn;
    const [[s0, e0]] = this.#o.assigner.assign(ts) as [[number, number]];
    if (e0 - 1 + L <= wm) {
      out.late.push(v);
      return;
    }
    const kw = this.#table.mutable<KeyWindows>(sk, () => ({ k: key, w: [] }), cloneWindows);
    const mine: Win = [s0, e0, fn.add(undefined, v), 0];
    // Windows that overlap or touch the record's merge into one (Flink's TimeWindow rule);
    // accumulators fold in start order, so a non-commutative reduce is deterministic.
    const merged: Win[] = [mine];
    const keep: Win[] = [];
    let s = s0;
    let e = e0;
    let grew = true;
    let rest = kw.w;
    while (grew) {
      grew = false;
      const next: Win[] = [];
      for (const w of rest) {
        if (w[0] <= e && w[1] >= s) {
          merged.push(w);
          s = Math.min(s, w[0]);
          e = Math.max(e, w[1]);
          grew = true;
        } else next.push(w);
      }
      rest = next;
    }
    keep.push(...rest);
    merged.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let acc = merged[0]![2];
    for (let i = 1; i < merged.length; i++) acc = fn.merge(acc, merged[i]![2]);
    const w: Win = [s, e, acc, 0];
    keep.push(w);
    kw.w = keep;
    if (e - 1 <= wm) {
      w[3] = 1;
      out.results.push(this.#result(kw, w));
    }
    this.#timers.push(this.#due(w), sk);
  }

  /** The watermark advanced to wm: fires the windows it passed, drops those past their lateness. */
  onWatermark(wm: number, out: WindowOutput): void {
    this.#buildTimers();
    const L = this.#o.allowedLatenessMs;
    const seen = new Set<StateKey>();
    while (this.#timers.size > 0 && this.#timers.peek() <= wm) {
      const sk = this.#timers.pop()!;
      if (seen.has(sk)) continue;
      seen.add(sk);
      const cur = this.#table.get(sk) as KeyWindows | undefined;
      if (!cur || !cur.w.some((w) => this.#due(w) <= wm)) continue;
      const kw = this.#table.mutable<KeyWindows>(sk, () => cur, cloneWindows);
      const keep: Win[] = [];
      for (const w of kw.w) {
        if (w[3] === 0 && w[1] - 1 <= wm) {
          w[3] = 1;
          out.results.push(this.#result(kw, w));
        }
        if (w[1] - 1 + L > wm) keep.push(w);
      }
      if (keep.length === 0) {
        this.#table.delete(sk);
        continue;
      }
      kw.w = keep;
      this.#schedule(sk, kw);
    }
  }
}

function preview(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
