import { encodeClock, encodeData } from './framing.js';
import { keyGroupOf, taskOfKeyGroup } from '../state/key-groups.js';
import type { ExecutionPlan, PlannedTask } from './plan.js';

/** Sends frames to other executors; absent when every task is local. */
export interface Transport {
  send(executor: number, frame: Buffer): void;
  /** True while some outbound queue is above its high-water mark. */
  backpressured(): boolean;
  whenDrained(): Promise<void>;
}

/** Where the router hands batches and clocks that stay in this executor. */
export interface LocalDelivery {
  deliver(to: number, ts: number, values: unknown[]): void;
  clock(from: number, to: number, c: number): void;
}

/**
 * Moves a task's output along the DAG's edges: forward (same index), shuffle (round
 * robin) or hash (by the key's key group). Local targets get plain calls; remote ones binary frames.
 * Clocks follow the data they cover on the same path, so input clocks stay exact.
 */
export class Router {
  readonly #rr = new Map<string, number>();
  readonly #mp: number;

  constructor(readonly plan: ExecutionPlan, readonly self: number, readonly local: LocalDelivery, readonly transport: Transport | undefined) {
    this.#mp = plan.dag.maxParallelism;
  }

  route(meta: PlannedTask, ts: number, values: unknown[]): void {
    if (values.length === 0) return;
    for (const { edge, targets } of this.plan.outEdges(meta.processor)) {
      if (edge.port !== undefined) continue; // a side output (EventTimeRouter.side)
      if (edge.partition === 'forward') this.#send(meta.id, targets[meta.index]!, ts, values);
      else if (edge.partition === 'shuffle') {
        const k = `${meta.id}>${edge.to}`;
        const n = this.#rr.get(k) ?? meta.index;
        this.#rr.set(k, n + 1);
        this.#send(meta.id, targets[n % targets.length]!, ts, values);
      } else {
        const p = targets.length;
        if (p === 1) {
          this.#send(meta.id, targets[0]!, ts, values);
          continue;
        }
        const parts: unknown[][] = Array.from({ length: p }, () => []);
        const key = edge.key!;
        const mp = this.#mp;
        for (let i = 0; i < values.length; i++) parts[taskOfKeyGroup(keyGroupOf(key(values[i]), mp), mp, p)]!.push(values[i]);
        for (let j = 0; j < p; j++) if (parts[j]!.length) this.#send(meta.id, targets[j]!, ts, parts[j]!);
      }
    }
  }

  #send(from: number, to: number, ts: number, values: unknown[]): void {
    const owner = this.plan.tasks[to]!.executor;
    if (owner === this.self) this.local.deliver(to, ts, values);
    else this.transport!.send(owner, encodeData(from, to, ts, values));
  }

  forwardClock(meta: PlannedTask, c: number): void {
    const remote = new Map<number, number[]>();
    for (const { edge, targets } of this.plan.outEdges(meta.processor)) {
      const tos = edge.partition === 'forward' ? [targets[meta.index]!] : targets;
      for (const to of tos) {
        const owner = this.plan.tasks[to]!.executor;
        if (owner === this.self) this.local.clock(meta.id, to, c);
        else remote.set(owner, [...(remote.get(owner) ?? []), to]);
      }
    }
    for (const [owner, tos] of remote) this.transport!.send(owner, encodeClock(c, meta.id, tos));
  }
}
