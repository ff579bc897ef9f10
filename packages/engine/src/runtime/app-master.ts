import { createServer, type Server, type Socket } from 'node:net';
import { isStorageError } from '@sluice/storage-api';
import type { Logger } from 'pino';
import { callJson, HttpError } from '../cluster/http.js';
import type { AppMasterStatus } from '../cluster/protocol.js';
import { ControlChannel } from './channel.js';
import { ClockService } from './clock-service.js';
import { Committer } from './committer.js';
import type { ExecutorEnv, LoadedApp } from './env.js';
import { ExecutionPlan } from './plan.js';
import { executorPart } from './executor-core.js';
import type { MetricsRegistry } from '../observability/index.js';
import { exitAfterFlush } from './observe.js';

interface Conn {
  channel: ControlChannel;
  executor: number;
  host: string;
  dataPort: number;
  ready: boolean;
  /** Acknowledged 'stop': its sinks published everything committed. */
  stopped: boolean;
  lastSeen: number;
}

const MAX_RESTARTS = 200;
/** Generous: a loaded machine delays status messages (sent every 500 ms). */
const EXECUTOR_TIMEOUT_MS = 10_000;

/**
 * The AppMaster of one app, running in an executor child process. It asks the master
 * for executors, hands out the plan, runs the clock service, commits checkpoints when
 * every task staged them, and on any executor failure bumps the epoch, replaces all
 * executors and restores them at the last committed checkpoint.
 */
export class AppMaster {
  readonly plan: ExecutionPlan;
  readonly intervalMs: number;
  epoch: number;
  restarts = 0;
  phase: 'starting' | 'running' | 'recovering' | 'finishing' = 'starting';
  #server!: Server;
  #conns = new Map<number, Conn>();
  #committer!: Committer;
  #clock!: ClockService;
  #restoreT: number | undefined;
  #messages: Record<string, number> = {};
  #startTimer: NodeJS.Timeout | undefined;
  #hbTimer: NodeJS.Timeout | undefined;

