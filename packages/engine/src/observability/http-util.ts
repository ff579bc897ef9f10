import type { IncomingMessage, ServerResponse } from 'node:http';
import { isStorageError } from '@sluice/storage-api';
import { isObservabilityError } from './errors.js';
import { httpStatusOf } from '../errors.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export function errorBody(err: unknown): { code: string; message: string } {
  if (isObservabilityError(err) || isStorageError(err)) return { code: err.code, message: err.message };
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && typeof e.message === 'string') return { code: e.code, message: e.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** The HTTP status of an error: an explicit `status` (405, 413), else the engine's one code table. */
export function statusOf(err: unknown): number {
  const status = (err as { status?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 600) return status;
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? httpStatusOf(code) : 500;
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, statusOf(err), { error: errorBody(err) });
}

/** Reads a small request body as JSON (bounded); undefined for an empty body. */
export async function readBody(req: IncomingMessage, max = 64 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) throw Object.assign(new Error(`request body larger than ${max} bytes`), { code: 'INVALID_ARGUMENT', status: 413 });
    chunks.push(c as Buffer);
  }
  if (n === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw Object.assign(new Error('request body is not valid JSON'), { code: 'INVALID_ARGUMENT', status: 400 });
  }
}
