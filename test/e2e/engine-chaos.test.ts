// Chaos on a real local cluster (`sluice local`: master + 2 workers, executors as child
// processes): kill -9 random executors about every 2 s, the AppMaster's executor once,
// during a run over 200k words; the committed output must equal the reference exactly.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { api, cli, Proc, referenceCount, waitFor, WORD_COUNT, writeClusterYaml, writeWords, useLocalAdminToken } from './helpers/engine-cluster.js';

let dir: string;
let local: Proc;
let addr: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-chaos-'));
  writeClusterYaml(join(dir, 'cluster.yaml'));
  local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '2'], { cwd: dir });
  addr = (await local.line(/master on (\S+),/))[1]!;
  useLocalAdminToken(dir);
});

afterAll(async () => {
  await local?.stop();
  // SLUICE_KEEP_TEST_DIR=1 keeps the store, logs and output for a post-mortem.
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

describe('chaos: executors killed with SIGKILL during a run', () => {
  it('still commits exactly the reference word count', async () => {
    const base = `http://${addr}`;
    const input = join(dir, 'words.txt');
    const words = writeWords(input, 25_000, 11);
    expect(words).toBeGreaterThanOrEqual(200_000);
    const output = join(dir, 'out');
    const sub = await cli(['submit', WORD_COUNT, '--master', addr, '--config', `input=${input}`, '--config', `output=${output}`,
      '--config', 'executors=2', '--config', 'checkpointIntervalMs=300', '--config', 'linesPerSec=2500'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const appId = sub.stdout.trim();

    const kills: string[] = [];
    let lastCommitted = -1;
    let lastKill = 0;
    const deadline = Date.now() + 35_000;
    for (let i = 0; i < 400 && kills.length < 4 && Date.now() < deadline; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const a = await api(base, 'GET', `/apps/${appId}`);
      if (a.status !== 'running') break;
      const committed = a.appMaster?.committed ?? -1;
      // Kill only after progress since the last kill, so the run always moves forward.
      if (Date.now() - lastKill < 2000 || committed <= lastCommitted || a.appMaster?.phase !== 'running') continue;
      const role = kills.length === 1 ? 'appmaster' : 'executor';
      const candidates = (a.executors as Array<{ role: string; pid: number; epoch: number }>).filter((e) => e.role === role);
      if (candidates.length === 0) continue;
      const victim = candidates[Math.floor(Math.random() * candidates.length)]!;
      try {
        process.kill(victim.pid, 'SIGKILL');
        kills.push(`${role}:${victim.pid}`);
      } catch {
        continue; // already gone
      }
      lastKill = Date.now();
      lastCommitted = committed;
    }
    expect(kills.length, `kills: ${kills.join(', ')}`).toBeGreaterThanOrEqual(3);
    expect(kills.some((k) => k.startsWith('appmaster'))).toBe(true);

    const end = await waitFor('the app to finish', 60_000, async () => {
      const a = await api(base, 'GET', `/apps/${appId}`);
      return ['running', 'pending'].includes(a.status) ? undefined : a;
    }, 300);
    expect(end.status, end.error).toBe('stopped');
    // Every kill forced a new epoch.
    expect(end.epoch).toBeGreaterThan(kills.length);
    expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
  }, 130_000);
});
