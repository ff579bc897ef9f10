import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { StorageError, type BlobMeta, type BlobStore, type Storage } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import { authorize, parseAclFlag, PERMISSION_MEANING, type AuthorizeOptions, type Permission } from '../security/authorize.js';
import { principalLabel, type Principal } from '../security/principal.js';
import { readJson, type JsonRouter } from './http.js';
import { aclSetSchema, parseBody } from './schemas.js';
import { blobMappingOf } from './blob-mapping.js';

export interface BlobRouteDeps {
  storage: Storage;
  /** Superusers for the ACL check (the master's auth options). */
  authz: () => AuthorizeOptions;
  logger: { info(obj: object, msg: string): void };
}

const versionParam = z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const writeQuerySchema = z.object({
  expectedVersion: versionParam.optional(),
  acl: z.string().max(4096).optional(),
  keep: z.coerce.number().int().min(1).max(100).optional(),
}).strict();
const readQuerySchema = z.object({ version: versionParam.optional() }).strict();
const deleteQuerySchema = z.object({ expectedVersion: versionParam.optional() }).strict();

function query<T>(schema: z.ZodType<T>, url: URL): T {
  return parseBody(schema, Object.fromEntries(url.searchParams), 'query');
}

function storeOf(storage: Storage): BlobStore {
  if (!storage.capabilities.blobs || !storage.blobs) throw new StorageError(`the configured storage (${storage.backend}) has no blob store`, { code: 'STORAGE_NOT_SUPPORTED' });
  return storage.blobs;
}

/** A blob's owner and ACL decide like an app's: r read, w update, a ACL and delete. */
function assertBlob(who: Principal, meta: BlobMeta, perm: Permission, options: AuthorizeOptions): void {
  // The blob's name stands where authorize() expects an app id; daemons never match one.
  if (authorize(who, { appId: `blob:${meta.name}`, owner: meta.owner, acl: meta.acl }, perm, options)) return;
  if (who.kind === 'anonymous') throw new EngineError('UNAUTHENTICATED', 'missing or invalid credentials');
  throw new EngineError('FORBIDDEN', `${principalLabel(who)} has no ${PERMISSION_MEANING[perm].split(' (')[0]} access to blob ${meta.name}`, { details: { blob: meta.name, perm } });
}

async function headOr404(store: BlobStore, name: string): Promise<BlobMeta> {
  const m = await store.head(name);
  if (!m) throw new StorageError(`blob ${name} not found`, { code: 'STORAGE_NOT_FOUND', details: { blob: name } });
  return m;
}

