import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { formatIssues, storageConfigSchema, StorageError } from '@sluice/storage-api';
import { absolutizeStorageConfig } from './storage-paths.js';

/**
 * The one YAML cluster config. Every section is validated here; errors name the key
 * path (e.g. `storage.routes.jars.module: Required`). Sections other than `storage`
 * belong to the engine's daemons.
 */
/** `host:port` or `http(s)://host:port` of one etcd member. */
/** An address other hosts can connect to: a name or IP literal, never a wildcard (it is advertised). */
export const hostSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9.:_-]+$/, 'must be a host name or an IP address')
  .refine((h) => h !== '0.0.0.0' && h !== '::', 'a wildcard address cannot be advertised to other hosts; give this host\'s own address');

const etcdEndpointSchema = z
  .string()
  .regex(/^(https?:\/\/)?[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, 'must be host:port or http(s)://host:port');

/**
 * Master HA on etcd. Without it the master is one process on the file seed store (the
 * embedded default); with it every master campaigns in an etcd election and the seeds live
 * in etcd, one key per app under `prefix`.
 */
export const masterHaSchema = z
  .object({
    etcd: z
      .object({
        endpoints: z.array(etcdEndpointSchema).min(1),
        /** Every key Sluice writes starts with this; several clusters can share one etcd. */
        prefix: z
          .string()
          .regex(/^\/([A-Za-z0-9._-]+\/)*$/, "must start and end with '/', segments of letters, digits, . _ -")
          .default('/sluice/'),
        /** Leader lease: a dead leader is replaced this long after it stops renewing. etcd leases are whole seconds. */
        leaseTtlMs: z
          .number()
          .int()
          .min(1000)
          .max(600_000)
          .refine((v) => v % 1000 === 0, 'must be a whole number of seconds (etcd leases have 1 s granularity)')
          .default(2000),
        /** Bound on one etcd request; past it the call fails with SEED_STORE_UNAVAILABLE. */
        requestTimeoutMs: z.number().int().min(100).max(60_000).default(3000),
      })
      .strict(),
  })
  .strict();

export type MasterHaConfig = z.infer<typeof masterHaSchema>;

export const clusterConfigSchema = z
  .object({
    storage: storageConfigSchema.default({ routes: {}, retention: {} } as never),
    master: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7070),
        /** How often the master applies storage.retention to every app (ms); 0 turns it off; default 10 min. */
        retentionIntervalMs: z.number().int().nonnegative().optional(),
        /** Where the master keeps its small replicated seed (app ids, status, epochs, pointers). */
        seedFile: z.string().optional(),
        /** Largest artifact a submit may upload (bytes). */
        maxArtifactBytes: z.number().int().positive().default(512 * 1024 * 1024),
        /** A worker silent this long is dropped (its executors are presumed lost). */
        workerTimeoutMs: z.number().int().positive().default(5000),
        /** A running AppMaster silent this long is replaced. */
        appMasterTimeoutMs: z.number().int().positive().default(10_000),
        /** HTTPS for the control API: PEM paths (relative to this file's folder); clients verify with `ca`. */
        tls: z.object({ cert: z.string(), key: z.string(), ca: z.string().optional() }).strict().optional(),
        /** Every master's base URL; clients (CLI, workers, AppMasters, executors) fail over along it. */
        urls: z.array(z.string().url().regex(/^https?:\/\//, 'must be an http(s) URL')).min(1).optional(),
        ha: masterHaSchema.optional(),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 7070, maxArtifactBytes: 512 * 1024 * 1024, workerTimeoutMs: 5000, appMasterTimeoutMs: 10_000 }),
    /** Cluster-wide limits and defaults for apps; an app's --config may lower or tune them. */
    apps: z
      .object({
        /** Upper bound on an app's `executors`. */
        maxExecutors: z.number().int().positive().max(4096).default(32),
        /** Restart budget: more than this many restarts inside `restartWindowMs` fails the app. */
        maxRestarts: z.number().int().nonnegative().default(10),
        restartWindowMs: z.number().int().positive().default(600_000),
        /** Back-off before restart n: restartBackoffMs * 2^(n-1), capped at restartBackoffMaxMs. */
        restartBackoffMs: z.number().int().nonnegative().default(500),
        restartBackoffMaxMs: z.number().int().nonnegative().default(30_000),
      })
      .strict()
      .default({ maxExecutors: 32, maxRestarts: 10, restartWindowMs: 600_000, restartBackoffMs: 500, restartBackoffMaxMs: 30_000 }),
    worker: z
      .object({
        /**
         * This worker's address on the network: its executors and AppMasters bind to it and
         * other hosts connect to it, so it must be reachable from them (not a wildcard).
         */
        host: hostSchema.default('127.0.0.1'),
        /** Executor slots per worker. */
        slots: z.number().int().positive().default(4),
        /** Heartbeats also carry the master's commands (launch, kill), so keep it short. */
        heartbeatMs: z.number().int().positive().default(300),
        /** Work folder (artifact cache, executor logs); default ./.sluice/workers/<name>. */
        cacheDir: z.string().optional(),
        cacheMaxBytes: z.number().int().positive().default(1024 * 1024 * 1024),
        /** The blob cache shared by every app on a worker (LRU, verified by digest). */
        blobCacheMaxBytes: z.number().int().positive().default(2 * 1024 ** 3),
        /** How often executors poll the head of each mapped blob (the bound on noticing an update). */
        blobPollMs: z.number().int().min(50).max(600_000).default(2000),
        /** V8 heap limit per executor process (MiB); a task that needs more fails loudly. */
        executorMemoryMb: z.number().int().min(64).default(2048),
        /** Warm executor processes kept booted (recovery takes one instead of starting Node); 0 = none. */
        standbys: z.number().int().min(0).max(16).default(1),
        /** Executors reach storage only through their worker, scoped to their app (no credentials in app code); false: the old, unscoped way. */
        storageProxy: z.boolean().default(true),
      })
      .strict()
      .default({ host: '127.0.0.1', slots: 4, heartbeatMs: 300, cacheMaxBytes: 1024 * 1024 * 1024, blobCacheMaxBytes: 2 * 1024 ** 3, blobPollMs: 2000, executorMemoryMb: 2048, standbys: 1, storageProxy: true }),
    /** Users allowed everything (ACL superusers). */
    superusers: z.array(z.string()).default([]),
    /**
     * Authentication of the control API. On by default; turning it off must be explicit
     * (`enabled: false`) and is refused unless the master binds to loopback.
     */
    auth: z
      .object({
        enabled: z.boolean().default(true),
        /** Users and their scrypt-hashed tokens (0600); default <config folder>/.sluice/users.json. */
        usersFile: z.string().optional(),
        /** Users allowed everything, in addition to top-level `superusers`. */
        superusers: z.array(z.string()).optional(),
        /** Secret workers authenticate with and daemon tokens are derived from (0600); default <config folder>/.sluice/cluster.secret. */
        clusterSecretFile: z.string().optional(),
      })
      .strict()
      .default({ enabled: true }),
  })
  .passthrough();

