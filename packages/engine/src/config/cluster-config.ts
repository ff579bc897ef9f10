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
      })
      .strict()
      .default({ host: '127.0.0.1', port: 7070 }),
    worker: z
      .object({
        /** Executor slots per worker. */
        slots: z.number().int().positive().default(4),
        /** Heartbeats also carry the master's commands (launch, kill), so keep it short. */
        heartbeatMs: z.number().int().positive().default(300),
        /** Work folder (artifact cache, executor logs); default ./.sluice/workers/<name>. */
        cacheDir: z.string().optional(),
        cacheMaxBytes: z.number().int().positive().default(1024 * 1024 * 1024),
      })
      .strict()
      .default({ slots: 4, heartbeatMs: 300, cacheMaxBytes: 1024 * 1024 * 1024 }),
    /** Users allowed everything (ACL superusers). */
    superusers: z.array(z.string()).default([]),
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
