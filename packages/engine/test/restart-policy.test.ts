import { describe, expect, it } from 'vitest';
import { recordRestart, type RestartPolicy } from '../src/cluster/restart-policy.js';
import type { AppSeed } from '../src/cluster/seed-store.js';

const policy: RestartPolicy = { maxRestarts: 5, restartWindowMs: 60_000, restartBackoffMs: 500, restartBackoffMaxMs: 1500 };
const seed: AppSeed = {
  appId: 'a-1', name: 'a', status: 'running', epoch: 3, jar: 'app.mjs', sha256: 'a'.repeat(64), owner: 'sluice', acl: [],
  createdAt: 0, updatedAt: 0, restarts: 0, recentRestarts: [],
};

/** Applies restarts one after another (1 s apart); returns each decision's delay. */
function delays(progress: boolean[]): Array<number | 'exhausted'> {
  let s = seed;
  return progress.map((p, i) => {
    const d = recordRestart(s, policy, `failure ${i}`, 10_000 + i * 1000, p);
    s = d.seed;
    return d.kind === 'retry' ? d.delayMs : 'exhausted';
  });
}

describe('restart policy: back off only while the app makes no progress', () => {
  it('restarts at once after an epoch that committed a checkpoint', () => {
    expect(delays([true, true, true])).toEqual([0, 0, 0]);
  });

  it('doubles the delay for each restart with nothing committed in between, capped', () => {
    expect(delays([false, false, false, false])).toEqual([500, 1000, 1500, 1500]);
  });

  it('a committed checkpoint resets the back-off', () => {
    expect(delays([false, false, true, false])).toEqual([500, 1000, 0, 500]);
  });

  it('the budget still bounds a loop that commits between failures', () => {
    const r = delays([true, true, true, true, true, true]);
    expect(r.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(r[5]).toBe('exhausted');
  });

  it('an old seed without the streak field parses and backs off from the first step', () => {
    const d = recordRestart({ ...seed, stalledRestarts: undefined }, policy, 'x', 1, false);
    expect(d.kind === 'retry' && d.delayMs).toBe(500);
  });
});
