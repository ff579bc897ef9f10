import type { AppSeed } from './seed-store.js';

/** The restart budget and back-off of one app (cluster defaults, tuned by app config). */
export interface RestartPolicy {
  maxRestarts: number;
  restartWindowMs: number;
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
}

export type RestartDecision =
  | { kind: 'retry'; seed: AppSeed; delayMs: number }
  | { kind: 'exhausted'; seed: AppSeed; error: string };

/** The policy for an app: cluster defaults overridden by the app's own config keys. */
export function policyFor(defaults: RestartPolicy, config: Record<string, unknown>): RestartPolicy {
  const pick = (k: keyof RestartPolicy): number => (typeof config[k] === 'number' && Number.isFinite(config[k]) ? (config[k] as number) : defaults[k]);
  return { maxRestarts: pick('maxRestarts'), restartWindowMs: pick('restartWindowMs'), restartBackoffMs: pick('restartBackoffMs'), restartBackoffMaxMs: pick('restartBackoffMaxMs') };
}

/**
 * Records one restart of an app (an executor recovery or an AppMaster relaunch) and
 * decides: retry, or give up because more than `maxRestarts` happened inside the sliding
 * window. Pure: the caller persists the seed.
 *
 * Back-off applies only while the app makes no progress: a restart after an epoch that
 * committed a checkpoint starts at once (a single failure must recover in milliseconds,
 * Gearpump's figure), and each further restart with nothing committed in between doubles
 * the delay from `restartBackoffMs` up to `restartBackoffMaxMs`. A crash loop that does
 * commit between failures is still bounded by the budget.
 */
export function recordRestart(seed: AppSeed, policy: RestartPolicy, reason: string, now: number, progressed = false): RestartDecision {
  const recent = seed.recentRestarts.filter((t) => now - t < policy.restartWindowMs);
  recent.push(now);
  const next: AppSeed = {
    ...seed,
    restarts: seed.restarts + 1,
    stalledRestarts: progressed ? 0 : (seed.stalledRestarts ?? 0) + 1,
    // Bounded: only the window's restarts matter, and never more than the budget + 1.
    recentRestarts: recent.slice(-(policy.maxRestarts + 1)),
    lastFailure: { reason: reason.slice(0, 4000), at: now, epoch: seed.epoch },
  };
  if (recent.length > policy.maxRestarts) {
    const error = `restart budget exhausted: ${recent.length} restarts within ${policy.restartWindowMs} ms (maxRestarts ${policy.maxRestarts}); last failure: ${reason}`;
    const { nextAttemptAt: _drop, ...rest } = next;
    return { kind: 'exhausted', seed: { ...rest, status: 'failed', error: error.slice(0, 4000) }, error };
  }
  const stalled = next.stalledRestarts ?? 0;
  const delayMs = stalled === 0 ? 0 : Math.min(policy.restartBackoffMaxMs, policy.restartBackoffMs * 2 ** Math.min(30, stalled - 1));
  return { kind: 'retry', seed: { ...next, nextAttemptAt: now + delayMs }, delayMs };
}
