import type { OffsetWriter } from '@sluice/storage-api';
import type { SourceTask, TaskContext } from '../dsl/task.js';
import type { PlannedTask } from './plan.js';
import { inTask } from './task-failure.js';
import { boundary } from './task-runner.js';
import type { WatermarkMessage } from './watermark.js';

/** What a source's loop needs of the executor hosting it. */
export interface SourceHost {
  readonly intervalMs: number;
  readonly stopped: boolean;
  /** Stages the source's state at t once `before` (its offset append) is durable. */
  stageAfter(before: Promise<unknown>, t: number, task: string, state: unknown): void;
  route(meta: PlannedTask, ts: number, values: unknown[]): void;
  forwardClock(meta: PlannedTask, c: number): void;
  forwardWatermark(meta: PlannedTask, ts: number, m: WatermarkMessage): void;
  exhausted(task: string, lastDataTs: number): void;
  /** A pending blob switch's boundary: the source's clock stays below it until decided. */
  blobCap(): number | undefined;
  /** The source crossed into boundary b: released blob switches up to b apply to it. */
  sourceBoundary(runner: SourceRunner, lo: number, b: number): void;
  /** Resolves when the outbound queues drained; undefined when not back-pressured. */
  backpressure(): Promise<void> | undefined;
}

/**
 * Runs one source task and owns its loop: reads batches, stamps them with the wall clock,
 * routes them, forwards its clock, and records where each checkpoint boundary starts in
 * the offset store (the source's part is staged only once that offset is durable, so a
 * committed checkpoint t implies offset(t) is in the store).
 */
export class SourceRunner {
  clock: number;
  lastBoundary: number;
  lastDataTs: number;
  exhausted = false;
  messagesOut = 0;
  writer: OffsetWriter | undefined;
  /** Positions recorded at boundaries not yet known committed (for the source's onCommit). */
  readonly recorded = new Map<number, unknown>();

  constructor(readonly meta: PlannedTask, readonly source: SourceTask, readonly ctx: TaskContext & { epoch: number }, start: number, intervalMs: number) {
    this.clock = start;
    this.lastBoundary = boundary(start, intervalMs);
    this.lastDataTs = start - 1;
  }

  /** The loop; resolves when the host stops, rejects with a TaskFailure when app code throws. */
  async run(host: SourceHost, batch: number): Promise<void> {
    const interval = host.intervalMs;
    let reported = false;
    while (!host.stopped) {
      const now = Math.max(Date.now(), this.clock);
      const cap = host.blobCap();
      if (cap !== undefined && now >= cap) {
        // Gated by a pending blob switch (decided within a control round trip).
        await sleep(2);
        continue;
      }
      const b = boundary(now, interval);
      if (b > this.lastBoundary) {
        // Everything before b has been emitted: record where b starts, off the hot loop.
        const position = this.source.position() ?? null;
        const lo = this.lastBoundary;
        this.lastBoundary = b;
        if (this.source.onCommit) this.recorded.set(b, position);
        host.stageAfter(this.writer!.append(b, Buffer.from(JSON.stringify(position), 'utf8')), b, this.meta.name, { position });
        host.sourceBoundary(this, lo, b);
      }
      let values: unknown[] | null = [];
      if (!this.exhausted) {
        values = inTask(this.meta, 'read', () => this.source.read(batch));
        if (values === null) {
          this.exhausted = true;
          values = [];
        }
      }
      if (values.length) {
        this.messagesOut += values.length;
        this.lastDataTs = now;
        host.route(this.meta, now, values);
      }
      if (this.exhausted && !reported) {
        // The end of its input is the end of event time on this channel: windows downstream
        // fire. Their results carry this ts, so the app finishes only once they are committed.
        host.forwardWatermark(this.meta, now, { watermark: Infinity, idle: false });
        this.lastDataTs = now;
      }
      this.clock = now;
      host.forwardClock(this.meta, now);
      if (this.exhausted && !reported) {
        reported = true;
        host.exhausted(this.meta.name, this.lastDataTs);
      }
      const drained = host.backpressure();
      if (drained) await drained;
      else if (values.length === 0) await sleep(Math.min(20, interval / 4));
      else await new Promise<void>((r) => setImmediate(r));
    }
  }
}

/** Checkpoint t committed: hands the source the position it recorded at the newest boundary ≤ t. */
export async function commitSource(r: SourceRunner, t: number): Promise<void> {
  if (!r.source.onCommit) return;
  let best: number | undefined;
  for (const b of r.recorded.keys()) {
    if (b > t) continue;
    if (best === undefined || b > best) best = b;
  }
  const position = best === undefined ? undefined : r.recorded.get(best);
  for (const b of [...r.recorded.keys()]) if (b <= t) r.recorded.delete(b);
  if (best !== undefined) await r.source.onCommit(t, position);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
