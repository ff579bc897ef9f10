import { type Storage } from '@sluice/storage-api';
import { z } from 'zod';
import { readJson, type JsonRouter } from '../cluster/http.js';
import { parseBody } from '../cluster/schemas.js';
import { EngineError } from '../errors.js';
import { assertAuthorized, authorize, PERMISSION_MEANING, type AuthorizeOptions, type Permission } from '../security/authorize.js';
import { principalLabel, type Principal } from '../security/principal.js';
import { TASKS_RETAINED, TASKS_STORE } from './committer.js';
import { captureCheckpoint } from './savepoint-capture.js';
import { restoreConfigOf } from './savepoint-config.js';
import type { AppVersions } from './savepoint-versions.js';
import { blobStoreOf, deleteSavepoint, headSavepoint, infoOf, listSavepoints, SAVEPOINT_BLOB_PREFIX, validateSavepointName, writeSavepoint, type SavepointInfo } from './savepoint-store.js';

/** What the savepoint routes need of the master (its app registry and lifecycle). */
export interface SavepointRouteDeps {
  storage: Storage;
  authz: () => AuthorizeOptions;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** The app's seed and config; APP_NOT_FOUND if unknown. */
  app(appId: string): { seed: { appId: string; name: string; owner: string; acl: string[]; status: string; jar: string; sha256: string; createdAt: number; error?: string; versions?: AppVersions }; config?: Record<string, unknown> };
  kill(appId: string): Promise<unknown>;
  submit(name: string, body: AsyncIterable<Uint8Array>, size: number | undefined, config: Record<string, unknown>, owner: string, acl: string[]): Promise<{ appId: string }>;
}

const savepointBodySchema = z.object({ name: z.string().max(200).optional(), stop: z.boolean().optional() }).strict();

function assertSavepoint(who: Principal, info: SavepointInfo, perm: Permission, authz: AuthorizeOptions): void {
  if (authorize(who, { appId: `savepoint:${info.name}`, owner: info.owner, acl: info.acl }, perm, authz)) return;
  if (who.kind === 'anonymous') throw new EngineError('UNAUTHENTICATED', 'missing or invalid credentials');
  throw new EngineError('FORBIDDEN', `${principalLabel(who)} has no ${PERMISSION_MEANING[perm].split(' (')[0]} access to savepoint ${info.name}`, { details: { savepoint: info.name, perm } });
}

/** A default name from the app id and the time (the savepoint alphabet has no '@'). */
export function defaultName(appId: string, tag: string): string {
  return `${appId.replace(/@/g, '_').slice(0, 80)}-${tag}${Date.now().toString(36)}`;
}

/**
 * Takes a savepoint of an app. With `stop`, the app is killed first and its checkpoint
 * writer fenced (a higher epoch), so no commit can follow the one the savepoint holds:
 * the saved time is the app's last committed output, and a restart from it publishes
 * exactly what the app had staged up to it.
 */
export async function takeSavepoint(deps: SavepointRouteDeps, appId: string, name: string, stop: boolean, owner: string, acl: string[]): Promise<SavepointInfo & { stopped: boolean }> {
  validateSavepointName(name);
  if (await blobStoreOf(deps.storage).head(SAVEPOINT_BLOB_PREFIX + name)) throw new EngineError('SAVEPOINT_INVALID', `a savepoint named ${name} exists already`, { details: { savepoint: name } });
  const { seed } = deps.app(appId);
  const app = await deps.storage.getAppStorage(appId);
  if (!app) throw new EngineError('APP_NOT_FOUND', `app ${appId} has no store`);
  try {
    let stopped = false;
    const store = app.checkpoints(TASKS_STORE, { numRetained: TASKS_RETAINED });
    // Nothing committed yet: refuse before stopping anything (there would be no savepoint).
    if (!(await store.last())) throw new EngineError('SAVEPOINT_NOT_FOUND', `app ${appId} has no committed checkpoint yet: try again once it committed one`, { details: { appId } });
    if (stop && seed.status === 'running') {
      await deps.kill(appId);
      await store.writer((await store.currentEpoch()) + 1);
      stopped = true;
    }
    const sp = await captureCheckpoint(app);
    const info = await writeSavepoint(deps.storage, name, sp, owner, acl);
    deps.logger.info({ appId, savepoint: name, t: sp.t, size: info.size, stopped }, 'savepoint taken');
    return { ...info, stopped };
  } finally {
    await app.close();
  }
}

