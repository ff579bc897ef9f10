import { resolve, join } from 'node:path';
import { openConfiguredStorage, type Storage } from '@sluice/storage-api';
import type { LoadedClusterConfig } from '../config/cluster-config.js';
import { createLogger } from '../runtime/logger.js';
import { Master } from './master.js';
import { FileSeedStore } from './seed-store.js';
import { Worker } from './worker.js';

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
  // Master, AppMasters and executors open one app's store from several processes.
  const storage = await openConfiguredStorage(loaded.config.storage, { baseDir: loaded.baseDir, context: { logger }, require: ['multiProcess'] });
  const master = new Master({
    host: overrides.host ?? loaded.config.master.host,
    port: overrides.port ?? loaded.config.master.port,
    storage,
    seeds: new FileSeedStore(seedFileOf(loaded)),
    logger,
  });
  try {
    await master.start();
  } catch (err) {
    await storage.close();
    throw err;
  }
  return {
    master,
    storage,
    async stop() {
      await master.stop();
      await storage.close();
    },
  };
}

export function createWorker(loaded: LoadedClusterConfig, master: string, name: string, overrides: { slots?: number; host?: string } = {}): Worker {
  return new Worker({
    master: master.startsWith('http') ? master : `http://${master}`,
    name,
    host: overrides.host ?? '127.0.0.1',
    slots: overrides.slots ?? loaded.config.worker.slots,
    heartbeatMs: loaded.config.worker.heartbeatMs,
    workDir: workDirOf(loaded, name),
    cacheMaxBytes: loaded.config.worker.cacheMaxBytes,
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
    for (let i = 0; i < (options.workers ?? 2); i++) {
      const w = createWorker(loaded, m.master.address, `local-${i}`);
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
