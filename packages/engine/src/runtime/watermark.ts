import type { Task, TaskContext } from '../dsl/task.js';

/**
 * Event time next to the processing-time clock. Checkpoint boundaries stay on processing
 * time (the CLOCK frames); a watermark W says no record with event time <= W follows on
 * that channel. It travels in-band as its own message, aligned like data on the
 * processing time `ts` it was sent at, so a checkpoint at b holds exactly the watermarks
 * sent before b. An idle channel (no records for the assigner's idleTimeoutMs) does not
 * hold its consumers back; it counts again once it sends an active watermark.
 */
export interface WatermarkMessage {
  watermark: number;
  idle: boolean;
}

/** What event-time tasks see of their context besides the Task API. */
export interface EventTimeContext extends TaskContext {
  /** The task's current watermark (the min over its active inputs; -Infinity before any). */
  readonly watermark: number;
  /** Sends a watermark downstream (tasks that generate their own, e.g. timestamp assigners). */
  emitWatermark(watermark: number, ts: number, idle?: boolean): void;
  /** Sends values on a named side output (edges made with dag.sideOutput(port)). */
  emitSide(port: string, values: unknown[], ts: number): void;
}

/** A Task that reacts to event time. Without `generatesWatermarks` its input watermark is forwarded after onWatermark. */
export interface EventTimeTask extends Task {
  /** The task's watermark advanced to `watermark` (at processing time `ts`: emit results stamped ts). */
  onWatermark?(watermark: number, ts: number, ctx: TaskContext): void;
  /** The processing-time clock advanced to `now` (processing-time timers, idleness). */
  onProcessingTime?(now: number, ctx: TaskContext): void;
  /** True when the task emits its own watermarks (ctx.emitWatermark) instead of forwarding its input's. */
  readonly generatesWatermarks?: boolean;
}

export function asEventTimeContext(ctx: TaskContext): EventTimeContext {
  return ctx as EventTimeContext;
}

/** A task's watermark state in checkpoints: per input, and its own (JSON: ±Infinity as strings). */
export interface WatermarkSnapshot {
  inputs: Array<[number, string, boolean]>;
  watermark: string;
  idle: boolean;
}

/**
 * Per-input watermarks of one task. The task's watermark is the min over the inputs that
 * are not idle, and never moves back (a restored or re-activated input below it only
 * makes its records late).
 */
export class InputWatermarks {
  readonly #inputs = new Map<number, WatermarkMessage>();
  watermark = -Infinity;
  idle = false;

  constructor(inputs: readonly number[], restored?: WatermarkSnapshot) {
    for (const i of inputs) this.#inputs.set(i, { watermark: -Infinity, idle: false });
    if (!restored) return;
    for (const [i, w, idle] of restored.inputs) if (this.#inputs.has(i)) this.#inputs.set(i, { watermark: Number(w), idle });
    this.watermark = Number(restored.watermark);
    this.idle = restored.idle;
  }

  /** Applies one input's message; returns the task's own when it changed (undefined: nothing did). */
  apply(from: number, m: WatermarkMessage): (WatermarkMessage & { advanced: boolean }) | undefined {
    const cur = this.#inputs.get(from);
    if (!cur) return undefined;
    if (m.watermark > cur.watermark) cur.watermark = m.watermark;
    cur.idle = m.idle;
    let min = Infinity;
    let active = 0;
    for (const v of this.#inputs.values()) {
      if (v.idle) continue;
      active++;
      if (v.watermark < min) min = v.watermark;
    }
    const idle = active === 0;
    // Every input idle: the highest watermark any of them reached (Flink's valve), so a
    // stalled source does not hold back windows its records already closed.
    if (idle) for (const v of this.#inputs.values()) min = min === Infinity ? v.watermark : Math.max(min, v.watermark);
    const advanced = min > this.watermark;
    if (advanced) this.watermark = min;
    if (!advanced && idle === this.idle) return undefined;
    this.idle = idle;
    return { watermark: this.watermark, idle, advanced };
  }

  snapshot(): WatermarkSnapshot {
    return { inputs: [...this.#inputs].map(([i, v]) => [i, String(v.watermark), v.idle]), watermark: String(this.watermark), idle: this.idle };
  }
}

export function isWatermarkSnapshot(v: unknown): v is WatermarkSnapshot {
  const s = v as Partial<WatermarkSnapshot> | null;
  return typeof s === 'object' && s !== null && Array.isArray(s.inputs) && typeof s.watermark === 'string';
}

/** Nothing happened yet (every input at -Infinity, active): not worth a checkpoint entry. */
export function isInitialWatermark(s: WatermarkSnapshot): boolean {
  return s.watermark === '-Infinity' && !s.idle && s.inputs.every(([, w, idle]) => w === '-Infinity' && !idle);
}
