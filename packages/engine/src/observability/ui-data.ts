import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { AppStorage, MetricSeries, MetricsStore } from '@sluice/storage-api';
import { ObservabilityError } from './errors.js';
import { DAG_CONFIG_ID, type DagDescription } from './dag-describe.js';

/** What the dashboard reads from an app's store; the master passes its full AppStorage. */
export type UiAppStorage = Pick<AppStorage, 'logs' | 'metrics'> & Partial<Pick<AppStorage, 'config' | 'checkpoints' | 'meta'>>;

/** The master's own JSON API, as the dashboard calls it on the user's behalf. */
export interface ClusterApi {
  get(path: string, token?: string): Promise<unknown>;
  /** A JSON body when given; `timeoutMs` for calls that stop an app at a savepoint (rescale). */
  post(path: string, token?: string, body?: unknown, timeoutMs?: number): Promise<unknown>;
}

/** Timeout of one call to the master's own API. */
const MASTER_CALL_TIMEOUT_MS = 5000;

/**
 * The master's API over HTTP on the socket the request came in on: the routes live in the
 * same server, so this needs no wiring in master.ts. The user's token (kept in the session
 * server-side) is forwarded, so the master applies its own checks as for any client.
 */
export function loopbackCluster(req: IncomingMessage): ClusterApi {
  const addr = req.socket.localAddress ?? '127.0.0.1';
  const host = addr.startsWith('::ffff:') ? addr.slice(7) : addr.includes(':') ? `[${addr}]` : addr;
  const base = `http://${host}:${req.socket.localPort}`;
  const call = async (method: string, path: string, token?: string, body?: unknown, timeoutMs = MASTER_CALL_TIMEOUT_MS): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new ObservabilityError('MASTER_UNREACHABLE', `master ${method} ${path}: ${(err as Error).message}`, { cause: err });
    }
    const answer = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    if (!res.ok) {
      throw Object.assign(new Error(answer.error?.message ?? `master answered ${res.status}`), { code: answer.error?.code ?? 'INTERNAL', status: res.status });
    }
    return answer;
  };
  return { get: (p, t) => call('GET', p, t), post: (p, t, b, ms) => call('POST', p, t, b, ms) };
}

const dagSchema = z.object({
  name: z.string(),
  processors: z.array(z.object({ name: z.string(), parallelism: z.number().int().positive(), kind: z.enum(['source', 'task']) })),
  edges: z.array(z.object({ from: z.string(), to: z.string(), label: z.string().optional() })),
});

/** Window over which task throughput is measured (counter delta / time). */
const RATE_WINDOW_MS = 30_000;
/** How far back the app page looks for series (an ended app shows its last values). */
const LOOKBACK_MS = 24 * 3_600_000;
/** Checkpoints listed on the app page. */
const CHECKPOINT_ROWS = 20;

export interface TaskRow {
  processor: string;
  task: string;
  messages: number;
  /** Messages per second over the last RATE_WINDOW_MS of reports. */
  rate: number;
  lagMs?: number;
}

export interface AppOverview {
  dag?: DagDescription;
  dagError?: string;
  tasks: TaskRow[];
  processors: Array<{ name: string; rate: number; messages: number; tasks: number; skew: number; lagMs?: number }>;
  /** newBytes..uploadMs: the checkpoint's cost as the AppMaster recorded it (absent for older apps). */
  checkpoints: Array<{ t: number; epoch: number; committedAt: number; parts: number; bytes: number; newBytes?: number; sharedBytes?: number; pauseMs?: number; uploadMs?: number }>;
  storage: Array<{ subStore: string; route?: string; p50Ms?: number; p99Ms?: number; ops?: number; retries: number; errors: number }>;
}

/** Reads everything the app page shows from the app's store (works after the app ended). */
export async function appOverview(app: UiAppStorage, routing: Record<string, string> = {}, now = Date.now()): Promise<AppOverview> {
  const out: AppOverview = { tasks: [], processors: [], checkpoints: [], storage: [] };
  if (app.config) {
    const entry = await app.config.get(DAG_CONFIG_ID);
    if (entry) {
      const parsed = dagSchema.safeParse(entry.value);
      if (parsed.success) out.dag = parsed.data;
      else out.dagError = `stored ${DAG_CONFIG_ID} is not a DAG description: ${parsed.error.issues[0]?.message ?? 'invalid'}`;
    }
  }
  out.tasks = await taskRows(app.metrics, now);
  const byProc = new Map<string, TaskRow[]>();
  for (const t of out.tasks) byProc.set(t.processor, [...(byProc.get(t.processor) ?? []), t]);
  for (const [name, rows] of byProc) {
    const rate = rows.reduce((a, r) => a + r.rate, 0);
    const mean = rate / rows.length;
    const lags = rows.map((r) => r.lagMs).filter((v): v is number => v !== undefined);
    out.processors.push({
      name,
      rate,
      messages: rows.reduce((a, r) => a + r.messages, 0),
      tasks: rows.length,
      // Skew: the busiest task over the mean (1 = even).
      skew: mean > 0 ? Math.max(...rows.map((r) => r.rate)) / mean : 1,
      ...(lags.length ? { lagMs: Math.max(...lags) } : {}),
    });
  }
  if (app.checkpoints) {
    const cps = await app.checkpoints('tasks').range(0, Number.MAX_SAFE_INTEGER, { limit: 10_000 });
    out.checkpoints = cps.slice(-CHECKPOINT_ROWS).reverse().map((c) => ({
      t: c.t, epoch: c.epoch, committedAt: c.committedAt, parts: c.parts.length, bytes: c.parts.reduce((a, p) => a + p.size, 0), ...costOf(c.meta),
    }));
  }
  out.storage = await storageRows(app.metrics, routing, now);
  return out;
}

