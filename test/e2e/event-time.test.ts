// Event time on a real local cluster (`sluice local`: master + 2 workers, executors as
// child processes): a windowed count over out-of-order events (seeded; some beyond the
// bound and the lateness) commits exactly the plain-JS reference, results and late
// output, without failures and with executors (and the AppMaster's) killed by SIGKILL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, cli, Proc, REPO, waitFor, writeClusterYaml, useLocalAdminToken } from './helpers/engine-cluster.js';
import { committedLines, makeEvents, referenceWindowCount, writeEvents } from './helpers/event-time-data.js';

const APP = resolve(REPO, 'test/e2e/fixtures/event-time-count.mjs');
const O = { size: 500, lateness: 200, bound: 300, every: 100 };
const EVENTS = 30_000;

let dir: string;
let local: Proc;
let addr: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-eventtime-'));
  writeClusterYaml(join(dir, 'cluster.yaml'));
  local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '2'], { cwd: dir });
  addr = (await local.line(/master on (\S+),/))[1]!;
  useLocalAdminToken(dir);
});

afterAll(async () => {
  await local?.stop();
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

async function submit(name: string, extra: string[]): Promise<{ appId: string; out: string; late: string }> {
  const input = join(dir, `${name}.jsonl`);
  writeEvents(input, makeEvents(EVENTS, 7, { keys: 20, bound: O.bound, beyond: 0.02, farMs: 3000 }));
  const out = join(dir, `${name}-out`);
  const late = join(dir, `${name}-late`);
  const sub = await cli(['submit', APP, '--master', addr, '--config', `input=${input}`, '--config', `output=${out}`, '--config', `late=${late}`,
    '--config', 'executors=2', '--config', 'checkpointIntervalMs=300', ...extra], dir);
  expect(sub.code, sub.stderr).toBe(0);
  return { appId: sub.stdout.trim(), out, late };
}

async function finished(appId: string): Promise<{ status: string; epoch: number; error?: string }> {
  return waitFor('the app to finish', 90_000, async () => {
    const a = (await api(`http://${addr}`, 'GET', `/apps/${appId}`)) as { status: string; epoch: number; error?: string };
    return ['running', 'pending'].includes(a.status) ? undefined : a;
  }, 300);
}

describe('event-time windows on a cluster', () => {
  const ref = referenceWindowCount(makeEvents(EVENTS, 7, { keys: 20, bound: O.bound, beyond: 0.02, farMs: 3000 }), O);

  it('the input exercises lateness', () => {
    expect(ref.late.length).toBeGreaterThan(50);
    expect(ref.results.length).toBeGreaterThan(1000);
  });

  it('commits exactly the reference without failures', async () => {
    const { appId, out, late } = await submit('calm', []);
    const end = await finished(appId);
    expect(end.status, end.error).toBe('stopped');
    expect(committedLines(late)).toEqual(ref.late);
    expect(committedLines(out)).toEqual(ref.results);
  }, 120_000);

  it('commits exactly the reference with executors killed by SIGKILL', async () => {
    const base = `http://${addr}`;
    const { appId, out, late } = await submit('chaos', ['--config', 'linesPerSec=2000']);
    const kills: string[] = [];
    let lastCommitted = -1;
    let lastKill = 0;
    const deadline = Date.now() + 40_000;
    for (let i = 0; i < 400 && kills.length < 4 && Date.now() < deadline; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const a = (await api(base, 'GET', `/apps/${appId}`)) as { status: string; appMaster?: { committed?: number; phase?: string }; executors: Array<{ role: string; pid: number }> };
      if (a.status !== 'running') break;
      const committed = a.appMaster?.committed ?? -1;
      // Kill only after progress since the last kill, so the run always moves forward.
      if (Date.now() - lastKill < 2000 || committed <= lastCommitted || a.appMaster?.phase !== 'running') continue;
      const role = kills.length === 1 ? 'appmaster' : 'executor';
      const candidates = a.executors.filter((e) => e.role === role);
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
    const end = await finished(appId);
    expect(end.status, end.error).toBe('stopped');
    expect(end.epoch).toBeGreaterThan(kills.length);
    expect(committedLines(late)).toEqual(ref.late);
    expect(committedLines(out)).toEqual(ref.results);
  }, 150_000);
});
