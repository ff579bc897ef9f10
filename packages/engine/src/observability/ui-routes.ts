import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { isStorageError } from '@sluice/storage-api';
import { ObservabilityError } from './errors.js';
import { readBody, sendError, sendJson } from './http-util.js';
import { bearerToken, clearedSessionCookie, isSameOriginWrite, parseCookies, SESSION_COOKIE, sessionCookie, SessionStore, type Authenticate, type Authorize } from './ui-auth.js';
import { appOverview, loopbackCluster, type ClusterApi, type UiAppStorage } from './ui-data.js';

export interface UiOptions {
  getAppStorage(appId: string): Promise<UiAppStorage | undefined>;
  authenticate?: Authenticate;
  authorize?: Authorize;
  /** The master's own API; default: loopback HTTP on the request's socket. */
  cluster?: (req: IncomingMessage) => ClusterApi;
  /** Sub-store → backend description, for the app page's storage table. */
  storageRouting?: () => Record<string, string>;
  /** Folder of the built dashboard; default packages/engine/dist/ui. */
  uiDir?: string;
  sessions?: SessionStore;
  /** Mark the cookie Secure (the master serves HTTPS). */
  secureCookie?: boolean;
}

export interface Caller {
  user: string;
  /** The token to forward to the master's API (absent without authentication). */
  token?: string;
  viaSession: boolean;
}

const DEFAULT_UI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'ui');
const ASSET = /^\/ui\/assets\/([a-zA-Z0-9][a-zA-Z0-9._-]{0,100})$/;
const APP_API = /^\/ui\/api\/apps\/([^/]+)(?:\/(kill|rescale))?$/;
const loginSchema = z.object({ token: z.string().min(1).max(4096) });
const rescaleSchema = z.object({ parallelism: z.record(z.string().min(1).max(128), z.number().int().min(1).max(32_768)) }).strict();
/** A rescale stops the app at a savepoint and restarts it before the master answers. */
const RESCALE_CALL_MS = 120_000;
const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};
/** Strict CSP: the dashboard is one same-origin bundle; no inline script, no third party. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'";

/** Resolves who calls: a bearer token, the session cookie, or anyone when auth is off. */
export async function identify(req: IncomingMessage, o: Pick<UiOptions, 'authenticate'>, sessions: SessionStore): Promise<Caller> {
  if (!o.authenticate) return { user: 'anonymous', viaSession: false };
  const bearer = bearerToken(req);
  if (bearer) {
    const who = await o.authenticate(bearer);
    if (!who) throw new ObservabilityError('UNAUTHENTICATED', 'unknown token');
    return { user: who.user, token: bearer, viaSession: false };
  }
  const s = sessions.get(parseCookies(req.headers.cookie)[SESSION_COOKIE]);
  if (!s) throw new ObservabilityError('UNAUTHENTICATED', 'log in first (no or expired session)');
  return { user: s.user, token: s.token, viaSession: true };
}

export async function checkPerm(o: Pick<UiOptions, 'authorize'>, caller: Caller, appId: string, perm: 'r' | 'w'): Promise<void> {
  if (!o.authorize) return;
  if (!(await o.authorize(caller.user, appId, perm))) throw new ObservabilityError('FORBIDDEN', `user ${caller.user} lacks '${perm}' on app ${appId}`);
}

/**
 * The dashboard: GET /ui (the page), /ui/assets/* (the built bundle), and its JSON under
 * /ui/api: login/logout/me, cluster, apps, apps/:id (overview read from the store),
 * POST apps/:id/kill and apps/:id/rescale ({parallelism}) (session cookie + X-Sluice-UI header, or a bearer token).
 * Returns false for paths outside /ui.
 */
export function uiRoutes(o: UiOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const sessions = o.sessions ?? new SessionStore();
  const uiDir = o.uiDir ?? DEFAULT_UI_DIR;
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path !== '/ui' && !path.startsWith('/ui/')) return false;
    try {
      if (path === '/ui') {
        res.writeHead(302, { location: '/ui/' });
        res.end();
        return true;
      }
      if (path === '/ui/') return await serveFile(res, join(uiDir, 'index.html'), '.html'), true;
      const asset = ASSET.exec(path);
      if (asset) {
        const name = asset[1]!;
        if (name.includes('..')) throw new ObservabilityError('INVALID_ARGUMENT', 'bad asset name');
        const ext = name.slice(name.lastIndexOf('.'));
        return await serveFile(res, join(uiDir, 'assets', name), ext), true;
      }
      if (!path.startsWith('/ui/api/')) throw Object.assign(new ObservabilityError('APP_NOT_FOUND', `no page ${path}`), { status: 404 });
      await api(req, res, url, o, sessions);
    } catch (err) {
      sendError(res, err);
    }
    return true;
  };
}

