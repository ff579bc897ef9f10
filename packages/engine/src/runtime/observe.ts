import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { AppStorage } from '@sluice/storage-api';
import { createAppLogger, MetricsRegistry, MetricsReporter, type AppLogger } from '../observability/index.js';
import type { ExecutorEnv } from './env.js';

export interface Observability {
  logger: Logger;
  registry: MetricsRegistry;
  /** Flushes logs and metrics into the app's store (bounded), then stops shipping. */
  close(): Promise<void>;
}

let flushOnExit: (() => Promise<void>) | undefined;

/**
 * Executor logs go to the app's log store (and to stderr, which the worker keeps in a
 * file); metrics go to the app's metrics store every 2 s. If the store-backed logger
 * cannot be built the executor still runs, logging to stderr only.
 */
export function startObservability(env: ExecutorEnv, app: AppStorage, fallback: Logger): Observability {
  const registry = new MetricsRegistry({ app: env.appId, executor: env.role === 'appmaster' ? 'appmaster' : String(env.executor) });
  let appLogger: AppLogger | undefined;
  let logger: Logger = fallback;
  try {
    appLogger = createAppLogger({
      appStorage: app,
      labels: { app: env.appId, executor: env.role === 'appmaster' ? 'appmaster' : String(env.executor) },
      level: (process.env.SLUICE_LOG_LEVEL as 'info' | undefined) ?? 'info',
      also: pino.destination(2),
      metrics: registry,
      // Beside the artifact cache, keyed by app and executor slot: while the store is
      // unreachable records spool here, and a restarted executor ships what its
      // predecessor could not.
      spoolDir: join(env.cacheDir, 'spool', env.appId, env.role === 'appmaster' ? 'appmaster' : String(env.executor)),
    });
    logger = appLogger.logger.child({ epoch: env.epoch, role: env.role });
  } catch (err) {
    fallback.warn({ err: String(err) }, 'app log store unavailable; logging to stderr only');
  }
  const reporter = new MetricsReporter({ registry, store: app.metrics, intervalMs: 2000 }).start();
  const close = async (): Promise<void> => {
    // Bounded: a dead store must not keep an exiting executor alive.
    await Promise.all([reporter.stop(1500), appLogger?.close({ timeoutMs: 1500 })]).catch(() => {});
  };
  flushOnExit = close;
  return { logger, registry, close };
}

/** Exits after flushing logs and metrics (bounded), for graceful exits. */
export async function exitAfterFlush(code: number): Promise<never> {
  await flushOnExit?.().catch(() => {});
  process.exit(code);
}
