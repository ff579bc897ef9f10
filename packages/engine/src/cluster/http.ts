import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EngineError, errorResponseOf } from '../errors.js';

export type Handler = (req: IncomingMessage, params: Record<string, string>, url: URL) => Promise<unknown>;

interface Route {
  method: string;
  re: RegExp;
  keys: string[];
  handler: Handler;
}

/** A tiny JSON router: `/apps/:id` patterns, errors mapped to { error: { code, message } }. */
export class JsonRouter {
  readonly #routes: Route[] = [];
  add(method: string, pattern: string, handler: Handler): this {
    const keys: string[] = [];
    const re = new RegExp('^' + pattern.replace(/:([a-zA-Z]+)/g, (_m, k: string) => (keys.push(k), '([^/]+)')) + '$');
    this.#routes.push({ method, re, keys, handler });
    return this;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let status = 200;
    let body: unknown;
    try {
      const route = this.#routes.find((r) => r.method === req.method && r.re.test(url.pathname));
      if (!route) throw new EngineError('NO_ROUTE', `no route ${req.method} ${url.pathname}`);
      const m = route.re.exec(url.pathname)!;
      const params = Object.fromEntries(route.keys.map((k, i) => [k, decodeURIComponent(m[i + 1]!)]));
      body = await route.handler(req, params, url);
      if (body === undefined) body = { ok: true };
    } catch (err) {
      const e = errorResponseOf(err);
      status = e.status;
      body = { error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } };
    }
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** `before` may answer a request first (returns true if it did), e.g. observability routes. */
  listen(host: string, port: number, before?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>): Promise<Server> {
    const server = createServer((req, res) => {
      void (async () => {
        if (before && (await before(req, res).catch(() => false))) return;
        await this.handle(req, res);
      })();
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}

/** Reads a small JSON request body (bounded). */
export async function readJson(req: IncomingMessage, max = 4 * 1024 * 1024): Promise<any> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) throw new EngineError('BAD_REQUEST', `request body larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  if (n === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new EngineError('BAD_REQUEST', 'request body is not valid JSON');
  }
}

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

/**
 * JSON call to a daemon. Connection failures become MASTER_UNREACHABLE; error
 * responses become HttpError with the server's code. Bounded by timeoutMs.
 */
export async function callJson(base: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<any> {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method,
      timeout: timeoutMs,
      headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let parsed: any;
        try {
          parsed = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
        } catch {
          return reject(new HttpError(res.statusCode ?? 500, 'INTERNAL', `bad JSON from ${url.href}`));
        }
        if ((res.statusCode ?? 500) >= 400) {
          const d: unknown = parsed?.error?.details;
          return reject(new HttpError(res.statusCode ?? 500, parsed?.error?.code ?? 'INTERNAL', parsed?.error?.message ?? `HTTP ${res.statusCode}`, d && typeof d === 'object' ? (d as Record<string, unknown>) : undefined));
        }
        resolve(parsed);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new EngineError('MASTER_UNREACHABLE', `cannot reach ${url.origin}: ${err.message}`, { cause: err })));
    req.end(payload);
  });
}
