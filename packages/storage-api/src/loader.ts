import { createRequire } from 'node:module';
import { isAbsolute, resolve, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { StorageError } from './errors.js';
import { formatIssues } from './config-schema.js';
import { guardStorage } from './guard.js';
import type { Storage, StorageCapabilities, StorageContext, StorageLogger, StorageModule } from './types.js';
import memoryModule from './memory/index.js';

const noop = (): void => {};
const silentLogger: StorageLogger = { debug: noop, info: noop, warn: noop, error: noop };

export function defaultContext(partial: Partial<StorageContext> = {}): StorageContext {
  return { logger: partial.logger ?? silentLogger, now: partial.now ?? Date.now, baseDir: partial.baseDir ?? process.cwd() };
}

function isPath(spec: string): boolean {
  return spec.startsWith('.') || isAbsolute(spec) || spec.startsWith('file:');
}

/**
 * Loads a backend by package name, file path (relative to `baseDir`, usually the
 * config file's folder) or the built-in name `memory`, and checks its shape.
 */
export async function loadStorageModule(spec: string, options: { baseDir?: string } = {}): Promise<StorageModule<any>> {
  if (spec === 'memory' || spec === '@sluice/storage-api/memory') return memoryModule as StorageModule<any>;
  const baseDir = options.baseDir ?? process.cwd();
  let url: string;
  try {
    if (spec.startsWith('file:')) url = spec;
    else if (isPath(spec)) url = pathToFileURL(resolve(baseDir, spec)).href;
    else {
      // Resolve from the config's folder first (the user's project), then from here.
      try {
        url = pathToFileURL(createRequire(join(baseDir, 'noop.js')).resolve(spec)).href;
      } catch {
        url = spec;
      }
    }
  } catch (err) {
    throw new StorageError(`cannot resolve storage module ${spec}: ${(err as Error).message}`, { code: 'STORAGE_MODULE_INVALID', cause: err });
  }
  let ns: Record<string, unknown>;
  try {
    ns = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new StorageError(`cannot load storage module ${spec}: ${(err as Error).message}`, { code: 'STORAGE_MODULE_INVALID', cause: err });
  }
  const mod = (ns.default ?? ns) as Partial<StorageModule>;
  const problems: string[] = [];
  if (typeof mod.name !== 'string') problems.push('name (string) is missing');
  if (typeof mod.create !== 'function') problems.push('create(options, context) is missing');
  if (!mod.capabilities || typeof mod.capabilities !== 'object') problems.push('capabilities object is missing');
  if (problems.length) {
    throw new StorageError(`${spec} is not a storage module (its default export must be a StorageModule): ${problems.join('; ')}`, {
      code: 'STORAGE_MODULE_INVALID',
    });
  }
  return mod as StorageModule<any>;
}

/**
 * Validates options with the module's schema (errors name the key path), creates the
 * backend and guards it. The one way callers obtain a Storage.
 */
export async function openStorage(
  mod: StorageModule<any>,
  options: Record<string, unknown> = {},
  context: Partial<StorageContext> = {},
  keyPath: string[] = ['storage', 'default', 'options'],
): Promise<Storage> {
  let parsed: unknown = options;
  if (mod.optionsSchema) {
    const r = mod.optionsSchema.safeParse(options);
    if (!r.success) {
      const lines = formatIssues(r.error.issues, keyPath);
      throw new StorageError(`invalid options for ${mod.name}:\n  ${lines.join('\n  ')}`, { code: 'STORAGE_CONFIG_INVALID', details: { issues: lines } });
    }
    parsed = r.data;
  }
  const raw = await mod.create(parsed as never, defaultContext(context));
  const claimed = (Object.keys(raw.capabilities) as Array<keyof StorageCapabilities>).filter((k) => raw.capabilities[k] && !mod.capabilities[k]);
  if (claimed.length > 0) {
    await raw.close().catch(() => undefined);
    throw new StorageError(`${mod.name}: the instance declares ${claimed.join(', ')}, which its module does not: an instance may only declare less`, {
      code: 'STORAGE_CONFIG_INVALID', details: { capabilities: claimed },
    });
  }
  return guardStorage(raw);
}

/**
 * Refuses a store that lacks a capability the caller depends on, naming it and what it
 * means, e.g. the engine needs `multiProcess` (master, AppMaster and executors open one
 * app's store from several processes; a single-process module would otherwise fail the
 * first app with a lock error). `where` names the module and its config key path.
 */
export function requireCapabilities(storage: Pick<Storage, 'capabilities' | 'backend'>, required: ReadonlyArray<keyof StorageCapabilities>, where = storage.backend): void {
  const missing = required.filter((c) => !storage.capabilities[c]);
  if (missing.length === 0) return;
  throw new StorageError(
    `${where} does not declare ${missing.map((c) => `${c} (${CAPABILITY_MEANINGS[c]})`).join(', ')}, which is required here`,
    { code: 'STORAGE_CONFIG_INVALID', details: { missing, backend: storage.backend } },
  );
}

/** What each capability means in production (for errors and conformance summaries). */
export const CAPABILITY_MEANINGS: Readonly<Record<keyof StorageCapabilities, string>> = Object.freeze({
  persistent: 'data survives the process: a restart or another process reopening the store finds it',
  multiProcess: 'several processes read and write one app store at once (the engine needs it: master, AppMaster and executors)',
  multiWriter: 'racing writers are safe: create-only commits and epoch fencing are atomic in the store',
  follow: 'logs.follow() tails records appended by other instances (`sluice logs -f`)',
  metricsRollups: 'metrics are rolled up to 1m and 1h with their own retention (long dashboard ranges)',
  boundedJarMemory: 'jars of any size stream in and out without being held whole in memory',
});
