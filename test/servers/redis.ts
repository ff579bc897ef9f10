/**
 * Our own launcher of a throw-away redis-server (Debian `redis-server`, 7.x) for the connector
 * tests: 127.0.0.1 on a free port, a fresh mkdtemp directory, the server's log in a file there.
 * The process is ours by PID: it can be SIGKILLed, stopped (TERM), paused (STOP/CONT) and
 * restarted on the same port and data directory.
 *
 * Persistence: `--save ''` (no RDB snapshots: they fork, and a fork on a shared 2-core box adds
 * seconds of jitter) and `--appendonly yes --appendfsync always`: every acknowledged write is
 * in the AOF before its reply, so a SIGKILLed server comes back with its streams, which is what
 * the source's replay and recovery tests need. (`everysec` is not enough: while a background
 * fsync is slow, redis postpones the AOF write up to 2 s but still replies, and a SIGKILL then
 * loses acknowledged entries; seen here on the loaded disk.) The directory is on /dev/shm when
 * writable, as etcd's, so the per-write fsync costs nothing and survives the process.
 *
 * Missing binary: `redisAvailable()` says so; `redisLeg()` turns that into a loud NOT RUN, or a
 * failure when SLUICE_REQUIRE_REDIS=1 (CI sets it), as the etcd leg does.
 *
 * Usage:
 *   const leg = redisLeg();            // register a failing/skipped describe when !leg.run
 *   const redis = await startRedis();  // redis.url = redis://127.0.0.1:<port>
 *   await redis.kill(); await redis.start(); await redis.waitReady();
 *   await redis.close();               // kills the server, removes the directory
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fastTmpParent, findBinary, freePort, legOf, logTail, type Leg } from './launch-util.js';

export const REDIS_APT_INSTALL = 'apt-get install -y --no-install-recommends redis-server';
export const REDIS_BINARIES = ['redis-server'] as const;
/** CI sets this: a missing redis-server is then a failing test, never a skip. */
export const REQUIRE_REDIS_ENV = 'SLUICE_REQUIRE_REDIS';

/** redis-server starts in ~10 ms here (an AOF replay of test-sized streams adds little); a loaded CI box gets far more. */
const DEFAULT_START_TIMEOUT_MS = 15_000;
/** TERM, then KILL after this long: redis flushes the AOF and exits on TERM in a few ms. */
const STOP_GRACE_MS = 5_000;
const READY_POLL_MS = 50;

export interface RedisAvailability {
  ok: boolean;
  missing: string[];
}

/** Is redis-server installed? Synchronous, starts nothing. */
export function redisAvailable(): RedisAvailability {
  const missing = REDIS_BINARIES.filter((b) => findBinary(b) === undefined);
  return { ok: missing.length === 0, missing: [...missing] };
}

/**
 * What a test file does about a missing redis-server: `run` true when it is installed;
 * otherwise the caller registers `notRun` (a failing test under SLUICE_REQUIRE_REDIS=1, a
 * visibly named skip otherwise). Prints the NOT RUN line on stderr so it never passes silently.
 */
export function redisLeg(): Leg {
  const avail = redisAvailable();
  return legOf('Redis leg', REQUIRE_REDIS_ENV, avail.ok ? undefined : `missing ${avail.missing.join(', ')} (install: ${REDIS_APT_INSTALL})`);
}

export interface RedisHandle {
  port: number;
  /** `redis://127.0.0.1:<port>` (with `:password@` when started with one). */
  url: string;
  dir: string;
  logFile: string;
  /** PID of the running server, undefined while stopped. */
  readonly pid: number | undefined;
  startupMs: number;
  /** Sends `signal` (default SIGKILL) and waits for the exit; data stays. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** TERM, then KILL after a grace period; data stays. */
  stop(): Promise<void>;
  /** Starts the server again on the same port and directory (no-op while running); resolves when it answers. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: a hung, not a dead, server. */
  pause(): void;
  resume(): void;
  /** Resolves when the server answers PING; rejects with the log tail after timeoutMs. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** The last bytes of the server's log (print it when a test fails). */
  logTail(bytes?: number): string;
  /** Kills the server and removes the directory. Idempotent. */
  close(): Promise<void>;
}