export function registerSavepointRoutes(r: JsonRouter, deps: SavepointRouteDeps): void {
  const { storage, authz } = deps;
  const assertApp = (who: Principal, appId: string, perm: Permission): ReturnType<SavepointRouteDeps['app']> => {
    const e = deps.app(appId);
    assertAuthorized(who, { appId, owner: e.seed.owner, acl: e.seed.acl }, perm, authz());
    return e;
  };
  // Taking one reads the app's state (and --stop stops it): w on the app. It is owned like the app.
  r.add('POST', '/apps/:id/savepoints', 'user', async (req, p, _u, who) => {
    const b = parseBody(savepointBodySchema, await readJson(req, 64 * 1024), 'savepoint request');
    const { seed } = assertApp(who, p.id!, 'w');
    return takeSavepoint(deps, seed.appId, b.name ?? defaultName(seed.appId, 's'), b.stop ?? false, seed.owner, seed.acl);
  });
  r.add('GET', '/savepoints', 'user', async (_req, _p, _u, who) => ({
    savepoints: (await listSavepoints(storage)).map(infoOf).filter((i) => authorize(who, { appId: `savepoint:${i.name}`, owner: i.owner, acl: i.acl }, 'r', authz())),
  }));
  r.add('GET', '/savepoints/:name', 'user', async (_req, p, _u, who) => {
    const info = infoOf(await headSavepoint(storage, p.name!));
    assertSavepoint(who, info, 'r', authz());
    return info;
  });
  r.add('DELETE', '/savepoints/:name', 'user', async (_req, p, _u, who) => {
    assertSavepoint(who, infoOf(await headSavepoint(storage, p.name!)), 'a', authz());
    await deleteSavepoint(storage, p.name!);
    deps.logger.info({ savepoint: p.name, by: principalLabel(who) }, 'savepoint deleted');
    return { deleted: p.name };
  });
}

/**
 * The submit hook for `startFrom`: the caller needs r on the savepoint or on the app whose
 * checkpoint it names; a time is resolved here to the newest retained checkpoint at or
 * before it (then pinned in the config). Returns the config to store.
 */
export async function checkStartFrom(deps: SavepointRouteDeps, who: Principal, config: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { startFrom } = restoreConfigOf(config);
  if (!startFrom) return config;
  if ('savepoint' in startFrom) {
    assertSavepoint(who, infoOf(await headSavepoint(deps.storage, startFrom.savepoint)), 'r', deps.authz());
    return config;
  }
  const { seed } = deps.app(startFrom.app);
  assertAuthorized(who, { appId: seed.appId, owner: seed.owner, acl: seed.acl }, 'r', deps.authz());
  const app = await deps.storage.getAppStorage(seed.appId);
  if (!app) throw new EngineError('APP_NOT_FOUND', `app ${seed.appId} has no store`);
  try {
    const store = app.checkpoints(TASKS_STORE, { numRetained: TASKS_RETAINED });
    const cp = startFrom.t !== undefined ? await store.get(startFrom.t) : await store.floor(startFrom.time!);
    if (!cp) {
      const retained = (await store.range(0, Number.MAX_SAFE_INTEGER, { limit: 10 })).map((c) => c.t);
      const what = startFrom.t !== undefined ? `at ${startFrom.t}` : `at or before ${new Date(startFrom.time!).toISOString()} (${startFrom.time})`;
      throw new EngineError('SAVEPOINT_NOT_FOUND', `app ${seed.appId} has no retained checkpoint ${what}; retained: ${retained.join(', ') || 'none'}`, { details: { appId: seed.appId, retained } });
    }
    return { ...config, startFrom: { ...startFrom, t: cp.t } };
  } finally {
    await app.close();
  }
}
