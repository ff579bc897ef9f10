/**
 * Our own launcher of a throw-away PostgreSQL (Debian `postgresql-15`) for the connector tests:
 * initdb into a fresh mkdtemp directory, listen on 127.0.0.1 on a free port, unix socket in the
 * same directory, log to a file there. Postgres refuses to run as root: as root every binary
 * runs as the `postgres` user (spawned with its uid/gid, so the PID we hold is the server's own,
 * not a wrapper's) in a directory it owns. Backends call setsid() (each its own process group),
 * so a kill or a pause reaches them by their PIDs, found as the postmaster's children in /proc;
 * the server can be stopped, killed, paused and restarted on the same data.
 *
 * Missing binaries: `postgresAvailable()` says so; `postgresLeg()` turns that into a loud
 * NOT RUN, or a failure when SLUICE_REQUIRE_POSTGRES=1 (CI sets it), as the etcd leg does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import { executable, fastTmpParent, freePort, legOf, logTail, type Leg } from './launch-util.js';

export const POSTGRES_APT_INSTALL = 'apt-get install -y --no-install-recommends postgresql';
export const POSTGRES_BINARIES = ['initdb', 'postgres'] as const;
/** CI sets this: a missing PostgreSQL is then a failing test, never a skip. */
export const REQUIRE_POSTGRES_ENV = 'SLUICE_REQUIRE_POSTGRES';
/** The OS user postgres runs as when the tests run as root. */
const PG_OS_USER = 'postgres';
/** The database superuser initdb creates, and its password (host connections use scram). */
export const PG_SUPERUSER = 'postgres';
export const PG_PASSWORD = 'sluice-test-pw';

/** initdb takes ~1 s here; a loaded CI box gets 30x that. */
const DEFAULT_START_TIMEOUT_MS = 30_000;
/** SIGINT (fast shutdown: rolls back open transactions, checkpoints), then SIGKILL after this. */
const STOP_GRACE_MS = 10_000;
const READY_POLL_MS = 100;

export interface PostgresAvailability {
  ok: boolean;
  missing: string[];
  binDir?: string;
}

/** Debian puts the server binaries in /usr/lib/postgresql/<major>/bin (newest first), not on PATH. */
function findBinDir(): string | undefined {
  const dirs: string[] = [];
  try {
    const majors = readdirSync('/usr/lib/postgresql').filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
    for (const m of majors) dirs.push(`/usr/lib/postgresql/${m}/bin`);
  } catch {
    /* no Debian layout */
  }
  dirs.push(...(process.env.PATH ?? '').split(delimiter).filter(Boolean));
  return dirs.find((d) => POSTGRES_BINARIES.every((b) => executable(join(d, b))));
}

/** uid/gid of the `postgres` OS user, when we are root (undefined otherwise). */
function osUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${PG_OS_USER}:`));
  if (!line) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** Are initdb and postgres installed (and, as root, the postgres user)? Synchronous, starts nothing. */
export function postgresAvailable(): PostgresAvailability {
  const binDir = findBinDir();
  const missing: string[] = binDir ? [] : [...POSTGRES_BINARIES];
  if (process.getuid?.() === 0 && !osUser()) missing.push(`OS user ${PG_OS_USER}`);
  return { ok: missing.length === 0, missing, ...(binDir ? { binDir } : {}) };
}

/**
 * What a test file does about a missing PostgreSQL: `run` true when it is installed; otherwise
 * the caller registers `notRun` (a failing test under SLUICE_REQUIRE_POSTGRES=1, a visibly named
 * skip otherwise). Prints the NOT RUN line on stderr so it can never pass silently.
 */
export function postgresLeg(): Leg {
  const avail = postgresAvailable();
  return legOf('PostgreSQL leg', REQUIRE_POSTGRES_ENV, avail.ok ? undefined : `missing ${avail.missing.join(', ')} (install: ${POSTGRES_APT_INSTALL})`);
}

export interface PostgresHandle {
  dir: string;
  port: number;
  host: '127.0.0.1';
  logFile: string;
  /** PID of the running postmaster, undefined while stopped. */
  readonly pid: number | undefined;
  startupMs: number;
  /** `postgres://user:password@127.0.0.1:port/db` (defaults: the superuser, database postgres). */
  url(opts?: { user?: string; password?: string; database?: string }): string;
  /** One statement on a fresh connection (tests' own reads and setup). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Fast shutdown (SIGINT), then SIGKILL after a grace period; data stays. */
  stop(): Promise<void>;
  /** SIGKILL to the server's process group (postmaster and backends): a crash; data stays. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT the whole server (postmaster and backends): a hung, not a dead, server. */
  pause(): void;
  resume(): void;
  /** Starts again on the same port and data directory; resolves when it accepts queries. */
  start(): Promise<void>;
  /** Resolves when the server answers `SELECT 1`; rejects after timeoutMs with the log tail. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** The last bytes of the server log (for failure messages). */
  logTail(bytes?: number): string;
  /** Kills the server and removes the directory. Idempotent. */
  close(): Promise<void>;
}

export interface StartPostgresOptions {
  startTimeoutMs?: number;
  tmpParent?: string;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string | number>;
}


