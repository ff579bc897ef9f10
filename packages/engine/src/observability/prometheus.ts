import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { MetricsRegistry, MetricSample } from './metrics-registry.js';
import { lintExposition } from './prometheus-app.js';

/** What the master knows about its cluster; the engine maps its state onto this. */
export interface ClusterSnapshot {
  uptimeSeconds?: number;
  workers?: Array<{ id: string; host?: string; alive?: boolean; slots?: number; usedSlots?: number; standbysReady?: number }>;
  apps?: Array<{
    appId: string;
    appName?: string;
    status: string;
    executors?: number;
    tasks?: number;
    restarts?: number;
    epoch?: number;
    /** Event time (ms) of the last committed checkpoint. */
    lastCheckpointTs?: number;
  }>;
}

export interface PromSources {
  cluster?: ClusterSnapshot;
  /** Live registries per app id; their series get an `app` label if they lack one. */
  apps?: Iterable<[string, MetricsRegistry]>;
  /** Samples per app id read elsewhere (e.g. storedSamples() from the app's metrics store). */
  samples?: Iterable<[string, MetricSample[]]>;
}

/**
 * Builds a prom-client Registry holding the current values of the cluster and its apps.
 * Built per scrape: series come and go with apps and tasks, and a fresh registry needs no
 * bookkeeping of what disappeared. Histograms are exposed as summaries (quantiles).
 */
export function createPromRegistry(sources: PromSources): Registry {
  const reg = new Registry();
  const c = sources.cluster;
  if (c) {
    if (c.uptimeSeconds !== undefined) gauge(reg, 'sluice_master_uptime_seconds', 'Seconds since the master started', []).set(c.uptimeSeconds);
    if (c.workers) {
      gauge(reg, 'sluice_cluster_workers', 'Registered workers', []).set(c.workers.length);
      const up = gauge(reg, 'sluice_worker_up', '1 if the worker is alive', ['worker', 'host']);
      const slots = gauge(reg, 'sluice_worker_slots', 'Executor slots of the worker', ['worker']);
      const used = gauge(reg, 'sluice_worker_slots_used', 'Executor slots in use', ['worker']);
      const warm = gauge(reg, 'sluice_worker_standbys_ready', 'Warm executor processes ready for a launch or recovery', ['worker']);
      for (const w of c.workers) {
        up.set({ worker: w.id, host: w.host ?? '' }, w.alive === false ? 0 : 1);
        if (w.slots !== undefined) slots.set({ worker: w.id }, w.slots);
        if (w.usedSlots !== undefined) used.set({ worker: w.id }, w.usedSlots);
        if (w.standbysReady !== undefined) warm.set({ worker: w.id }, w.standbysReady);
      }
    }
    if (c.apps) {
      const info = gauge(reg, 'sluice_app_info', 'One series per app; value 1', ['app', 'name', 'status']);
      const ex = gauge(reg, 'sluice_app_executors', 'Executors running for the app', ['app']);
      const tasks = gauge(reg, 'sluice_app_tasks', 'Tasks of the app', ['app']);
      const restarts = new Counter({ name: 'sluice_app_restarts_total', help: 'App restarts (recoveries)', labelNames: ['app'], registers: [reg] });
      const epoch = gauge(reg, 'sluice_app_epoch', 'Current epoch of the app', ['app']);
      const ckpt = gauge(reg, 'sluice_app_last_checkpoint_time_seconds', 'Event time of the last committed checkpoint', ['app']);
      for (const a of c.apps) {
        info.set({ app: a.appId, name: a.appName ?? a.appId, status: a.status }, 1);
        if (a.executors !== undefined) ex.set({ app: a.appId }, a.executors);
        if (a.tasks !== undefined) tasks.set({ app: a.appId }, a.tasks);
        if (a.restarts !== undefined) restarts.inc({ app: a.appId }, a.restarts);
        if (a.epoch !== undefined) epoch.set({ app: a.appId }, a.epoch);
        if (a.lastCheckpointTs !== undefined) ckpt.set({ app: a.appId }, a.lastCheckpointTs / 1000);
      }
    }
  }
  const families = new Map<string, MetricSample[]>();
  const perApp: Array<[string, MetricSample[]]> = [...(sources.samples ?? [])];
  for (const [appId, r] of sources.apps ?? []) perApp.push([appId, r.snapshot()]);
  for (const [appId, list] of perApp) {
    for (const s of list) {
      const sample = s.labels.app ? s : { ...s, labels: { app: appId, ...s.labels } };
      const list = families.get(s.name);
      if (list) list.push(sample);
      else families.set(s.name, [sample]);
    }
  }
  for (const [name, samples] of families) {
    if (reg.getSingleMetric(name)) continue; // a cluster metric of the same name wins
    const first = samples[0]!;
    if (samples.some((s) => s.kind !== first.kind)) continue; // one family, one type
    const labelNames = [...new Set(samples.flatMap((s) => Object.keys(s.labels)))];
    if (first.kind === 'histogram') {
      reg.registerMetric(summaryFamily(name, first.help, samples) as unknown as Metric);
    } else if (first.kind === 'gauge') {
      const g = gauge(reg, name, first.help, labelNames);
      for (const s of samples) if (Number.isFinite(s.value)) g.set(s.labels, s.value);
    } else {
      const ctr = new Counter({ name, help: first.help, labelNames, registers: [reg] });
      for (const s of samples) if (Number.isFinite(s.value) && s.value >= 0) ctr.inc(s.labels, s.value);
    }
  }
  return reg;
}

function gauge(reg: Registry, name: string, help: string, labelNames: string[]): Gauge {
  return new Gauge({ name, help, labelNames, registers: [reg] });
}

/** A prom-client compatible metric object for a summary built from our histograms. */
function summaryFamily(name: string, help: string, samples: MetricSample[]) {
  return {
    name,
    help,
    type: 'summary',
    aggregator: 'sum',
    async get() {
      const values: Array<{ labels: Record<string, string | number>; value: number; metricName?: string }> = [];
      for (const s of samples) {
        const h = s.histogram;
        if (!h) continue;
        if (h.count > 0) {
          values.push({ labels: { ...s.labels, quantile: 0.5 }, value: h.p50 });
          values.push({ labels: { ...s.labels, quantile: 0.9 }, value: h.p90 });
          values.push({ labels: { ...s.labels, quantile: 0.99 }, value: h.p99 });
        }
        values.push({ labels: s.labels, value: h.sum, metricName: `${name}_sum` });
        values.push({ labels: s.labels, value: h.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'summary', values, aggregator: 'sum' };
    },
  };
}

let processRegistry: Registry | undefined;

/** The master process's own metrics (CPU, memory, event loop), collected once per process. */
export function processMetricsRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: 'sluice_master_' });
  }
  return processRegistry;
}

/** Renders the Prometheus text exposition for a scrape. */
export async function renderPrometheus(sources: PromSources, options: { processMetrics?: boolean } = {}): Promise<{ contentType: string; body: string }> {
  const reg = createPromRegistry(sources);
  const merged = options.processMetrics ? Registry.merge([reg, processMetricsRegistry()]) : reg;
  return { contentType: reg.contentType, body: lintExposition(await merged.metrics()) };
}

/**
 * A Node http handler for GET /metrics. `getSources` is called per scrape with the
 * master's current cluster snapshot and the live app registries.
 */
export function prometheusHandler(
  getSources: () => PromSources | Promise<PromSources>,
  options: { processMetrics?: boolean } = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (_req, res) => {
    try {
      const { contentType, body } = await renderPrometheus(await getSources(), options);
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`metrics unavailable: ${(err as Error).message}\n`);
    }
  };
}
