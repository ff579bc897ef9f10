import { StorageError } from '../errors.js';
import { seededRandom } from '../util/random.js';
import { intercept } from '../intercept.js';
import type { Storage } from '../types.js';

/**
 * Fault injection: wraps a Storage so chosen operations fail or hang before or after
 * the real call. `after` failures model a lost acknowledgement (the write happened,
 * the caller does not know), which is what retry logic must survive.
 *
 * Operations are named `<kind>.<method>`, kinds: storage, app, jars, logs, metrics,
 * config, offsets, checkpoints, offsetWriter, checkpointWriter, checkpointStager. `*` matches
 * any method.
 */
export interface FaultRule {
  op: string;
  when?: 'before' | 'after';
  mode?: 'fail' | 'hang';
  /** Failures are transient (retryable) unless false. */
  transient?: boolean;
  /** How many times the rule fires (default: always). */
  times?: number;
  /** Fires with this probability (default 1), from the plan's seeded PRNG. */
  probability?: number;
}

export interface FaultPlan {
  rules: FaultRule[];
  seed?: number;
  /** Counts of fired faults by op, for assertions. */
  fired: Map<string, number>;
}

export function faultPlan(rules: FaultRule[], seed = 1): FaultPlan {
  return { rules: rules.map((r) => ({ ...r })), seed, fired: new Map() };
}


function signalOf(args: unknown[]): AbortSignal | undefined {
  for (const a of args) {
    if (a && typeof a === 'object' && 'signal' in a && (a as { signal?: unknown }).signal instanceof AbortSignal) {
      return (a as { signal: AbortSignal }).signal;
    }
  }
  return undefined;
}

function hang(signal?: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal?.addEventListener('abort', () => reject(new StorageError('operation aborted', { code: 'STORAGE_ABORTED', cause: signal.reason })), { once: true });
  });
}

export function withFaults(storage: Storage, plan: FaultPlan): Storage {
  const random = seededRandom(plan.seed ?? 1);
  const pick = (op: string, when: 'before' | 'after'): FaultRule | undefined => {
    for (const r of plan.rules) {
      const [k, m] = r.op.split('.');
      const [ok, om] = op.split('.');
      if (k !== ok || (m !== '*' && m !== om) || (r.when ?? 'before') !== when) continue;
      if (r.times !== undefined && r.times <= 0) continue;
      if (r.probability !== undefined && random() >= r.probability) continue;
      if (r.times !== undefined) r.times--;
      plan.fired.set(op, (plan.fired.get(op) ?? 0) + 1);
      return r;
    }
    return undefined;
  };
  const fire = (r: FaultRule, op: string, args: unknown[]): Promise<never> => {
    if (r.mode === 'hang') return hang(signalOf(args));
    return Promise.reject(
      new StorageError(`injected fault in ${op} (${r.when ?? 'before'})`, { code: r.transient === false ? 'STORAGE_IO_ERROR' : 'STORAGE_UNAVAILABLE', transient: r.transient !== false }),
    );
  };
  return intercept(storage, async (call, proceed) => {
    const op = `${call.kind}.${call.method}`;
    const before = pick(op, 'before');
    if (before) return fire(before, op, call.args);
    const result = await proceed();
    const after = pick(op, 'after');
    return after ? fire(after, op, call.args) : result;
  });
}
