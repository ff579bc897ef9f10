import type { AppStorage } from '@sluice/storage-api';
import { z } from 'zod';
import { readJson, type JsonRouter } from '../cluster/http.js';
import { parseBody } from '../cluster/schemas.js';
import { MAX_PARALLELISM } from '../dsl/dag.js';
import { EngineError, isEngineError } from '../errors.js';
import { assertAuthorized } from '../security/authorize.js';
import type { Principal } from '../security/principal.js';
import { DAG_CONFIG_ID, type DagDescription } from '../observability/dag-describe.js';
import { TASKS_RETAINED, TASKS_STORE } from './committer.js';
import { restoreConfigOf } from './savepoint-config.js';
import { defaultName, takeSavepoint, type SavepointRouteDeps } from './savepoint-routes.js';
import { validateSavepointName, type SavepointInfo } from './savepoint-store.js';
import { configIdOfVersion, jarOfVersion, versionEntry, versionsOf, withEvent, withVersion, type AppVersions } from './savepoint-versions.js';

/**
 * `sluice update` and `sluice rollback`: new code on the SAME app id, at a savepoint
 * boundary. The app is stopped with a savepoint at its last commit t, its checkpoints are
 * cleared (they have the old layout) and its stores fenced, then the new version starts
 * with `startFrom` that savepoint: state matched by uid/name (processors may be added or
 * removed, the dynamic DAG step), sources at their offsets at t. The replaced version and
 * the savepoint are recorded in the seed (`versions`), so a rollback restarts the old jar
 * and config from the same savepoint.
 */