  constructor(readonly env: ExecutorEnv, readonly loaded: LoadedApp, readonly logger: Logger, registry?: MetricsRegistry) {
    this.epoch = env.epoch;
    registry?.gaugeFn('sluice_app_epoch', 'Current epoch of the app', {}, () => this.epoch);
    registry?.counterFn('sluice_app_restarts_total', 'Executor restarts by this AppMaster', {}, () => this.restarts);
    registry?.counterFn('sluice_app_checkpoints_committed_total', 'Checkpoints committed in this epoch', {}, () => this.#committer?.commits ?? 0);
    registry?.gaugeFn('sluice_app_committed_checkpoint_ts', 'Event time of the last committed checkpoint (ms)', {}, () => this.#committer?.lastCommitted ?? 0);
    registry?.gaugeFn('sluice_app_min_clock', 'App min-clock (ms)', {}, () => (this.#clock ? this.#clock.appMinClock() : 0));
    const executors = Math.max(1, Math.min(64, Number(loaded.config.executors ?? 2) || 2));
    this.plan = new ExecutionPlan(loaded.dag, executors);
    this.intervalMs = Number(loaded.dag.options.checkpointIntervalMs ?? loaded.config.checkpointIntervalMs ?? 1000) || 1000;
  }

  get address(): string {
    const a = this.#server.address();
    return a && typeof a === 'object' ? `${this.env.host}:${a.port}` : '';
  }

  async run(): Promise<void> {
    this.#server = createServer((s) => this.#accept(s));
    await new Promise<void>((r) => this.#server.listen(0, this.env.host, () => r()));
    this.#hbTimer = setInterval(() => {
      void this.#heartbeat();
      this.#checkExecutorHeartbeats();
    }, 1000);
    await this.#attempt();
  }

  status(): AppMasterStatus {
    const last = this.#committer?.lastCommitted;
    return {
      epoch: this.epoch, control: this.address, pid: process.pid, restarts: this.restarts, commits: this.#committer?.commits ?? 0,
      executors: this.plan.executors, connected: this.#conns.size, phase: this.phase, messages: this.#messages,
      ...(last === undefined ? {} : { committed: last }), ...(this.#clock ? { minClock: this.#clock.appMinClock() } : {}),
    };
  }

  async #heartbeat(): Promise<void> {
    try {
      await callJson(this.env.master, 'POST', `/apps/${this.env.appId}/am/heartbeat`, this.status(), 5000);
    } catch (err) {
      if (err instanceof HttpError && err.status === 409) {
        this.logger.warn({ err: err.message }, 'fenced or killed by the master; exiting');
        this.#exit(0);
      }
      // Master down: keep running; apps survive master restarts.
    }
  }

  /** A hung executor (no status for EXECUTOR_TIMEOUT_MS) counts as failed. */
  #checkExecutorHeartbeats(): void {
    if (this.phase !== 'running') return;
    const now = Date.now();
    const silent = [...this.#conns.values()].find((c) => now - c.lastSeen > EXECUTOR_TIMEOUT_MS);
    if (silent) void this.#recover(`executor ${silent.executor} sent no heartbeat for ${EXECUTOR_TIMEOUT_MS} ms`);
  }

  async #attempt(): Promise<void> {
    this.phase = 'starting';
    // One combined part per executor that runs tasks (an idle executor stages nothing).
    const names = [...Array(this.plan.executors).keys()].filter((i) => this.plan.tasksOf(i).length > 0).map(executorPart);
    const sources = this.plan.tasks.filter((t) => t.source).map((t) => t.name);
    const epoch = this.epoch;
    this.#committer = new Committer(this.loaded.app, epoch, names, sources, (t) => this.#onCommitted(t), (err) => this.#onCommitError(err));
    this.#restoreT = await this.#committer.open();
    this.#clock = new ClockService(this.plan.upstreamNames(), this.#restoreT ?? 0);
    this.logger.info({ epoch, restoreT: this.#restoreT, executors: this.plan.executors }, 'requesting executors');
    await this.#master('POST', `/apps/${this.env.appId}/executors`, { epoch, executors: [...Array(this.plan.executors).keys()], am: this.address });
    clearTimeout(this.#startTimer);
    this.#startTimer = setTimeout(() => {
      if (this.epoch === epoch && this.phase === 'starting') void this.#recover('executors did not start in time');
    }, 30_000);
  }

  /** Calls the master, retrying while it is unreachable (bounded); 409 means we are fenced. */
  async #master(method: string, path: string, body: unknown): Promise<any> {
    for (let i = 0; ; i++) {
      try {
        return await callJson(this.env.master, method, path, body, 5000);
      } catch (err) {
        if (err instanceof HttpError && err.status === 409) {
          this.logger.warn({ err: err.message }, 'fenced by the master; exiting');
          this.#exit(0);
        }
        if (i >= 60) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  #accept(socket: Socket): void {
    let conn: Conn | undefined;
    const channel = new ControlChannel(
      socket,
      (m) => {
        if (m.type === 'hello') {
          if (m.epoch !== this.epoch || this.phase !== 'starting') {
            channel.send({ type: 'exit' });
            socket.destroy();
            return;
          }
          conn = { channel, executor: m.executor, host: m.host, dataPort: m.dataPort, ready: false, stopped: false, lastSeen: Date.now() };
          this.#conns.set(m.executor, conn);
          if (this.#conns.size === this.plan.executors) {
            const peers = [...this.#conns.values()].map((c) => ({ executor: c.executor, host: c.host, port: c.dataPort }));
            for (const c of this.#conns.values()) c.channel.send({ type: 'start', peers, executors: this.plan.executors, intervalMs: this.intervalMs, ...(this.#restoreT === undefined ? {} : { restoreT: this.#restoreT }) });
          }
          return;
        }
        if (!conn || this.#conns.get(conn.executor) !== conn) return;
        conn.lastSeen = Date.now();
        this.#onMessage(conn, m);
      },
      (err) => {
        if (conn && this.#conns.get(conn.executor) === conn && this.phase !== 'finishing') {
          void this.#recover(`executor ${conn.executor} disconnected${err ? `: ${err.message}` : ''}`);
        }
      },
    );
  }

  #onMessage(conn: Conn, m: any): void {
    switch (m.type) {
      case 'ready':
        conn.ready = true;
        if ([...this.#conns.values()].every((c) => c.ready) && this.#conns.size === this.plan.executors) {
          clearTimeout(this.#startTimer);
          this.phase = 'running';
          for (const c of this.#conns.values()) c.lastSeen = Date.now();
          for (const c of this.#conns.values()) c.channel.send({ type: 'go' });
          this.logger.info({ epoch: this.epoch, restoreT: this.#restoreT }, 'all executors running');
        }
        break;
      case 'staged':
        this.#committer.staged(m.t, m.task, m.part);
        break;
      case 'exhausted':
        this.#committer.exhausted(m.task, m.lastDataTs);
        this.#checkFinished();
        break;
      case 'status':
        for (const s of m.tasks as Array<{ task: string; clock: number; pendingMin?: number; messages: number }>) {
          this.#clock.update(s.task, s.clock, s.pendingMin);
          this.#messages[s.task] = s.messages;
        }
        break;
      case 'stopped':
        conn.stopped = true;
        break;
      case 'fatal':
        this.logger.error({ executor: conn.executor, error: m.error }, 'executor failed');
        break;
      default:
        break;
    }
  }

  #onCommitted(t: number): void {
    for (const c of this.#conns.values()) c.channel.send({ type: 'commit', t });
    this.#checkFinished();
  }

  #onCommitError(err: unknown): void {
    if (isStorageError(err, 'STORAGE_FENCED')) {
      this.logger.warn({ err: String(err) }, 'checkpoint commit fenced: a newer AppMaster exists');
      this.#exit(0);
    }
    void this.#recover(`checkpoint commit failed: ${String(err)}`);
  }

  #checkFinished(): void {
    if (this.phase !== 'running' || !this.#committer.finished()) return;
    this.phase = 'finishing';
    void (async () => {
      this.logger.info({ committed: this.#committer.lastCommitted }, 'all output committed; stopping executors');
      await this.#committer.drain();
      const conns = [...this.#conns.values()];
      const closed = conns.map((c) => new Promise<void>((r) => {
        if (c.channel.socket.destroyed) return r();
        c.channel.socket.once('close', () => r());
        c.channel.send({ type: 'stop' });
      }));
      await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 15_000))]);
      if (!conns.every((c) => c.stopped)) {
        // An executor died before its sinks published the last commit: recover (the
        // restored sinks publish it) and finish again.
        this.phase = 'running';
        await this.#recover('an executor was lost while stopping');
        return;
      }
      await this.#master('POST', `/apps/${this.env.appId}/finish`, { epoch: this.epoch, status: 'stopped' }).catch(() => {});
      clearInterval(this.#hbTimer);
      await exitAfterFlush(0);
    })();
  }

  async #recover(reason: string): Promise<void> {
    if (this.phase === 'recovering' || this.phase === 'finishing') return;
    this.phase = 'recovering';
    this.restarts++;
    this.logger.warn({ reason, epoch: this.epoch, restarts: this.restarts }, 'recovering: restarting all executors');
    for (const c of this.#conns.values()) {
      c.channel.send({ type: 'exit' });
      c.channel.socket.destroy();
    }
    this.#conns = new Map();
    if (this.restarts > MAX_RESTARTS) {
      await this.#master('POST', `/apps/${this.env.appId}/finish`, { epoch: this.epoch, status: 'failed', error: `gave up after ${MAX_RESTARTS} restarts: ${reason}` }).catch(() => {});
      this.#exit(1);
    }
    try {
      const r = await this.#master('POST', `/apps/${this.env.appId}/epoch`, { epoch: this.epoch });
      this.epoch = r.epoch as number;
      await this.#attempt();
    } catch (err) {
      this.logger.error({ err: String(err) }, 'recovery failed; exiting so the master starts a new AppMaster');
      this.#exit(1);
    }
  }

  #exit(code: number): never {
    clearInterval(this.#hbTimer);
    process.exit(code);
  }
}
