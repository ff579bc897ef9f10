import { hostname } from 'node:os';
import { PINO_REDACT } from '../security/redact.js';
import { pino, type DestinationStream, type Level, type Logger, type LoggerOptions } from 'pino';
import type { AppStorage, LogStore } from '@sluice/storage-api';
import { LogAppender, type LogAppenderOptions, type LogAppenderStats } from './log-appender.js';
import type { MetricsRegistry } from './metrics-registry.js';
import { uniqueKeyHooks } from './unique-keys.js';

export interface AppLogLabels {
  app: string;
  executor?: string;
  processor?: string;
  task?: string;
  host?: string;
  [key: string]: string | undefined;
}

export interface AppLoggerOptions extends Omit<LogAppenderOptions, 'store' | 'labels'> {
  /** The app's storage (its `logs` is used) or a log store directly. */
  appStorage?: Pick<AppStorage, 'logs'>;
  logStore?: LogStore;
  labels: AppLogLabels;
  /** Pino level; records below it never reach the appender. Default 'info'. */
  level?: Level;
  /** Also write every line here (e.g. process.stderr for a daemon's console), at `alsoLevel`. */
  also?: DestinationStream;
  alsoLevel?: Level;
  /** Extra pino options (serializers, redact ...); level/base/timestamp are set here. */
  pinoOptions?: Omit<LoggerOptions, 'level' | 'base' | 'timestamp'>;
  /** Registers the appender's counters (dropped, spooled, queue depth) in this registry. */
  metrics?: MetricsRegistry;
}

export interface AppLogger {
  logger: Logger;
  appender: LogAppender;
  /** Everything logged so far is in the store or the local spool (see LogAppender.flush). */
  flush(options?: { toStore?: boolean; timeoutMs?: number }): Promise<boolean>;
  /** Flushes and stops; later log calls are dropped and counted. */
  close(options?: { timeoutMs?: number }): Promise<LogAppenderStats>;
  stats(): LogAppenderStats;
}

/**
 * The logger every daemon, executor and task uses: plain pino (its level filtering, child
 * loggers for processor/task labels) whose destination is a LogAppender shipping into the
 * app's log store. Logging costs the caller pino's serialisation plus one array push.
 */
export function createAppLogger(options: AppLoggerOptions): AppLogger {
  const store = options.logStore ?? options.appStorage?.logs;
  if (!store) throw new TypeError('createAppLogger needs appStorage or logStore');
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries({ host: hostname(), ...options.labels })) if (v !== undefined) labels[k] = v;
  // The appender identifies its own records by the labels every one of them carries.
  const writerLabels: Record<string, string> = {};
  for (const k of ['app', 'executor', 'host', 'worker', 'component']) if (labels[k] !== undefined) writerLabels[k] = labels[k]!;
  const appender = new LogAppender({ ...options, store, labels: writerLabels });
  const level = options.level ?? 'info';
  const dest: DestinationStream = options.also
    ? pino.multistream([
        { level, stream: appender },
        { level: options.alsoLevel ?? level, stream: options.also },
      ])
    : appender;
  const logger = pino({ hooks: uniqueKeyHooks(), redact: PINO_REDACT, ...options.pinoOptions, level, base: labels, timestamp: pino.stdTimeFunctions.epochTime }, dest);
  if (options.metrics) registerAppenderMetrics(options.metrics, appender, writerLabels);
  return {
    logger,
    appender,
    flush: (o) => appender.flush(o),
    close: (o) => appender.close(o),
    stats: () => appender.stats(),
  };
}

/** Exposes an appender's health as metrics (read when the registry is snapshotted). */
export function registerAppenderMetrics(registry: MetricsRegistry, appender: LogAppender, labels: Record<string, string> = {}): void {
  registry.counterFn('sluice_log_records_dropped_total', 'Log records the appender could not keep (queue or spool full)', labels, () => appender.stats().droppedTotal);
  registry.counterFn('sluice_log_records_shipped_total', 'Log records acknowledged by the log store', labels, () => appender.stats().shipped);
  registry.gaugeFn('sluice_log_appender_queue_depth', 'Log records waiting in memory', labels, () => appender.stats().queueDepth);
  registry.gaugeFn('sluice_log_spool_bytes', 'Bytes of log records spooled on local disk', labels, () => appender.stats().spoolBytes);
  registry.gaugeFn('sluice_log_store_up', '1 when the last append to the log store succeeded', labels, () => (appender.stats().storeUp ? 1 : 0));
}
