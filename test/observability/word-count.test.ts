// Logs and metrics of a real word-count run: master and worker processes, executors as
// their children, everything logged through the app logger into the fs store. Read back
// with `sluice logs` / `sluice metrics` through the master, then from the store alone
// once the master is gone, and /metrics parsed as Prometheus text.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord, MetricSeries, SeriesInfo } from '@sluice/storage-api';
import { api, cli, Proc, waitFor, WORD_COUNT, writeClusterYaml, writeWords, useAdminToken, credentials } from '../e2e/helpers/engine-cluster.js';
import { parsePrometheus } from '../../packages/engine/test/observability/prom-parse.js';

const ndjson = <T>(s: string): T[] => s.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

let dir: string;
let master: Proc | undefined;
const workers: Proc[] = [];
let addr: string;
let appId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-obs-wc-'));
  writeClusterYaml(join(dir, 'cluster.yaml'));
  // The shared helper runs daemons at warn; info is what a clean run logs.
  const env = { SLUICE_LOG_LEVEL: 'info' };
  master = Proc.start(['master', '-c', 'cluster.yaml'], { cwd: dir, env });
  addr = (await master.line(/master listening on (\S+)/))[1]!;
  await useAdminToken(dir);
  for (const name of ['w1', 'w2']) {
    const w = Proc.start(['worker', '-c', 'cluster.yaml', '--master', addr, '--name', name], { cwd: dir, env });
    workers.push(w);
    await w.line(/registered/);
  }
  const input = join(dir, 'words.txt');
  writeWords(input, 3000);
  const sub = await cli(['submit', WORD_COUNT, '--master', addr, '--json', '--config', `input=${input}`, '--config', `output=${join(dir, 'out')}`, '--config', 'executors=2', '--config', 'checkpointIntervalMs=200'], dir);
  expect(sub.code, sub.stderr).toBe(0);
  appId = (JSON.parse(sub.stdout) as { appId: string }).appId;
  await waitFor(`app ${appId} to end`, 90_000, async () => (['running', 'pending'].includes((await api(`http://${addr}`, 'GET', `/apps/${appId}`)).status) ? undefined : true));
});

afterAll(async () => {
  await Promise.allSettled(workers.map((w) => w.stop()));
  await master?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('logs and metrics of a real word-count run', () => {
  it('sluice logs through the master shows app master and executor lines with their labels', async () => {
    const r = await cli(['logs', appId, '--master', addr, '--json', '--limit', '10000'], dir);
    expect(r.code, r.stderr).toBe(0);
    const recs = ndjson<LogRecord>(r.stdout);
    expect(recs.length).toBeGreaterThan(0);
    expect(recs.every((x) => x.labels.app === appId)).toBe(true);
    const executors = new Set(recs.map((x) => x.labels.executor));
    expect(executors.has('appmaster')).toBe(true);
    expect([...executors].filter((e) => e !== 'appmaster').length).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < recs.length; i++) expect(recs[i]!.ts).toBeGreaterThanOrEqual(recs[i - 1]!.ts);
  });

  it('sluice metrics lists the run\'s series and aggregates task throughput by processor', async () => {
    const list = await cli(['metrics', appId, '--master', addr, '--json'], dir);
    expect(list.code, list.stderr).toBe(0);
    const series = ndjson<SeriesInfo>(list.stdout);
    const names = new Set(series.map((s) => s.name));
    expect(names.has('sluice_log_records_shipped_total')).toBe(true);
    const task = series.find((s) => s.name.startsWith('sluice_task_') && s.labels.processor);
    expect(task, [...names].join(', ')).toBeDefined();
    const q = await cli(['metrics', appId, '--master', addr, '--json', '--name', task!.name, '--since', '1h', '--agg', 'max', '--by', 'processor', '--step', '1h'], dir);
    expect(q.code, q.stderr).toBe(0);
    const res = ndjson<MetricSeries>(q.stdout);
    expect(res.length).toBeGreaterThanOrEqual(1);
    expect(res.every((s) => typeof s.labels.processor === 'string' && s.points.length >= 1)).toBe(true);
  });

  it('the master serves /metrics in Prometheus text format', async () => {
    const res = await fetch(`http://${addr}/metrics`, { headers: { authorization: `Bearer ${credentials.token}` } });
    expect(res.status).toBe(200);
    const fams = parsePrometheus(await res.text());
    expect(fams.size).toBeGreaterThan(0);
    expect([...fams.keys()].some((n) => n.startsWith('sluice_'))).toBe(true);
  });

  it('each committed checkpoint records its keyed-state cost, shown in the dashboard\'s checkpoint table', async () => {
    const res = await fetch(`http://${addr}/ui/api/apps/${encodeURIComponent(appId)}`, { headers: { authorization: `Bearer ${credentials.token}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { overview: { checkpoints: Array<{ t: number; bytes: number; newBytes?: number; sharedBytes?: number; pauseMs?: number; uploadMs?: number }> } };
    const rows = body.overview.checkpoints;
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      for (const k of ['newBytes', 'sharedBytes', 'pauseMs', 'uploadMs'] as const) {
        expect(typeof r[k], `${k} of checkpoint ${r.t}`).toBe('number');
        expect(r[k]!).toBeGreaterThanOrEqual(0);
      }
    }
    // The count's state went up at least once: some checkpoint uploaded new segment bytes.
    expect(rows.some((r) => r.newBytes! > 0)).toBe(true);
    // New bytes are what the checkpoint staged itself, so never more than all the parts it lists.
    for (const r of rows) expect(r.newBytes!).toBeLessThanOrEqual(r.bytes);
  });

  it('after the master is gone, sluice logs -c reads the same lines straight from the store', async () => {
    const viaMaster = ndjson<LogRecord>((await cli(['logs', appId, '--master', addr, '--json', '--limit', '10000'], dir)).stdout);
    await Promise.allSettled(workers.map((w) => w.stop()));
    await master?.stop();
    master = undefined;
    const r = await cli(['logs', appId, '-c', 'cluster.yaml', '--json', '--limit', '10000'], dir);
    expect(r.code, r.stderr).toBe(0);
    const fromStore = ndjson<LogRecord>(r.stdout);
    expect(viaMaster.length).toBeGreaterThan(0);
    expect(fromStore.slice(0, viaMaster.length)).toEqual(viaMaster);
    const missing = await cli(['logs', 'no-such-app', '-c', 'cluster.yaml'], dir);
    expect(missing.code).toBe(3);
  });
});
