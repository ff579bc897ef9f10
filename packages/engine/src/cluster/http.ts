import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { ZodType } from 'zod';
import { EngineError, errorResponseOf } from '../errors.js';
import { checkRouteKind, type Authenticate } from '../security/authenticator.js';
import { ANONYMOUS, type Principal, type RouteKind } from '../security/principal.js';
import { SAFE_NAME_RE } from '../security/names.js';
import { redactMessage, redactSecrets } from '../security/redact.js';
import type { TlsServerMaterial } from '../security/tls.js';
import type { DaemonRole } from '../security/tokens.js';
import { parseBody } from './schemas.js';

/** `principal` is who called (the auth hook's answer; `anonymous` on public routes without credentials). */
export type Handler = (req: IncomingMessage, params: Record<string, string>, url: URL, principal: Principal) => Promise<unknown>;
/** A handler that writes the response itself (streams, Prometheus text). */
export type RawHandler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, url: URL, principal: Principal) => Promise<void>;

/** Who may call a route; `appDaemon` may be narrowed to AppMaster or executor tokens. */
export type RouteAccess = RouteKind | { kind: 'appDaemon'; roles: readonly DaemonRole[] };

/** One row of the route table (tests enumerate it so no route can miss its auth check). */
export interface RouteInfo {
  method: string;
  pattern: string;
  /** Undefined only on a router built without an auth hook (legacy, everything open). */
  kind: RouteKind | undefined;
  roles?: readonly DaemonRole[];
  /** Example path with every `:param` filled with a valid placeholder. */
  samplePath: string;
}

interface Route extends RouteInfo {
  re: RegExp;
  keys: string[];
  handler: Handler | undefined;
  raw: RawHandler | undefined;
}

export interface JsonRouterOptions {
  /**
   * Authenticates every request. When set, every route must declare its kind (add()
   * throws otherwise), so a route cannot be added without an auth decision.
   */
  auth?: Authenticate;
}

export interface ListenOptions {
  /** Serve HTTPS with this certificate and key. */
  tls?: TlsServerMaterial;
}

/** Bodies above this are refused with 400 (artifacts are streamed by their own route). */
export const MAX_JSON_BODY = 4 * 1024 * 1024;

/**
 * A tiny JSON router: `/apps/:id` patterns, each route with an access kind; errors as
 * `{ error: { code, message, details? } }` with the status from errors.ts's one table.
 * 404 NO_ROUTE for unknown paths, 405 with `Allow` for a known path and wrong method,
 * 400 for malformed `%`-escapes or a path param that is not a safe name, 401 without
 * valid credentials, 403 with credentials of the wrong kind or app.
 */
export class JsonRouter {
  readonly #routes: Route[] = [];
  readonly #auth: Authenticate | undefined;

  constructor(options: JsonRouterOptions = {}) {
    this.#auth = options.auth;
  }

  /** `add(method, pattern, kind, handler)`; the 3-argument form only on a router without auth. */
  add(method: string, pattern: string, access: RouteAccess, handler: Handler): this;
  /** @deprecated declare the route's kind: add(method, pattern, kind, handler). */
  add(method: string, pattern: string, handler: Handler): this;
  add(method: string, pattern: string, a: RouteAccess | Handler, h?: Handler): this {
    return typeof a === 'function' ? this.#add(method, pattern, undefined, a, undefined) : this.#add(method, pattern, a, h!, undefined);
  }

  /** A route whose handler writes the response itself (still authenticated by kind). */
  addRaw(method: string, pattern: string, access: RouteAccess, handler: RawHandler): this {
    return this.#add(method, pattern, access, undefined, handler);
  }

  #add(method: string, pattern: string, access: RouteAccess | undefined, handler: Handler | undefined, raw: RawHandler | undefined): this {
    if (access === undefined && this.#auth) throw new TypeError(`route ${method} ${pattern} has no access kind on a router with auth`);
    const kind = typeof access === 'object' ? access.kind : access;
    const keys: string[] = [];
    const re = new RegExp('^' + pattern.replace(/:([a-zA-Z]+)/g, (_m, k: string) => (keys.push(k), '([^/]+)')) + '$');
    if (kind === 'appDaemon' && !keys.includes('id')) throw new TypeError(`appDaemon route ${pattern} needs an :id param (the app it is scoped to)`);
    const samplePath = pattern.replace(/:([a-zA-Z]+)/g, (_m, k: string) => `sample-${k}`);
    const route: Route = { method, pattern, kind, samplePath, re, keys, handler, raw };
    if (typeof access === 'object') route.roles = access.roles;
    this.#routes.push(route);
    return this;
  }

