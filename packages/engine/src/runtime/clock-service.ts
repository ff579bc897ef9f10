/**
 * The AppMaster's clock service. Each task reports its clock (its input clock: every
 * input has passed it) and the oldest timestamp it still holds back (pending). A task's
 * min-clock is the minimum over its own pending messages, its own clock and the
 * min-clocks of its upstream tasks; the app's min-clock is the minimum over all tasks:
 * nothing older than it can still be produced anywhere.
 */
export class ClockService {
  readonly #upstream: Map<string, string[]>;
  readonly #clock = new Map<string, number>();
  readonly #pending = new Map<string, number>();
  /** Event time: each task's watermark, for the tasks that have one (finite). */
  readonly #watermark = new Map<string, number>();

  /** upstream: task id → ids of the tasks that feed it (sources map to []). */
  constructor(upstream: Map<string, string[]>, start = 0) {
    this.#upstream = upstream;
    for (const id of upstream.keys()) this.#clock.set(id, start);
  }

  /** Reported clocks only move forward; a stale report (reordered) is ignored. */
  update(taskId: string, clock: number, pendingMin?: number, watermark?: number): void {
    if (!this.#upstream.has(taskId)) return;
    if (watermark !== undefined && watermark > (this.#watermark.get(taskId) ?? -Infinity)) this.#watermark.set(taskId, watermark);
    if (clock > (this.#clock.get(taskId) ?? -Infinity)) this.#clock.set(taskId, clock);
    if (pendingMin === undefined) this.#pending.delete(taskId);
    else this.#pending.set(taskId, pendingMin);
  }

  taskMinClock(taskId: string, seen = new Set<string>()): number {
    if (seen.has(taskId)) return Infinity; // validated DAGs have no cycles; guard anyway
    seen.add(taskId);
    let m = Math.min(this.#clock.get(taskId) ?? 0, this.#pending.get(taskId) ?? Infinity);
    for (const up of this.#upstream.get(taskId) ?? []) m = Math.min(m, this.taskMinClock(up, new Set(seen)));
    return m;
  }

  appMinClock(): number {
    let m = Infinity;
    for (const id of this.#upstream.keys()) m = Math.min(m, this.taskMinClock(id));
    return m === Infinity ? 0 : m;
  }

  /**
   * The app's event-time watermark: the min over the tasks that report one (tasks before
   * any withTimestamps have none). Undefined until one does.
   */
  appWatermark(): number | undefined {
    let m: number | undefined;
    for (const w of this.#watermark.values()) if (m === undefined || w < m) m = w;
    return m;
  }

  /** Per processor, the min watermark over its tasks that reported one (task ids are <processor>.<index>). */
  processorWatermarks(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [task, w] of this.#watermark) {
      const p = task.slice(0, task.lastIndexOf('.'));
      if (!(p in out) || w < out[p]!) out[p] = w;
    }
    return out;
  }

  clocks(): Record<string, number> {
    return Object.fromEntries(this.#clock);
  }
}
