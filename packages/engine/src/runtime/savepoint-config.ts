import { z } from 'zod';
import { parseBody } from '../cluster/schemas.js';
import { MAX_PARALLELISM, validateDag, type Dag } from '../dsl/dag.js';
import { EngineError } from '../errors.js';

/**
 * The app config keys of starting from saved state: `startFrom` (a savepoint, or an app's
 * checkpoint at t, or the newest at or before a time, resolved to t at submit),
 * `allowUnmatchedState`, and `processorParallelism` (per-processor parallelism over what
 * the artifact builds; `sluice rescale` sets it).
 */
/** Config id the AppMaster stores each processor's state identity under (its uid, else its name). */
export const STATE_IDS_CONFIG_ID = '_state_ids';

export function stateIdsOf(dag: Dag): Record<string, string> {
  return Object.fromEntries([...dag.processors.values()].map((p) => [p.name, p.uid ?? p.name]));
}

export const startFromSchema = z.union([
  z.object({ savepoint: z.string().max(200) }).strict(),
  z.object({ app: z.string().max(200), t: z.number().int().nonnegative().optional(), time: z.number().int().nonnegative().optional() }).strict()
    .refine((x) => x.t !== undefined || x.time !== undefined, 'needs t (a checkpoint time) or time'),
]);
export type StartFrom = z.infer<typeof startFromSchema>;

const restoreConfigSchema = z.looseObject({
  startFrom: startFromSchema.optional(),
  allowUnmatchedState: z.boolean().optional(),
  processorParallelism: z.record(z.string(), z.number().int().min(1).max(MAX_PARALLELISM)).optional(),
});

export interface RestoreConfig {
  startFrom?: StartFrom;
  allowUnmatchedState: boolean;
  processorParallelism?: Record<string, number>;
}

export function restoreConfigOf(config: unknown): RestoreConfig {
  const c = parseBody(restoreConfigSchema, config ?? {}, 'app config');
  return { ...(c.startFrom ? { startFrom: c.startFrom } : {}), allowUnmatchedState: c.allowUnmatchedState ?? false, ...(c.processorParallelism ? { processorParallelism: c.processorParallelism } : {}) };
}

/**
 * Applies `processorParallelism` (set by `sluice rescale`) to the DAG the artifact built,
 * then validates it again (a forward edge needs equal parallelism on both ends).
 */
export function applyParallelism(dag: Dag, config: unknown): Dag {
  const { processorParallelism } = restoreConfigOf(config);
  if (!processorParallelism) return dag;
  for (const [name, p] of Object.entries(processorParallelism)) {
    const spec = dag.processors.get(name);
    if (!spec) throw new EngineError('UNKNOWN_PROCESSOR', `processorParallelism names processor ${JSON.stringify(name)}, which dag ${dag.name} does not have (it has ${[...dag.processors.keys()].join(', ')})`);
    spec.parallelism = p;
  }
  return validateDag(dag);
}

