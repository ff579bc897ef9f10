import type { Task, TaskContext } from '../dsl/task.js';
import type { PlannedTask } from './plan.js';
import { inTask } from './task-failure.js';

/** The first checkpoint boundary at or below a clock. */
export const boundary = (c: number, interval: number): number => Math.floor(c / interval) * interval;

/** What a task runner needs of the executor hosting it. */
export interface RunnerHost {
  readonly intervalMs: number;
  stage(t: number, task: string, state: unknown): void;
  forwardClock(meta: PlannedTask, c: number): void;
}

interface Held {
  ts: number;
  values: unknown[];
}

/** Runs one non-source task: input channel clocks, alignment at boundaries, snapshots. */
export class TaskRunner {
  readonly inputs = new Map<number, number>();
  inputClock: number;
  lastBoundary: number;
  held: Held[] = [];
  messagesIn = 0;
  constructor(readonly core: RunnerHost, readonly meta: PlannedTask, readonly task: Task, readonly ctx: TaskContext & { epoch: number }, start: number) {
    for (const i of meta.inputs) this.inputs.set(i, start);
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

  clock(from: number, c: number): void {
    const prev = this.inputs.get(from);
    if (prev === undefined || c <= prev) return;
    this.inputs.set(from, c);
    let min = Infinity;
    for (const v of this.inputs.values()) if (v < min) min = v;
    if (min > this.inputClock) this.advance(min);
  }

  #release(below: number): void {
    if (this.held.length === 0) return;
    const keep: Held[] = [];
    const held = this.held;
    this.held = keep;
    for (const h of held) {
      if (h.ts < below) {
        this.messagesIn += h.values.length;
        inTask(this.meta, 'onNext', () => this.task.onNext(h.values, h.ts, this.ctx));
      } else keep.push(h);
    }
  }

  advance(c: number): void {
    this.inputClock = c;
    const b = boundary(c, this.core.intervalMs);
    if (b > this.lastBoundary) {
      this.#release(b);
      inTask(this.meta, 'onClock', () => this.task.onClock?.(b, this.ctx));
      this.lastBoundary = b;
      this.core.stage(b, this.meta.name, this.task.snapshot ? inTask(this.meta, 'snapshot', () => this.task.snapshot!()) : null);
      this.#release(b + this.core.intervalMs);
    }
    this.core.forwardClock(this.meta, c);
  }

  pendingMin(): number | undefined {
    let m: number | undefined;
    for (const h of this.held) if (m === undefined || h.ts < m) m = h.ts;
    return m;
  }
}
