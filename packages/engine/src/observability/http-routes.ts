import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { isStorageError, type AppStorage, type Storage } from '@sluice/storage-api';
import { ObservabilityError } from './errors.js';
import { errorBody, sendError, sendJson } from './http-util.js';
import { followLogs, readLogs, resolveLogFilter, type LogFilter } from './log-query.js';
import { resolveMetricQuery, parseLabelMatchers, type MetricFilter } from './metric-query.js';
import type { MetricSample } from './metrics-registry.js';
import { renderPrometheus, type PromSources } from './prometheus.js';
import { exportedAppSamples, type PromGranularity } from './prometheus-app.js';
import { storedSamples } from './stored-samples.js';
import { SessionStore } from './ui-auth.js';
import { checkPerm, identify, uiRoutes, type UiOptions } from './ui-routes.js';

/** The dashboard's options (auth, sessions, cluster API, storage routing) plus the query and Prometheus routes'. */
export interface ObservabilityRoutesOptions extends UiOptions {
  /** Sources for GET /metrics (Prometheus); without it /metrics is left to the caller. */
  prometheus?: () => PromSources | Promise<PromSources>;
  /** Add the master process's own metrics (CPU, memory, event loop) to /metrics. */
  processMetrics?: boolean;
  /**
   * Labels of the per-processor families on /metrics: 'processor' (default, bounded by
   * the DAG's size) or 'task' (× parallelism).
   */
  prometheusGranularity?: PromGranularity;
  /** Apps whose stored metrics /metrics reads per scrape (running ones first); default 100. */
  prometheusMaxApps?: number;
  /** Poll interval of follow streams; default 250 ms. */
  pollIntervalMs?: number;
  /** Upper bound on one follow stream's life; default 24 h. */
  maxFollowMs?: number;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const APP_ROUTE = /^\/apps\/([^/]+)\/(logs|metrics)$/;

/**
 * HTTP routes the master mounts:
 *   GET /apps/:id/logs?since&until&level&grep&processor&task&executor&limit  → {records}
 *   GET /apps/:id/logs?follow=1&…                                            → NDJSON stream
 *   GET /apps/:id/metrics                        → {series: SeriesInfo[]}
 *   GET /apps/:id/metrics?name&since&until&step&agg&by&label=k=v&resolution → {series: MetricSeries[]}
 *   GET /metrics                                 → Prometheus text (if `prometheus` given)
 *   /ui, /ui/assets/*, /ui/api/*                 → the dashboard (see ui-routes.ts)
 * Returns false for any other request so the master can route it on.
 * With `authenticate`, every route needs a bearer token or the dashboard's session
 * cookie; with `authorize`, app routes need 'r' on the app.
 * Errors: 400 {error:{code:'INVALID_ARGUMENT'}}, 401 UNAUTHENTICATED, 403 FORBIDDEN,
 * 404 APP_NOT_FOUND, 503 storage unavailable.
 */
export function observabilityRoutes(options: ObservabilityRoutesOptions): RouteHandler {
  const sessions = options.sessions ?? new SessionStore();
  const ui = uiRoutes({ ...options, sessions });
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (await ui(req, res)) return true;
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (url.pathname === '/metrics' && options.prometheus) {
      try {
        await identify(req, options, sessions);
        const sources = await withStoredSamples(await options.prometheus(), options);
        const { contentType, body } = await renderPrometheus(sources, { processMetrics: options.processMetrics });
        res.writeHead(200, { 'content-type': contentType });
        res.end(body);
      } catch (err) {
        sendError(res, err);
      }
      return true;
    }
    const m = APP_ROUTE.exec(url.pathname);
    if (!m) return false;
    try {
      const appId = decodeURIComponent(m[1]!);
      await checkPerm(options, await identify(req, options, sessions), appId, 'r');
      const app = await options.getAppStorage(appId).catch((err: unknown) => {
        // An invalid id cannot name an app: answer 404 rather than 500.
        if (isStorageError(err, 'STORAGE_INVALID_ARGUMENT') || isStorageError(err, 'STORAGE_NOT_FOUND')) return undefined;
        throw err;
      });
      if (!app) throw new ObservabilityError('APP_NOT_FOUND', `app ${appId} not found`);
      const p = url.searchParams;
      if (m[2] === 'logs') {
        const filter: LogFilter = {};
        for (const k of ['since', 'until', 'level', 'grep', 'processor', 'task', 'executor', 'limit'] as const) {
          const v = p.get(k);
          if (v !== null) filter[k] = v;
        }
        const resolved = resolveLogFilter(filter);
        if (p.get('follow') === '1' || p.get('follow') === 'true') {
          if (filter.until !== undefined) throw new ObservabilityError('INVALID_ARGUMENT', 'follow cannot be combined with until');
          await streamFollow(req, res, app, resolved, options);
        } else {
          sendJson(res, 200, { records: await readLogs(app.logs, resolved) });
        }
      } else {
        const name = p.get('name');
        if (!name) {
          const labels = parseLabelMatchers(p.getAll('label'));
          sendJson(res, 200, { series: await app.metrics.listSeries(labels ? { labels } : {}) });
        } else {
          const f: MetricFilter = { name, label: p.getAll('label'), by: p.getAll('by') };
          for (const k of ['since', 'until', 'step', 'agg', 'resolution'] as const) {
            const v = p.get(k);
            if (v !== null) f[k] = v;
          }
          sendJson(res, 200, { series: await app.metrics.query(resolveMetricQuery(f)) });
        }
      }
    } catch (err) {
      sendError(res, err);
    }
    return true;
  };
}

