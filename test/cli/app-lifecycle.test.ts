// `sluice wait`, `delete`, `status`, `apps` and `submit` against a real local cluster
// (`sluice local`: master and worker in one process, executors as child processes).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, cli, CLI, credentials, Proc, useLocalAdminToken, waitFor, WORD_COUNT, writeClusterYaml, writeWords } from '../e2e/helpers/engine-cluster.js';

let dir: string;
let cluster: Proc | undefined;
let addr: string;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-cli-apps-'));
  writeClusterYaml(join(dir, 'cluster.yaml'));
  cluster = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '1'], { cwd: dir });
  addr = (await cluster.line(/master on (\S+),/))[1]!;
  base = `http://${addr}`;
  // Auth is on by default: `sluice local` wrote an admin token beside the config.
  useLocalAdminToken(dir);
  await waitFor('a worker', 10_000, async () => ((await api(base, 'GET', '/health')).workers === 1 ? true : undefined));
});

afterAll(async () => {
  await cluster?.stop();
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

async function submit(file: string, config: string[] = []): Promise<string> {
  const r = await cli(['submit', file, '--master', addr, ...config.flatMap((c) => ['--config', c])], dir);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** Word count over `lines` lines, throttled so it runs for lines / linesPerSec seconds. */
async function wordCount(name: string, lines: number, linesPerSec: number): Promise<string> {
  const input = join(dir, `${name}.txt`);
  writeWords(input, lines);
  return submit(WORD_COUNT, [`input=${input}`, `output=${join(dir, `${name}-out`)}`, 'executors=1', `linesPerSec=${linesPerSec}`, 'checkpointIntervalMs=200']);
}

async function statusOf(appId: string): Promise<{ status: string }> {
  return api(base, 'GET', `/apps/${appId}`) as Promise<{ status: string }>;
}

describe('sluice wait', () => {
  it('exits 0 when the app stops, with the final state as JSON', async () => {
    const appId = await wordCount('small', 500, 100_000);
    const r = await cli(['wait', appId, '--master', addr, '--timeout', '90s', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ appId, status: 'stopped' });
  }, 120_000);

  it('exits 1 with the reason when the app fails', async () => {
    writeFileSync(join(dir, 'throws.mjs'), "throw new Error('boom at load');\n");
    const appId = await submit(join(dir, 'throws.mjs'));
    const r = await cli(['wait', appId, '--master', addr, '--timeout', '90s'], dir);
    expect(r.stdout).toMatch(new RegExp(`^${appId} failed: .*boom at load`));
    expect(r.code).toBe(1);
  }, 120_000);

  it('exits 3 for an unknown app, 2 for a bad --timeout', async () => {
    const unknown = await cli(['wait', 'no-such-app', '--master', addr, '--timeout', '5s'], dir);
    expect(unknown.stderr).toMatch(/no-such-app/);
    expect(unknown.code).toBe(3);
    const bad = await cli(['wait', 'no-such-app', '--master', addr, '--timeout', 'soon'], dir);
    expect(bad.stderr).toMatch(/--timeout/);
    expect(bad.code).toBe(2);
  }, 60_000);

  it('times out with TIMEOUT (exit 1) while the app runs, then exits 1 once it is killed', async () => {
    const appId = await wordCount('slow', 20_000, 50);
    await waitFor('the app to run', 30_000, async () => ((await statusOf(appId)).status === 'running' ? true : undefined));
    const started = Date.now();
    const timedOut = await cli(['wait', appId, '--master', addr, '--timeout', '1500ms', '--json'], dir);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(JSON.parse(timedOut.stderr) as unknown).toMatchObject({ error: { code: 'TIMEOUT' } });
    expect(timedOut.stdout).toBe('');
    expect(timedOut.code).toBe(1);

    // A closed pipe on stdout (`sluice status … | head -1` once head has gone): quiet exit.
    const quiet = await statusIntoClosedPipe(appId);
    expect(quiet.stderr).toBe('');
    expect(quiet.code).toBe(0);

    const waiting = Proc.start(['wait', appId, '--master', addr, '--timeout', '60s'], { cwd: dir });
    expect((await cli(['kill', appId, '--master', addr], dir)).code).toBe(0);
    expect(await waiting.exited).toBe(1);
    expect(waiting.out.join('\n')).toMatch(new RegExp(`^${appId} killed`));
  }, 120_000);
});

/** Runs `sluice status <id>` with its stdout closed before it writes (what `| head -1` leaves behind). */
function statusIntoClosedPipe(appId: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const env = { ...process.env, ...(credentials.token ? { SLUICE_TOKEN: credentials.token } : {}) };
    const child = spawn(process.execPath, [CLI, 'status', appId, '--master', addr], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('close', (code) => {
      clearTimeout(t);
      res({ code, stderr });
    });
  });
}

describe('sluice delete', () => {
  it('is refused while the app runs (exit 1, with the reason); removes an ended app and its store; then the app is unknown (exit 3)', async () => {
    const appId = await wordCount('to-delete', 20_000, 50);
    await waitFor('the app to run', 30_000, async () => ((await statusOf(appId)).status === 'running' ? true : undefined));
    const refused = await cli(['delete', appId, '--master', addr], dir);
    expect(refused.stderr).toMatch(/running/);
    expect(refused.code).toBe(1);
    expect((await cli(['kill', appId, '--master', addr], dir)).code).toBe(0);
    expect((await cli(['wait', appId, '--master', addr, '--timeout', '60s'], dir)).code).toBe(1);
    expect(existsSync(join(dir, 'store', 'apps', appId))).toBe(true);
    const r = await cli(['delete', appId, '--master', addr, '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ deleted: appId });
    expect(existsSync(join(dir, 'store', 'apps', appId))).toBe(false);
    expect((await cli(['status', appId, '--master', addr], dir)).code).toBe(3);
    expect((await cli(['delete', appId, '--master', addr], dir)).code).toBe(3);
  }, 120_000);
});

describe('sluice submit checks well-known --config keys before uploading', () => {
  it('executors=abc and executors=0 are usage errors (exit 2) naming the key; nothing is submitted', async () => {
    const before = ((await api(base, 'GET', '/apps')) as { apps: unknown[] }).apps.length;
    for (const v of ['abc', '0', '1.5', '-3']) {
      const r = await cli(['submit', WORD_COUNT, '--master', addr, '--config', `executors=${v}`], dir);
      expect(r.stderr).toMatch(/--config executors: expected an integer >= 1/);
      expect(r.code).toBe(2);
    }
    const r = await cli(['submit', WORD_COUNT, '--master', addr, '--config', 'checkpointIntervalMs=fast', '--json'], dir);
    expect(JSON.parse(r.stderr) as unknown).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(r.code).toBe(2);
    expect(((await api(base, 'GET', '/apps')) as { apps: unknown[] }).apps.length).toBe(before);
  }, 60_000);
});

describe('with the master away', () => {
  it('status --json keeps numbers numeric; apps without -c creates no ./.sluice', async () => {
    const apps = ((await api(base, 'GET', '/apps')) as { apps: Array<{ appId: string }> }).apps;
    expect(apps.length).toBeGreaterThan(0);
    await cluster!.stop();
    cluster = undefined;
    const r = await cli(['status', apps[0]!.appId, '-c', 'cluster.yaml', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const a = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(a.appId).toBe(apps[0]!.appId);
    for (const [k, v] of Object.entries(a)) expect(v, k).not.toBe('-');
    if ('epoch' in a) expect(typeof a.epoch).toBe('number');

    const empty = mkdtempSync(join(tmpdir(), 'sluice-cli-empty-'));
    try {
      // No -c (so the default store, ./.sluice); port 1: no master there, so the CLI reads the store.
      writeFileSync(join(empty, 'unused'), '');
      const none = await cli(['apps', '--master', '127.0.0.1:1'], empty);
      expect(none.code, none.stderr).toBe(0);
      expect(none.stdout).toBe('no apps');
      expect(readdirSync(empty)).toEqual(['unused']);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  }, 60_000);
});
