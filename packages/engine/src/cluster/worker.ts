import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StorageConfig } from '@sluice/storage-api';
import type { TaskLogger } from '../dsl/task.js';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { HttpError } from './http.js';
import { authedMasterClient, type MasterClient } from './master-client.js';
import { heartbeatAnswerSchema } from './schemas.js';
import { ENGINE_VERSION } from '../version.js';
import type { ExitedExecutor, LaunchCommand, RunningExecutor, WorkerCommand } from './protocol.js';
import { executorBaseEnv, WorkerStorageProxy } from './worker-storage-proxy.js';
import type { StorageProxySession } from '../runtime/storage-proxy-server.js';
import type { Duplex } from 'node:stream';

export interface WorkerOptions {
  master: string;
  /** Bearer token derived from the cluster secret (absent with auth off). */
  token?: string;
  /** CA to verify an HTTPS master with (PEM path); passed on to executors. */
  caFile?: string;
  name?: string;
  host: string;
  slots: number;
  heartbeatMs: number;
  /** Work folder: artifact cache and executor logs. */
  workDir: string;
  cacheMaxBytes: number;
  /** The shared blob cache's bound (worker.blobCacheMaxBytes) and how often executors poll blob heads. */
  blobCacheMaxBytes?: number;
  blobPollMs?: number;
  storage: StorageConfig;
  baseDir: string;
  logger: TaskLogger;
  /**
   * Warm executor processes kept ready (modules loaded, no app yet): a launch or a
   * recovery takes one instead of booting Node. Default 1; a recovery replaces every
   * executor of the app on this worker at once, so more executors per worker want more.
   * 0 turns it off.
   */
  standbys?: number;
  /**
   * Executors reach storage through this worker (worker.storageProxy, default true): they
   * get no storage configuration or credentials, only their own app's sub-stores. False
   * hands them the cluster's storage config (every app's data), as before.
   */
  storageProxy?: boolean;
  /** V8 heap limit of each executor (MiB): a memory-hungry task fails its executor, not the host. */
  executorMemoryMb?: number;
}

const DEFAULT_BLOB_CACHE_MAX_BYTES = 2 * 1024 ** 3;
const DEFAULT_STANDBYS = 1;
const QUICK_BEAT_MS = 40;
const QUICK_BEAT_WINDOW_MS = 1500;
const STANDBY_REFILL_MS = 300;

/** SIGTERM first so an executor can flush its last log lines; SIGKILL if it lingers. */
const TERMINATE_GRACE_MS = 2000;

function terminate(proc: ChildProcess): void {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const t = setTimeout(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }, TERMINATE_GRACE_MS);
  t.unref();
  proc.once('exit', () => clearTimeout(t));
}

/** The child's file descriptor of its storage-proxy socket (a warm standby has its IPC channel at 3). */
const PROXY_FD = 3;
const STANDBY_PROXY_FD = 4;

export const EXECUTOR_MAIN = fileURLToPath(new URL('../runtime/executor-main.js', import.meta.url));

/**
 * A worker: registers with the master, heartbeats (the reply carries commands) and
 * runs executors as child processes, reporting their exits so the master can replace
 * a lost AppMaster. Executors also watch their parent and exit if the worker dies.
 */
export class Worker {
  id: string | undefined;
  readonly #children = new Map<number, { info: RunningExecutor; proc: ChildProcess }>();
  #exited: ExitedExecutor[] = [];
  #timer: NodeJS.Timeout | undefined;
  #beating = false;
  #stopped = false;
  #quickTimer: NodeJS.Timeout | undefined;
  #quickUntil = 0;
  #standbys: { proc: ChildProcess; logFile: string; ready: boolean; session?: Promise<StorageProxySession> }[] = [];
  readonly #proxy: WorkerStorageProxy | undefined;
  #standbyTimer: NodeJS.Timeout | undefined;

  /** Every master (HA): calls follow the leader and fail over, bounded; none is dropped. */
  readonly #client: MasterClient;