export interface StartRedisOptions {
  /** `--requirepass`: clients must AUTH (the url carries it). */
  password?: string;
  /** Extra redis-server arguments, e.g. ['--maxmemory', '64mb']. */
  args?: string[];
  startTimeoutMs?: number;
  tmpParent?: string;
}

/** One PING over a raw socket: '+PONG' or an auth error both mean the server is up and serving. */
async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d: Buffer) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())));
  });
}


/** Starts redis-server; resolves once it answers PING. Rejects (after cleanup) with the log tail. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisHandle> {
  const bin = findBinary('redis-server');
  if (!bin) throw new Error(`redis-server missing (install: ${REDIS_APT_INSTALL})`);
  // a port that looked free can be taken before redis binds it: try again with a new port
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

async function startOnce(bin: string, opts: StartRedisOptions): Promise<RedisHandle> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(opts.tmpParent ?? fastTmpParent(), 'sluice-redis-'));
  const port = await freePort();
  const logFile = join(dir, 'redis.log');
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', logFile, '--daemonize', 'no',
    '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
    ...(opts.password ? ['--requirepass', opts.password] : []),
    ...(opts.args ?? []),
  ];
  let child: ChildProcess | undefined;
  const pidOf = (): number | undefined => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined);

  // last resort if the test process dies without close(): kill our PID, synchronously
  const onExit = (): void => {
    const pid = pidOf();
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const spawnServer = (): void => {
    if (pidOf() !== undefined) return;
    // stdout/stderr too: redis prints argument errors there before it opens --logfile
    const fd = openSync(logFile, 'a');
    try {
      child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    child.on('error', () => undefined); // surfaced by waitReady with the log tail
  };

  const waitReady = async (timeoutMs = DEFAULT_START_TIMEOUT_MS): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; ; i++) {
      if (child && pidOf() === undefined) throw new Error(`redis-server exited with ${child.exitCode ?? child.signalCode}:\n${logTail(logFile)}`);
      if (await answers(port)) return;
      if (Date.now() > deadline || i > 10_000) throw new Error(`redis-server not answering on 127.0.0.1:${port} within ${timeoutMs} ms:\n${logTail(logFile)}`);
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
  };

  const signal = async (sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    const c = child;
    const pid = pidOf();
    if (!c || pid === undefined) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(pid, sig);
    if (sig === 'SIGKILL') return exited;
    const timer = setTimeout(() => {
      if (c.exitCode === null && c.signalCode === null) process.kill(pid, 'SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  };

  let closing: Promise<void> | undefined;
  const handle: RedisHandle = {
    port,
    url: `redis://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}127.0.0.1:${port}`,
    dir,
    logFile,
    get pid() {
      return pidOf();
    },
    startupMs: 0,
    kill: (sig = 'SIGKILL') => signal(sig, STOP_GRACE_MS),
    stop: () => signal('SIGTERM', STOP_GRACE_MS),
    start: async () => {
      spawnServer();
      await waitReady(opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    },
    pause: () => {
      const pid = pidOf();
      if (pid !== undefined) process.kill(pid, 'SIGSTOP');
    },
    resume: () => {
      const pid = pidOf();
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
    },
    waitReady,
    logTail: (bytes) => logTail(logFile, bytes),
    close: () =>
      (closing ??= (async () => {
        const pid = pidOf();
        if (pid !== undefined) process.kill(pid, 'SIGCONT'); // a paused server cannot exit
        await signal('SIGKILL', 0);
        process.removeListener('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
  try {
    await handle.start();
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  handle.startupMs = Math.round(performance.now() - t0);
  return handle;
}
