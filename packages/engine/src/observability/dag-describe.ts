import type { Dag } from '../dsl/dag.js';

/** The shape of a DAG the dashboard draws; JSON, stored in the app's config under `_dag`. */
export interface DagDescription {
  name: string;
  processors: Array<{ name: string; parallelism: number; kind: 'source' | 'task' }>;
  edges: Array<{ from: string; to: string; label?: string }>;
}

/** Config id the AppMaster stores describeDag() under, so the page works after the app ended. */
export const DAG_CONFIG_ID = '_dag';

/** A JSON description of a DAG: processors (name, parallelism, kind) and labelled edges. */
export function describeDag(dag: Dag): DagDescription {
  return {
    name: dag.name,
    processors: [...dag.processors.values()].map((p) => ({ name: p.name, parallelism: p.parallelism, kind: p.kind })),
    edges: dag.edges.map((e) => ({ from: e.from, to: e.to, label: e.partition })),
  };
}