/** Starts a fresh server; resolves once it answers queries. Rejects (after cleanup) with the log tail. */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresHandle> {
  const avail = postgresAvailable();
  if (!avail.ok || !avail.binDir) throw new Error(`PostgreSQL missing: ${avail.missing.join(', ')} (install: ${POSTGRES_APT_INSTALL})`);
  // a port that looked free can be taken before postgres binds it: try again with a new port
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(avail.binDir, opts);
    } catch (err) {
      if (attempt >= 3 || !/could not bind|address already in use/i.test(String(err))) throw err;
    }
  }
}

async function startOnce(binDir: string, opts: StartPostgresOptions): Promise<PostgresHandle> {
  const t0 = performance.now();
  const user = osUser();
  const dir = mkdtempSync(join(opts.tmpParent ?? fastTmpParent(), 'sluice-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const pwFile = join(dir, 'pw');
  writeFileSync(pwFile, `${PG_PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(logFile, '');
  if (user) for (const p of [dir, pwFile, logFile]) chownSync(p, user.uid, user.gid);
  const ids = user ? { uid: user.uid, gid: user.gid } : {};

  const init = spawnSync(join(binDir, 'initdb'), ['-D', data, '-U', PG_SUPERUSER, '--pwfile', pwFile, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync'], {
    ...ids, encoding: 'utf8', timeout: opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS, cwd: dir,
  });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr}${init.stdout}`);
  }
  const port = await freePort();
  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    port,
    unix_socket_directories: dir,
    // logical replication (the CDC source) needs these; they cost nothing otherwise
    wal_level: 'logical',
    max_replication_slots: 10,
    max_wal_senders: 10,
    // test data is throw-away: no fsync keeps the shared disk out of the timings; a SIGKILL of
    // the server still loses nothing (the OS page cache survives it)
    fsync: 'off',
    logging_collector: 'off',
    ...opts.settings,
  };
  const args = ['-D', data, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  let child: ChildProcess | undefined;
  const pidOf = (): number | undefined => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined);

  const start = (): void => {
    if (pidOf() !== undefined) return;
    const fd = openSync(logFile, 'a');
    try {
      // detached: out of the test runner's process group (a ^C there is not a server crash)
      child = spawn(join(binDir, 'postgres'), args, { ...ids, cwd: dir, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    child.on('error', () => undefined); // surfaced by waitReady with the log tail
  };
  const signalGroup = async (sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    const c = child;
    const pid = pidOf();
    if (!c || pid === undefined) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    const killed: number[] = [];
    const send = (s: NodeJS.Signals): void => {
      if (s === 'SIGKILL') killed.push(...killServer(pid));
      else signalPid(pid, s);
    };
    send(sig);
    const timer = setTimeout(() => send('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    await waitGone(killed, 5_000);
  };

  const url = (o: { user?: string; password?: string; database?: string } = {}): string =>
    `postgres://${encodeURIComponent(o.user ?? PG_SUPERUSER)}:${encodeURIComponent(o.password ?? PG_PASSWORD)}@127.0.0.1:${port}/${encodeURIComponent(o.database ?? 'postgres')}`;
  const sql = async <R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> => {
    const c = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 5_000 });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await c.query<R>(text, params);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  const waitReady = async (timeoutMs = DEFAULT_START_TIMEOUT_MS): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (let i = 0; i < 100_000; i++) {
      if (child && pidOf() === undefined) throw new Error(`postgres exited with ${child.exitCode ?? child.signalCode}:\n${logTail(logFile)}`);
      try {
        await sql('SELECT 1');
        return;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
    throw new Error(`postgres not ready within ${timeoutMs} ms (${String(last)}):\n${logTail(logFile)}`);
  };

  // last resort if the test process dies without close(): kill our server, synchronously
  const onExit = (): void => {
    const pid = pidOf();
    if (pid !== undefined) killServer(pid);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  let closing: Promise<void> | undefined;
  const handle: PostgresHandle = {
    dir, port, host: '127.0.0.1', logFile, startupMs: 0,
    get pid() {
      return pidOf();
    },
    url, sql,
    stop: () => signalGroup('SIGINT', STOP_GRACE_MS),
    kill: () => signalGroup('SIGKILL', 0),
    pause: () => {
      const pid = pidOf();
      if (pid === undefined) return;
      // the postmaster first: stopped, it forks no new backend while we stop the others
      signalPid(pid, 'SIGSTOP');
      for (const c of childrenOf(pid)) signalPid(c, 'SIGSTOP');
    },
    resume: () => {
      const pid = pidOf();
      if (pid === undefined) return;
      for (const c of childrenOf(pid)) signalPid(c, 'SIGCONT');
      signalPid(pid, 'SIGCONT');
    },
    start: async () => {
      start();
      await waitReady(opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    },
    waitReady,
    logTail: (bytes) => logTail(logFile, bytes),
    close: () =>
      (closing ??= (async () => {
        await signalGroup('SIGKILL', 0);
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

function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** PIDs whose parent is `pid` (Linux /proc): the postmaster's backends and workers. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces, so split after its closing paren
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** A crash of the whole server: postmaster stopped (no new forks), every child killed, then the postmaster. */
function killServer(pid: number): number[] {
  signalPid(pid, 'SIGSTOP');
  const children = childrenOf(pid);
  for (const c of children) signalPid(c, 'SIGKILL');
  signalPid(pid, 'SIGKILL');
  return children;
}

/** Running (not gone, not a zombie)? */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Signals are delivered asynchronously: wait until the killed backends are gone (bounded). */
async function waitGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000 && Date.now() < deadline && pids.some(processAlive); i++) await new Promise((r) => setTimeout(r, 20));
}