  constructor(readonly opts: WorkerOptions) {
    this.#client = authedMasterClient(opts.master, { ...(opts.token ? { token: opts.token } : {}), ...(opts.caFile ? { ca: readFileSync(opts.caFile) } : {}) }, { logger: opts.logger as Logger });
    if (opts.storageProxy !== false) this.#proxy = new WorkerStorageProxy(opts.storage, opts.baseDir, opts.logger as Logger);
  }

  /** The worker's end of the socket at `fd` of a child spawned with 'pipe' there, as a proxy session. */
  #attach(proc: ChildProcess, fd: number): Promise<StorageProxySession> | undefined {
    const sock = proc.stdio[fd] as Duplex | null | undefined;
    if (!this.#proxy || !sock) return undefined;
    const s = this.#proxy.attach(sock);
    s.catch(() => undefined); // reported when bound
    return s;
  }

  get running(): RunningExecutor[] {
    return [...this.#children.values()].map((c) => c.info);
  }

  async start(): Promise<void> {
    mkdirSync(join(this.opts.workDir, 'logs'), { recursive: true });
    await this.#register();
    this.#timer = setInterval(() => void this.#beat(), this.opts.heartbeatMs);
    this.#fillStandbys();
  }

  get #standbyTarget(): number {
    return this.opts.standbys ?? DEFAULT_STANDBYS;
  }

