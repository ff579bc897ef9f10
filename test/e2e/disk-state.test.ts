// Keyed state on the disk backend (stateBackend=disk: lmdb behind a small write-back
// cache) end to end: word count on a real master and two workers, executors SIGKILLed
// twice mid-run, exact counts; the lmdb files live in the executors' own dirs and go
// with them.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { api, cli, ProcCluster, referenceCount, waitFor, WORD_COUNT, writeWords } from './helpers/engine-cluster.js';

let c: ProcCluster;
let dir: string;
let base: string;
let addr: string;

beforeAll(async () => {
  c = await ProcCluster.start('sluice-e2e-disk-state-');
  ({ dir, addr, base } = c);
});

afterAll(async () => {
  await c?.stop();
});

/** Every lmdb file under the test dir (the workers' executor dirs among them). */
function lmdbFiles(d: string, out: string[] = []): string[] {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    const s = statSync(p, { throwIfNoEntry: false });
    if (!s) continue;
    if (s.isDirectory()) lmdbFiles(p, out);
    else if (n === 'state.mdb') out.push(p);
  }
  return out;
}

describe('disk keyed state end to end', () => {
  it('counts exactly once through two executor SIGKILLs, state in lmdb in the executors\' dirs', async () => {
    const input = join(dir, 'words.txt');
    writeWords(input, 9000, 11);
    const output = join(dir, 'out');
    const sub = await cli(['submit', WORD_COUNT, '--master', addr, '--config', `input=${input}`, '--config', `output=${output}`,
      '--config', 'executors=2', '--config', 'checkpointIntervalMs=200', '--config', 'linesPerSec=1000',
      '--config', 'stateBackend=disk', '--config', 'stateCacheEntries=64'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const appId = sub.stdout.trim();
    const killed: number[] = [];
    for (let round = 0; round < 2; round++) {
      const victim = await waitFor(`a committed checkpoint of a new epoch (round ${round})`, 40_000, async () => {
        const a = await api(base, 'GET', `/apps/${appId}`);
        // The AppMaster's own epoch: the master's view of it lags by a heartbeat.
        if (!(a.appMaster?.committed > 0 && a.appMaster.phase === 'running' && a.appMaster.epoch === a.epoch && a.status === 'running')) return undefined;
        const ex = (a.executors as Array<{ role: string; pid: number; epoch: number }>).filter((e) => e.role === 'executor' && e.epoch === a.epoch && !killed.includes(e.pid));
        // The count tasks' state is on disk: lmdb files exist while the app runs.
        return ex.length === 2 && lmdbFiles(dir).length > 0 ? ex[round % 2] : undefined;
      });
      process.kill(victim!.pid, 'SIGKILL');
      killed.push(victim!.pid);
    }
    const end = await waitFor(`app ${appId} to end`, 90_000, async () => {
      const a = await api(base, 'GET', `/apps/${appId}`);
      return ['running', 'pending'].includes(a.status) ? undefined : a;
    });
    expect(end.status, end.error).toBe('stopped');
    expect(end.epoch).toBeGreaterThanOrEqual(3);
    expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
    // Killed or stopped, every executor's lmdb files are gone with it.
    await waitFor('the executors\' lmdb files to be removed', 10_000, async () => (lmdbFiles(dir).length === 0 ? true : undefined));
  }, 180_000);
});
