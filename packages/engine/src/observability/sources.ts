import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { openConfiguredStorage, type AppStorage, type LogRecord, type MetricSeries, type SeriesInfo, type Storage, type StorageConfig } from '@sluice/storage-api';
import { ObservabilityError } from './errors.js';
import { followLogs, readLogs, resolveLogFilter, type LogFilter } from './log-query.js';
import { parseLabelMatchers, resolveMetricQuery, type MetricFilter } from './metric-query.js';

/** Where `sluice logs` / `sluice metrics` read from: the master's HTTP API or the store itself. */
export interface ObservabilitySource {
  readonly kind: 'master' | 'store';
  readonly description: string;
  readLogs(filter: LogFilter): Promise<LogRecord[]>;
  followLogs(filter: LogFilter, signal: AbortSignal): AsyncIterable<LogRecord>;
  listSeries(label?: string | string[]): Promise<SeriesInfo[]>;
  queryMetrics(filter: MetricFilter): Promise<MetricSeries[]>;
  close(): Promise<void>;
}

// ------------------------------------------------------------------ master (HTTP)

export class MasterSource implements ObservabilitySource {
  readonly kind = 'master';
  readonly description: string;
  private readonly base: string;

  constructor(
    master: string,
    private readonly appId: string,
    private readonly timeoutMs = 30_000,
    private readonly token?: string,
    /** CA to verify an HTTPS master with (`master.tls.ca`). */
    private readonly ca?: Buffer,
  ) {
    this.base = /^https?:\/\//.test(master) ? master.replace(/\/$/, '') : `http://${master}`;
    this.description = `master ${this.base}`;
  }

  private url(kind: 'logs' | 'metrics', params: Record<string, string | string[] | number | undefined>): string {
    const u = new URL(`${this.base}/apps/${encodeURIComponent(this.appId)}/${kind}`);
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined) continue;
      for (const item of Array.isArray(v) ? v : [v]) u.searchParams.append(k, String(item));
    }
    return u.href;
  }

  private async get(url: string, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {};
      const init = { signal: signal ?? AbortSignal.timeout(this.timeoutMs), headers };
      // fetch cannot take a private CA; node:https can, and its stream becomes a Response.
      res = this.ca && url.startsWith('https:') ? await httpsGet(url, init.headers, this.ca, init.signal) : await fetch(url, init);
    } catch (err) {
      throw new ObservabilityError('MASTER_UNREACHABLE', `cannot reach ${this.description}: ${causeMessage(err)}`, { cause: err });
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let body: { error?: { code?: string; message?: string } } | undefined;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = undefined;
    }
    const code = body?.error?.code;
    const msg = body?.error?.message ?? `${res.status} ${res.statusText}`;
    if (code === 'APP_NOT_FOUND') throw new ObservabilityError('APP_NOT_FOUND', msg);
    // Refused credentials are final: never fall back to reading the store around the master.
    if (res.status === 401 || res.status === 403) throw Object.assign(new Error(`${this.description}: ${msg}`), { code });
    if (code === 'INVALID_ARGUMENT' || code === 'STORAGE_INVALID_ARGUMENT') throw new ObservabilityError('INVALID_ARGUMENT', msg);
    // A master without these routes mounted (its router's own 404): say so, so callers can
    // fall back to the store.
    if (res.status === 404) throw new ObservabilityError('MASTER_UNREACHABLE', `${this.description} does not serve ${new URL(url).pathname}`);
    throw new Error(`${this.description}: ${msg}`);
  }

  async readLogs(f: LogFilter): Promise<LogRecord[]> {
    const res = await this.get(this.url('logs', { ...f }));
    return ((await res.json()) as { records: LogRecord[] }).records;
  }

  async *followLogs(f: LogFilter, signal: AbortSignal): AsyncIterable<LogRecord> {
    const res = await this.get(this.url('logs', { ...f, follow: '1' }), signal);
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (!line) continue;
          const obj = JSON.parse(line) as LogRecord & { error?: { message: string } };
          if (obj.error) throw new Error(`${this.description}: ${obj.error.message}`);
          yield obj;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }

  async listSeries(label?: string | string[]): Promise<SeriesInfo[]> {
    const res = await this.get(this.url('metrics', { label }));
    return ((await res.json()) as { series: SeriesInfo[] }).series;
  }

  async queryMetrics(f: MetricFilter): Promise<MetricSeries[]> {
    const res = await this.get(this.url('metrics', { ...f }));
    return ((await res.json()) as { series: MetricSeries[] }).series;
  }

  async close(): Promise<void> {}
}

function httpsGet(url: string, headers: Record<string, string>, ca: Buffer, signal: AbortSignal): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(url), { headers, ca, signal }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
      resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, { status: res.statusCode ?? 500, statusText: res.statusMessage ?? '', headers: h }));
    });
    req.on('error', reject);
    req.end();
  });
}

function causeMessage(err: unknown): string {
  const e = err as { cause?: { code?: string; message?: string }; message?: string };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

// ------------------------------------------------------------------ store (no master)

export class StoreSource implements ObservabilitySource {
  readonly kind = 'store';
  constructor(
    private readonly storage: Storage,
    private readonly app: AppStorage,
    readonly description: string,
  ) {}

  static async open(storageConfig: StorageConfig, baseDir: string, appId: string): Promise<StoreSource> {
    const storage = await openConfiguredStorage(storageConfig, { baseDir });
    try {
      const app = await storage.getAppStorage(appId);
      if (!app) throw new ObservabilityError('APP_NOT_FOUND', `app ${appId} not found in the store`);
      return new StoreSource(storage, app, `store (${storage.backend})`);
    } catch (err) {
      await storage.close();
      throw err;
    }
  }

  readLogs(f: LogFilter): Promise<LogRecord[]> {
    return readLogs(this.app.logs, resolveLogFilter(f));
  }

  followLogs(f: LogFilter, signal: AbortSignal): AsyncIterable<LogRecord> {
    return followLogs(this.app.logs, resolveLogFilter(f), { signal, pollIntervalMs: 250 });
  }

  listSeries(label?: string | string[]): Promise<SeriesInfo[]> {
    const labels = parseLabelMatchers(label);
    return this.app.metrics.listSeries(labels ? { labels } : {});
  }

  queryMetrics(f: MetricFilter): Promise<MetricSeries[]> {
    return this.app.metrics.query(resolveMetricQuery(f));
  }

  async close(): Promise<void> {
    await this.app.close().catch(() => {});
    await this.storage.close();
  }
}

/**
 * --master: the master only. Otherwise the master named in the cluster config if it
 * answers (and serves these routes), else the store the config names (the app ended and
 * no master runs).
 */
export async function openSource(
  appId: string,
  options: { master?: string; config?: { storage: StorageConfig; master: { host: string; port: number } }; baseDir?: string; token?: string; ca?: Buffer },
): Promise<ObservabilitySource> {
  if (options.master) return new MasterSource(options.master, appId, 30_000, options.token, options.ca);
  const cfg = options.config;
  if (!cfg) throw new ObservabilityError('INVALID_ARGUMENT', 'give --master host:port or -c cluster.yaml');
  const master = new MasterSource(`${options.ca ? 'https://' : ''}${cfg.master.host}:${cfg.master.port}`, appId, 2000, options.token, options.ca);
  try {
    await master.readLogs({ limit: 1 });
    return master;
  } catch (err) {
    if (!(err instanceof ObservabilityError && err.code === 'MASTER_UNREACHABLE')) throw err;
  }
  return StoreSource.open(cfg.storage, options.baseDir ?? process.cwd(), appId);
}