  #scheduleStandby(ms: number): void {
    if (this.#stopped || this.#standbyTimer) return;
    this.#standbyTimer = setTimeout(() => {
      this.#standbyTimer = undefined;
      this.#fillStandbys();
    }, ms);
  }

  #fillStandbys(): void {
    while (!this.#stopped && this.#standbys.length < this.#standbyTarget) this.#spawnStandby();
  }

  #spawnStandby(): void {
    const logFile = join(this.opts.workDir, 'logs', `standby-${process.pid}-${Date.now()}.log`);
    const fd = openSync(logFile, 'a');
    const env: NodeJS.ProcessEnv = this.#proxy
      ? { ...executorBaseEnv(), SLUICE_STANDBY: '1', SLUICE_STORAGE_FD: String(STANDBY_PROXY_FD), SLUICE_BASE_DIR: this.opts.baseDir }
      : { ...process.env, SLUICE_STANDBY: '1', SLUICE_STORAGE: JSON.stringify(this.opts.storage), SLUICE_BASE_DIR: this.opts.baseDir };
    delete env.SLUICE_LOG_FILE;
    const proc = spawn(process.execPath, [...this.#nodeArgs(), EXECUTOR_MAIN], { env, stdio: ['ignore', fd, fd, 'ipc', ...(this.#proxy ? ['pipe' as const] : [])], cwd: this.opts.baseDir });
    closeSync(fd);
    const session = this.#attach(proc, STANDBY_PROXY_FD);
    const s = { proc, logFile, ready: false, ...(session ? { session } : {}) };
    this.#standbys.push(s);
    proc.on('message', (m: { type?: string }) => {
      if (m?.type === 'ready') s.ready = true;
    });
    proc.on('exit', () => {
      const i = this.#standbys.indexOf(s);
      if (i < 0) return;
      this.#standbys.splice(i, 1);
      this.#scheduleStandby(2000); // a standby that dies by itself: do not spin
    });
  }

  #nodeArgs(): string[] {
    // Source maps: stacks of bundled apps (sluice bundle) point at the user's own files.
    return ['--enable-source-maps', ...(this.opts.executorMemoryMb ? [`--max-old-space-size=${this.opts.executorMemoryMb}`] : [])];
  }

  async #register(): Promise<void> {
    const r = await this.#client.call<{ workerId: string }>('POST', '/workers/register', {
      name: this.opts.name, host: this.opts.host, slots: this.opts.slots, executors: this.running, version: ENGINE_VERSION,
    });
    this.id = r.workerId;
    this.opts.logger.info({ worker: this.id, master: this.opts.master }, 'registered');
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#stopped) return;
    this.#beating = true;
    const exited = this.#exited;
    this.#exited = [];
    try {
      const standbys = { ready: this.#standbys.filter((s) => s.ready).length, target: this.#standbyTarget };
      const raw: unknown = await this.#client.call('POST', `/workers/${this.id}/heartbeat`, { executors: this.running, exited, standbys });
      // Checked before acting: a command names paths (app ids) and processes to start.
      const r = heartbeatAnswerSchema.safeParse(raw);
      if (!r.success) {
        this.opts.logger.error({ issue: r.error.issues[0]?.message }, 'malformed heartbeat answer from the master; ignored');
        return;
      }
      for (const c of r.data.commands as WorkerCommand[]) this.#apply(c);
    } catch (err) {
      this.#exited = exited.concat(this.#exited);
      if (err instanceof HttpError && err.status === 404) await this.#register().catch(() => {});
      else this.opts.logger.debug({ err: String(err) }, 'heartbeat failed');
    } finally {
      this.#beating = false;
    }
  }

  #apply(c: WorkerCommand): void {
    if (c.type === 'kill') {
      for (const [pid, ch] of this.#children) {
        if (ch.info.appId !== c.appId) continue;
        if (c.belowEpoch !== undefined && ch.info.epoch >= c.belowEpoch) continue;
        if (c.role !== undefined && ch.info.role !== c.role) continue;
        this.opts.logger.info({ appId: c.appId, pid, role: ch.info.role, epoch: ch.info.epoch }, 'stopping executor');
        terminate(ch.proc);
      }
      return;
    }
    this.launch(c);
  }

  launch(c: LaunchCommand): void {
    const dir = join(this.opts.workDir, 'logs', c.appId);
    mkdirSync(dir, { recursive: true });
    const logFile = join(dir, `${c.role === 'appmaster' ? 'appmaster' : `executor-${c.executor}`}-e${c.epoch}.log`);
    const fd = openSync(logFile, 'a');
    const env: NodeJS.ProcessEnv = {
      ...(this.#proxy ? executorBaseEnv() : process.env),
      SLUICE_ROLE: c.role,
      SLUICE_APP_ID: c.appId,
      SLUICE_EPOCH: String(c.epoch),
      SLUICE_EXECUTOR: String(c.executor),
      // Every master: the AppMaster and executors fail over along the same list.
      SLUICE_MASTER: this.#client.urls.join(','),
      SLUICE_AM: c.am ?? '',
      SLUICE_JAR: c.jar,
      SLUICE_JAR_SHA256: c.sha256,
      SLUICE_STORAGE: JSON.stringify(this.opts.storage),
      SLUICE_BASE_DIR: this.opts.baseDir,
      SLUICE_CACHE_DIR: join(this.opts.workDir, 'cache'),
      SLUICE_CACHE_MAX_BYTES: String(this.opts.cacheMaxBytes),
      // Blobs: one LRU cache shared by every app on this worker, one folder per executor.
      SLUICE_BLOB_CACHE_DIR: join(this.opts.workDir, 'blobs'),
      SLUICE_BLOB_CACHE_MAX_BYTES: String(this.opts.blobCacheMaxBytes ?? DEFAULT_BLOB_CACHE_MAX_BYTES),
      SLUICE_BLOB_DIR: join(this.opts.workDir, 'executors', `${c.appId}-e${c.epoch}-${c.role === 'appmaster' ? 'am' : c.executor}`),
      SLUICE_BLOB_POLL_MS: String(this.opts.blobPollMs ?? 2000),
      SLUICE_HOST: this.opts.host,
      SLUICE_WORKER: this.id ?? '',
      // Scoped to this app, epoch and role; the cluster secret never leaves the worker.
      SLUICE_DAEMON_TOKEN: c.token ?? '',
      SLUICE_MASTER_CA: this.opts.caFile ?? '',
    };
    delete env.SLUICE_LOG_FILE; // executors log to their own file (stdio below)
    if (this.#proxy) {
      // No credentials in the child: storage goes through this worker, the AppMaster's token
      // comes in the proxy's greeting (an environment is readable by other processes of the user).
      delete env.SLUICE_STORAGE;
      delete env.SLUICE_DAEMON_TOKEN;
    }
    let proc: ChildProcess;
    let session: Promise<StorageProxySession> | undefined;
    const standby = this.#standbys.find((s) => s.ready && s.proc.connected && (!this.#proxy || s.session !== undefined));
    if (standby) {
      // Hand the warm process its executor; its log file takes the executor's name.
      this.#standbys.splice(this.#standbys.indexOf(standby), 1);
      closeSync(fd);
      try {
        renameSync(standby.logFile, logFile);
      } catch {
        // keep the standby's file name
      }
      const vars = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('SLUICE_')));
      if (this.#proxy) vars.SLUICE_STORAGE_FD = String(STANDBY_PROXY_FD);
      session = standby.session;
      standby.proc.send({ type: 'launch', env: vars });
      proc = standby.proc;
      // Refill soon, not at once: the boot would compete with the executors starting now.
      this.#scheduleStandby(STANDBY_REFILL_MS);
    } else {
      if (this.#proxy) env.SLUICE_STORAGE_FD = String(PROXY_FD);
      proc = spawn(process.execPath, [...this.#nodeArgs(), EXECUTOR_MAIN], { env, stdio: ['ignore', fd, fd, ...(this.#proxy ? ['pipe' as const] : [])], cwd: this.opts.baseDir });
      closeSync(fd);
      session = this.#attach(proc, PROXY_FD);
    }
    // The AppMaster calls the master with its app-scoped token; executors do not call it.
    if (session) void this.#proxy!.bind(session, c.appId, c.role === 'appmaster' ? c.token : undefined);
    const pid = proc.pid;
    if (pid === undefined) {
      this.opts.logger.error({ appId: c.appId, role: c.role }, 'spawn failed');
      return;
    }
    const info: RunningExecutor = { appId: c.appId, role: c.role, executor: c.executor, epoch: c.epoch, pid, logFile, startedAt: Date.now() };
    this.#children.set(pid, { info, proc });
    this.opts.logger.info({ appId: c.appId, role: c.role, executor: c.executor, epoch: c.epoch, pid }, 'executor started');
    proc.on('exit', (code, signal) => {
      this.#children.delete(pid);
      if (session) void session.then((x) => x.close(), () => undefined);
      // Disk keyed state is a spill of this executor's heap: a restore rebuilds it from the checkpoint.
      if (env.SLUICE_BLOB_DIR) rmSync(join(env.SLUICE_BLOB_DIR, 'state'), { recursive: true, force: true });
      this.#exited.push({ ...info, code, signal });
      this.opts.logger.info({ appId: c.appId, role: c.role, executor: c.executor, pid, code, signal }, 'executor exited');
      if (!this.#stopped) {
        void this.#beat();
        this.#beatQuickly();
      }
    });
  }

  /**
   * An executor exited: its app's recovery will send launch commands within moments, and
   * commands ride on heartbeat answers, so beat every QUICK_BEAT_MS for a short while
   * instead of waiting up to a whole heartbeat interval.
   */
  #beatQuickly(): void {
    this.#quickUntil = Date.now() + QUICK_BEAT_WINDOW_MS;
    if (this.#quickTimer) return;
    this.#quickTimer = setInterval(() => {
      if (this.#stopped || Date.now() > this.#quickUntil) {
        clearInterval(this.#quickTimer);
        this.#quickTimer = undefined;
        return;
      }
      void this.#beat();
    }, QUICK_BEAT_MS);
  }

  /** Stops heartbeats and kills every executor this worker started (by pid). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#quickTimer) clearInterval(this.#quickTimer);
    if (this.#standbyTimer) clearTimeout(this.#standbyTimer);
    for (const sb of this.#standbys.splice(0)) if (sb.proc.exitCode === null) sb.proc.kill('SIGKILL');
    const waits = [...this.#children.values()].map(
      (c) => new Promise<void>((r) => {
        if (c.proc.exitCode !== null || c.proc.signalCode !== null) return r();
        c.proc.once('exit', () => r());
        c.proc.kill('SIGKILL');
      }),
    );
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 5000))]);
    await this.#proxy?.close();
  }
}
