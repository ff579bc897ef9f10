import { parseStorageConfig, openConfiguredStorage, type AppStorage, type Storage, type StorageConfig } from '@sluice/storage-api';
import type { Logger } from 'pino';
import { EngineError } from '../errors.js';
import { ArtifactCache, loadArtifact } from './artifact.js';
import type { Dag } from '../dsl/dag.js';
import { APP_CONFIG_ID } from '../cluster/master.js';

/** What a worker passes to an executor child process (environment variables). */
export interface ExecutorEnv {
  role: 'appmaster' | 'executor';
  appId: string;
  epoch: number;
  executor: number;
  master: string;
  am: string;
  jar: string;
  sha256: string;
  storage: StorageConfig;
  baseDir: string;
  cacheDir: string;
  cacheMaxBytes: number;
  host: string;
}

export function readExecutorEnv(env: NodeJS.ProcessEnv = process.env): ExecutorEnv {
  const need = (k: string): string => {
    const v = env[k];
    if (v === undefined) throw new EngineError('CONFIG_INVALID', `executor: environment variable ${k} is missing`);
    return v;
  };
  return {
    role: need('SLUICE_ROLE') === 'appmaster' ? 'appmaster' : 'executor',
    appId: need('SLUICE_APP_ID'),
    epoch: Number(need('SLUICE_EPOCH')),
    executor: Number(need('SLUICE_EXECUTOR')),
    master: need('SLUICE_MASTER'),
    am: env.SLUICE_AM ?? '',
    jar: need('SLUICE_JAR'),
    sha256: need('SLUICE_JAR_SHA256'),
    storage: parseStorageConfig(JSON.parse(need('SLUICE_STORAGE'))),
    baseDir: need('SLUICE_BASE_DIR'),
    cacheDir: need('SLUICE_CACHE_DIR'),
    cacheMaxBytes: Number(env.SLUICE_CACHE_MAX_BYTES ?? 1024 * 1024 * 1024),
    host: env.SLUICE_HOST ?? '127.0.0.1',
  };
}

export interface LoadedApp {
  storage: Storage;
  app: AppStorage;
  config: Record<string, unknown>;
  dag: Dag;
}

/** Opens the app's store, fetches the artifact by digest into the cache and builds the DAG. */
export async function loadApp(env: ExecutorEnv, logger: Logger): Promise<LoadedApp> {
  // Executors share the app's store with the master and AppMaster: refuse a single-process module by name.
  const storage = await openConfiguredStorage(env.storage, { baseDir: env.baseDir, context: { logger }, require: ['multiProcess'] });
  const app = await storage.getAppStorage(env.appId);
  if (!app) throw new EngineError('APP_NOT_FOUND', `app ${env.appId} has no store`);
  const config = ((await app.config.get(APP_CONFIG_ID))?.value ?? {}) as Record<string, unknown>;
  const path = await new ArtifactCache(env.cacheDir, env.cacheMaxBytes).fetch(app, env.jar, env.sha256);
  const dag = await loadArtifact(path, config);
  return { storage, app, config, dag };
}