function contentLength(req: IncomingMessage): number | undefined {
  const n = Number(req.headers['content-length']);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function userOf(who: Principal): string {
  if (who.kind !== 'user') throw new EngineError('FORBIDDEN', 'only users own blobs');
  return who.name;
}

/**
 * The master's blob routes: list, head, streamed get, streamed create/update (expected
 * version), delete, ACL. Every route authenticates a user and checks the blob's ACL; the
 * creator owns the blob. Bodies stream straight into the store (bounded memory).
 */
export function registerBlobRoutes(r: JsonRouter, deps: BlobRouteDeps): void {
  const { storage, authz, logger } = deps;
  r.add('GET', '/blobs', 'user', async (_req, _p, _u, who) => {
    const all = await storeOf(storage).list();
    return { blobs: all.filter((m) => authorize(who, { appId: `blob:${m.name}`, owner: m.owner, acl: m.acl }, 'r', authz())) };
  });
  r.add('GET', '/blobs/:name', 'user', async (_req, p, _u, who) => {
    const m = await headOr404(storeOf(storage), p.name!);
    assertBlob(who, m, 'r', authz());
    return m;
  });
  r.addRaw('GET', '/blobs/:name/content', 'user', async (_req, res: ServerResponse, p, url, who) => {
    const store = storeOf(storage);
    const q = query(readQuerySchema, url);
    assertBlob(who, await headOr404(store, p.name!), 'r', authz());
    const got = await store.get(p.name!, q.version === undefined ? {} : { version: q.version });
    res.writeHead(200, {
      'content-type': 'application/octet-stream', 'content-length': got.version.size,
      'x-sluice-blob-version': String(got.version.version), 'x-sluice-blob-sha256': got.version.sha256,
    });
    // Headers are out: a digest mismatch at the end can only cut the stream short (the
    // client verifies the SHA-256 from the header and refuses the bytes).
    await pipeline(Readable.from(got.body), res).catch(() => res.destroy());
  });
  r.add('POST', '/blobs/:name', 'user', async (req, p, url, who) => {
    const q = query(writeQuerySchema, url);
    const owner = userOf(who);
    const acl = q.acl ? parseAclFlag(q.acl) : [];
    const m = await storeOf(storage).create(p.name!, req, { owner, acl, ...(q.keep ? { keep: q.keep } : {}), size: contentLength(req) });
    logger.info({ blob: m.name, version: m.version, sha256: m.sha256, by: owner }, 'blob created');
    return m;
  });
  r.add('PUT', '/blobs/:name', 'user', async (req, p, url, who) => {
    const store = storeOf(storage);
    const q = query(writeQuerySchema, url);
    if (q.acl || q.keep) throw new EngineError('BAD_REQUEST', 'acl and keep are set at create; use PUT /blobs/:name/acl for the ACL');
    assertBlob(who, await headOr404(store, p.name!), 'w', authz());
    const m = await store.update(p.name!, req, { ...(q.expectedVersion !== undefined ? { expectedVersion: q.expectedVersion } : {}), size: contentLength(req) });
    logger.info({ blob: m.name, version: m.version, sha256: m.sha256, by: principalLabel(who) }, 'blob updated');
    return m;
  });
  r.add('DELETE', '/blobs/:name', 'user', async (_req, p, url, who) => {
    const store = storeOf(storage);
    const q = query(deleteQuerySchema, url);
    assertBlob(who, await headOr404(store, p.name!), 'a', authz());
    await store.delete(p.name!, q.expectedVersion === undefined ? {} : { expectedVersion: q.expectedVersion });
    logger.info({ blob: p.name, by: principalLabel(who) }, 'blob deleted');
    return { deleted: p.name };
  });
  r.add('GET', '/blobs/:name/acl', 'user', async (_req, p, _u, who) => {
    const m = await headOr404(storeOf(storage), p.name!);
    assertBlob(who, m, 'r', authz());
    return { name: m.name, owner: m.owner, acl: m.acl };
  });
  r.add('PUT', '/blobs/:name/acl', 'user', async (req, p, _u, who) => {
    const store = storeOf(storage);
    assertBlob(who, await headOr404(store, p.name!), 'a', authz());
    const b = parseBody(aclSetSchema, await readJsonBody(req), 'ACL');
    const m = await store.setAcl(p.name!, b.acl);
    logger.info({ blob: m.name, acl: m.acl, by: principalLabel(who) }, 'blob ACL changed');
    return { name: m.name, owner: m.owner, acl: m.acl };
  });
}

/** Small JSON bodies only (the ACL). */
function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return readJson(req, 256 * 1024);
}

/** For the submit hook: the submitting user needs `r` on every blob an app maps. */
export async function assertBlobsReadable(storage: Storage, who: Principal, names: readonly string[], options: AuthorizeOptions): Promise<BlobMeta[]> {
  const store = storeOf(storage);
  const out: BlobMeta[] = [];
  for (const n of names) {
    const m = await headOr404(store, n);
    assertBlob(who, m, 'r', options);
    out.push(m);
  }
  return out;
}

/**
 * The submit hook: an app config that maps blobs is accepted only if the submitting
 * user may read (r) every mapped blob. Checked before the artifact is stored.
 */
export async function checkAppBlobs(storage: Storage, who: Principal, config: unknown, options: AuthorizeOptions): Promise<void> {
  const mapping = blobMappingOf(config);
  if (mapping) await assertBlobsReadable(storage, who, Object.keys(mapping), options);
}
