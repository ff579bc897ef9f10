import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_BACKEND, type BackendRef, type StorageConfig } from '@sluice/storage-api';

/**
 * Makes relative `root` options absolute against the config file's folder. Executors
 * receive the storage config without the file it came from (and run with their own
 * cwd), so the paths must be absolute before the config leaves the process.
 */
export function absolutizeStorageConfig(config: StorageConfig, baseDir: string): StorageConfig {
  const fix = (ref: BackendRef): BackendRef => {
    const root = ref.options?.root;
    return typeof root === 'string' && !isAbsolute(root) ? { ...ref, options: { ...ref.options, root: resolve(baseDir, root) } } : ref;
  };
  const routes = Object.fromEntries(Object.entries(config.routes ?? {}).map(([k, r]) => [k, r ? fix(r) : r]));
  return { ...config, default: fix(config.default ?? DEFAULT_BACKEND), routes } as StorageConfig;
}
