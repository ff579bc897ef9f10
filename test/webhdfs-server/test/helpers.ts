import type { TestJson } from '../../e2e/helpers/engine-cluster.js';
// Raw HTTP helpers for the fidelity tests: node:http, no redirects followed, no keep-alive.
import * as http from 'node:http';
import type { WebHdfsServer } from '@sluice/webhdfs-test-server';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** Informational (1xx) statuses seen before the final response. */
  informational: number[];
  json(): TestJson;
}

export interface RawOptions {
  body?: Buffer | string;
  headers?: Record<string, string>;
  /** Send Expect: 100-continue and only send the body on "100 Continue". */
  expectContinue?: boolean;
}

export function raw(method: string, url: string, opts: RawOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (body) headers['Content-Length'] = String(body.length);
    if (opts.expectContinue) headers.Expect = '100-continue';
    const informational: number[] = [];
    const req = http.request(url, { method, headers, agent: false });
    req.setTimeout(20_000, () => req.destroy(new Error('test request timed out')));
    req.on('information', (info) => informational.push(info.statusCode));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0, headers: res.headers, body: b, text: b.toString('utf8'), informational,
          json: () => JSON.parse(b.toString('utf8')),
        });
      });
    });
    if (opts.expectContinue) {
      req.on('continue', () => req.end(body));
    } else req.end(body);
  });
}

export function api(server: WebHdfsServer, method: string, path: string, query: string, opts: RawOptions = {}) {
  return raw(method, `${server.nnUrl}/webhdfs/v1${path}?${query}`, opts);
}

/** Two-step CREATE: NN 307, then the body to the DataNode. */
export async function create(server: WebHdfsServer, path: string, data: string | Buffer, query = ''): Promise<RawResponse> {
  const r1 = await api(server, 'PUT', path, `op=CREATE${query ? '&' + query : ''}`);
  if (r1.status !== 307) return r1;
  return raw('PUT', String(r1.headers.location), { body: data });
}

export async function append(server: WebHdfsServer, path: string, data: string | Buffer, query = ''): Promise<RawResponse> {
  const r1 = await api(server, 'POST', path, `op=APPEND${query ? '&' + query : ''}`);
  if (r1.status !== 307) return r1;
  return raw('POST', String(r1.headers.location), { body: data });
}

export async function read(server: WebHdfsServer, path: string, query = ''): Promise<RawResponse> {
  const r1 = await api(server, 'GET', path, `op=OPEN${query ? '&' + query : ''}`);
  if (r1.status !== 307) return r1;
  return raw('GET', String(r1.headers.location));
}

export async function status(server: WebHdfsServer, path: string): Promise<RawResponse> {
  return api(server, 'GET', path, 'op=GETFILESTATUS');
}

/** Polls `cond` every 10 ms, at most `maxTries` times (bounded in time and count). */
export async function waitFor(cond: () => boolean | Promise<boolean>, maxTries = 500): Promise<void> {
  for (let i = 0; i < maxTries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached');
}

/** Starts a streaming upload whose body stays open until `finish()`/`abort()`. */
export function openUpload(method: string, url: string) {
  const informational: number[] = [];
  const req = http.request(url, { method, agent: false, headers: { 'Transfer-Encoding': 'chunked' } });
  req.on('information', (i) => informational.push(i.statusCode));
  const done = new Promise<RawResponse | Error>((resolve) => {
    req.on('error', (e) => resolve(e));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => resolve(e));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0, headers: res.headers, body: b, text: b.toString('utf8'), informational,
          json: () => JSON.parse(b.toString('utf8')),
        });
      });
    });
  });
  req.flushHeaders();
  return {
    write: (d: string | Buffer) => new Promise<void>((r) => req.write(d, () => r())),
    finish: async () => {
      req.end();
      return done;
    },
    abort: () => req.destroy(),
    done,
  };
}
