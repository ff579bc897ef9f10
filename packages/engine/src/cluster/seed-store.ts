import { readFile } from 'node:fs/promises';
import { atomicWriteFile } from '@sluice/storage-api';
import { z } from 'zod';
import { EngineError } from '../errors.js';
import { appVersionsSchema } from '../runtime/savepoint-versions.js';

/** Seed statuses: the storage meta's terminal states plus `running`. */
export const SEED_STATUSES = ['running', 'stopped', 'failed', 'killed'] as const;
export type SeedStatus = (typeof SEED_STATUSES)[number];

/** A failure the master recorded for an app (an executor error, an AppMaster exit). */
export interface FailureRecord {
  reason: string;
  at: number;
  epoch: number;
}

/**
 * The master's only replicated state: one small seed per app. Everything else (the
 * artifact, config, offsets, checkpoints, logs, metrics) lives in the app's store,
 * which the seed points to by app id. Restart bookkeeping lives here because it must
 * survive AppMasters (and masters): the budget counts restarts across all of them.
 */
export const appSeedSchema = z
  .object({
    appId: z.string().min(1).max(128),
    name: z.string().min(1).max(128),
    status: z.enum(SEED_STATUSES),
    /** Bumped on every AppMaster launch and every executor restart; fences zombies. */
    epoch: z.number().int().nonnegative(),
    /** Pointer into the store: the jar name and digest in the app's jar store. */
    jar: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    owner: z.string().default('sluice'),
    /** Storm-style ACL entries (`u:bob:r`, `o::-`) on top of the owner's full access. */
    acl: z.array(z.string().max(256)).max(1000).default([]),
    createdAt: z.number(),
    updatedAt: z.number(),
    error: z.string().optional(),
    /** Restarts (executor recoveries and AppMaster relaunches) over the app's life. */
    restarts: z.number().int().nonnegative().default(0),
    /** Times of the restarts inside the current budget window (bounded by the budget). */
    recentRestarts: z.array(z.number()).default([]),
    lastFailure: z.object({ reason: z.string(), at: z.number(), epoch: z.number() }).optional(),
    /** Restarts since the app last committed a checkpoint: the back-off's exponent. */
    stalledRestarts: z.number().int().nonnegative().optional(),
    /** When the next (backed-off) attempt may start. */
    nextAttemptAt: z.number().optional(),
    /** Artifact versions after `sluice update` (absent: version 1 only). */
    versions: appVersionsSchema.optional(),
  })
  .strip();

export type AppSeed = z.infer<typeof appSeedSchema>;

/** A seed with the store's revision of it: the token a compare-and-set compares. */
export interface VersionedSeed {
  seed: AppSeed;
  rev: string;
}

/**
 * The seam for master HA. Every write is a compare-and-set: `update` and `delete` name
 * the revision they read and fail with `SEED_CONFLICT` if the seed changed since, so an
 * epoch bump can never be lost or issued twice. A store that cannot be reached rejects
 * with `SEED_STORE_UNAVAILABLE`; a seed that does not parse is `SEED_CORRUPT` naming it.
 */
export interface SeedStore {
  load(): Promise<VersionedSeed[]>;
  /** Creates a seed; `SEED_CONFLICT` if one with that app id exists. Returns the new revision. */
  create(seed: AppSeed): Promise<string>;
  /** Replaces the seed if its revision is still `rev`; returns the new revision. */
  update(seed: AppSeed, rev: string): Promise<string>;
  delete(appId: string, rev: string): Promise<void>;
  close(): Promise<void>;
}

/** Parses a stored seed; `where` names the key or file for the error. */
export function parseSeed(raw: unknown, where: string): AppSeed {
  const r = appSeedSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new EngineError('SEED_CORRUPT', `seed ${where} is malformed: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  return r.data;
}

export function seedConflict(appId: string, expected: string, actual: string | undefined): EngineError {
  return new EngineError('SEED_CONFLICT', `seed ${appId} changed: expected revision ${expected}, found ${actual ?? 'none'}`);
}

/**
 * Seeds in one JSON file, replaced atomically (temp file + fsync + rename). One master
 * owns the file, so the revision is a per-seed counter kept in the file and compared in
 * memory; writes are serialised, and a write resolves only once it is durable.
 */
export class FileSeedStore implements SeedStore {
  readonly #seeds = new Map<string, VersionedSeed>();
  #queue: Promise<void> = Promise.resolve();
  #loaded = false;
  constructor(readonly path: string) {}

  async load(): Promise<VersionedSeed[]> {
    if (!this.#loaded) {
      let text: string | undefined;
      try {
        text = await readFile(this.path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (text !== undefined) {
        let doc: { apps?: unknown[]; revs?: Record<string, string> };
        try {
          doc = JSON.parse(text) as typeof doc;
        } catch (err) {
          throw new EngineError('SEED_CORRUPT', `seed file ${this.path} is not valid JSON: ${(err as Error).message}`);
        }
        for (const [i, raw] of (doc.apps ?? []).entries()) {
          const seed = parseSeed(raw, `${this.path}#apps[${i}]`);
          this.#seeds.set(seed.appId, { seed, rev: doc.revs?.[seed.appId] ?? '1' });
        }
      }
      this.#loaded = true;
    }
    return [...this.#seeds.values()].map((v) => ({ seed: structuredClone(v.seed), rev: v.rev }));
  }

  create(seed: AppSeed): Promise<string> {
    const cur = this.#seeds.get(seed.appId);
    if (cur) return Promise.reject(seedConflict(seed.appId, 'none', cur.rev));
    this.#seeds.set(seed.appId, { seed: structuredClone(seed), rev: '1' });
    return this.#flush().then(() => '1');
  }

  update(seed: AppSeed, rev: string): Promise<string> {
    const cur = this.#seeds.get(seed.appId);
    if (!cur || cur.rev !== rev) return Promise.reject(seedConflict(seed.appId, rev, cur?.rev));
    const next = String(Number(rev) + 1);
    this.#seeds.set(seed.appId, { seed: structuredClone(seed), rev: next });
    return this.#flush().then(() => next);
  }

  delete(appId: string, rev: string): Promise<void> {
    const cur = this.#seeds.get(appId);
    if (!cur || cur.rev !== rev) return Promise.reject(seedConflict(appId, rev, cur?.rev));
    this.#seeds.delete(appId);
    return this.#flush();
  }

  #flush(): Promise<void> {
    const entries = [...this.#seeds.values()];
    const text = JSON.stringify({ version: 2, apps: entries.map((e) => e.seed), revs: Object.fromEntries(entries.map((e) => [e.seed.appId, e.rev])) }, null, 2);
    const write = this.#queue.then(() => atomicWriteFile(this.path, text));
    // A failed write fails its caller; the next write starts afresh.
    this.#queue = write.catch(() => {});
    return write;
  }

  async close(): Promise<void> {
    await this.#queue;
  }
}
