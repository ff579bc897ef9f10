import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { isStorageError, type AppStorage, type Storage } from '@sluice/storage-api';
import { isObservabilityError, ObservabilityError } from './errors.js';
import { followLogs, readLogs, resolveLogFilter, type LogFilter } from './log-query.js';
import { resolveMetricQuery, parseLabelMatchers, type MetricFilter } from './metric-query.js';
import { renderPrometheus, type PromSources } from './prometheus.js';

export interface ObservabilityRoutesOptions {
  /** The app's storage, or undefined when there is no such app (→ 404 APP_NOT_FOUND). */
  getAppStorage(appId: string): Promise<Pick<AppStorage, 'logs' | 'metrics'> | undefined>;
  /** Sources for GET /metrics (Prometheus); without it /metrics is left to the caller. */
  prometheus?: () => PromSources | Promise<PromSources>;
  /** Add the master process's own metrics (CPU, memory, event loop) to /metrics. */
  processMetrics?: boolean;
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
 * Returns false for any other request so the master can route it on.
 * Errors: 400 {error:{code:'INVALID_ARGUMENT'}}, 404 APP_NOT_FOUND, 503 storage unavailable.
 */
export function observabilityRoutes(options: ObservabilityRoutesOptions): RouteHandler {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (url.pathname === '/metrics' && options.prometheus) {
      try {
        const { contentType, body } = await renderPrometheus(await options.prometheus(), { processMetrics: options.processMetrics });
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

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(err: unknown): { code: string; message: string } {
  if (isObservabilityError(err) || isStorageError(err)) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  let status = 500;
  if (isObservabilityError(err, 'INVALID_ARGUMENT') || isStorageError(err, 'STORAGE_INVALID_ARGUMENT')) status = 400;
  else if (isObservabilityError(err, 'APP_NOT_FOUND')) status = 404;
  else if (isStorageError(err, 'STORAGE_PERMISSION_DENIED')) status = 403;
  else if (isStorageError(err) && err.transient) status = 503;
  sendJson(res, status, { error: errorBody(err) });
}
