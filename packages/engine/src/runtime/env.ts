import { parseStorageConfig, openConfiguredStorage, type AppStorage, type Storage, type StorageConfig } from '@sluice/storage-api';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Endpoint } from '../cluster/http.js';
import { masterUrls } from '../cluster/master-client.js';
import { EngineError } from '../errors.js';
import { ArtifactCache, loadArtifact } from './artifact.js';
import type { Dag } from '../dsl/dag.js';
import { APP_CONFIG_ID } from '../cluster/master.js';
import { openProxyStorage } from './storage-proxy-client.js';

/** What a worker passes to an executor child process (environment variables). */
export interface ExecutorEnv {
  role: 'appmaster' | 'executor';
  appId: string;
  epoch: number;
  executor: number;
  master: string;
  /** How to call the masters: every master's URL, this process's daemon token, the CA for HTTPS. */
  masterEndpoint: Endpoint;
  masters: string[];
  am: string;
  jar: string;
  sha256: string;
  /** Where storage is: the worker's proxy socket (a file descriptor, the default), or the cluster's config (worker.storageProxy: false). */
  storage: { proxyFd: number } | StorageConfig;
  baseDir: string;
  cacheDir: string;
  cacheMaxBytes: number;
  blobCacheDir: string;
  blobCacheMaxBytes: number;
  blobDir: string;
  blobPollMs: number;
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
    masters: masterUrls(need('SLUICE_MASTER')),
    masterEndpoint: {
      url: need('SLUICE_MASTER'),
      ...(env.SLUICE_DAEMON_TOKEN ? { token: env.SLUICE_DAEMON_TOKEN } : {}),
      ...(env.SLUICE_MASTER_CA ? { ca: readFileSync(env.SLUICE_MASTER_CA) } : {}),
    },
    am: env.SLUICE_AM ?? '',
    jar: need('SLUICE_JAR'),
    sha256: need('SLUICE_JAR_SHA256'),
    storage: env.SLUICE_STORAGE_FD ? { proxyFd: Number(env.SLUICE_STORAGE_FD) } : parseStorageConfig(JSON.parse(need('SLUICE_STORAGE'))),
    baseDir: need('SLUICE_BASE_DIR'),
    cacheDir: need('SLUICE_CACHE_DIR'),
    cacheMaxBytes: Number(env.SLUICE_CACHE_MAX_BYTES ?? 1024 * 1024 * 1024),
    blobCacheDir: env.SLUICE_BLOB_CACHE_DIR ?? join(need('SLUICE_CACHE_DIR'), '..', 'blobs'),
    blobCacheMaxBytes: Number(env.SLUICE_BLOB_CACHE_MAX_BYTES ?? 2 * 1024 ** 3),
    blobDir: env.SLUICE_BLOB_DIR ?? join(need('SLUICE_CACHE_DIR'), '..', 'executors', `${need('SLUICE_APP_ID')}-${need('SLUICE_EXECUTOR')}`),
    blobPollMs: Number(env.SLUICE_BLOB_POLL_MS ?? 2000),
    host: env.SLUICE_HOST ?? '127.0.0.1',
  };
}

export interface LoadedApp {
  storage: Storage;
  app: AppStorage;
  config: Record<string, unknown>;
  dag: Dag;
}

export interface OpenedApp {
  storage: Storage;
  app: AppStorage;
  config: Record<string, unknown>;
}

/** Opens the app's store and reads its config (before the artifact: logs can reach the store). */
export async function openApp(env: ExecutorEnv, logger: Logger): Promise<OpenedApp> {
  const storage = await openStorageOf(env, logger);
  const app = await storage.getAppStorage(env.appId);
  if (!app) throw new EngineError('APP_NOT_FOUND', `app ${env.appId} has no store`);
  const config = ((await app.config.get(APP_CONFIG_ID))?.value ?? {}) as Record<string, unknown>;
  return { storage, app, config };
}

async function openStorageOf(env: ExecutorEnv, logger: Logger): Promise<Storage> {
  if ('proxyFd' in env.storage) {
    const { storage, hello } = await openProxyStorage(new Socket({ fd: env.storage.proxyFd, readable: true, writable: true }));
    if (hello.appId !== env.appId) throw new EngineError('CONFIG_INVALID', `executor: the worker's storage proxy serves app ${hello.appId ?? '(none)'}, not ${env.appId}`);
    // The AppMaster's app-scoped daemon token comes with the greeting, not in the environment.
    if (hello.token) env.masterEndpoint = { ...env.masterEndpoint, token: hello.token };
    return storage;
  }
  // Executors share the app's store with the master and AppMaster: refuse a single-process module by name.
  return openConfiguredStorage(env.storage, { baseDir: env.baseDir, context: { logger }, require: ['multiProcess'] });
}

/** Fetches the artifact by digest into the cache and builds the DAG. */
export async function loadDag(env: ExecutorEnv, opened: OpenedApp): Promise<Dag> {
  const path = await new ArtifactCache(env.cacheDir, env.cacheMaxBytes).fetch(opened.app, env.jar, env.sha256);
  return loadArtifact(path, opened.config);
}