/** Routes over a Storage (what the master holds). */
export function logsApi(storage: Pick<Storage, 'getAppStorage'>, extra: Omit<ObservabilityRoutesOptions, 'getAppStorage'> = {}): RouteHandler {
  return observabilityRoutes({ ...extra, getAppStorage: (id) => storage.getAppStorage(id) });
}

async function streamFollow(
  req: IncomingMessage,
  res: ServerResponse,
  app: Pick<AppStorage, 'logs'>,
  resolved: ReturnType<typeof resolveLogFilter>,
  options: ObservabilityRoutesOptions,
): Promise<void> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  res.on('close', stop);
  req.on('close', stop);
  const timer = setTimeout(stop, options.maxFollowMs ?? 24 * 3_600_000);
  timer.unref();
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
  // Headers out now, so the client knows the stream is open before the first record.
  res.flushHeaders();
  try {
    for await (const rec of followLogs(app.logs, resolved, { signal: ac.signal, pollIntervalMs: options.pollIntervalMs ?? 250 })) {
      if (ac.signal.aborted) break;
      if (!res.write(JSON.stringify(rec) + '\n')) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
  } catch (err) {
    if (!ac.signal.aborted) res.write(JSON.stringify({ error: errorBody(err) }) + '\n');
  } finally {
    clearTimeout(timer);
    res.off('close', stop);
    req.off('close', stop);
    if (!res.writableEnded) res.end();
  }
}

/** Default cap on apps read per scrape; each costs a few store queries. */
const DEFAULT_PROM_MAX_APPS = 100;

/**
 * Adds each app's stored metrics (per processor, per sub-store) to the master's cluster
 * snapshot when the caller did not pass samples: the values live in executor processes,
 * and the store is where they meet.
 */
async function withStoredSamples(sources: PromSources, o: ObservabilityRoutesOptions): Promise<PromSources> {
  if (sources.samples || !sources.cluster?.apps) return sources;
  const apps = [...sources.cluster.apps].sort((a, b) => Number(b.status === 'running') - Number(a.status === 'running')).slice(0, o.prometheusMaxApps ?? DEFAULT_PROM_MAX_APPS);
  const samples: Array<[string, MetricSample[]]> = [];
  await Promise.all(
    apps.map(async (a) => {
      const app = await o.getAppStorage(a.appId).catch(() => undefined);
      if (!app) return;
      const out = exportedAppSamples(a.appId, await storedSamples(app.metrics).catch(() => []), o.prometheusGranularity);
      const last = app.checkpoints ? await app.checkpoints('tasks').last().catch(() => undefined) : undefined;
      if (last) {
        out.push({ name: 'sluice_app_last_checkpoint_bytes', help: 'Size of the last committed checkpoint (all parts)', kind: 'gauge', labels: { app: a.appId }, value: last.parts.reduce((n, p) => n + p.size, 0) });
        out.push({ name: 'sluice_app_last_checkpoint_parts', help: 'Parts of the last committed checkpoint', kind: 'gauge', labels: { app: a.appId }, value: last.parts.length });
      }
      samples.push([a.appId, out]);
    }),
  );
  return { ...sources, samples };
}