/** The cost the committer recorded in a checkpoint's meta (numbers only: meta is stored data). */
function costOf(meta: Record<string, unknown>): { newBytes?: number; sharedBytes?: number; pauseMs?: number; uploadMs?: number } {
  const s = meta.stats as Record<string, unknown> | undefined;
  if (!s || typeof s !== 'object') return {};
  const out: Record<string, number> = {};
  for (const k of ['newBytes', 'sharedBytes', 'pauseMs', 'uploadMs']) if (typeof s[k] === 'number' && Number.isFinite(s[k])) out[k] = s[k];
  return out;
}

function lastPoint(s: MetricSeries): { ts: number; value: number } | undefined {
  return s.points[s.points.length - 1];
}

async function taskRows(metrics: MetricsStore, now: number): Promise<TaskRow[]> {
  const from = now - LOOKBACK_MS;
  const counts = await metrics.query({ name: 'sluice_task_messages_total', from, to: now + 1, agg: 'max', by: ['processor', 'task'], step: 5000, resolution: 'auto' });
  const lags = await metrics.query({ name: 'sluice_task_lag_ms', from, to: now + 1, agg: 'last', by: ['processor', 'task'], step: 5000, resolution: 'auto' });
  const lagOf = new Map(lags.map((s) => [`${s.labels.processor}\u0001${s.labels.task}`, lastPoint(s)?.value]));
  const rows: TaskRow[] = [];
  for (const s of counts) {
    const last = lastPoint(s);
    if (!last || !s.labels.processor || !s.labels.task) continue;
    // Rate over the last window of this series (relative to its own end, so an ended app
    // shows what it ran at).
    const inWindow = s.points.filter((p) => p.ts >= last.ts - RATE_WINDOW_MS);
    const first = inWindow[0]!;
    const dt = (last.ts - first.ts) / 1000;
    const rate = dt > 0 ? Math.max(0, last.value - first.value) / dt : 0;
    const lag = lagOf.get(`${s.labels.processor}\u0001${s.labels.task}`);
    rows.push({ processor: s.labels.processor, task: s.labels.task, messages: last.value, rate, ...(lag === undefined ? {} : { lagMs: lag }) });
  }
  return rows.sort((a, b) => a.task.localeCompare(b.task, undefined, { numeric: true }));
}

async function storageRows(metrics: MetricsStore, routing: Record<string, string>, now: number): Promise<AppOverview['storage']> {
  const from = now - LOOKBACK_MS;
  const q = (name: string, labels?: Record<string, string>, agg: 'max' | 'sum' | 'avg' = 'max') =>
    metrics.query({ name, from, to: now + 1, agg, by: ['sub_store'], ...(labels ? { labels } : {}), resolution: 'auto' });
  const [p50, p99, count, retries, errors] = await Promise.all([
    q('sluice_storage_op_duration_ms', { stat: 'p50' }, 'avg'),
    q('sluice_storage_op_duration_ms', { stat: 'p99' }),
    q('sluice_storage_op_duration_ms', { stat: 'count' }, 'sum'),
    // Counters are cumulative per executor: the max is a lower bound of the total, exact for one executor.
    metrics.query({ name: 'sluice_storage_retries_total', from, to: now + 1, agg: 'max', by: ['sub_store', 'executor', 'op'], resolution: 'auto' }),
    metrics.query({ name: 'sluice_storage_op_errors_total', from, to: now + 1, agg: 'max', by: ['sub_store', 'executor', 'op', 'code'], resolution: 'auto' }),
  ]);
  const rows = new Map<string, AppOverview['storage'][number]>();
  const row = (sub: string) => {
    let r = rows.get(sub);
    if (!r) {
      r = { subStore: sub, retries: 0, errors: 0, ...(routing[sub] ? { route: routing[sub] } : {}) };
      rows.set(sub, r);
    }
    return r;
  };
  for (const sub of Object.keys(routing)) row(sub);
  const val = (s: MetricSeries) => lastPoint(s)?.value ?? 0;
  for (const s of p50) if (s.labels.sub_store) row(s.labels.sub_store).p50Ms = val(s);
  for (const s of p99) if (s.labels.sub_store) row(s.labels.sub_store).p99Ms = val(s);
  for (const s of count) if (s.labels.sub_store) row(s.labels.sub_store).ops = val(s);
  for (const s of retries) if (s.labels.sub_store) row(s.labels.sub_store).retries += val(s);
  for (const s of errors) if (s.labels.sub_store) row(s.labels.sub_store).errors += val(s);
  return [...rows.values()].sort((a, b) => a.subStore.localeCompare(b.subStore));
}
