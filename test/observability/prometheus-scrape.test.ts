// A real Prometheus (Debian 2.42) started by the test scrapes the master of a running
// word count and answers PromQL for its per-processor throughput; the exposition passes
// `promtool check metrics`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../e2e/helpers/engine-cluster.js';
import { startRunningWordCount, type RunningApp } from '../ui/running-app.js';

const PROMETHEUS = process.env.SLUICE_PROMETHEUS ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.SLUICE_PROMTOOL ?? '/usr/bin/promtool';
const missing = [PROMETHEUS, PROMTOOL].filter((p) => !existsSync(p));
if (missing.length) {
  const msg = `Prometheus tests NOT RUN: missing ${missing.join(', ')} (apt-get install -y --no-install-recommends prometheus)`;
  if (process.env.SLUICE_REQUIRE_PROMETHEUS === '1' || process.env.CI === 'true') throw new Error(msg);
  process.stderr.write(`\n*** ${msg} ***\n\n`);
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

interface PromVector {
  status: string;
  data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

let run: RunningApp;
let prom: ChildProcess | undefined;
let promDir: string;
let promBase: string;
const promLog: string[] = [];

describe.skipIf(missing.length > 0)('Prometheus scraping a running app', () => {
  beforeAll(async () => {
    run = await startRunningWordCount('sluice-prom-');
    promDir = mkdtempSync(join(tmpdir(), 'sluice-prom-tsdb-'));
    const port = await freePort();
    promBase = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(promDir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sluice\n    authorization:\n      credentials: ${run.tokens.admin}\n    static_configs:\n      - targets: ['${run.addr}']\n`,
    );
    prom = spawn(PROMETHEUS, [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stderr!.on('data', (d: Buffer) => promLog.length < 500 && promLog.push(d.toString()));
    await waitFor('prometheus ready', 30_000, async () => ((await fetch(`${promBase}/-/ready`)).ok ? true : undefined), 300);
  });

  afterAll(async () => {
    if (prom?.pid !== undefined && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      process.kill(prom.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (prom.exitCode === null) process.kill(prom.pid, 'SIGKILL');
    }
    if (promDir) rmSync(promDir, { recursive: true, force: true });
    await run?.stop();
  });

  it('exports per-processor throughput, lag, checkpoint and storage families; promtool is clean', async () => {
    const text = await waitFor('per-processor families on /metrics', 45_000, async () => {
      const t = await (await fetch(`http://${run.addr}/metrics`, { headers: { authorization: `Bearer ${run.tokens.admin}` } })).text();
      // Every processor reports within a few metric flushes (slower on a loaded machine).
      const procs = t.split('\n').filter((l) => l.startsWith('sluice_processor_messages_total{')).length;
      return procs === 4 && t.includes('sluice_storage_op_duration_seconds{') ? t : undefined;
    }, 1000);
    const lint = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.status, `${lint.stdout}${lint.stderr}`).toBe(0);
    expect(`${lint.stdout}${lint.stderr}`.trim()).toBe('');
    for (const fam of ['sluice_processor_event_time_lag_seconds', 'sluice_app_last_checkpoint_bytes', 'sluice_app_checkpoint_new_bytes', 'sluice_app_checkpoint_pause_seconds', 'sluice_app_state_entries', 'sluice_storage_retries_total']) expect(text).toContain(`# TYPE ${fam} `);
    // Bounded cardinality: per processor, not per task, by default.
    const lines = text.split('\n').filter((l) => l.startsWith('sluice_processor_messages_total{'));
    expect(lines.length).toBe(4);
    expect(lines.every((l) => !l.includes('task='))).toBe(true);
  });

  it('answers a PromQL query for the app\'s throughput per processor', async () => {
    const q = `sum by (processor) (rate(sluice_processor_messages_total{app="${run.appId}"}[10s]))`;
    const res = await waitFor('a positive throughput from PromQL', 60_000, async () => {
      const r = (await (await fetch(`${promBase}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as PromVector;
      const split = r.data?.result.find((s) => s.metric.processor === 'split');
      const procs = new Set(r.data?.result.map((s) => s.metric.processor));
      return split && Number(split.value[1]) > 0 && ['lines', 'split', 'count'].every((p) => procs.has(p)) ? r : undefined;
    }, 1000).catch((err: unknown) => {
      throw new Error(`${String(err)}; prometheus log: ${promLog.join('').slice(-1500)}`);
    });
    expect(res.status).toBe('success');
    const procs = new Set(res.data.result.map((s) => s.metric.processor));
    expect(procs.has('lines') && procs.has('split') && procs.has('count')).toBe(true);
  });
});
