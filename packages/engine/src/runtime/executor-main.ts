#!/usr/bin/env node
/**
 * Entry point of executor child processes (started by workers). The role decides
 * whether it hosts the app's AppMaster or a share of its tasks.
 */
import { DEFAULT_BACKEND, loadStorageModule, parseStorageConfig } from '@sluice/storage-api';
import { authedMasterClient } from '../cluster/master-client.js';
import { AppMaster } from './app-master.js';
import { loadDag, openApp, readExecutorEnv } from './env.js';
import { ExecutorProcess } from './executor-process.js';
import { createLogger } from './logger.js';
import { exitAfterFlush, startObservability } from './observe.js';

if (process.env.SLUICE_STANDBY === '1') {
  // A warm standby: modules (and the storage backend) are loaded ahead; the worker hands
  // over an executor's environment when it needs one, so recovery skips the Node boot.
  try {
    // Behind the worker's storage proxy (SLUICE_STORAGE_FD) there is no module to load here.
    const cfg = process.env.SLUICE_STORAGE_FD ? undefined : parseStorageConfig(JSON.parse(process.env.SLUICE_STORAGE ?? '{}'));
    for (const ref of cfg ? [cfg.default ?? DEFAULT_BACKEND, ...Object.values(cfg.routes ?? {})] : []) {
      if (ref) await loadStorageModule(ref.module, { baseDir: process.env.SLUICE_BASE_DIR ?? process.cwd() });
    }
    // What app code imports (`@sluice/engine`: connectors, nexmark, their clients): ~60 ms
    // of a recovery's critical path otherwise.
    await import('../index.js');
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
    void exitAfterFlush(1);
  }
}, 1000).unref();

// The worker stops executors with SIGTERM first: flush the last log lines, then go.
process.once('SIGTERM', () => void exitAfterFlush(0));

let log: typeof logger = logger;
try {
  const opened = await openApp(env, logger);
  const obs = startObservability(env, opened.app, logger);
  log = obs.logger;
  const app = { ...opened, app: obs.app, dag: await loadDag(env, opened) };
  if (env.role === 'appmaster') {
    const am = new AppMaster(env, app, obs.logger, obs.registry);
    // Anything app code throws outside a handled path still reaches the store, labelled.
    failLoudly(obs.logger);
    await am.run();
  } else {
    const ex = new ExecutorProcess(env, app, obs.logger, obs.registry);
    process.on('uncaughtException', (err) => ex.fatal(err));
    process.on('unhandledRejection', (err) => ex.fatal(err));
    await ex.run();
  }
} catch (err) {
  const message = (err as Error)?.message ?? String(err);
  log.error({ err, code: (err as { code?: string }).code }, 'executor could not start');
  if (env.role === 'appmaster' && isDeterministic(err)) {
    // Bad artifact or DAG: retrying cannot help. The app fails once, with the reason.
    await authedMasterClient(env.masters, { ...(env.masterEndpoint.token ? { token: env.masterEndpoint.token } : {}), ...(env.masterEndpoint.ca ? { ca: env.masterEndpoint.ca } : {}) }).call('POST', `/apps/${env.appId}/finish`, { epoch: env.epoch, amEpoch: env.epoch, status: 'failed', error: message }).catch(() => {});
    await exitAfterFlush(0);
  }
  await exitAfterFlush(1);
}

/** Errors a relaunch would meet again: the artifact or the DAG itself is wrong. */
function isDeterministic(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && ['ARTIFACT_INVALID', 'ARTIFACT_CORRUPT', 'DAG_INVALID', 'DAG_CYCLE', 'UNKNOWN_PROCESSOR', 'CONFIG_INVALID'].includes(code);
}

function failLoudly(log: { error(o: object, m: string): void }): void {
  const die = (err: unknown): void => {
    log.error({ err }, 'AppMaster failed');
    void exitAfterFlush(1);
  };
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
}
