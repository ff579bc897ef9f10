// Throw-away single-node Ceph RGW (a production S3 implementation) for Sluice's tests.
//
// startRgw() runs ./start.sh in a fresh mkdtemp directory (1 ceph-mon + 1 memstore ceph-osd + radosgw,
// 127.0.0.1 only, no cephx) and parses the one JSON line it prints; stop() runs ./stop.sh, which stops
// exactly the PIDs start.sh recorded and removes the directory. See ../README-ceph.md.
//
// Install (Debian 12, Ceph 16.2 Pacific):
//   apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3ClientConfig } from '@aws-sdk/client-s3';

const HERE = dirname(fileURLToPath(import.meta.url));
const START_SH = join(HERE, 'start.sh');
const STOP_SH = join(HERE, 'stop.sh');

/** The command that installs what the RGW leg needs (CI runs it; see README-ceph.md). */
export const CEPH_APT_INSTALL =
  'apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common';

/** Binaries start.sh needs, checked by cephAvailable(). */
export const CEPH_BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph'] as const;

export interface CephAvailability {
  ok: boolean;
  missing: string[];
}

/** Are the Ceph binaries on PATH (or in /usr/bin)? Synchronous, no processes started. */
export function cephAvailable(): CephAvailability {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
  const missing = CEPH_BINARIES.filter(
    (bin) =>
      !dirs.some((d) => {
        try {
          accessSync(join(d, bin), fsConstants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  );
  return { ok: missing.length === 0, missing: [...missing] };
}

export interface StartRgwOptions {
  /** S3 port on 127.0.0.1; 0/undefined picks a free one. */
  port?: number;
  /** Whole start-up budget (ms), enforced by start.sh and again here. Default 90 000. */
  timeoutMs?: number;
  /** Capacity the memstore OSD advertises = max bytes it will hold in RAM. Default 2 GiB. */
  memstoreBytes?: number;
  /** radosgw debug level (0 = quiet, the default); logs go to <workdir>/log/. */
  debug?: number;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Parent directory for the mkdtemp workdir. Default os.tmpdir(). */
  tmpParent?: string;
  /** Copy start.sh's progress lines to process.stderr. Default false (they are in errors on failure). */
  verbose?: boolean;
}

export interface RgwEndpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export interface RgwHandle extends RgwEndpoint {
  /** PIDs start.sh started (ceph-mon, ceph-osd, radosgw). */
  pids: number[];
  /** The mkdtemp directory holding config, mon store and logs; removed by stop(). */
  workdir: string;
  /** Wall-clock time startRgw() took, ms. */
  startupMs: number;
  /** Stop exactly the recorded PIDs (TERM, bounded wait, KILL) and remove workdir. Idempotent. */
  stop(): Promise<void>;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, echo: boolean): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (echo) process.stderr.write(d);
    });
    // start.sh traps TERM and kills what it started; KILL it if it does not finish promptly after that.
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Synchronous last-resort cleanup if the test process exits without calling stop(). */
function killRecorded(workdir: string): void {
  let pids: number[] = [];
  try {
    pids = readFileSync(join(workdir, 'pids'), 'utf8')
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    /* nothing recorded */
  }
  for (const pid of pids) {
    try {
      // only if it is still ours: its command line names our ceph.conf (guards against PID reuse)
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join(workdir, 'ceph.conf'))) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  try {
    rmSync(workdir, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}

/**
 * Start a throw-away Ceph RGW. Resolves once radosgw answers and the S3 user exists (~1.5 s here).
 * Rejects (after cleaning up) if binaries are missing or start-up fails / times out.
 */
export async function startRgw(opts: StartRgwOptions = {}): Promise<RgwHandle> {
  const avail = cephAvailable();
  if (!avail.ok) {
    throw new Error(`Ceph RGW: binaries missing: ${avail.missing.join(', ')} (install: ${CEPH_APT_INSTALL})`);
  }
  // start.sh picks ports that look free; if another process grabs one in between, try again (port 0 only)
  const attempts = opts.port ? 1 : 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      if (attempt >= attempts || !/Address already in use/.test(String(e))) throw e;
    }
  }
}

async function startOnce(opts: StartRgwOptions): Promise<RgwHandle> {
  const t0 = performance.now();
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const workdir = mkdtempSync(join(opts.tmpParent ?? tmpdir(), 'sluice-rgw-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${process.env.PATH ?? ''}${delimiter}/usr/bin${delimiter}/usr/sbin${delimiter}/bin`,
    RGW_START_TIMEOUT_MS: String(Math.max(1, Math.round(timeoutMs))),
  };
  if (opts.memstoreBytes !== undefined) env.MEMSTORE_BYTES = String(opts.memstoreBytes);
  if (opts.debug !== undefined) env.RGW_DEBUG = String(opts.debug);
  if (opts.accessKeyId !== undefined) env.RGW_ACCESS_KEY = opts.accessKeyId;
  if (opts.secretAccessKey !== undefined) env.RGW_SECRET_KEY = opts.secretAccessKey;

  const onExit = (): void => killRecorded(workdir);
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      const r = await run('bash', [STOP_SH, workdir], env, 30_000, false);
      process.removeListener('exit', onExit);
      if (r.code !== 0) {
        killRecorded(workdir);
        throw new Error(`Ceph RGW stop.sh failed (code ${r.code}): ${r.stderr.trim()}`);
      }
    })());

  let r: RunResult;
  try {
    r = await run('bash', [START_SH, workdir, String(opts.port ?? 0)], env, timeoutMs + 10_000, opts.verbose ?? false);
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  const line = r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .pop();
  let info: (RgwEndpoint & { pids: number[] }) | undefined;
  if (r.code === 0 && line) {
    try {
      info = JSON.parse(line) as RgwEndpoint & { pids: number[] };
    } catch {
      info = undefined;
    }
  }
  if (!info) {
    await stop().catch(() => undefined);
    const why = r.timedOut ? 'timed out' : `exited with code ${r.code}${r.signal ? ` (${r.signal})` : ''}`;
    throw new Error(`Ceph RGW start.sh ${why}.\n--- start.sh stderr (tail) ---\n${r.stderr.slice(-6000)}\n--- stdout ---\n${r.stdout.slice(-2000)}`);
  }
  return {
    endpoint: info.endpoint,
    accessKeyId: info.accessKeyId,
    secretAccessKey: info.secretAccessKey,
    region: info.region,
    pids: info.pids,
    workdir,
    startupMs: Math.round(performance.now() - t0),
    stop,
  };
}

/** The S3Client config Sluice's tests should use against this RGW. */
export function rgwClientConfig(rgw: RgwEndpoint): S3ClientConfig {
  return {
    endpoint: rgw.endpoint,
    region: rgw.region,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    // with the SDK default (WHEN_SUPPORTED) a streamed PutObject gets HTTP 411 from radosgw
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}
