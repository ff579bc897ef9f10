import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat, utimes, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppStorage } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import { applyParallelism } from './savepoint-config.js';
import { validateDag, type Dag } from '../dsl/dag.js';

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

/**
 * Local artifact cache keyed by digest, bounded in bytes, evicting least recently used
 * (mtime is touched on use). Every hit is re-verified, so a corrupted cache file is
 * fetched again instead of being run.
 */
export class ArtifactCache {
  constructor(readonly dir: string, readonly maxBytes: number) {}

  async fetch(app: AppStorage, jar: string, sha256: string): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, `${sha256}.mjs`);
    try {
      if ((await sha256File(path)) === sha256) {
        const now = new Date();
        await utimes(path, now, now);
        return path;
      }
      await rm(path, { force: true });
    } catch {
      // not cached
    }
    const info = await app.jars.copyToLocal(jar, path);
    if (info.sha256 !== sha256) {
      await rm(path, { force: true });
      throw new EngineError('ARTIFACT_CORRUPT', `artifact ${jar} has digest ${info.sha256}, expected ${sha256}`);
    }
    await this.#evict(path);
    return path;
  }

  async #evict(keep: string): Promise<void> {
    const files = await Promise.all(
      (await readdir(this.dir)).filter((f) => f.endsWith('.mjs')).map(async (f) => ({ path: join(this.dir, f), st: await stat(join(this.dir, f)).catch(() => undefined) })),
    );
    const live = files.filter((f) => f.st).sort((a, b) => a.st!.mtimeMs - b.st!.mtimeMs);
    let total = live.reduce((n, f) => n + f.st!.size, 0);
    for (const f of live) {
      if (total <= this.maxBytes) break;
      if (f.path === keep) continue;
      await rm(f.path, { force: true });
      total -= f.st!.size;
    }
  }
}

/**
 * Imports an artifact and builds its DAG. The module's default export is a Dag or a
 * function `(sluice, config) => Dag` (sluice = this package's API, so artifacts need
 * no import of their own). Every failure is an ARTIFACT_INVALID or DAG_* error.
 */
export async function loadArtifact(path: string, config: Record<string, unknown>): Promise<Dag> {
  let ns: Record<string, unknown>;
  try {
    ns = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new EngineError('ARTIFACT_INVALID', `artifact failed to load: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  const exp = ns.default ?? ns.dag;
  let d: unknown = exp;
  if (typeof exp === 'function') {
    const sluice = await import('../index.js');
    try {
      d = await (exp as (s: unknown, c: unknown) => unknown)(sluice, config);
    } catch (err) {
      if (err instanceof EngineError) throw err;
      throw new EngineError('ARTIFACT_INVALID', `artifact's DAG function threw: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
  if (d === undefined) throw new EngineError('ARTIFACT_INVALID', 'artifact has no default export (a Dag or a function returning one)');
  // `processorParallelism` (sluice rescale) overrides what the artifact chose.
  return applyParallelism(validateDag(d), config);
}
