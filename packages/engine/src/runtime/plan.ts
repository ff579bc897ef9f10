import { topoOrder, type Dag, type EdgeSpec } from '../dsl/dag.js';

export interface PlannedTask {
  /** Dense numeric id used on the wire. */
  id: number;
  /** `<processor>.<index>`: the checkpoint part and offset store name. */
  name: string;
  processor: string;
  index: number;
  parallelism: number;
  source: boolean;
  /** Numeric ids of the tasks that feed this one (its input channels). */
  inputs: number[];
  /** Executor slot (0..executors-1) that runs it. */
  executor: number;
}

export interface OutEdge {
  edge: EdgeSpec;
  /** Task ids of the downstream processor, by index. */
  targets: number[];
}

/** Task ids, input channels, out edges and placement of a validated DAG. */
export class ExecutionPlan {
  readonly tasks: PlannedTask[] = [];
  readonly byName = new Map<string, PlannedTask>();
  readonly #ids = new Map<string, number[]>();
  readonly #out = new Map<string, OutEdge[]>();

  constructor(readonly dag: Dag, readonly executors: number) {
    for (const p of topoOrder(dag)) {
      const spec = dag.processors.get(p)!;
      const ids: number[] = [];
      for (let i = 0; i < spec.parallelism; i++) {
        const t: PlannedTask = {
          id: this.tasks.length, name: `${p}.${i}`, processor: p, index: i, parallelism: spec.parallelism,
          source: spec.kind === 'source', inputs: [], executor: i % executors,
        };
        this.tasks.push(t);
        this.byName.set(t.name, t);
        ids.push(t.id);
      }
      this.#ids.set(p, ids);
    }
    for (const e of dag.edges) {
      const from = this.#ids.get(e.from)!;
      const to = this.#ids.get(e.to)!;
      this.#out.set(e.from, [...(this.#out.get(e.from) ?? []), { edge: e, targets: to }]);
      to.forEach((tid, j) => {
        const inputs = this.tasks[tid]!.inputs;
        if (e.partition === 'forward') inputs.push(from[j]!);
        else inputs.push(...from);
      });
    }
  }

  outEdges(processor: string): OutEdge[] {
    return this.#out.get(processor) ?? [];
  }

  tasksOf(executor: number): PlannedTask[] {
    return this.tasks.filter((t) => t.executor === executor);
  }

  /** Task name → names of its upstream tasks (for the clock service). */
  upstreamNames(): Map<string, string[]> {
    return new Map(this.tasks.map((t) => [t.name, t.inputs.map((i) => this.tasks[i]!.name)]));
  }
}

/** FNV-1a over a string key; numbers hash by value; anything else by its JSON. */
export function hashKey(k: unknown): number {
  const s = typeof k === 'string' ? k : typeof k === 'number' ? String(k) : JSON.stringify(k);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
