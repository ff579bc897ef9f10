#!/usr/bin/env node
/**
 * Entry point of executor child processes (started by workers). The role decides
 * whether it hosts the app's AppMaster or a share of its tasks.
 */
import { DEFAULT_BACKEND, loadStorageModule, parseStorageConfig } from '@sluice/storage-api';
import { callJson } from '../cluster/http.js';
import { AppMaster } from './app-master.js';
import { loadApp, readExecutorEnv } from './env.js';
import { ExecutorProcess } from './executor-process.js';
import { createLogger } from './logger.js';
import { startObservability } from './observe.js';

if (process.env.SLUICE_STANDBY === '1') {
  // A warm standby: modules (and the storage backend) are loaded ahead; the worker hands
  // over an executor's environment when it needs one, so recovery skips the Node boot.
  try {
    const cfg = parseStorageConfig(JSON.parse(process.env.SLUICE_STORAGE ?? '{}'));
    for (const ref of [cfg.default ?? DEFAULT_BACKEND, ...Object.values(cfg.routes ?? {})]) {
      if (ref) await loadStorageModule(ref.module, { baseDir: process.env.SLUICE_BASE_DIR ?? process.cwd() });
    }
  } catch {
    // loaded (and reported) again on use
  }
  const orphaned = (): never => process.exit(0);
  process.once('disconnect', orphaned);
  const assigned = await new Promise<Record<string, string>>((resolve) => {
    process.once('message', (m: { env?: Record<string, string> }) => resolve(m.env ?? {}));
    process.send?.({ type: 'ready' });
  });
  process.off('disconnect', orphaned);
  Object.assign(process.env, assigned);
  delete process.env.SLUICE_STANDBY;
  process.disconnect?.();
}

const env = readExecutorEnv();
const logger = createLogger(env.role, { appId: env.appId, executor: env.executor, epoch: env.epoch });

// Orphaned by a dead worker: stop, the master reschedules.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) {
    logger.warn('worker is gone; exiting');
    process.exit(1);
  }
}, 1000).unref();

try {
  const loaded = await loadApp(env, logger);
  const obs = startObservability(env, loaded.app, logger);
  const app = { ...loaded, app: obs.app };
  if (env.role === 'appmaster') await new AppMaster(env, app, obs.logger, obs.registry).run();
  else await new ExecutorProcess(env, app, obs.logger, obs.registry).run();
} catch (err) {
  const message = (err as Error)?.message ?? String(err);
  logger.error({ err: message, code: (err as { code?: string }).code }, 'executor could not start');
  if (env.role === 'appmaster') {
    // Bad artifact or DAG: the app fails with a clear error; the cluster keeps running.
    await callJson(env.master, 'POST', `/apps/${env.appId}/finish`, { epoch: env.epoch, status: 'failed', error: message }).catch(() => {});
    process.exit(0);
  }
  process.exit(1);
}
