// Step 2 of CREATE: the body goes to the DataNode over node:http. Hadoop's DataNode
// writes "100 Continue" on every CREATE whether asked or not (WebHdfsHandler); undici
// rejects an unsolicited 1xx as a bad response, node:http skips it. Streams with
// back-pressure; never retried here.
import * as http from 'node:http';
import * as https from 'node:https';
import { once } from 'node:events';
import type { Body } from './client.js';

export interface UploadResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

export class BodyError extends Error {
  constructor(readonly inner: unknown) {
    super('upload source failed');
  }
}

export function putBody(url: string, body: Body, options: { signal?: AbortSignal; timeoutMs: number; expectContinue: boolean }): Promise<UploadResult> {
  return new Promise<UploadResult>((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/octet-stream' };
    if (body instanceof Uint8Array) headers['content-length'] = body.byteLength;
    if (options.expectContinue) headers.expect = '100-continue';
    let settled = false;
    let responded = false;
    const finish = (err: Error | null, r?: UploadResult): void => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(r!);
    };
    const req = mod.request(u, { method: 'PUT', headers, agent: u.protocol === 'https:' ? agents.https : agents.http });
    const onAbort = (): void => {
      req.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.setTimeout(options.timeoutMs, () => req.destroy(Object.assign(new Error('DataNode upload idle timeout'), { name: 'TimeoutError' })));
    req.on('error', (err) => finish(err));
    req.on('response', (res) => {
      responded = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => finish(err));
    });
    const send = async (): Promise<void> => {
      if (body instanceof Uint8Array) {
        req.end(body);
        return;
      }
      const closed = once(req, 'close').catch(() => undefined);
      const it = body[Symbol.asyncIterator]();
      try {
        // Ask for the next chunk (which hashes it upstream) before waiting for the socket
        // to drain, so hashing overlaps the transfer instead of alternating with it.
        const pull = (): Promise<IteratorResult<Uint8Array>> => {
          const p = it.next();
          p.catch(() => undefined); // observed by the loop's await; never an unhandled rejection
          return p;
        };
        let next = pull();
        for (let r = await next; !r.done; r = await next) {
          // The DataNode answered early (an error): stop sending.
          if (responded || req.destroyed) {
            void it.return?.(undefined as never)?.catch(() => undefined);
            return;
          }
          const ok = req.write(r.value);
          next = pull();
          if (!ok) await Promise.race([new Promise((res) => req.once('drain', res)), closed]);
        }
        req.end();
      } catch (err) {
        req.destroy();
        finish(new BodyError(err));
      }
    };
    if (options.expectContinue) req.once('continue', () => void send());
    else void send();
  });
}
