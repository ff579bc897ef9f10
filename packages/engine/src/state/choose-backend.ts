import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { EngineError } from '../errors.js';
import type { BackendMaker } from './backend.js';
import { DiskKeyedState } from './disk-state.js';

/** How an executor chose its keyed-state backend (from app config and its local dir). */
export interface StateBackendChoice {
  /** App config `stateBackend` as given ('heap' | 'disk'), if any. */
  backend?: unknown;
  /** The executor's local directory for disk state (removed with it). */
  dir?: string;
  /** App config `stateCacheEntries`: entries the disk backend keeps in memory. */
  cacheEntries?: unknown;
}

const kind = z.enum(['heap', 'disk']);
const entries = z.number().int().min(16);

/** The maker of task `task`'s backends, or undefined for heap (the default). */
export function stateBackendMaker(choice: StateBackendChoice | undefined, dagDefault: string | undefined, task: string): BackendMaker | undefined {
  const raw = choice?.backend ?? dagDefault ?? 'heap';
  const k = kind.safeParse(raw);
  if (!k.success) throw new EngineError('CONFIG_INVALID', `stateBackend must be 'heap' or 'disk', got ${JSON.stringify(raw)}`);
  if (k.data === 'heap') return undefined;
  let cacheEntries: number | undefined;
  if (choice?.cacheEntries !== undefined) {
    const c = entries.safeParse(choice.cacheEntries);
    if (!c.success) throw new EngineError('CONFIG_INVALID', `stateCacheEntries must be an integer >= 16, got ${JSON.stringify(choice.cacheEntries)}`);
    cacheEntries = c.data;
  }
  const root = choice?.dir ?? join(tmpdir(), `sluice-state-${process.pid}`);
  let n = 0;
  // Task names hold dots and digits only besides the processor's name: keep them readable.
  const safe = task.replace(/[^A-Za-z0-9._-]/g, '_');
  return (mp) => new DiskKeyedState(mp, { dir: join(root, `${safe}-${n++}`), ...(cacheEntries ? { cacheEntries } : {}) });
}
