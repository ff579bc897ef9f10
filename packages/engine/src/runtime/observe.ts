import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { intercept, withRetry, type AppStorage } from '@sluice/storage-api';
import { createAppLogger, MetricsRegistry, MetricsReporter, type AppLogger } from '../observability/index.js';
import type { ExecutorEnv } from './env.js';

export interface Observability {
  logger: Logger;
  registry: MetricsRegistry;
  /** The app's storage as the runtime should use it: timed and retried per sub-store. */
  app: AppStorage;
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
  return { logger, registry, close, app: instrumentStorage(app, registry) };
}

/** Attempts per storage call (the first included) before the runtime's recovery takes over. */
const STORAGE_ATTEMPTS = 3;

/**
 * Every sub-store call of the runtime is timed (sluice_storage_op_duration_ms by
 * sub-store and op) and transient failures are retried with backoff
 * (sluice_storage_retries_total). A jar upload is not retried: its source stream is
 * consumed. A retry that meets a lost acknowledgement is safe: re-appending the last
 * entry and re-committing an identical checkpoint are no-ops in the contract; anything
 * else surfaces and the AppMaster recovers from the last checkpoint.
 */
export function instrumentStorage(app: AppStorage, registry: MetricsRegistry): AppStorage {
  return intercept(app, (call, proceed) => {
    const sub = call.subStore;
    if (!sub) return proceed();
    const once = call.kind === 'jars' && call.method === 'put';
    return registry.timeStorageOp(sub, call.method, () =>
      once ? proceed() : withRetry(proceed, { attempts: STORAGE_ATTEMPTS, baseDelayMs: 50, onRetry: registry.storageRetryHook(sub, call.method) }),
    );
  }, 'app');
}

/** Exits after flushing logs and metrics (bounded), for graceful exits. */
export async function exitAfterFlush(code: number): Promise<never> {
  await flushOnExit?.().catch(() => {});
  process.exit(code);
}
