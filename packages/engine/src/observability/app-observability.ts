import type { DestinationStream, Level, Logger } from 'pino';
import type { AppStorage } from '@sluice/storage-api';
import { createAppLogger, type AppLogger, type AppLogLabels, type AppLoggerOptions } from './app-logger.js';
import type { LogAppenderStats } from './log-appender.js';
import { MetricsRegistry } from './metrics-registry.js';
import { MetricsReporter, type MetricsReporterStats } from './metrics-reporter.js';

export interface AppObservabilityOptions {
  appStorage: Pick<AppStorage, 'logs' | 'metrics'>;
  /** app and executor (or component: 'master', 'app-master') at least. */
  labels: AppLogLabels;
  level?: Level;
  /** Local folder for the log spool, exclusive to this process. */
  spoolDir?: string;
  /** Metrics report interval; default 5000 ms. */
  reportIntervalMs?: number;
  /** Also write log lines here (e.g. process.stderr for a daemon). */
  also?: DestinationStream;
  /** Fine-tuning of the appender (batch size, caps, intervals). */
  appender?: Omit<AppLoggerOptions, 'appStorage' | 'logStore' | 'labels' | 'level' | 'spoolDir' | 'also' | 'metrics'>;
}

export interface AppObservability {
  logger: Logger;
  metrics: MetricsRegistry;
  reporter: MetricsReporter;
  appLogger: AppLogger;
  /** Final metrics report, log flush; the data that could not be shipped stays in the spool. */
  close(timeoutMs?: number): Promise<{ logs: LogAppenderStats; metrics: MetricsReporterStats }>;
}

/**
 * Everything an executor or app master needs in one call: the app logger (pino → log
 * store), a metrics registry labelled with app/executor, and a started reporter writing
 * it to the metrics store. The appender's own health is part of the registry.
 */
export function createAppObservability(o: AppObservabilityOptions): AppObservability {
  const metricLabels: Record<string, string> = {};
  for (const k of ['app', 'executor', 'component'] as const) {
    const v = o.labels[k];
    if (v !== undefined) metricLabels[k] = v;
  }
  const metrics = new MetricsRegistry(metricLabels);
  const appLogger = createAppLogger({ ...o.appender, appStorage: o.appStorage, labels: o.labels, level: o.level, spoolDir: o.spoolDir, also: o.also, metrics });
  const reporter = new MetricsReporter({ registry: metrics, store: o.appStorage.metrics, intervalMs: o.reportIntervalMs }).start();
  return {
    logger: appLogger.logger,
    metrics,
    reporter,
    appLogger,
    async close(timeoutMs = 5000) {
      const m = await reporter.stop(timeoutMs);
      const logs = await appLogger.close({ timeoutMs });
      return { logs, metrics: m };
    },
  };
}
