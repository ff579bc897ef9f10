import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_BACKEND, type BackendRef, type StorageConfig } from '@sluice/storage-api';

/**
 * Makes relative `root` options absolute against the config file's folder, so every
 * process (master, CLI, executors with another cwd) opens the same store even when
 * a backend resolves `root` against its own cwd.
 */
export function absolutizeStorageConfig(config: StorageConfig, baseDir: string): StorageConfig {
  const fix = (ref: BackendRef): BackendRef => {
    const root = ref.options?.root;
    return typeof root === 'string' && !isAbsolute(root) ? { ...ref, options: { ...ref.options, root: resolve(baseDir, root) } } : ref;
  };
  const routes = Object.fromEntries(Object.entries(config.routes ?? {}).map(([k, r]) => [k, r ? fix(r) : r]));
  return { ...config, default: fix(config.default ?? DEFAULT_BACKEND), routes } as StorageConfig;
}
