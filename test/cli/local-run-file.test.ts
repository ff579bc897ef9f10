// `master.port: 0`: `sluice local` binds any free port and writes <seed dir>/local.run.json;
// every client command of the same config finds the master there (issue 23).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, cli, CLI, Proc, useLocalAdminToken, waitFor, WORD_COUNT, writeClusterYaml, writeWords } from '../e2e/helpers/engine-cluster.js';

let dir: string;
let runFile: string;
const started: Proc[] = [];

/** `sluice local` as the leader of its own process group, so a SIGKILL takes its executors too. */
function startLocal(): Proc {
  const child = spawn(process.execPath, [CLI, 'local', '-c', 'cluster.yaml', '--workers', '1'], {
    cwd: dir,
    env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const p = new Proc(child);
  started.push(p);
  return p;
}

function killGroup(p: Proc): void {
  const pid = p.child.pid;
  if (pid === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function readRun(): { pid: number; url: string; startedAt: number } {
  return JSON.parse(readFileSync(runFile, 'utf8')) as { pid: number; url: string; startedAt: number };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-run-file-'));
  // port 0, seedFile ./master/seed.json: the run file is <dir>/master/local.run.json.
  writeClusterYaml(join(dir, 'cluster.yaml'));
  runFile = join(dir, 'master', 'local.run.json');
});

afterAll(async () => {
  for (const p of started) killGroup(p);
  await Promise.all(started.map((p) => p.exited));
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

function logsOf(p: Proc): string {
  return `local stdout: ${p.out.join(' | ')}; stderr: ${p.err.join('').slice(-2000)}`;
}

describe('sluice local with master.port 0', () => {
  it('without a running cluster, a client names the missing run file', async () => {
    const r = await cli(['delete', 'some-app', '-c', 'cluster.yaml'], dir);
    expect(r.stderr).toMatch(/no local cluster is running/);
    expect(r.stderr).toContain(runFile);
    expect(r.code).toBe(1);
  }, 30_000);

  it('clients find the real address in the run file; after a SIGKILL they report it stale', async () => {
    const local = startLocal();
    const addr = (await local.line(/master on (\S+),/))[1]!;
    const run = await waitFor('the run file', 20_000, async () => (existsSync(runFile) ? readRun() : undefined));
    expect(run.pid, logsOf(local)).toBe(local.child.pid);
    expect(run.url).toBe(`http://${addr}`);
    expect(Number(new URL(run.url).port)).toBeGreaterThan(0);
    useLocalAdminToken(dir);
    await waitFor('a worker', 10_000, async () => ((await api(run.url, 'GET', '/health')).workers === 1 ? true : undefined));

    const input = join(dir, 'words.txt');
    writeWords(input, 200);
    // submit and wait have no store fallback: they succeed only through the resolved master.
    const sub = await cli(['submit', WORD_COUNT, '-c', 'cluster.yaml', '--config', `input=${input}`, '--config', `output=${join(dir, 'out')}`, '--config', 'executors=1'], dir);
    expect(sub.code, `${sub.stderr} ${logsOf(local)}`).toBe(0);
    const appId = sub.stdout.trim();
    const waited = await cli(['wait', appId, '-c', 'cluster.yaml', '--timeout', '60s'], dir);
    expect(waited.code, waited.stderr).toBe(0);
    const status = await cli(['status', appId, '-c', 'cluster.yaml', '--json'], dir);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ appId, status: 'stopped' });
    const logs = await cli(['logs', appId, '-c', 'cluster.yaml', '--json'], dir);
    expect(logs.code, logs.stderr).toBe(0);

    killGroup(local);
    expect(await local.exited).toBeNull();
    expect(existsSync(runFile)).toBe(true);
    const stale = await cli(['status', appId, '-c', 'cluster.yaml'], dir);
    expect(stale.stderr).toMatch(new RegExp(`stale run file .*pid ${run.pid}`));
    expect(stale.stderr).toContain(runFile);
    expect(stale.stderr).toContain('LOCAL_CLUSTER_STALE');
    expect(stale.code).toBe(1);
    // logs and metrics resolve the same way (not a silent fallback to the store).
    const staleLogs = await cli(['logs', appId, '-c', 'cluster.yaml'], dir);
    expect(staleLogs.stderr).toMatch(/stale run file/);
    expect(staleLogs.code).toBe(1);
  }, 120_000);

  it('a clean stop (SIGTERM) removes the run file', async () => {
    const local = startLocal();
    await local.line(/master on (\S+),/);
    await waitFor('the run file', 20_000, async () => (existsSync(runFile) && readRun().pid === local.child.pid ? true : undefined));
    await local.stop();
    expect(existsSync(runFile), logsOf(local)).toBe(false);
  }, 60_000);
});
