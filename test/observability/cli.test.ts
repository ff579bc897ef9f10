import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openConfiguredStorage, openStorage, parseStorageConfig, type LogRecord, type MetricPoint, type MetricSeries, type SeriesInfo, type Storage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { logsApi } from '../../packages/engine/dist/observability/index.js';

const MAIN = resolve(import.meta.dirname, '../../packages/engine/dist/cli/main.js');
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], timeoutMs = 20_000): Promise<Run> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

const ndjson = <T>(s: string): T[] => s.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

/** A port nothing listens on, so "no master runs" holds. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function records(): LogRecord[] {
  return Array.from({ length: 60 }, (_, i) => ({
    ts: T0 + i * 1000,
    level: i % 3 === 0 ? 'warn' : 'info',
    msg: `word-count line ${i}`,
    labels: { app: 'wc', executor: 'e1', processor: i % 2 ? 'count' : 'split', task: '0', host: 'h' },
    fields: { i },
  }));
}

function points(): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (let k = 0; k < 60; k++) {
    for (const processor of ['split', 'count']) {
      out.push({ name: 'sluice_task_messages_in', labels: { app: 'wc', processor, task: '0' }, ts: T0 + k * 10_000, value: processor === 'split' ? 100 : 10 + k, kind: 'meter' });
    }
  }
  out.push({ name: 'sluice_task_queue_depth', labels: { app: 'wc', processor: 'split', task: '0' }, ts: T0, value: 3, kind: 'gauge' });
  return out;
}

describe('sluice logs / sluice metrics as a child process', () => {
  let dir: string;
  let yaml: string;
  let storage: Storage;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-obs-cli-'));
    yaml = join(dir, 'cluster.yaml');
    // An absolute root: the fs backend resolves relative roots against the cwd, not the config's folder.
    await writeFile(yaml, `master:\n  host: 127.0.0.1\n  port: ${await closedPort()}\nstorage:\n  default:\n    module: '@sluice/storage-fs'\n    options:\n      root: ${JSON.stringify(join(dir, 'data'))}\n`);
    storage = await openConfiguredStorage(parseStorageConfig({ default: { module: '@sluice/storage-fs', options: { root: join(dir, 'data') } } }), { baseDir: dir });
    const app = await storage.createAppStorage('wordcount', 'wc', { owner: 'alice' });
    await app.logs.append(records());
    await app.metrics.write(points());
  });
  afterAll(async () => {
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads logs straight from the store with -c when no master runs (--json, filters)', async () => {
    const r = await run(['logs', 'wc', '-c', yaml, '--json', '--since', String(T0), '--until', String(T0 + 30_000), '--level', 'warn', '--processor', 'split']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const recs = ndjson<LogRecord>(r.stdout);
    expect(recs.map((x) => x.fields?.i)).toEqual([0, 6, 12, 18, 24]);
    expect(recs[0]).toMatchObject({ level: 'warn', msg: 'word-count line 0', labels: { processor: 'split', executor: 'e1' } });
  });

  it('prints plain lines when not on a TTY, newest --limit without --since, --grep', async () => {
    const r = await run(['logs', 'wc', '-c', yaml, '--limit', '2', '--grep', 'LINE 5']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('word-count line 58');
    expect(lines[1]).toContain('word-count line 59');
    expect(lines[1]).toMatch(/^2026-11-23 12:00:59\.000 INFO {2}\[count#0@e1\] word-count line 59 i=59$/);
    expect(r.stdout).not.toContain('\u001b['); // no colours in a pipe
  });

  it('exit codes: 3 for an unknown app, 2 for bad filters or config', async () => {
    const missing = await run(['logs', 'nope', '-c', yaml]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('nope');
    expect((await run(['logs', 'wc', '-c', yaml, '--level', 'loud'])).code).toBe(2);
    expect((await run(['logs', 'wc', '-c', yaml, '-f', '--until', '1m'])).code).toBe(2);
    expect((await run(['metrics', 'wc', '-c', yaml, '--name', 'x', '--agg', 'median'])).code).toBe(2);
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'storage:\n  default:\n    module: 42\n');
    const r = await run(['logs', 'wc', '-c', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('storage.default.module');
  });

  it('-f prints the backlog and then new lines as they are stored; SIGINT ends it with 0', async () => {
    const child: ChildProcess = spawn(process.execPath, [MAIN, 'logs', 'wc', '-c', yaml, '-f', '--json', '--grep', 'follow-me'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      const app = (await storage.getAppStorage('wc'))!;
      await app.logs.append([{ ts: Date.now(), level: 'info', msg: 'follow-me 1', labels: { app: 'wc' } }]);
      const waitFor = async (n: number) => {
        const deadline = Date.now() + 10_000;
        while (ndjson(stdout).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      };
      await waitFor(1);
      await app.logs.append([{ ts: Date.now(), level: 'error', msg: 'follow-me 2', labels: { app: 'wc' } }, { ts: Date.now(), level: 'info', msg: 'ignored', labels: { app: 'wc' } }]);
      await waitFor(2);
      expect(ndjson<LogRecord>(stdout).map((x) => x.msg)).toEqual(['follow-me 1', 'follow-me 2']);
    } finally {
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      clearTimeout(killer);
    }
  });

  it('metrics: lists series, queries with --step/--agg/--by as JSON and as a table', async () => {
    const list = await run(['metrics', 'wc', '-c', yaml, '--json']);
    expect(list.code).toBe(0);
    const series = ndjson<SeriesInfo>(list.stdout);
    expect(series.map((s) => `${s.name}/${s.labels.processor}`).sort()).toEqual([
      'sluice_task_messages_in/count',
      'sluice_task_messages_in/split',
      'sluice_task_queue_depth/split',
    ]);
    const q = await run(['metrics', 'wc', '-c', yaml, '--name', 'sluice_task_messages_in', '--since', String(T0), '--until', String(T0 + 600_000), '--step', '5m', '--agg', 'max', '--by', 'processor', '--json']);
    expect(q.stderr).toBe('');
    expect(q.code).toBe(0);
    const res = ndjson<MetricSeries>(q.stdout);
    const byProc = Object.fromEntries(res.map((s) => [s.labels.processor, s.points]));
    expect(byProc.split).toEqual([{ ts: T0, value: 100 }, { ts: T0 + 300_000, value: 100 }]);
    expect(byProc.count).toEqual([{ ts: T0, value: 10 + 29 }, { ts: T0 + 300_000, value: 10 + 59 }]);
    const t = await run(['metrics', 'wc', '-c', yaml, '--name', 'sluice_task_queue_depth', '--since', String(T0), '--until', String(T0 + 60_000), '--step', '1m']);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('sluice_task_queue_depth{');
    expect(t.stdout).toMatch(/2026-11-23 12:00:00\.000\s+3\n/);
    const plainList = await run(['metrics', 'wc', '-c', yaml]);
    expect(plainList.stdout.split('\n')[0]).toMatch(/^NAME\s+KIND\s+LABELS$/);
  });

  describe('through a master', () => {
    let server: Server;
    let masterStorage: Storage;
    let port: number;
    beforeAll(async () => {
      // The master serves a different store than the yaml names, so the test can tell who answered.
      masterStorage = await openStorage(memoryModule, {});
      const app = await masterStorage.createAppStorage('wordcount', 'wc', { owner: 'alice' });
      await app.logs.append([{ ts: T0, level: 'info', msg: 'served by the master', labels: { app: 'wc' } }]);
      const routes = logsApi(masterStorage, { pollIntervalMs: 50 });
      server = createServer((req, res) => {
        void routes(req, res).then((handled) => {
          if (!handled) res.writeHead(404).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await masterStorage.close();
    });

    it('--master reads through the HTTP API; -c prefers the master it names when it runs', async () => {
      const r = await run(['logs', 'wc', '--master', `127.0.0.1:${port}`, '--json']);
      expect(r.code).toBe(0);
      expect(ndjson<LogRecord>(r.stdout).map((x) => x.msg)).toEqual(['served by the master']);
      const withMaster = join(dir, 'with-master.yaml');
      await writeFile(withMaster, `master:\n  host: 127.0.0.1\n  port: ${port}\nstorage:\n  default:\n    module: '@sluice/storage-fs'\n    options:\n      root: ${JSON.stringify(join(dir, 'data'))}\n`);
      const r2 = await run(['logs', 'wc', '-c', withMaster, '--json']);
      expect(ndjson<LogRecord>(r2.stdout).map((x) => x.msg)).toEqual(['served by the master']);
      const missing = await run(['logs', 'nope', '--master', `127.0.0.1:${port}`]);
      expect(missing.code).toBe(3);
      const bad = await run(['logs', 'wc', '--master', `127.0.0.1:${port}`, '--since', 'later']);
      expect(bad.code).toBe(2);
    });

    it('-f through the master streams new lines', async () => {
      const child = spawn(process.execPath, [MAIN, 'logs', 'wc', '--master', `127.0.0.1:${port}`, '-f', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      try {
        const deadline = Date.now() + 10_000;
        while (ndjson(stdout).length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        const app = (await masterStorage.getAppStorage('wc'))!;
        await app.logs.append([{ ts: Date.now(), level: 'warn', msg: 'live from master', labels: { app: 'wc' } }]);
        const deadline2 = Date.now() + 10_000;
        while (ndjson(stdout).length < 2 && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 25));
        expect(ndjson<LogRecord>(stdout).map((x) => x.msg)).toEqual(['served by the master', 'live from master']);
      } finally {
        child.kill('SIGINT');
        expect(await exited).toBe(0);
        clearTimeout(killer);
      }
    });
  });
});
