import { encodeData, encodeWatermark } from './framing.js';
import { keyGroupOf, taskOfKeyGroup } from '../state/key-groups.js';
import type { ExecutionPlan, PlannedTask } from './plan.js';
import type { Transport } from './router.js';
import type { WatermarkMessage } from './watermark.js';

/** Where watermarks and side-output batches that stay in this executor go. */
export interface EventTimeDelivery {
  watermark(from: number, to: number, ts: number, m: WatermarkMessage): void;
  deliver(to: number, ts: number, values: unknown[]): void;
}

/**
 * Routes what the Router does not: watermarks, which go to every task of every out edge
 * (forward: the same index) after the data they follow, and batches on a named side
 * output (edges with a `port`, e.g. a window's late records), which the Router skips.
 */
export class EventTimeRouter {
  readonly #rr = new Map<string, number>();
  readonly #mp: number;

  constructor(readonly plan: ExecutionPlan, readonly self: number, readonly local: EventTimeDelivery, readonly transport: Transport | undefined) {
    this.#mp = plan.dag.maxParallelism;
  }

  watermark(meta: PlannedTask, ts: number, m: WatermarkMessage): void {
    const remote = new Map<number, number[]>();
    for (const { edge, targets } of this.plan.outEdges(meta.processor)) {
      const tos = edge.partition === 'forward' ? [targets[meta.index]!] : targets;
      for (const to of tos) {
        const owner = this.plan.tasks[to]!.executor;
        if (owner === this.self) this.local.watermark(meta.id, to, ts, m);
        else remote.set(owner, [...(remote.get(owner) ?? []), to]);
      }
    }
    for (const [owner, tos] of remote) this.transport!.send(owner, encodeWatermark(ts, m.watermark, m.idle, meta.id, tos));
  }

  side(meta: PlannedTask, port: string, ts: number, values: unknown[]): void {
    if (values.length === 0) return;
    for (const { edge, targets } of this.plan.outEdges(meta.processor)) {
      if (edge.port !== port) continue;
      if (edge.partition === 'forward') this.#send(meta.id, targets[meta.index]!, ts, values);
      else if (edge.partition === 'shuffle' || targets.length === 1) {
        const k = `${meta.id}>${edge.to}`;
        const n = this.#rr.get(k) ?? meta.index;
        this.#rr.set(k, n + 1);
        this.#send(meta.id, targets[n % targets.length]!, ts, values);
      } else {
        const p = targets.length;
        const parts: unknown[][] = Array.from({ length: p }, () => []);
        for (const v of values) parts[taskOfKeyGroup(keyGroupOf(edge.key!(v), this.#mp), this.#mp, p)]!.push(v);
        for (let j = 0; j < p; j++) if (parts[j]!.length) this.#send(meta.id, targets[j]!, ts, parts[j]!);
      }
    }
  }

  #send(from: number, to: number, ts: number, values: unknown[]): void {
    const owner = this.plan.tasks[to]!.executor;
    if (owner === this.self) this.local.deliver(to, ts, values);
    else this.transport!.send(owner, encodeData(from, to, ts, values));
  }
}
