import { resolve, join } from 'node:path';
import { DEFAULT_BACKEND, openConfiguredStorage, SUB_STORES, type Storage } from '@sluice/storage-api';
import type { LoadedClusterConfig } from '../config/cluster-config.js';
import { createLogger } from '../runtime/logger.js';
import { Master } from './master.js';
import { FileSeedStore } from './seed-store.js';
import { Worker } from './worker.js';
import { DEFAULT_RETENTION_INTERVAL_MS } from './retention-daemon.js';
import { createEtcdClient } from './etcd-client.js';
import { masterUrls } from './master-client.js';
import { EtcdSeedStore, type SeedWriteFence } from './etcd-seed-store.js';
import { LeaderElection } from './leader-election.js';
import { setupMasterAuth, workerTokenOf } from '../security/auth-setup.js';
import { loadTlsServer } from '../security/tls.js';

export interface StartedMaster {
  master: Master;
  storage: Storage;
  stop(): Promise<void>;
}

export function seedFileOf(loaded: LoadedClusterConfig): string {
  return resolve(loaded.baseDir, loaded.config.master.seedFile ?? './.sluice/master/seed.json');
}

export function workDirOf(loaded: LoadedClusterConfig, name: string): string {
  return join(resolve(loaded.baseDir, loaded.config.worker.cacheDir ?? './.sluice/workers'), name);
}

export async function startMaster(loaded: LoadedClusterConfig, overrides: { host?: string; port?: number } = {}): Promise<StartedMaster> {
  const logger = createLogger('master');
  const host = overrides.host ?? loaded.config.master.host;
  // Before any I/O: auth off on a non-loopback address is refused here.
  const auth = await setupMasterAuth(loaded, host, logger);
  const tlsPaths = loaded.config.master.tls;
  const tls = tlsPaths
    ? await loadTlsServer({ cert: resolve(loaded.baseDir, tlsPaths.cert), key: resolve(loaded.baseDir, tlsPaths.key), ...(tlsPaths.ca ? { ca: resolve(loaded.baseDir, tlsPaths.ca) } : {}) })
    : undefined;
  // Master, AppMasters and executors open one app's store from several processes.
  const storage = await openConfiguredStorage(loaded.config.storage, { baseDir: loaded.baseDir, context: { logger }, require: ['multiProcess'] });
  const ha = loaded.config.master.ha;
  // HA: seeds in etcd, every write fenced by this master's election key.
  const etcd = ha ? createEtcdClient({ endpoints: ha.etcd.endpoints, requestTimeoutMs: ha.etcd.requestTimeoutMs }) : undefined;
  let election: LeaderElection | undefined;
  const fence: SeedWriteFence = {
    fence: () => election?.fence(),
    get leader() {
      return election?.leader;
    },
    fenceLost: (reason) => election?.fenceLost(reason),
  };
  const seeds = ha && etcd ? new EtcdSeedStore({ client: etcd, prefix: ha.etcd.prefix, fence }) : new FileSeedStore(seedFileOf(loaded));
  const cfg = loaded.config.storage;
  const defaultModule = cfg.default?.module ?? DEFAULT_BACKEND.module;
  const storageRouting = Object.fromEntries(SUB_STORES.map((sub) => [sub, cfg.routes?.[sub]?.module ?? defaultModule]));
  const master = new Master({
    auth,
    storageRouting,
    retention: { policy: loaded.config.storage.retention ?? {}, intervalMs: loaded.config.master.retentionIntervalMs ?? DEFAULT_RETENTION_INTERVAL_MS },
    ...(tls ? { tls } : {}),
    host,
    port: overrides.port ?? loaded.config.master.port,
    storage,
    seeds,
    logger,
    ...(ha && etcd
      ? { ha: (address: string) => (election = new LeaderElection({ client: etcd, prefix: ha.etcd.prefix, address, leaseTtlMs: ha.etcd.leaseTtlMs, logger })) }
      : {}),
    workerTimeoutMs: loaded.config.master.workerTimeoutMs,
    appMasterTimeoutMs: loaded.config.master.appMasterTimeoutMs,
    maxArtifactBytes: loaded.config.master.maxArtifactBytes,
    maxExecutors: loaded.config.apps.maxExecutors,
    restartPolicy: loaded.config.apps,
  });
  try {
    await master.start();
  } catch (err) {
    await master.stop().catch(() => {});
    await storage.close();
    etcd?.close();
    throw err;
  }
  return {
    master,
    storage,
    async stop() {
      await master.stop();
      await storage.close();
      etcd?.close();
    },
  };
}

export function createWorker(loaded: LoadedClusterConfig, master: string, name: string, overrides: { slots?: number; host?: string; token?: string } = {}): Worker {
  const tls = loaded.config.master.tls;
  return new Worker({
    // One master or several (HA): the worker follows the leader along the list.
    master: masterUrls(master).map((u) => (tls ? u.replace(/^http:/, 'https:') : u)).join(','),
    ...(overrides.token ? { token: overrides.token } : {}),
    ...(tls?.ca ? { caFile: resolve(loaded.baseDir, tls.ca) } : {}),
    name,
    host: overrides.host ?? loaded.config.worker.host,
    slots: overrides.slots ?? loaded.config.worker.slots,
    heartbeatMs: loaded.config.worker.heartbeatMs,
    workDir: workDirOf(loaded, name),
    cacheMaxBytes: loaded.config.worker.cacheMaxBytes,
    blobCacheMaxBytes: loaded.config.worker.blobCacheMaxBytes,
    blobPollMs: loaded.config.worker.blobPollMs,
    executorMemoryMb: loaded.config.worker.executorMemoryMb,
    standbys: loaded.config.worker.standbys,
    storageProxy: loaded.config.worker.storageProxy,
    storage: loaded.config.storage,
    baseDir: loaded.baseDir,
    logger: createLogger('worker', { worker: name }),
  });
}

export interface LocalCluster {
  master: StartedMaster;
  workers: Worker[];
  /** host:port of the master's control API. */
  address: string;
  stop(): Promise<void>;
}

/** Master + N workers in this process; executors are still child processes. */
export async function startLocalCluster(loaded: LoadedClusterConfig, options: { workers?: number; port?: number } = {}): Promise<LocalCluster> {
  const m = await startMaster(loaded, options.port === undefined ? {} : { port: options.port });
  const workers: Worker[] = [];
  try {
    const token = await workerTokenOf(loaded);
    for (let i = 0; i < (options.workers ?? 2); i++) {
      const w = createWorker(loaded, m.master.address, `local-${i}`, token ? { token } : {});
      await w.start();
      workers.push(w);
    }
  } catch (err) {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await m.stop();
    throw err;
  }
  return {
    master: m,
    workers,
    address: m.master.address,
    async stop() {
      await Promise.allSettled(workers.map((w) => w.stop()));
      await m.stop();
    },
  };
}
