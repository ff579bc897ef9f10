import { LIMITS } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import type { KeyedStateManifest } from '../state/heap-state.js';
import { segmentForTask } from '../state/redistribute.js';
import { KEYED_SUFFIX } from './executor-core.js';
import type { ExecutionPlan } from './plan.js';
import { isEmptyOperatorState, type SavepointData, type SavepointProcessor } from './savepoint-format.js';
import { encodeParts, encodeState, executorPart } from './state-codec.js';

/**
 * Starting a new app from a savepoint or another app's checkpoint. The app config carries
 * where from (`startFrom`, set by `sluice submit --from-*` and `sluice rescale`); the
 * AppMaster turns the saved state into the app's own first checkpoint at the saved time t
 * (and each source's offset at t), so executors restore through the ordinary path.
 *
 * Matching rules (README "Savepoints"):
 * - state is matched by processor name;
 * - keyed state moves by key group to any parallelism (maxParallelism must be equal);
 * - a source's offsets map per task index: its parallelism must be unchanged;
 * - operator state (snapshot()/restore()) maps per task index: a processor holding any
 *   must keep its parallelism; a processor whose every task recorded nothing may change it;
 * - saved state of a processor the new app lacks (or that is no longer keyed) is refused
 *   (STATE_UNMATCHED) unless `allowUnmatchedState`; a processor new in the app starts empty.
 */
export interface SeedPart {
  name: string;
  bytes: Uint8Array;
}

export interface Seed {
  t: number;
  /** Keyed-state segments first, the executors' parts last. */
  parts: SeedPart[];
  /** Source task → position at t. */
  offsets: Map<string, unknown>;
  /** Saved processors left behind (only with allowUnmatchedState). */
  dropped: string[];
  entries: number;
}

const SEGMENT_PART_BYTES = Math.min(64 * 1024 * 1024, LIMITS.checkpointPartBytes);

/** Checks the rules above and lays the saved state out for the new plan. */
export function planSeed(sp: SavepointData, plan: ExecutionPlan, opts: { allowUnmatchedState: boolean; isKeyed(processor: string): boolean }): Seed {
  const dag = plan.dag;
  const unmatched: string[] = [];
  /** New processor name -> the saved processor whose state it takes. */
  const savedFor = new Map<string, SavepointProcessor>();
  // State identity: the uid when the processor has one, else its name (both sides).
  const byId = new Map([...dag.processors.values()].map((s) => [s.uid ?? s.name, s]));
  for (const [saved, p] of sp.processors) {
    const spec = byId.get(p.uid ?? saved);
    const name = spec && spec.name !== saved ? `${saved} (now ${spec.name})` : saved;
    const operator = p.operator.some((b) => !isEmptyOperatorState(b));
    const keyed = (p.keyed?.entries ?? 0) > 0;
    const has = p.source || operator || keyed;
    if (!spec) {
      if (has) unmatched.push(`${saved}${p.uid ? ` (uid ${p.uid})` : ''} (no such processor)`);
      continue;
    }
    const incompatible = (why: string): never => {
      throw new EngineError('STATE_INCOMPATIBLE', `processor ${name}: ${why}`, { details: { processor: name } });
    };
    if (has && (spec.kind === 'source') !== p.source) incompatible(`saved as a ${p.source ? 'source' : 'task'}, now a ${spec.kind}`);
    if (p.source && spec.parallelism !== p.parallelism) incompatible(`source offsets map per task index: parallelism must stay ${p.parallelism} (asked ${spec.parallelism})`);
    if (operator && spec.parallelism !== p.parallelism) incompatible(`its operator state (snapshot()) maps per task index: parallelism must stay ${p.parallelism} (asked ${spec.parallelism})`);
    if (keyed) {
      if (!opts.isKeyed(spec.name)) {
        unmatched.push(`${name} (holds keyed state, but is no longer a keyed processor)`);
        continue;
      }
      if (sp.maxParallelism !== dag.maxParallelism) incompatible(`keyed state has ${sp.maxParallelism} key groups, the app ${dag.maxParallelism} (maxParallelism must not change)`);
    }
    savedFor.set(spec.name, p);
  }
  if (unmatched.length > 0 && !opts.allowUnmatchedState) {
    throw new EngineError('STATE_UNMATCHED', `saved state has no home in the new app: ${unmatched.join('; ')} (rename it back, or submit with --allow-unmatched-state to drop it)`, { details: { unmatched } });
  }
  const t = sp.t;
  const parts: SeedPart[] = [];
  const offsets = new Map<string, unknown>();
  const exec = new Map<number, Map<string, Uint8Array>>();
  let entries = 0;
  for (const meta of plan.tasks) {
    let mine = exec.get(meta.executor);
    if (!mine) exec.set(meta.executor, (mine = new Map<string, Uint8Array>()));
    const p = savedFor.get(meta.processor);
    if (meta.source) {
      const position = p?.offsets?.[meta.index];
      if (p) offsets.set(meta.name, position ?? null);
      mine.set(meta.name, encodeState({ position: position ?? null }));
      continue;
    }
    const op = p && p.parallelism === meta.parallelism ? p.operator[meta.index] : undefined;
    mine.set(meta.name, op ?? encodeState(null));
    if (!p?.keyed || !opts.isKeyed(meta.processor)) continue;
    const seg = segmentForTask(p.keyed, sp.maxParallelism!, meta.index, meta.parallelism, SEGMENT_PART_BYTES);
    if (seg.entries === 0) continue;
    const names = seg.parts.map((_, i) => (seg.parts.length === 1 ? `${meta.name}.sp${t}` : `${meta.name}.sp${t}.${i}`));
    seg.parts.forEach((bytes, i) => parts.push({ name: names[i]!, bytes }));
    const manifest: KeyedStateManifest = {
      v: 1, maxParallelism: sp.maxParallelism!, tables: p.keyed.tables,
      segments: [{ seq: 0, t, entries: seg.entries, parts: names, bytes: seg.parts.reduce((n, b) => n + b.byteLength, 0) }],
    };
    mine.set(`${meta.name}${KEYED_SUFFIX}`, encodeState(manifest));
    entries += seg.entries;
  }
  for (const [executor, m] of exec) parts.push({ name: executorPart(executor), bytes: encodeParts(m) });
  return { t, parts, offsets, dropped: unmatched, entries };
}
