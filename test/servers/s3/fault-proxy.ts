/**
 * A fault-injecting HTTP proxy for S3 traffic (127.0.0.1, port 0), seeded so runs repeat.
 * Faults, per request with probability `rate`:
 *   500      InternalError XML, request not forwarded
 *   503      SlowDown XML, request not forwarded
 *   reset    connection destroyed before forwarding
 *   cut      forwarded (so it TOOK EFFECT), then the response is cut mid-body
 *   stall    forwarded (took effect), then no answer until the client gives up
 * The Host header is forwarded unchanged: SigV4 signs it, and RGW verifies signatures.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '@sluice/storage-api';

export type FaultKind = '500' | '503' | 'reset' | 'cut' | 'stall';

export interface FaultProxy {
  endpoint: string;
  rate: number;
  stats: { requests: number; faults: Record<FaultKind, number> };
  stop(): Promise<void>;
}

const WEIGHTS: Array<[FaultKind, number]> = [['500', 3], ['503', 3], ['reset', 2], ['cut', 2], ['stall', 1]];


function xmlError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startFaultProxy(options: { upstream: string; seed?: number; rate?: number }): Promise<FaultProxy> {
  const up = new URL(options.upstream);
  const rand = seededRandom(options.seed ?? 1);
  const total = WEIGHTS.reduce((n, [, w]) => n + w, 0);
  const stalled = new Set<http.ServerResponse>();
  const proxy: FaultProxy = {
    endpoint: '',
    rate: options.rate ?? 0,
    stats: { requests: 0, faults: { '500': 0, '503': 0, reset: 0, cut: 0, stall: 0 } },
    stop: async () => undefined,
  };
  const pick = (): FaultKind | undefined => {
    if (rand() >= proxy.rate) return undefined;
    let x = rand() * total;
    for (const [k, w] of WEIGHTS) if ((x -= w) < 0) return k;
    return 'stall';
  };
  const agent = new http.Agent({ keepAlive: true });

  const server = http.createServer((req, res) => {
    proxy.stats.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fault = pick();
      if (fault) proxy.stats.faults[fault]++;
      if (fault === '500') return xmlError(res, 500, 'InternalError', 'We encountered an internal error. Please try again. (injected)');
      if (fault === '503') return xmlError(res, 503, 'SlowDown', 'Please reduce your request rate. (injected)');
      if (fault === 'reset') return void req.socket.destroy();
      const body = Buffer.concat(chunks);
      const fwd = http.request(
        { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers, agent },
        (ur) => {
          const parts: Buffer[] = [];
          ur.on('data', (c: Buffer) => parts.push(c));
          ur.on('end', () => {
            const full = Buffer.concat(parts);
            if (fault === 'stall') {
              stalled.add(res); // answered by nobody; the client's timeout ends it
              res.on('close', () => stalled.delete(res));
              return;
            }
            if (fault === 'cut') {
              const headers = { ...ur.headers, 'content-length': String(Math.max(full.length, 2)) };
              res.writeHead(ur.statusCode ?? 500, headers);
              res.write(full.subarray(0, Math.floor(full.length / 2)));
              setImmediate(() => req.socket.destroy());
              return;
            }
            res.writeHead(ur.statusCode ?? 500, ur.headers);
            res.end(full);
          });
        },
      );
      fwd.on('error', () => req.socket.destroy());
      fwd.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = async () => {
    for (const r of stalled) r.socket?.destroy();
    server.closeAllConnections();
    agent.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return proxy;
}
