import type { Task, TaskContext } from '../dsl/task.js';
import type { PlannedTask } from './plan.js';
import { isStatefulTask } from '../state/keyed-api.js';
import type { FrozenState } from '../state/heap-state.js';
import { inTask } from './task-failure.js';
import { InputWatermarks, type EventTimeTask, type WatermarkMessage, type WatermarkSnapshot } from './watermark.js';

/** The first checkpoint boundary at or below a clock. */
export const boundary = (c: number, interval: number): number => Math.floor(c / interval) * interval;

/** What a task runner needs of the executor hosting it. */
export interface RunnerHost {
  readonly intervalMs: number;
  /** The task's snapshot at boundary t, and its keyed state frozen there (if it has any). */
  stage(t: number, task: string, state: unknown, keyed?: FrozenState, watermarks?: WatermarkSnapshot): void;
  forwardClock(meta: PlannedTask, c: number): void;
  forwardWatermark(meta: PlannedTask, ts: number, m: WatermarkMessage): void;
  /** A pending blob switch's boundary: the input clock stays below it until decided. */
  blobCap(): number | undefined;
  /** Released blob switches with lo < from <= hi, oldest first. */
  blobSwitchesIn(lo: number, hi: number): Array<{ from: number }>;
  applyBlobSwitch(runner: TaskRunner, sw: { from: number }): void;
}

/** What alignment holds back: a batch, or a watermark (released in arrival order). */
type Held = { ts: number; values: unknown[]; wm?: undefined } | { ts: number; values?: undefined; wm: WatermarkMessage; from: number };

/** Runs one non-source task: input channel clocks, alignment at boundaries, snapshots. */
export class TaskRunner {
  readonly inputs = new Map<number, number>();
  inputClock: number;
  lastBoundary: number;
  held: Held[] = [];
  messagesIn = 0;
  /** Event time: per-input watermarks and the task's own (restored with its checkpoint). */
  readonly watermarks: InputWatermarks;
  readonly #et: EventTimeTask;
  constructor(readonly core: RunnerHost, readonly meta: PlannedTask, readonly task: Task, readonly ctx: TaskContext & { epoch: number }, start: number, watermarks?: WatermarkSnapshot) {
    for (const i of meta.inputs) this.inputs.set(i, start);
    this.watermarks = new InputWatermarks(meta.inputs, watermarks);
    this.#et = task;
    this.inputClock = start;
    this.lastBoundary = boundary(start, core.intervalMs);
  }

  receive(ts: number, values: unknown[]): void {
    if (ts >= this.lastBoundary + this.core.intervalMs) {
      // Past the next boundary while some input is still before it: hold (alignment).
      this.held.push({ ts, values });
      return;
    }
    this.messagesIn += values.length;
    inTask(this.meta, 'onNext', () => this.task.onNext(values, ts, this.ctx));
  }

  /** A watermark from input `from`, sent at processing time ts: aligned like data. */
  receiveWatermark(from: number, ts: number, m: WatermarkMessage): void {
    if (ts >= this.lastBoundary + this.core.intervalMs) {
      this.held.push({ ts, wm: m, from });
      return;
    }
    this.#applyWatermark(from, ts, m);
  }

  #applyWatermark(from: number, ts: number, m: WatermarkMessage): void {
    const changed = this.watermarks.apply(from, m);
    if (!changed) return;
    if (changed.advanced) inTask(this.meta, 'onWatermark', () => this.#et.onWatermark?.(changed.watermark, ts, this.ctx));
    // Results of the watermark go first, then the watermark itself (unless the task makes its own).
    if (!this.#et.generatesWatermarks) this.core.forwardWatermark(this.meta, ts, { watermark: changed.watermark, idle: changed.idle });
  }

  clock(from: number, c: number): void {
    const prev = this.inputs.get(from);
    if (prev === undefined || c <= prev) return;
    this.inputs.set(from, c);
    this.reclock();
  }

  /** Advances to the min over the inputs (also when a blob switch's cap is lifted). */
  reclock(): void {
    let min = Infinity;
    for (const v of this.inputs.values()) if (v < min) min = v;
    // A pending blob switch at B: stay below B until every executor accepted or dropped it.
    const cap = this.core.blobCap();
    if (cap !== undefined && min >= cap) min = cap - 1;
    if (min > this.inputClock) this.advance(min);
  }

  #release(below: number): void {
    if (this.held.length === 0) return;
    const keep: Held[] = [];
    const held = this.held;
    this.held = keep;
    for (const h of held) {
      if (h.ts >= below) keep.push(h);
      else if (h.wm !== undefined) this.#applyWatermark(h.from, h.ts, h.wm);
      else {
        this.messagesIn += h.values.length;
        inTask(this.meta, 'onNext', () => this.task.onNext(h.values, h.ts, this.ctx));
      }
    }
  }

  advance(c: number): void {
    this.inputClock = c;
    const b = boundary(c, this.core.intervalMs);
    if (b > this.lastBoundary) {
      // A blob switch at B applies after every message before B and before any at or after B.
      const switches = this.core.blobSwitchesIn(this.lastBoundary, b);
      for (const sw of switches) {
        if (sw.from >= b) continue;
        this.#release(sw.from);
        this.core.applyBlobSwitch(this, sw);
      }
      this.#release(b);
      inTask(this.meta, 'onClock', () => this.task.onClock?.(b, this.ctx));
      this.lastBoundary = b;
      const state = this.task.snapshot ? inTask(this.meta, 'snapshot', () => this.task.snapshot!()) : null;
      // Keyed state: only a freeze here (O(1)); encoding and upload run in the stage queue.
      this.core.stage(b, this.meta.name, state, isStatefulTask(this.task) ? this.task.keyedState.freeze(b) : undefined, this.watermarks.snapshot());
      for (const sw of switches) if (sw.from === b) this.core.applyBlobSwitch(this, sw);
      this.#release(b + this.core.intervalMs);
    }
    // Processing-time timers (and idleness) run on the processing clock, after the snapshot.
    if (this.#et.onProcessingTime) inTask(this.meta, 'onProcessingTime', () => this.#et.onProcessingTime!(c, this.ctx));
    this.core.forwardClock(this.meta, c);
  }

  pendingMin(): number | undefined {
    let m: number | undefined;
    for (const h of this.held) if (m === undefined || h.ts < m) m = h.ts;
    return m;
  }
}