export type ClusterConfig = z.infer<typeof clusterConfigSchema>;

export interface LoadedClusterConfig {
  config: ClusterConfig;
  /** Folder of the config file: relative module paths and roots resolve against it. */
  baseDir: string;
  path?: string;
}

export function parseClusterConfig(input: unknown, source = 'cluster config'): ClusterConfig {
  const r = clusterConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const lines = formatIssues(r.error.issues);
    throw new StorageError(`invalid ${source}:\n  ${lines.join('\n  ')}`, { code: 'STORAGE_CONFIG_INVALID', details: { issues: lines } });
  }
  return r.data;
}

/** Reads and validates a YAML cluster config; no path means all defaults (fs store under ./.sluice). */
export async function loadClusterConfig(path?: string): Promise<LoadedClusterConfig> {
  if (!path) {
    const config = parseClusterConfig({});
    return { config: { ...config, storage: absolutizeStorageConfig(config.storage, process.cwd()) }, baseDir: process.cwd() };
  }
  const abs = resolve(path);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    throw new StorageError(`cannot read cluster config ${abs}: ${(err as Error).message}`, { code: 'STORAGE_CONFIG_INVALID', cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new StorageError(`${abs} is not valid YAML: ${(err as Error).message}`, { code: 'STORAGE_CONFIG_INVALID', cause: err });
  }
  const config = parseClusterConfig(doc, abs);
  return { config: { ...config, storage: absolutizeStorageConfig(config.storage, dirname(abs)) }, baseDir: dirname(abs), path: abs };
}
