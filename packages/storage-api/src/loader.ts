import { createRequire } from 'node:module';
import { isAbsolute, resolve, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { StorageError } from './errors.js';
import { formatIssues } from './config-schema.js';
import { guardStorage } from './guard.js';
import type { Storage, StorageCapabilities, StorageContext, StorageLogger, StorageModule } from './types.js';
import memoryModule from './memory/index.js';
import { checkDeclaredContract } from './contract-version.js';

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
export async function loadStorageModule(spec: string, options: { baseDir?: string } = {}): Promise<StorageModule<unknown>> {
  // A loaded module's options type is not known statically: its optionsSchema parses them.
  if (spec === 'memory' || spec === '@sluice/storage-api/memory') return memoryModule as StorageModule<unknown>;
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
  // Before importing: a backend built for another storage-api may not even import against
  // this one (a missing export is a SyntaxError naming neither version).
  if (!spec.startsWith('file:') && !isPath(spec)) checkPeerRange(spec, baseDir);
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
  checkDeclaredContract(mod, spec);
  return mod as StorageModule<unknown>;
}

/**
 * Validates options with the module's schema (errors name the key path), creates the
 * backend and guards it. The one way callers obtain a Storage.
 */
export async function openStorage(
  mod: StorageModule<unknown>,
  options: Record<string, unknown> = {},
  context: Partial<StorageContext> = {},
  keyPath: string[] = ['storage', 'default', 'options'],
): Promise<Storage> {
  checkDeclaredContract(mod, mod.name); // for callers that pass a module object without loading it
  let parsed: unknown = options;
  if (mod.optionsSchema) {
    const r = mod.optionsSchema.safeParse(options);
    if (!r.success) {
      const lines = formatIssues(r.error.issues, keyPath);
      throw new StorageError(`invalid options for ${mod.name}:\n  ${lines.join('\n  ')}`, { code: 'STORAGE_CONFIG_INVALID', details: { issues: lines } });
    }
    parsed = r.data;
  }
  const raw = await mod.create(parsed, defaultContext(context));
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
  blobs: 'shared blobs (storage.blobs): versioned, content-addressed files with ACLs that apps map (`sluice blobs`)',
});

/** This package's version: what a backend's peer range on @sluice/storage-api must accept. */
export const STORAGE_API_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/**
 * A backend package declares the storage-api it was built against as a peer range. A
 * mismatch (say an engine on storage-api 0.1 and a backend built for 0.2) fails at load
 * with both versions named, instead of failing later in strange ways.
 */
function checkPeerRange(spec: string, baseDir: string): void {
  const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
  let pkg: { version?: string; peerDependencies?: Record<string, string> };
  try {
    pkg = createRequire(join(baseDir, 'noop.js'))(`${name}/package.json`) as typeof pkg;
  } catch {
    try {
      pkg = createRequire(import.meta.url)(`${name}/package.json`) as typeof pkg;
    } catch {
      return; // no package.json exported: nothing to check against
    }
  }
  const range = pkg.peerDependencies?.['@sluice/storage-api'];
  if (range === undefined || satisfiesCaret(STORAGE_API_VERSION, range)) return;
  throw new StorageError(
    `${name}@${pkg.version ?? '?'} needs @sluice/storage-api ${range}, but ${STORAGE_API_VERSION} is installed: install a ${name} built for it (or upgrade the engine)`,
    { code: 'STORAGE_MODULE_INVALID', details: { module: name, needs: range, installed: STORAGE_API_VERSION } },
  );
}

/** npm's caret (and exact / x.y.z-with-comparator-free) ranges, enough for peer ranges of this project. */
export function satisfiesCaret(version: string, range: string): boolean {
  const v = version.split('-')[0]!.split('.').map(Number);
  return range.split('||').some((alt) => {
    const r = alt.trim();
    if (r === '*' || r === '') return true;
    const caret = r.startsWith('^');
    const parts = r.replace(/^[\^=v]+/, '').split('.').map((x) => (x === 'x' || x === '*' ? NaN : Number(x)));
    if (parts.some((x, i) => Number.isNaN(x) && i === 0)) return true;
    const [maj, min = 0, pat = 0] = parts.map((x) => (Number.isNaN(x) ? 0 : x));
    const cmp = (a: number[], b: number[]): number => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
    if (!caret) return cmp(v, [maj!, min, pat]) === 0;
    if (cmp(v, [maj!, min, pat]) < 0) return false;
    // ^1.2.3 := <2.0.0; ^0.2.3 := <0.3.0; ^0.0.3 := <0.0.4
    if (maj! > 0) return v[0] === maj;
    if (min > 0) return v[0] === 0 && v[1] === min;
    return v[0] === 0 && v[1] === 0 && v[2] === pat;
  });
}