async function api(req: IncomingMessage, res: ServerResponse, url: URL, o: UiOptions, sessions: SessionStore): Promise<void> {
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const cluster = (o.cluster ?? loopbackCluster)(req);
  if (path === '/ui/api/login') {
    if (method !== 'POST') throw methodNotAllowed();
    if (!isSameOriginWrite(req)) throw new ObservabilityError('CSRF', 'login must come from the dashboard');
    const body = loginSchema.safeParse(await readBody(req));
    if (!body.success) throw new ObservabilityError('INVALID_ARGUMENT', 'body must be {"token": "<api token>"}');
    if (!o.authenticate) return sendJson(res, 200, { user: 'anonymous', authRequired: false });
    const who = await o.authenticate(body.data.token);
    if (!who) throw new ObservabilityError('UNAUTHENTICATED', 'unknown token');
    const s = sessions.create(who.user, body.data.token);
    return sendJson(res, 200, { user: who.user, authRequired: true }, { 'set-cookie': sessionCookie(s.id, s.maxAgeSeconds, o.secureCookie ?? false) });
  }
  if (path === '/ui/api/logout') {
    if (method !== 'POST') throw methodNotAllowed();
    sessions.delete(parseCookies(req.headers.cookie)[SESSION_COOKIE]);
    return sendJson(res, 200, { ok: true }, { 'set-cookie': clearedSessionCookie() });
  }
  if (path === '/ui/api/me') {
    if (!o.authenticate) return sendJson(res, 200, { user: 'anonymous', authRequired: false });
    const s = sessions.get(parseCookies(req.headers.cookie)[SESSION_COOKIE]);
    return sendJson(res, 200, s ? { user: s.user, authRequired: true } : { authRequired: true });
  }
  const caller = await identify(req, o, sessions);
  if (path === '/ui/api/cluster') {
    if (method !== 'GET') throw methodNotAllowed();
    const [health, workers] = await Promise.all([cluster.get('/health', caller.token), cluster.get('/workers', caller.token)]);
    return sendJson(res, 200, { health, workers: (workers as { workers?: unknown[] }).workers ?? [] });
  }
  if (path === '/ui/api/apps') {
    if (method !== 'GET') throw methodNotAllowed();
    const all = ((await cluster.get('/apps', caller.token)) as { apps?: Array<{ appId: string }> }).apps ?? [];
    const visible = [];
    for (const a of all) if (!o.authorize || (await o.authorize(caller.user, a.appId, 'r'))) visible.push(a);
    return sendJson(res, 200, { apps: visible });
  }
  const m = APP_API.exec(path);
  if (!m) throw Object.assign(new ObservabilityError('APP_NOT_FOUND', `no API ${path}`), { status: 404 });
  const appId = decodeURIComponent(m[1]!);
  if (m[2]) {
    if (method !== 'POST') throw methodNotAllowed();
    // A bearer token cannot be sent by a cross-site page; a cookie can, so it needs the proof.
    if (caller.viaSession && !isSameOriginWrite(req)) throw new ObservabilityError('CSRF', `${m[2]} must come from the dashboard (X-Sluice-UI header, same origin)`);
    await checkPerm(o, caller, appId, 'w');
    if (m[2] === 'kill') return sendJson(res, 200, await cluster.post(`/apps/${encodeURIComponent(appId)}/kill`, caller.token));
    const body = rescaleSchema.safeParse(await readBody(req));
    if (!body.success || Object.keys(body.data.parallelism).length === 0) throw new ObservabilityError('INVALID_ARGUMENT', 'body must be {"parallelism": {"<processor>": <n>, ...}}');
    return sendJson(res, 200, await cluster.post(`/apps/${encodeURIComponent(appId)}/rescale`, caller.token, { parallelism: body.data.parallelism }, RESCALE_CALL_MS));
  }
  if (method !== 'GET') throw methodNotAllowed();
  await checkPerm(o, caller, appId, 'r');
  const store = await o.getAppStorage(appId).catch((err: unknown) => {
    if (isStorageError(err, 'STORAGE_INVALID_ARGUMENT') || isStorageError(err, 'STORAGE_NOT_FOUND')) return undefined;
    throw err;
  });
  let info: unknown;
  try {
    info = await cluster.get(`/apps/${encodeURIComponent(appId)}`, caller.token);
  } catch (err) {
    // The master forgot the app (or never had it): the store still has its history.
    if ((err as { status?: number }).status !== 404) throw err;
    info = store?.meta ? await store.meta() : undefined;
  }
  if (!store && !info) throw new ObservabilityError('APP_NOT_FOUND', `app ${appId} not found`);
  const overview = store ? await appOverview(store, o.storageRouting?.() ?? {}) : undefined;
  const canWrite = !o.authorize || (await o.authorize(caller.user, appId, 'w'));
  sendJson(res, 200, { app: info ?? null, overview: overview ?? null, canWrite });
}

function methodNotAllowed(): Error {
  return Object.assign(new Error('method not allowed'), { code: 'METHOD_NOT_ALLOWED', status: 405 });
}

async function serveFile(res: ServerResponse, file: string, ext: string): Promise<void> {
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) {
    if (ext === '.html') throw new ObservabilityError('UI_NOT_BUILT', `dashboard not built (${file} missing): run npm run build -w @sluice/engine`);
    throw Object.assign(new ObservabilityError('APP_NOT_FOUND', 'no such asset'), { status: 404 });
  }
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
    'content-length': String(st.size),
    // Asset names carry a content hash; the page itself must revalidate.
    'cache-control': ext === '.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
  });
  await new Promise<void>((resolve, reject) => {
    createReadStream(file).on('error', reject).pipe(res).on('finish', resolve).on('error', reject);
  });
}
