/**
 * What every launcher of a real server in test/servers shares: finding a Debian binary, a free
 * loopback port, a memory-backed work folder, a log tail, and the leg rule (a missing server is
 * a loud NOT RUN, or a failing test when CI sets SLUICE_REQUIRE_<NAME>=1; never a silent skip).
 */
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export type Leg = { run: true } | { run: false; required: boolean; reason: string };

export function executable(p: string): boolean {
  try {
    accessSync(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `bin` on PATH, or in /usr/bin or /usr/sbin (root's PATH is not everyone's). */
export function findBinary(bin: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/sbin'];
  return dirs.map((d) => join(d, bin)).find(executable);
}

/**
 * The leg of `label` (e.g. `Redis leg`): `why` undefined means the server is here. Otherwise the
 * NOT RUN line goes to stderr, and the caller registers a failing test (required) or a named skip.
 */
export function legOf(label: string, requireEnv: string, why: string | undefined): Leg {
  if (why === undefined) return { run: true };
  const required = process.env[requireEnv] === '1';
  const reason = `${label} NOT RUN: ${why} (set ${requireEnv}=1 to make this a failure)`;
  process.stderr.write(`${reason}\n`);
  return { run: false, required, reason };
}

/** A port the kernel just considered free on 127.0.0.1 (a launcher retries if it is taken first). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The last `bytes` of a log file, for a failure message. */
export function logTail(file: string, bytes = 3000): string {
  try {
    return readFileSync(file, 'utf8').slice(-bytes);
  } catch {
    return '(no log)';
  }
}

/**
 * Memory-backed /dev/shm when writable: servers that fsync every write (etcd's Raft log, the
 * Redis AOF, PostgreSQL's WAL) keep steady latency on a disk the rest of the suite is loading,
 * and their data still survives the process.
 */
export function fastTmpParent(): string {
  try {
    accessSync('/dev/shm', fsConstants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}
