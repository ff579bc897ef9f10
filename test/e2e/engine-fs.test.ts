import type { TestJson } from './helpers/engine-cluster.js';
// End to end on the fs store: a master process and two worker processes (executors are
// their child processes), word count submitted through the CLI, exact output; then bad
// input, with the cluster still serving afterwards.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { api, cli, Proc, ProcCluster, referenceCount, waitFor, WORD_COUNT, writeWords } from './helpers/engine-cluster.js';

let c: ProcCluster;
let dir: string;
let base: string;
let addr: string;

beforeAll(async () => {
  c = await ProcCluster.start('sluice-e2e-fs-');
  ({ dir, addr, base } = c);
});

// SLUICE_KEEP_TEST_DIR=1 keeps the store, logs and output for a post-mortem.
afterAll(async () => {
  await c?.stop();
});

async function finalStatus(appId: string, timeoutMs = 60_000): Promise<TestJson> {
  return waitFor(`app ${appId} to end`, timeoutMs, async () => {
    const a = await api(base, 'GET', `/apps/${appId}`);
    return ['running', 'pending'].includes(a.status) ? undefined : a;
  });
}

describe('engine on the fs store (real master, workers, executors)', () => {
  it('runs word count submitted by the CLI and commits exact counts', async () => {
    const input = join(dir, 'words.txt');
    writeWords(input, 5000);
    const output = join(dir, 'out');
    const sub = await cli(['submit', WORD_COUNT, '--master', addr, '--json', '--config', `input=${input}`, '--config', `output=${output}`, '--config', 'executors=2', '--config', 'checkpointIntervalMs=200'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const { appId, sha256 } = JSON.parse(sub.stdout) as { appId: string; sha256: string };
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
    const end = await finalStatus(appId);
    expect(end.status).toBe('stopped');
    expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));

    const apps = await cli(['apps', '--master', addr, '--json'], dir);
    expect(apps.code).toBe(0);
    expect((JSON.parse(apps.stdout) as Array<{ appId: string; status: string }>).find((a) => a.appId === appId)?.status).toBe('stopped');
    const st = await cli(['status', appId, '--master', addr, '--json'], dir);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout).appId).toBe(appId);
  }, 90_000);

  it('keeps running an app while the master is killed and restarted', async () => {
    const input = join(dir, 'words-restart.txt');
    writeWords(input, 6000, 5);
    const output = join(dir, 'out-restart');
    const sub = await cli(['submit', WORD_COUNT, '--master', addr, '--config', `input=${input}`, '--config', `output=${output}`,
      '--config', 'checkpointIntervalMs=200', '--config', 'linesPerSec=1500'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const appId = sub.stdout.trim();
    await waitFor('a committed checkpoint', 30_000, async () => ((await api(base, 'GET', `/apps/${appId}`)).appMaster?.committed > 0 ? true : undefined));
    process.kill(c.master.child.pid!, 'SIGKILL');
    await c.master.exited;
    const port = addr.split(':')[1]!;
    c.master = Proc.start(['master', '-c', 'cluster.yaml', '--port', port], { cwd: dir });
    await c.master.line(/master listening on/);
    const end = await finalStatus(appId, 60_000);
    expect(end.status, end.error).toBe('stopped');
    expect(end.epoch).toBe(1); // no executor was restarted: the app never noticed
    expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
    await waitFor('workers to re-register', 10_000, async () => ((await api(base, 'GET', '/health')).workers === 2 ? true : undefined));
  }, 120_000);

  it('replaces a hung executor (SIGSTOP: no heartbeat) and still commits exact counts', async () => {
    const input = join(dir, 'words-hang.txt');
    writeWords(input, 4000, 9);
    const output = join(dir, 'out-hang');
    const sub = await cli(['submit', WORD_COUNT, '--master', addr, '--config', `input=${input}`, '--config', `output=${output}`,
      '--config', 'checkpointIntervalMs=200', '--config', 'linesPerSec=1000'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const appId = sub.stdout.trim();
    const victim = await waitFor('a committed checkpoint', 30_000, async () => {
      const a = await api(base, 'GET', `/apps/${appId}`);
      if (!(a.appMaster?.committed > 0 && a.appMaster.phase === 'running')) return undefined;
      return (a.executors as Array<{ role: string; pid: number }>).find((e) => e.role === 'executor');
    });
    process.kill(victim.pid, 'SIGSTOP');
    try {
      const end = await finalStatus(appId, 80_000);
      expect(end.status, end.error).toBe('stopped');
      expect(end.epoch).toBeGreaterThanOrEqual(2);
      expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
      // The hung zombie of the old epoch was killed by its worker.
      await waitFor('the hung executor to be killed', 10_000, async () => {
        try {
          process.kill(victim.pid, 0);
          return undefined;
        } catch {
          return true;
        }
      });
    } finally {
      try {
        process.kill(victim.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }, 120_000);

  it('recovers an executor SIGKILL at once, each executor back on its worker in a process booted before the kill', async () => {
    const input = join(dir, 'words-warm.txt');
    writeWords(input, 20_000, 11); // ~20 s at 1000 lines/s: still running once the standbys are back
    const output = join(dir, 'out-warm');
    const sub = await cli(['submit', WORD_COUNT, '--master', addr, '--config', `input=${input}`, '--config', `output=${output}`,
      '--config', 'checkpointIntervalMs=200', '--config', 'linesPerSec=1000'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const appId = sub.stdout.trim();
    type Ex = { role: string; pid: number; executor: number; worker: string; epoch: number };
    const before = await waitFor('a committed checkpoint', 60_000, async () => {
      const a = await api(base, 'GET', `/apps/${appId}`);
      return a.appMaster?.committed > 0 && a.appMaster.phase === 'running' && a.appMaster.epoch === a.epoch ? a : undefined;
    });
    const placedBefore = new Map((before.executors as Ex[]).filter((e) => e.role === 'executor').map((e) => [e.executor, e.worker]));
    // The launch took the workers' standbys; their refills must have booted (GET /workers says so).
    await waitFor('every worker with a warm standby', 60_000, async () => {
      const ws = (await api(base, 'GET', '/workers')).workers as Array<{ standbys?: { ready: number } }>;
      return ws.length === 2 && ws.every((w) => (w.standbys?.ready ?? 0) >= 1) ? true : undefined;
    });
    const victim = (before.executors as Ex[]).find((e) => e.role === 'executor')!;
    // Process start times in clock ticks since boot (/proc/<pid>/stat field 22) against the kill's.
    const startTicks = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
    const killTicks = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100;
    process.kill(victim.pid, 'SIGKILL');
    const after = await waitFor('the next epoch running', 60_000, async () => {
      const a = await api(base, 'GET', `/apps/${appId}`);
      const ex = (a.executors as Ex[]).filter((e) => e.role === 'executor' && e.epoch === a.epoch);
      return a.epoch > before.epoch && a.appMaster?.epoch === a.epoch && a.appMaster.phase === 'running' && ex.length === placedBefore.size ? { a, ex } : undefined;
    });
    // The epoch committed before the kill, so the restart was not backed off.
    expect(after.a.nextAttemptAt ?? 0).toBeLessThanOrEqual((after.a.lastFailure?.at ?? 0) + 5);
    for (const e of after.ex) {
      expect(e.worker, `executor ${e.executor} placed back on its worker`).toBe(placedBefore.get(e.executor));
      // USER_HZ is 100 on Linux: a standby was booted before the kill (one tick of slack).
      expect(startTicks(e.pid), `executor ${e.executor} (pid ${e.pid}) is a warm standby`).toBeLessThanOrEqual(killTicks + 1);
    }
    const end = await finalStatus(appId, 80_000);
    expect(end.status, end.error).toBe('stopped');
    expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
  }, 180_000);

  it('fails bad apps with clear errors and keeps running', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['throws.mjs', "throw new Error('boom at load');\n", /artifact failed to load: boom at load/],
      ['cycle.mjs', `export default ({ Dag, generatorSource }) => {
  const d = new Dag('loop');
  d.processor({ name: 'src', kind: 'source', parallelism: 1, source: generatorSource({ lines: 1 }) });
  d.processor({ name: 'a', kind: 'task', parallelism: 1, task: () => ({ onNext() {} }) });
  d.processor({ name: 'b', kind: 'task', parallelism: 1, task: () => ({ onNext() {} }) });
  return d.edge('src', 'a').edge('a', 'b').edge('b', 'a');
};\n`, /cycle: a -> b -> a/],
      ['unknown.mjs', `export default ({ Dag, generatorSource }) => {
  const d = new Dag('x');
  d.processor({ name: 'src', kind: 'source', parallelism: 1, source: generatorSource({ lines: 1 }) });
  return d.edge('src', 'nowhere');
};\n`, /unknown processor "nowhere"/],
      ['nodag.mjs', 'export default () => 42;\n', /did not produce a Dag/],
    ];
    for (const [file, code, re] of cases) {
      writeFileSync(join(dir, file), code);
      const sub = await cli(['submit', join(dir, file), '--master', addr], dir);
      expect(sub.code, sub.stderr).toBe(0);
      const end = await finalStatus(sub.stdout.trim(), 30_000);
      expect(end.status).toBe('failed');
      expect(end.error).toMatch(re);
    }
    const missingStatus = await cli(['status', 'no-such-app', '--master', addr], dir);
    expect(missingStatus.code).toBe(3);
    expect(missingStatus.stderr).toMatch(/app no-such-app not found/);
    expect((await cli(['kill', 'no-such-app', '--master', addr], dir)).code).toBe(3);
    expect((await cli(['submit', join(dir, 'does-not-exist.mjs'), '--master', addr], dir)).code).toBe(2);
    expect((await cli(['submit', WORD_COUNT, '--master', addr, '--config', 'novalue'], dir)).code).toBe(2);
    expect((await cli(['submit', WORD_COUNT, '--master', addr, '--name', '../evil'], dir)).code).toBe(2);
    expect((await cli(['status'], dir)).code).toBe(2);
    const health = await api(base, 'GET', '/health');
    expect(health.workers).toBe(2);
  }, 120_000);
});
