import { createReadStream, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { atomicWriteFile, StorageError, type BlobMeta } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import { HttpError, type Endpoint } from './http.js';

function urlOf(ep: Endpoint, path: string): URL {
  return new URL(path, ep.url.includes('://') ? ep.url : `http://${ep.url}`);
}

function send(ep: Endpoint, method: string, url: URL, headers: Record<string, string | number>, onResponse: (res: IncomingMessage) => void) {
  if (ep.token) headers.authorization = `Bearer ${ep.token}`;
  return url.protocol === 'https:'
    ? httpsRequest(url, { method, headers, ...(ep.ca ? { ca: ep.ca } : {}) }, onResponse)
    : request(url, { method, headers }, onResponse);
}

/** Error bodies are small JSON: `{ error: { code, message, details } }`. */
async function errorOf(res: IncomingMessage): Promise<HttpError> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > 1 << 20) break;
    chunks.push(c as Buffer);
  }
  let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } = {};
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
  } catch {
    // not JSON: status only
  }
  return new HttpError(res.statusCode ?? 500, body.error?.code ?? 'INTERNAL', body.error?.message ?? `HTTP ${res.statusCode}`, body.error?.details);
}

/** Streams a local file to POST (create) or PUT (update) /blobs/:name; never buffered whole. */
export function uploadBlob(ep: Endpoint, method: 'POST' | 'PUT', name: string, file: string, query: Record<string, string | number | undefined>, onProgress?: (done: number, total: number) => void): Promise<BlobMeta> {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    return Promise.reject(new EngineError('BAD_REQUEST', `cannot read --file ${file}: ${(err as Error).message}`, { cause: err }));
  }
  const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const url = urlOf(ep, `/blobs/${encodeURIComponent(name)}${qs ? `?${qs}` : ''}`);
  return new Promise((resolve, reject) => {
    const req = send(ep, method, url, { 'content-type': 'application/octet-stream', 'content-length': size }, (res) => {
      if ((res.statusCode ?? 500) >= 400) return void errorOf(res).then(reject, reject);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as BlobMeta);
        } catch (err) {
          reject(new EngineError('INTERNAL', `bad JSON from ${url.origin}`, { cause: err }));
        }
      });
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new EngineError('MASTER_UNREACHABLE', `cannot reach ${url.origin}: ${err.message}`, { cause: err })));
    let done = 0;
    const stream = createReadStream(file, { highWaterMark: 1 << 20 });
    stream.on('data', (c) => {
      done += (c as Buffer).length;
      onProgress?.(done, size);
    });
    stream.on('error', (err) => req.destroy(err));
    stream.pipe(req);
  });
}

export interface DownloadInfo {
  version: number;
  sha256: string;
  size: number;
}

/**
 * GET /blobs/:name/content into `sink` (a file: temp + fsync + rename after the digest
 * matched; or stdout). The SHA-256 the master sends is verified end to end.
 */
export async function downloadBlob(
  ep: Endpoint, name: string, target: { file: string } | { stream: NodeJS.WritableStream }, version?: number, onProgress?: (done: number, total: number) => void,
): Promise<DownloadInfo> {
  const url = urlOf(ep, `/blobs/${encodeURIComponent(name)}/content${version !== undefined ? `?version=${version}` : ''}`);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(ep, 'GET', url, {}, resolve);
    req.on('error', (err) => reject(new EngineError('MASTER_UNREACHABLE', `cannot reach ${url.origin}: ${err.message}`, { cause: err })));
    req.end();
  });
  if ((res.statusCode ?? 500) >= 400) throw await errorOf(res);
  const info: DownloadInfo = {
    version: Number(res.headers['x-sluice-blob-version']), sha256: String(res.headers['x-sluice-blob-sha256'] ?? ''), size: Number(res.headers['content-length']),
  };
  // Hashed and counted as it streams; a mismatch throws at the end, so a file target is
  // never renamed into place (atomicWriteFile drops its temp file).
  async function* verified(): AsyncIterable<Uint8Array> {
    const hash = createHash('sha256');
    let done = 0;
    for await (const c of res) {
      const chunk = c as Buffer;
      hash.update(chunk);
      done += chunk.length;
      onProgress?.(done, info.size);
      yield chunk;
    }
    const digest = hash.digest('hex');
    if (done !== info.size || digest !== info.sha256) {
      throw new StorageError(`blob ${name}: received ${done} B hashing to ${digest}, expected ${info.size} B ${info.sha256}`, { code: 'STORAGE_CORRUPT' });
    }
  }
  if ('file' in target) {
    await atomicWriteFile(target.file, verified(), { mode: 0o600 });
  } else {
    for await (const chunk of verified()) if (!target.stream.write(chunk)) await new Promise((r) => target.stream.once('drain', r));
  }
  return info;
}
