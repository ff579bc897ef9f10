import { createReadStream, statSync, existsSync, readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join, basename, extname } from 'node:path';
import { EngineError } from '../errors.js';
import { z } from 'zod';
import { httpErrorOf, parseReply, type Endpoint } from './http.js';

const uploadReplySchema = z.object({ appId: z.string(), sha256: z.string(), size: z.number() });

/** Resolves `app.js` or a folder (package.json main, index.mjs, index.js, app.mjs, app.js). */
export function resolveArtifact(path: string): string {
  if (!existsSync(path)) throw new EngineError('BAD_REQUEST', `artifact ${path} does not exist`);
  if (!statSync(path).isDirectory()) return path;
  const pkg = join(path, 'package.json');
  const candidates: string[] = [];
  if (existsSync(pkg)) {
    const main = (JSON.parse(readFileSync(pkg, 'utf8')) as { main?: string }).main;
    if (main) candidates.push(join(path, main));
  }
  candidates.push(...['index.mjs', 'index.js', 'app.mjs', 'app.js'].map((f) => join(path, f)));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new EngineError('BAD_REQUEST', `no entry module in ${path} (package.json main, index.mjs/js or app.mjs/js); bundle multi-file apps into one module`);
  return found;
}

export function defaultAppName(path: string): string {
  return basename(path, extname(path)).replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9_]+/, '') || 'app';
}

/**
 * Streams an artifact to the master (never buffered whole); onProgress sees bytes sent.
 * Resolves with the master's answer ({ appId, sha256, size }).
 */
export function uploadArtifact(
  master: string | Endpoint, file: string, name: string, config: Record<string, unknown>, onProgress?: (done: number, total: number) => void, acl?: string,
): Promise<{ appId: string; sha256: string; size: number }> {
  const query = `name=${encodeURIComponent(name)}&config=${encodeURIComponent(JSON.stringify(config))}${acl ? `&acl=${encodeURIComponent(acl)}` : ''}`;
  return postFile(master, `/apps?${query}`, file, onProgress).then((body) => parseReply(uploadReplySchema, body, 'POST /apps'));
}

/** Streams a file as the body of a POST to the master (also `sluice update`); resolves with the JSON answer. */
export function postFile(master: string | Endpoint, pathAndQuery: string, file: string, onProgress?: (done: number, total: number) => void): Promise<unknown> {
  const ep: Endpoint = typeof master === 'string' ? { url: master } : master;
  const size = statSync(file).size;
  const url = new URL(pathAndQuery, ep.url.includes('://') ? ep.url : `http://${ep.url}`);
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': size };
  if (ep.token) headers.authorization = `Bearer ${ep.token}`;
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let body: unknown = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        } catch {
          // fall through with an empty body
        }
        if ((res.statusCode ?? 500) >= 400) return reject(httpErrorOf(res.statusCode ?? 500, body, `HTTP ${res.statusCode}`));
        resolve(body);
      });
    };
    const req = url.protocol === 'https:'
      ? httpsRequest(url, { method: 'POST', headers, ...(ep.ca ? { ca: ep.ca } : {}) }, onResponse)
      : request(url, { method: 'POST', headers }, onResponse);
    req.on('error', (err) => reject(new EngineError('MASTER_UNREACHABLE', `cannot reach ${url.origin}: ${err.message}`, { cause: err })));
    let done = 0;
    const stream = createReadStream(file);
    stream.on('data', (c) => {
      done += (c as Buffer).length;
      onProgress?.(done, size);
    });
    stream.on('error', (err) => req.destroy(err));
    stream.pipe(req);
  });
}
