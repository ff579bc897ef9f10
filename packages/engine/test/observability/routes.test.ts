import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppStorage, MetricSeries, SeriesInfo, Storage } from '@sluice/storage-api';
import { createAppObservability, MetricsRegistry, observabilityRoutes } from '../../dist/observability/index.js';
import { allRecords, memoryApp } from './helpers.js';
import { parsePrometheus } from './prom-parse.js';

describe('observability HTTP routes and createAppObservability', () => {
  let storage: Storage;
  let app: AppStorage;
  let server: Server;
  let base: string;
  const live = new MetricsRegistry({ executor: 'e1' });

  beforeAll(async () => {
    ({ storage, app } = await memoryApp('wc'));
    // What an executor does: one call, log and count, close at the end.
    const obs = createAppObservability({ appStorage: app, labels: { app: 'wc', executor: 'e1', host: 'h' }, reportIntervalMs: 60_000 });
    const t = obs.metrics.task('split', '0.0');
    t.messagesIn.mark(10);
    obs.logger.child({ processor: 'split', task: '0.0' }).warn({ n: 1 }, 'slow partition');
    const closed = await obs.close();
    expect(closed.logs.shipped).toBe(1);
    expect(closed.metrics.written).toBeGreaterThan(0);
    live.task('split', '0.0').messagesIn.mark(5);

    const routes = observabilityRoutes({
      getAppStorage: (id) => storage.getAppStorage(id),
      prometheus: () => ({ cluster: { apps: [{ appId: 'wc', status: 'running' }] }, apps: new Map([['wc', live]]) }),
    });
    server = createServer((req, res) => {
      void routes(req, res).then((handled) => {
        if (!handled) res.writeHead(418).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await storage.close();
  });

  it('the executor helper put its logs and metrics into the app store', async () => {
    const recs = await allRecords(app.logs);
    expect(recs.map((r) => [r.level, r.msg, r.labels.processor])).toEqual([['warn', 'slow partition', 'split']]);
    const series = await app.metrics.listSeries({ name: 'sluice_task_messages_in' });
    expect(series[0]?.labels).toMatchObject({ app: 'wc', executor: 'e1', processor: 'split', task: '0.0' });
    expect((await app.metrics.listSeries({ name: 'sluice_log_records_dropped_total' })).length).toBe(1);
  });

  it('GET /apps/:id/logs and /metrics with filters; errors as JSON with 400/404; other paths left alone', async () => {
    const logs = await fetch(`${base}/apps/wc/logs?level=warn&processor=split`);
    expect(logs.status).toBe(200);
    expect(((await logs.json()) as { records: unknown[] }).records).toHaveLength(1);
    const none = (await (await fetch(`${base}/apps/wc/logs?level=error`)).json()) as { records: unknown[] };
    expect(none.records).toHaveLength(0);
    const list = (await (await fetch(`${base}/apps/wc/metrics?label=processor=split`)).json()) as { series: SeriesInfo[] };
    expect(list.series.map((s) => s.name)).toContain('sluice_task_messages_in');
    const q = (await (await fetch(`${base}/apps/wc/metrics?name=sluice_task_messages_in&since=1h&agg=count`)).json()) as { series: MetricSeries[] };
    expect(q.series).toHaveLength(1);
    expect(q.series[0]!.points.reduce((a, p) => a + p.value, 0)).toBe(1);

    const bad = await fetch(`${base}/apps/wc/logs?since=soon`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT');
    const missing = await fetch(`${base}/apps/nope/logs`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('APP_NOT_FOUND');
    const invalidId = await fetch(`${base}/apps/..%2Fetc/logs`);
    expect(invalidId.status).toBe(404);
    expect((await fetch(`${base}/apps/wc`)).status).toBe(418);
    expect((await fetch(`${base}/apps/wc/logs`, { method: 'POST' })).status).toBe(418);
  });

  it('GET /metrics serves the live registries in Prometheus format', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const fams = parsePrometheus(await res.text());
    expect(fams.get('sluice_task_messages_in')?.samples[0]).toMatchObject({ labels: { app: 'wc', executor: 'e1', processor: 'split', task: '0.0' }, value: 5 });
    expect(fams.get('sluice_app_info')?.samples[0]?.labels.status).toBe('running');
  });

  it('follow=1 streams NDJSON: the backlog, then new records', async () => {
    const ac = new AbortController();
    const bound = setTimeout(() => ac.abort(), 10_000); // a stuck read fails the test instead of hanging
    const res = await fetch(`${base}/apps/wc/logs?follow=1&grep=stream`, { signal: ac.signal });
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    await app.logs.append([{ ts: Date.now(), level: 'info', msg: 'stream me', labels: { app: 'wc' } }]);
    const reader = res.body!.getReader();
    let text = '';
    const deadline = Date.now() + 5000;
    while (!text.includes('\n') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ac.abort();
    clearTimeout(bound);
    expect(JSON.parse(text.split('\n')[0]!)).toMatchObject({ msg: 'stream me', level: 'info' });
  });
});