export interface UpdateDeps extends SavepointRouteDeps {
  /** Starts a stopped app again on its id with this jar and config (fenced past minEpoch). */
  relaunch(appId: string, next: { jar: string; sha256: string; config: Record<string, unknown>; versions: AppVersions; minEpoch: number }): Promise<unknown>;
  configOf(appId: string): Promise<Record<string, unknown>>;
  /** The submit-time checks of an app config (BAD_REQUEST, LIMIT_EXCEEDED). */
  validateConfig(config: unknown): Record<string, unknown>;
  /** Streams an artifact body through, failing past the cluster's size limit. */
  limit(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array>;
}

export const updateOptionsSchema = z.object({
  /** Config keys over the running version's config. */
  config: z.record(z.string().max(200), z.unknown()).optional(),
  parallelism: z.record(z.string().max(128), z.number().int().min(1).max(MAX_PARALLELISM)).optional(),
  allowUnmatchedState: z.boolean().optional(),
  /** Name of the savepoint taken on the way. */
  name: z.string().max(200).optional(),
  /** Default true: if the new version ends failed, the master rolls back by itself. */
  autoRollback: z.boolean().optional(),
}).strict();
export type UpdateOptions = z.infer<typeof updateOptionsSchema>;

const rollbackBodySchema = z.object({}).strict();
const rescaleBodySchema = z.object({
  parallelism: z.record(z.string().max(128), z.number().int().min(1).max(MAX_PARALLELISM)).refine((r) => Object.keys(r).length > 0, 'names at least one processor'),
  name: z.string().max(200).optional(),
}).strict();

export interface UpdateReply {
  appId: string;
  from: number;
  version: number;
  savepoint: SavepointInfo;
}

/**
 * Fences every checkpoint and offset store of the app at one new epoch, removes all its
 * checkpoints (the next version seeds its own at t) and every offset after t. Returns the
 * epoch: the relaunched AppMaster must run above it.
 */
async function clearForRestart(app: AppStorage, t: number): Promise<number> {
  const ckpts = app.checkpoints(TASKS_STORE, { numRetained: TASKS_RETAINED });
  const offsetNames = await app.listTimeStores('offsets');
  let epoch = await ckpts.currentEpoch();
  for (const n of offsetNames) epoch = Math.max(epoch, await app.offsets(n).currentEpoch());
  epoch += 1;
  await (await ckpts.writer(epoch)).truncateAfter(0);
  // Offsets after t are from commits that no longer exist (and would be "the next one" at t).
  for (const n of offsetNames) await (await app.offsets(n).writer(epoch)).truncateAfter(t);
  return epoch;
}

function assertW(deps: SavepointRouteDeps, who: Principal, appId: string): ReturnType<SavepointRouteDeps['app']> {
  const e = deps.app(appId);
  assertAuthorized(who, { appId, owner: e.seed.owner, acl: e.seed.acl }, 'w', deps.authz());
  return e;
}

async function openApp(deps: SavepointRouteDeps, appId: string): Promise<AppStorage> {
  const app = await deps.storage.getAppStorage(appId);
  if (!app) throw new EngineError('APP_NOT_FOUND', `app ${appId} has no store`);
  return app;
}

/** Stops the running version with a savepoint and starts `body` (the new artifact) from it. */
export async function updateApp(deps: UpdateDeps, appId: string, body: AsyncIterable<Uint8Array>, size: number | undefined, o: UpdateOptions, kind: 'update' | 'rescale' = 'update'): Promise<UpdateReply> {
  const { seed } = deps.app(appId);
  if (seed.status !== 'running') throw new EngineError('APP_STATE', `app ${appId} is ${seed.status}: update replaces a running app (sluice rollback restarts a failed update's previous version)`);
  const spName = validateSavepointName(o.name ?? defaultName(appId, kind === 'update' ? 'u' : 'r'));
  const v = versionsOf(seed);
  const next = Math.max(...v.versions.map((x) => x.version)) + 1;
  const base = await deps.configOf(appId);
  const { startFrom: _s, allowUnmatchedState: _a, ...keep } = base;
  // processorParallelism carries over (`--config processorParallelism={}` resets it), --parallelism on top.
  const pp = { ...(restoreConfigOf({ ...base, ...(o.config ?? {}) }).processorParallelism ?? {}), ...(o.parallelism ?? {}) };
  const config: Record<string, unknown> = {
    ...keep, ...(o.config ?? {}), startFrom: { savepoint: spName },
    ...(o.allowUnmatchedState ? { allowUnmatchedState: true } : {}), ...(Object.keys(pp).length > 0 ? { processorParallelism: pp } : {}),
  };
  // Checked before anything stops: a config the relaunch would refuse leaves the app running.
  deps.validateConfig(config);
  const app = await openApp(deps, appId);
  try {
    // The upload comes first: a refused or broken upload leaves the app running.
    const jar = jarOfVersion(next);
    const info = await app.jars.put(jar, deps.limit(body), size === undefined ? {} : { size });
    await app.config.set(configIdOfVersion(v.current), base);
    await app.config.set(configIdOfVersion(next), config);
    const sp = await takeSavepoint(deps, appId, spName, true, seed.owner, seed.acl);
    const minEpoch = await clearForRestart(app, sp.t);
    const versions: AppVersions = {
      current: next, previous: { version: v.current, savepoint: sp.name, t: sp.t }, autoRollback: o.autoRollback ?? true,
      versions: withVersion(v, { version: next, jar, sha256: info.sha256, createdAt: Date.now() }),
      events: withEvent(v, { at: Date.now(), kind, from: v.current, to: next, savepoint: sp.name, t: sp.t }),
    };
    await deps.relaunch(appId, { jar, sha256: info.sha256, config, versions, minEpoch });
    deps.logger.info({ appId, from: v.current, version: next, savepoint: sp.name, t: sp.t, kind, ...(o.parallelism ? { parallelism: o.parallelism } : {}) }, kind === 'update' ? 'app updated' : 'app rescaled');
    return { appId, from: v.current, version: next, savepoint: sp };
  } finally {
    await app.close();
  }
}

/**
 * Restarts the version the last update replaced, from the savepoint that update took (its
 * state at t exactly: what the new version published after t is produced again). The
 * current version is killed first if it runs.
 */
export async function rollbackApp(deps: UpdateDeps, appId: string, why: { auto: boolean; reason?: string }): Promise<{ appId: string; from: number; version: number; savepoint: string; t: number }> {
  const { seed } = deps.app(appId);
  const v = versionsOf(seed);
  if (!v.previous) throw new EngineError('APP_STATE', `app ${appId} has no previous version to roll back to (sluice update records one)`, { details: { appId, version: v.current } });
  const prev = versionEntry(v, v.previous.version);
  if (!prev) throw new EngineError('INTERNAL', `app ${appId}: version ${v.previous.version} is not recorded`);
  const app = await openApp(deps, appId);
  try {
    const saved = (await app.config.get(configIdOfVersion(prev.version)))?.value as Record<string, unknown> | undefined;
    const { startFrom: _s, allowUnmatchedState: _a, ...keep } = saved ?? {};
    if (seed.status === 'running') {
      await deps.kill(appId).catch((err: unknown) => {
        // It ended meanwhile (failed, finished): nothing left to stop.
        if (!isEngineError(err) || err.code !== 'APP_STATE') throw err;
      });
    }
    const minEpoch = await clearForRestart(app, v.previous.t);
    const versions: AppVersions = {
      current: prev.version, versions: v.versions,
      events: withEvent(v, { at: Date.now(), kind: 'rollback', from: v.current, to: prev.version, savepoint: v.previous.savepoint, t: v.previous.t, ...(why.auto ? { auto: true } : {}), ...(why.reason ? { reason: why.reason.slice(0, 4000) } : {}) }),
    };
    await deps.relaunch(appId, { jar: prev.jar, sha256: prev.sha256, config: { ...keep, startFrom: { savepoint: v.previous.savepoint } }, versions, minEpoch });
    deps.logger.warn({ appId, from: v.current, version: prev.version, savepoint: v.previous.savepoint, auto: why.auto, reason: why.reason }, 'app rolled back');
    return { appId, from: v.current, version: prev.version, savepoint: v.previous.savepoint, t: v.previous.t };
  } finally {
    await app.close();
  }
}

/** The master calls this when an app ends `failed`: an updated version rolls back by itself once. */
export async function autoRollback(deps: UpdateDeps, appId: string): Promise<void> {
  const { seed } = deps.app(appId);
  const v = versionsOf(seed);
  if (seed.status !== 'failed' || !v.autoRollback || !v.previous) return;
  await rollbackApp(deps, appId, { auto: true, reason: seed.error ?? 'failed' });
}

export function registerUpdateRoutes(r: JsonRouter, deps: UpdateDeps): void {
  // The body is the new artifact; options ride in the query (`options`, JSON) like submit's config.
  r.add('POST', '/apps/:id/update', 'user', async (req, p, url, who) => {
    let raw: unknown = {};
    const q = url.searchParams.get('options');
    if (q !== null) {
      try {
        raw = JSON.parse(q) as unknown;
      } catch {
        throw new EngineError('BAD_REQUEST', 'options must be a JSON object');
      }
    }
    const o = parseBody(updateOptionsSchema, raw, 'update options');
    const { seed } = assertW(deps, who, p.id!);
    const len = req.headers['content-length'];
    const size = len === undefined ? undefined : Number(len);
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) throw new EngineError('BAD_REQUEST', 'content-length must be a non-negative integer');
    return updateApp(deps, seed.appId, req, size, o);
  });
  // Stop with a savepoint, then the same artifact and config at the new parallelism, on the same app id.
  r.add('POST', '/apps/:id/rescale', 'user', async (req, p, _u, who) => {
    const b = parseBody(rescaleBodySchema, await readJson(req, 64 * 1024), 'rescale request');
    const { seed } = assertW(deps, who, p.id!);
    if (seed.status !== 'running') throw new EngineError('APP_STATE', `app ${seed.appId} is ${seed.status}: rescale stops a running app (submit --from-savepoint to start a stopped one)`);
    const app = await openApp(deps, seed.appId);
    try {
      // Before anything stops: every named processor exists in the DAG the app runs.
      const dag = (await app.config.get(DAG_CONFIG_ID))?.value as DagDescription | undefined;
      const known = new Set((dag?.processors ?? []).map((x) => x.name));
      const unknown = dag ? Object.keys(b.parallelism).filter((n) => !known.has(n)) : [];
      if (unknown.length > 0) throw new EngineError('UNKNOWN_PROCESSOR', `app ${seed.appId} has no processor ${unknown.join(', ')} (it has ${[...known].join(', ')})`, { details: { unknown } });
      const jar = await app.jars.stat(seed.jar);
      if (!jar) throw new EngineError('APP_STATE', `app ${seed.appId} has no artifact to restart`);
      const r = await updateApp(deps, seed.appId, await app.jars.get(seed.jar), jar.size, { parallelism: b.parallelism, ...(b.name === undefined ? {} : { name: b.name }) }, 'rescale');
      return { ...r, from: seed.appId, fromVersion: r.from };
    } finally {
      await app.close();
    }
  });
  r.add('POST', '/apps/:id/rollback', 'user', async (req, p, _u, who) => {
    parseBody(rollbackBodySchema, await readJson(req, 4096), 'rollback request');
    const { seed } = assertW(deps, who, p.id!);
    return rollbackApp(deps, seed.appId, { auto: false });
  });
}
