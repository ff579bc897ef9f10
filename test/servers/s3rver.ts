/**
 * Starts s3rver 3.7.1 in a child process (`node --openssl-legacy-provider`, fresh temp
 * directory, 127.0.0.1, port 0), optionally behind the conditional-write shim. Stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3ClientConfig } from '@aws-sdk/client-s3';

export const S3RVER_LAUNCHER = fileURLToPath(new URL('./s3/launcher.mjs', import.meta.url));

export interface S3Endpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export interface S3rverHandle extends S3Endpoint {
  port: number;
  pid: number;
  dir: string;
  /** Conditional writes are enforced by the shim (s3rver alone ignores them). */
  shim: boolean;
  stats(): Promise<{ total: number; byOp: Record<string, number> }>;
  resetStats(): Promise<void>;
  /** Shim only: inject 409 ConditionalRequestConflict on this fraction of conditional writes. */
  configure(c: { conflictRate?: number; seed?: number; rgwIfMatch?: boolean }): Promise<void>;
  /** SIGKILL: an outage, not a shutdown; the data directory stays for a restart. */
  kill(): Promise<void>;
  /** Stops the process and removes the directory unless the caller passed it in. */
  stop(): Promise<void>;
}

/** `dir` and `port` let a test restart a server on the same address with the same data. */
export async function startS3rver(options: { shim?: boolean; dir?: string; port?: number } = {}): Promise<S3rverHandle> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'sluice-s3rver-')));
  const args = ['--openssl-legacy-provider', S3RVER_LAUNCHER, '--dir', dir, '--port', String(options.port ?? 0), ...(options.shim ? ['--shim'] : [])];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(buf.slice(0, nl)) as { port: number; pid: number });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}`));
    });
  });
  const endpoint = `http://127.0.0.1:${info.port}`;
  const admin = async (path: string, method = 'POST'): Promise<Response> => fetch(`${endpoint}/_shim/${path}`, { method });
  return {
    endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1', port: info.port, pid: info.pid, dir, shim: options.shim ?? false,
    stats: async () => (await (await admin('stats', 'GET')).json()) as { total: number; byOp: Record<string, number> },
    resetStats: async () => void (await admin('reset')),
    configure: async (c) => {
      const q = new URLSearchParams();
      if (c.conflictRate !== undefined) q.set('conflictRate', String(c.conflictRate));
      if (c.seed !== undefined) q.set('seed', String(c.seed));
      if (c.rgwIfMatch !== undefined) q.set('rgwIfMatch', String(c.rgwIfMatch));
      await admin(`config?${q.toString()}`);
    },
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      process.kill(info.pid, 'SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        process.kill(info.pid, 'SIGTERM');
        const t = setTimeout(() => child.exitCode === null && process.kill(info.pid, 'SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      if (!options.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** SDK settings s3rver needs: path-style, and no aws-chunked streaming (it would store the framing). */
export function s3rverClientConfig(e: S3Endpoint): S3ClientConfig {
  return {
    endpoint: e.endpoint, region: e.region, forcePathStyle: true, credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  };
}