  /** The route table: method, pattern and access kind of every route. */
  routes(): RouteInfo[] {
    return this.#routes.map(({ method, pattern, kind, roles, samplePath }) => ({ method, pattern, kind, samplePath, ...(roles ? { roles } : {}) }));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let status = 200;
    let body: unknown;
    const headers: Record<string, string> = {};
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      // Match the path as sent: URL parsing would resolve `%2e%2e` and `..` before params are checked.
      const path = (req.url ?? '/').split('?')[0]!;
      const onPath = this.#routes.filter((r) => r.re.test(path));
      if (onPath.length === 0) throw new EngineError('NO_ROUTE', `no route ${url.pathname}`);
      const route = onPath.find((r) => r.method === req.method);
      if (!route) {
        headers.allow = [...new Set(onPath.map((r) => r.method))].join(', ');
        throw new EngineError('METHOD_NOT_ALLOWED', `${req.method} not allowed on ${url.pathname}; allowed: ${headers.allow}`);
      }
      const params = decodeParams(route, path);
      const principal = this.#auth ? await this.#auth(req) : ANONYMOUS;
      if (this.#auth && route.kind) checkRouteKind(route.kind, principal, params, route.roles);
      if (route.raw) return await route.raw(req, res, params, url, principal);
      body = await route.handler!(req, params, url, principal);
      if (body === undefined) body = { ok: true };
    } catch (err) {
      const e = errorResponseOf(err);
      status = e.status;
      if (status === 401) headers['www-authenticate'] = 'Bearer realm="sluice"';
      body = { error: { code: e.code, message: redactMessage(e.message), ...(e.details ? { details: redactSecrets(e.details) } : {}) } };
    }
    if (res.headersSent) {
      if (!res.writableEnded) res.end();
      return;
    }
    // A body we stopped reading (too large, refused early) leaves the connection unusable.
    if (!req.complete) headers.connection = 'close';
    const text = JSON.stringify(body);
    res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  /**
   * `before` may answer a request first (returns true if it did), e.g. observability
   * routes; it runs without authentication, so with auth on prefer addRaw().
   */
  listen(host: string, port: number, before?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>, options: ListenOptions = {}): Promise<Server> {
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      void (async () => {
        if (before && (await before(req, res).catch(() => false))) return;
        await this.handle(req, res);
      })();
    };
    const server: Server = options.tls ? (createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) as unknown as Server) : createServer(onRequest);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}

function decodeParams(route: Route, pathname: string): Record<string, string> {
  const m = route.re.exec(pathname)!;
  const params: Record<string, string> = {};
  route.keys.forEach((k, i) => {
    let v: string;
    try {
      v = decodeURIComponent(m[i + 1]!);
    } catch {
      throw new EngineError('BAD_REQUEST', `malformed %-escape in path parameter ${k}`);
    }
    // Every path param is an id or a name that may reach a file path or a storage key.
    if (!SAFE_NAME_RE.test(v)) throw new EngineError('BAD_REQUEST', `invalid ${k} ${JSON.stringify(v.slice(0, 64))}: must be 1-128 of [A-Za-z0-9._-], not starting with . or -`);
    params[k] = v;
  });
  return params;
}

/** Reads a small JSON request body (bounded); prefer readBody with a schema. */
export async function readJson(req: IncomingMessage, max = MAX_JSON_BODY): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) throw new EngineError('BAD_REQUEST', `request body larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  if (n === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new EngineError('BAD_REQUEST', 'request body is not valid JSON');
  }
}

/** Reads a bounded JSON body and parses it with a zod schema (400 naming the field on mismatch). */
export async function readBody<T>(req: IncomingMessage, schema: ZodType<T>, max = MAX_JSON_BODY): Promise<T> {
  return parseBody(schema, await readJson(req, max));
}

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

/** The `error` member of a daemon's error answer, read defensively (any of it may be missing). */
export function httpErrorOf(status: number, body: unknown, fallback: string): HttpError {
  const e: unknown = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  const f = (e && typeof e === 'object' ? e : {}) as { code?: unknown; message?: unknown; details?: unknown };
  return new HttpError(
    status,
    typeof f.code === 'string' ? f.code : 'INTERNAL',
    typeof f.message === 'string' ? f.message : fallback,
    typeof f.details === 'object' && f.details !== null ? (f.details as Record<string, unknown>) : undefined,
  );
}

/**
 * Checks a daemon's answer against the shape the caller relies on; a mismatch (a daemon of
 * another version, a proxy's page) is an INTERNAL error naming the call and the field.
 */
export function parseReply<T>(schema: ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const at = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
  throw new EngineError('INTERNAL', `unexpected answer to ${what}${at}: ${issue?.message ?? 'invalid'}`);
}

/** A daemon's address plus how to talk to it: bearer token and, for https, the CA to verify it with. */
export interface Endpoint {
  url: string;
  token?: string;
  ca?: Buffer | string;
}

/** Responses above this are refused (GET /apps on a big cluster stays far below). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

function endpointOf(base: string | Endpoint): Endpoint {
  if (typeof base !== 'string') return base;
  return { url: base };
}

/**
 * JSON call to a daemon. Connection and TLS verification failures become
 * MASTER_UNREACHABLE; error responses become HttpError with the server's code.
 * Bounded by timeoutMs. `base` may carry a token and a CA (https).
 */
export async function callJson(base: string | Endpoint, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<unknown> {
  const ep = endpointOf(base);
  const url = new URL(path, ep.url.includes('://') ? ep.url : `http://${ep.url}`);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {};
  if (ep.token) headers.authorization = `Bearer ${ep.token}`;
  const https = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > MAX_RESPONSE_BYTES) return res.destroy(new Error(`response from ${url.origin} larger than ${MAX_RESPONSE_BYTES} bytes`));
        chunks.push(c);
      });
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : {};
        } catch {
          return reject(new HttpError(res.statusCode ?? 500, 'INTERNAL', `bad JSON from ${url.origin}${url.pathname}`));
        }
        if ((res.statusCode ?? 500) >= 400) return reject(httpErrorOf(res.statusCode ?? 500, parsed, `HTTP ${res.statusCode}`));
        resolve(parsed);
      });
      res.on('error', reject);
    };
    const req = https
      ? httpsRequest(url, { method, timeout: timeoutMs, headers, ...(ep.ca ? { ca: ep.ca } : {}) }, onResponse)
      : httpRequest(url, { method, timeout: timeoutMs, headers }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new EngineError('MASTER_UNREACHABLE', `cannot reach ${url.origin}: ${err.message}${err.code ? ` (${err.code})` : ''}`, { cause: err })));
    req.end(payload);
  });
}
