import type { AppStorage, Storage } from '@sluice/storage-api';
import type { Logger } from 'pino';
import type { Dag } from '../dsl/dag.js';
import { EngineError } from '../errors.js';
import { isStatefulTask } from '../state/keyed-api.js';
import type { Committer } from './committer.js';
import type { ExecutionPlan } from './plan.js';
import { captureCheckpoint } from './savepoint-capture.js';
import type { RestoreConfig } from './savepoint-config.js';
import type { SavepointData } from './savepoint-format.js';
import { planSeed } from './savepoint-seed.js';
import { readSavepoint } from './savepoint-store.js';

/** Errors a relaunch would meet again: the app fails once, with the reason. */
export const SEED_ERROR_CODES: ReadonlySet<string> = new Set(['SAVEPOINT_NOT_FOUND', 'SAVEPOINT_INVALID', 'STATE_UNMATCHED', 'STATE_INCOMPATIBLE', 'APP_NOT_FOUND', 'UNKNOWN_PROCESSOR']);

export interface SeedContext {
  storage: Storage;
  app: AppStorage;
  epoch: number;
  plan: ExecutionPlan;
  dag: Dag;
  restore: RestoreConfig;
  committer: Committer;
  logger: Logger;
}

async function loadSaved(storage: Storage, from: NonNullable<RestoreConfig['startFrom']>): Promise<SavepointData> {
  if ('savepoint' in from) return readSavepoint(storage, from.savepoint);
  const other = await storage.getAppStorage(from.app);
  if (!other) throw new EngineError('APP_NOT_FOUND', `app ${from.app} (--from-checkpoint/--from-time) has no store`);
  try {
    // The master resolved a --from-time to the checkpoint it picked (t); pinned from then on.
    return await captureCheckpoint(other, from.t!);
  } finally {
    await other.close();
  }
}

/**
 * The AppMaster's first start of an app submitted with `startFrom`: lays the saved state
 * out for this plan, writes each source's offset at t, then commits it as the app's
 * checkpoint t. Returns t (the restore time).
 */
export async function seedFromSaved(c: SeedContext): Promise<number> {
  const from = c.restore.startFrom!;
  const sp = await loadSaved(c.storage, from);
  const keyed = new Map<string, boolean>();
  const isKeyed = (proc: string): boolean => {
    let k = keyed.get(proc);
    if (k === undefined) {
      const spec = c.dag.processors.get(proc);
      k = spec?.kind === 'task' && isStatefulTask(spec.task!());
      keyed.set(proc, k);
    }
    return k;
  };
  const seed = planSeed(sp, c.plan, { allowUnmatchedState: c.restore.allowUnmatchedState, isKeyed });
  // Offsets first: a committed checkpoint t implies every source's offset at t is durable.
  for (const [task, position] of seed.offsets) {
    if (position === null) continue; // the source had not read anything: it starts at the beginning
    const store = c.app.offsets(task);
    const last = await store.last();
    if (last && last.t >= seed.t) continue; // written by an earlier attempt of this seeding
    await (await store.writer(c.epoch)).append(seed.t, Buffer.from(JSON.stringify(position), 'utf8'));
  }
  await c.committer.seed(seed.t, seed.parts, { startFrom: from, savedFrom: sp.app.appId });
  c.logger.info({ t: seed.t, from, savedFrom: sp.app.appId, keyedEntries: seed.entries, dropped: seed.dropped }, 'started from saved state');
  if (seed.dropped.length > 0) c.logger.warn({ dropped: seed.dropped }, 'saved state dropped (--allow-unmatched-state)');
  return seed.t;
}
