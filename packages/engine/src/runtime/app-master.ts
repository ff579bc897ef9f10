import { createServer, type Server, type Socket } from 'node:net';
import { isStorageError, StorageError } from '@sluice/storage-api';
import type { Logger } from 'pino';
import type { AmHeartbeatReply, AppMasterStatus, ExecutorReport, ExecutorsReply, RestartReply } from '../cluster/protocol.js';
import { ControlChannel } from './channel.js';
import { ClockService } from './clock-service.js';
import { Committer, TASKS_STORE } from './committer.js';
import { isExecutorMessage, type AppMasterMessage, type ExecutorMessage } from './control-protocol.js';
import type { ExecutorEnv, LoadedApp } from './env.js';
import { ExecutionPlan } from './plan.js';
import { BLOB_PART_KEY, decodeParts, executorPart } from './executor-core.js';
import { blobMappingOf } from '../cluster/blob-mapping.js';
import { BlobSwitcher } from './blob-switch.js';
import type { BlobVersions } from './executor-blobs.js';
import { decodeState } from './state-codec.js';
import { isFenced, MasterLink } from './master-link.js';
import type { MetricsRegistry } from '../observability/index.js';
import { exitAfterFlush } from './observe.js';
import { DAG_CONFIG_ID, describeDag } from '../observability/dag-describe.js';
import { restoreConfigOf, STATE_IDS_CONFIG_ID, stateIdsOf, type RestoreConfig } from './savepoint-config.js';
import { seedFromSaved, SEED_ERROR_CODES } from './savepoint-restore.js';
import { isEngineError } from '../errors.js';

interface Conn {
  channel: ControlChannel<ExecutorMessage, AppMasterMessage>;
  executor: number;
  host: string;
  dataPort: number;
  ready: boolean;
  /** Acknowledged 'stop': its sinks published everything committed. */
  stopped: boolean;
  lastSeen: number;
}

/** Generous: a loaded machine delays status messages (sent every 500 ms). */
const EXECUTOR_TIMEOUT_MS = 10_000;
/** An executor its worker never reported running this long after placement did not start. */
const EXECUTOR_START_TIMEOUT_MS = 30_000;
/**
 * An executor reported alive but not yet connected is loading (e.g. a large artifact):
 * not a hung start, but not forever either.
 */
const EXECUTOR_LOAD_TIMEOUT_MS = 10 * 60_000;
/** While the cluster has no free slots, ask again this often. */
const PLACEMENT_RETRY_MS = 1000;

/**
 * The AppMaster of one app, running in an executor child process. It asks the master
 * for executors, hands out the plan, runs the clock service, commits checkpoints when
 * every task staged them, and on any executor failure asks the master for a restart
 * (the master owns the restart budget and back-off), then replaces all executors and
 * restores them at the last committed checkpoint.
 */
export class AppMaster {
  readonly plan: ExecutionPlan;
  readonly intervalMs: number;
  /** The epoch this AppMaster was launched with: its identity towards the master. */
  readonly amEpoch: number;
  epoch: number;
  restarts = 0;
  phase: 'starting' | 'pending' | 'running' | 'recovering' | 'finishing' | 'done' = 'starting';
  #waiting: string | undefined;
  #server!: Server;
  #conns = new Map<number, Conn>();
  #committer!: Committer;
  #clock!: ClockService;
  #restoreT: number | undefined;
  #messages: Record<string, number> = {};
  #hbTimer: NodeJS.Timeout | undefined;
  #placedAt = 0;
  #runningSince = 0;
  /** The last error each executor reported before it went away: the restart's reason. */
  readonly #lastError = new Map<number, string>();
  readonly #link: MasterLink;
  /** Live blob updates (undefined when the app maps no blobs). */
  readonly #blobs: BlobSwitcher | undefined;
  /** Where the app starts from when it has no checkpoint of its own yet (config startFrom). */
  readonly #restore: RestoreConfig;

  constructor(readonly env: ExecutorEnv, readonly loaded: LoadedApp, readonly logger: Logger, registry?: MetricsRegistry) {
    this.epoch = env.epoch;
    this.amEpoch = env.epoch;
    this.#link = new MasterLink(env.masters, { ...(env.masterEndpoint.token ? { token: env.masterEndpoint.token } : {}), ...(env.masterEndpoint.ca ? { ca: env.masterEndpoint.ca } : {}) }, logger);
    registry?.gaugeFn('sluice_app_epoch', 'Current epoch of the app', {}, () => this.epoch);
    registry?.counterFn('sluice_app_restarts_total', 'Executor restarts by this AppMaster', {}, () => this.restarts);
    registry?.counterFn('sluice_app_checkpoints_committed_total', 'Checkpoints committed in this epoch', {}, () => this.#committer?.commits ?? 0);
    registry?.gaugeFn('sluice_app_committed_checkpoint_ts', 'Event time of the last committed checkpoint (ms)', {}, () => this.#committer?.lastCommitted ?? 0);
    const cp = (k: 'newBytes' | 'sharedBytes' | 'pauseMs' | 'uploadMs' | 'stateEntries' | 'commitMs'): number => this.#committer?.last?.[k] ?? 0;
    registry?.gaugeFn('sluice_app_checkpoint_new_bytes', 'Bytes uploaded by the last committed checkpoint', {}, () => cp('newBytes'));
    registry?.gaugeFn('sluice_app_checkpoint_shared_bytes', 'Bytes of earlier parts the last committed checkpoint lists again', {}, () => cp('sharedBytes'));
    registry?.gaugeFn('sluice_app_checkpoint_pause_ms', 'Longest task pause to freeze keyed state at the last committed checkpoint (ms)', {}, () => cp('pauseMs'));
    registry?.gaugeFn('sluice_app_checkpoint_upload_ms', 'Encode and upload time of the last committed checkpoint, slowest executor (ms)', {}, () => cp('uploadMs'));
    registry?.gaugeFn('sluice_app_checkpoint_commit_ms', 'First part staged to commit of the last committed checkpoint (ms)', {}, () => cp('commitMs'));
    registry?.gaugeFn('sluice_app_state_entries', 'Live keyed-state entries at the last committed checkpoint', {}, () => cp('stateEntries'));
    registry?.gaugeFn('sluice_app_min_clock', 'App min-clock (ms)', {}, () => (this.#clock ? this.#clock.appMinClock() : 0));
    registry?.gaugeFn('sluice_app_watermark_ms', 'App event-time watermark: min over the tasks that have one (ms; 0 before any)', {}, () => this.#clock?.appWatermark() ?? 0);
    // Validated at submit against the cluster's limit; the floor guards old seeds.
    const executors = Math.max(1, Math.floor(Number(loaded.config.executors ?? 2)) || 2);
    this.plan = new ExecutionPlan(loaded.dag, executors);
    this.#restore = restoreConfigOf(loaded.config);
    this.intervalMs = Number(loaded.dag.options.checkpointIntervalMs ?? loaded.config.checkpointIntervalMs ?? 1000) || 1000;
    const mapping = blobMappingOf(loaded.config);
    this.#blobs = mapping && Object.keys(mapping).length > 0 ? new BlobSwitcher({
      executors: this.plan.executors, intervalMs: this.intervalMs, logger,
      broadcast: (m) => { for (const c of this.#conns.values()) c.channel.send(m); },
      maxClock: () => Math.max(0, ...Object.values(this.#clock?.clocks() ?? {})),
      checkReadable: async (blobs) => { await this.#link.call('POST', `/apps/${this.env.appId}/am/blobs-check`, { epoch: this.epoch, amEpoch: this.amEpoch, blobs }, { attempts: 1 }); },
      running: () => this.phase === 'running' && this.#conns.size === this.plan.executors,
    }) : undefined;
  }

  /**
   * The blob versions to start with: those recorded in the restored checkpoint (so replayed
   * messages see what they saw before), else the newest of each mapped blob.
   */
  async #initialBlobs(): Promise<BlobVersions> {
    const names = Object.keys(blobMappingOf(this.loaded.config) ?? {});
    const out: BlobVersions = {};
    if (this.#restoreT !== undefined) {
      const first = [...Array(this.plan.executors).keys()].find((i) => this.plan.tasksOf(i).length > 0) ?? 0;
      const parts = decodeParts(await this.loaded.app.checkpoints(TASKS_STORE).readPart(this.#restoreT, executorPart(first)));
      const rec = parts.get(BLOB_PART_KEY);
      if (rec) Object.assign(out, decodeState(rec) as BlobVersions);
    }
    for (const n of names) {
      if (out[n] !== undefined) continue;
      const h = await this.loaded.storage.blobs?.head(n);
      const v = h?.versions[h.versions.length - 1]?.version;
      if (v === undefined) throw new StorageError(`mapped blob ${n} does not exist`, { code: 'STORAGE_NOT_FOUND', details: { blob: n } });
      out[n] = v;
    }
    return out;
  }

  get address(): string {
    const a = this.#server.address();
    return a && typeof a === 'object' ? `${this.env.host}:${a.port}` : '';
  }

  async run(): Promise<void> {
    // The DAG's shape, kept in the store so the dashboard draws it after the app ended.
    await this.loaded.app.config.set(DAG_CONFIG_ID, describeDag(this.loaded.dag)).catch((err: unknown) => this.logger.warn({ err }, 'could not store the DAG description'));
    // Savepoints of this app match state by these (a processor's uid, else its name).
    await this.loaded.app.config.set(STATE_IDS_CONFIG_ID, stateIdsOf(this.loaded.dag));
    this.#server = createServer((s) => this.#accept(s));
    await new Promise<void>((r) => this.#server.listen(0, this.env.host, () => r()));
    this.#hbTimer = setInterval(() => {
      void this.#heartbeat();
      this.#checkExecutorHeartbeats();
      void this.#blobs?.tick();
    }, 1000);
    await this.#attempt();
  }

  status(): AppMasterStatus {
    const last = this.#committer?.lastCommitted;
    return {
      epoch: this.epoch, amEpoch: this.amEpoch, control: this.address, pid: process.pid, restarts: this.restarts, commits: this.#committer?.commits ?? 0,
      executors: this.plan.executors, connected: this.#conns.size, phase: this.phase, messages: this.#messages,
      ...(this.phase === 'running' && this.#runningSince ? { runningSince: this.#runningSince } : {}),
      ...(last === undefined ? {} : { committed: last }), ...(this.#clock ? { minClock: this.#clock.appMinClock() } : {}),
      ...(this.#clock?.appWatermark() === undefined ? {} : { watermark: this.#clock.appWatermark(), watermarks: this.#clock.processorWatermarks() }),
      ...(this.#waiting ? { waiting: this.#waiting } : {}),
      ...(this.#committer?.last ? { checkpoint: this.#committer.last } : {}),
      ...(this.#blobs ? { blobs: Object.entries(this.#blobs.inUse).map(([name, version]) => ({
        name, version, ...(this.#blobs!.from === undefined ? {} : { from: this.#blobs!.from }),
        executors: Object.fromEntries([...this.#blobs!.perExecutor].map(([e, v]) => [String(e), v[name] ?? 0])),
        ...(this.#blobs!.refused ? { refused: this.#blobs!.refused.slice(0, 1000) } : {}),
      })) } : {}),
    };
  }

  async #heartbeat(): Promise<void> {
    // Skipped while another call is in flight: it may be the epoch bump (see MasterLink).
    if (this.#link.busy || this.phase === 'finishing' || this.phase === 'done') return;
    try {
      const r = await this.#link.call<AmHeartbeatReply>('POST', `/apps/${this.env.appId}/am/heartbeat`, this.status(), { attempts: 1 });
      this.#onExecutorReports(r.executors ?? []);
    } catch (err) {
      if (isFenced(err)) {
        // The phase may have moved on while the call was in flight.
        const phase = this.phase as AppMaster['phase'];
        if (phase === 'finishing' || phase === 'done') return;
        this.logger.warn({ err: err.message }, 'replaced or stopped by the master; exiting');
        await this.#exit(0);
      }
      // Master down: keep running; apps survive master restarts.
    }
  }

  /** Processes the workers report for this epoch: an exit before connecting is noticed here. */
  #onExecutorReports(reports: ExecutorReport[]): void {
    if (this.phase !== 'starting' && this.phase !== 'running') return;
    const now = Date.now();
    for (const r of reports) {
      if (r.epoch !== this.epoch || r.state !== 'exited') continue;
      const how = r.signal ? `signal ${r.signal}${r.signal === 'SIGABRT' ? ' (out of memory? see worker.executorMemoryMb)' : ''}` : `code ${r.code}`;
      const connected = this.#conns.has(r.executor);
      const why = this.#lastError.get(r.executor);
      void this.#recover(`executor ${r.executor} exited with ${how}${connected ? '' : ' before connecting'}${why ? `: ${why}` : ''}`);
      return;
    }
    if (this.phase !== 'starting' || this.#placedAt === 0) return;
    const alive = new Set(reports.filter((r) => r.state === 'running').map((r) => r.executor));
    for (let i = 0; i < this.plan.executors; i++) {
      if (this.#conns.has(i)) continue;
      const age = now - this.#placedAt;
      if ((!alive.has(i) && age > EXECUTOR_START_TIMEOUT_MS) || age > EXECUTOR_LOAD_TIMEOUT_MS) {
        void this.#recover(`executor ${i} did not start within ${age} ms${alive.has(i) ? ' (still loading)' : ''}`);
        return;
      }
    }
  }

  /** A hung executor (no status for EXECUTOR_TIMEOUT_MS) counts as failed. */
  #checkExecutorHeartbeats(): void {
    if (this.phase !== 'running') return;
    const now = Date.now();
    const silent = [...this.#conns.values()].find((c) => now - c.lastSeen > EXECUTOR_TIMEOUT_MS);
    if (silent) void this.#recover(`executor ${silent.executor} sent no status for ${EXECUTOR_TIMEOUT_MS} ms (a task may be stuck in a loop)`);
  }

  async #attempt(): Promise<void> {
    this.phase = 'starting';
    this.#placedAt = 0;
    // One combined part per executor that runs tasks (an idle executor stages nothing).
    const names = [...Array(this.plan.executors).keys()].filter((i) => this.plan.tasksOf(i).length > 0).map(executorPart);
    const sources = this.plan.tasks.filter((t) => t.source).map((t) => t.name);
    const epoch = this.epoch;
    this.#committer = new Committer(this.loaded.app, epoch, names, sources, (t) => this.#onCommitted(t), (err) => this.#onCommitError(err));
    this.#restoreT = await this.#committer.open();
    if (this.#restoreT === undefined && this.#restore.startFrom) this.#restoreT = await this.#seed(epoch);
    this.#clock = new ClockService(this.plan.upstreamNames(), this.#restoreT ?? 0);
    this.#blobs?.reset(await this.#initialBlobs());
    this.#lastError.clear();
    this.logger.info({ epoch, restoreT: this.#restoreT, executors: this.plan.executors }, 'requesting executors');
    // Placement is all or nothing; while the cluster has no room the app is pending.
    for (;;) {
      const r = await this.#master<ExecutorsReply>('POST', `/apps/${this.env.appId}/executors`, {
        epoch, amEpoch: this.amEpoch, executors: [...Array(this.plan.executors).keys()], am: this.address,
      });
      if (this.epoch !== epoch) return;
      if (r.placed.length > 0) break;
      if (this.#waiting !== r.waiting) this.logger.info({ waiting: r.waiting }, 'waiting for free executor slots');
      this.#waiting = r.waiting;
      this.phase = 'pending';
      await new Promise((res) => setTimeout(res, PLACEMENT_RETRY_MS));
    }
    this.#waiting = undefined;
    if (this.phase === 'pending') this.phase = 'starting';
    this.#placedAt = Date.now();
  }

  /** First start from saved state; a deterministic refusal (state unmatched...) fails the app once. */
  async #seed(epoch: number): Promise<number> {
    try {
      return await seedFromSaved({ storage: this.loaded.storage, app: this.loaded.app, epoch, plan: this.plan, dag: this.loaded.dag, restore: this.#restore, committer: this.#committer, logger: this.logger });
    } catch (err) {
      if (!isEngineError(err) || !SEED_ERROR_CODES.has(err.code)) throw err;
      this.logger.error({ code: err.code, err: err.message }, 'cannot start from the saved state');
      this.phase = 'finishing';
      clearInterval(this.#hbTimer);
      await this.#master('POST', `/apps/${this.env.appId}/finish`, { epoch: this.epoch, amEpoch: this.amEpoch, status: 'failed', error: `[${err.code}] ${err.message}` }).catch((e: unknown) =>
        this.logger.error({ err: e }, 'could not report the failure to the master'),
      );
      return this.#exit(0);
    }
  }

  /** A master call; 409 means this AppMaster is replaced or the app ended: exit quietly. */
  async #master<T>(method: string, path: string, body: unknown): Promise<T> {
    try {
      return await this.#link.call<T>(method, path, body);
    } catch (err) {
      if (isFenced(err)) {
        this.logger.warn({ err: err.message }, 'the master refused: replaced or stopped; exiting');
        return this.#exit(0);
      }
      throw err;
    }
  }

  #accept(socket: Socket): void {
    let conn: Conn | undefined;
    const channel = new ControlChannel<ExecutorMessage, AppMasterMessage>(
      socket,
      isExecutorMessage,
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
            for (const c of this.#conns.values()) c.channel.send({ type: 'start', peers, executors: this.plan.executors, intervalMs: this.intervalMs, ...(this.#restoreT === undefined ? {} : { restoreT: this.#restoreT }), ...(this.#blobs ? { blobs: this.#blobs.inUse } : {}) });
          }
          return;
        }
        if (!conn || this.#conns.get(conn.executor) !== conn) return;
        conn.lastSeen = Date.now();
        this.#onMessage(conn, m);
      },
      (err) => {
        if (conn && this.#conns.get(conn.executor) === conn && this.phase !== 'finishing' && this.phase !== 'done') {
          const why = this.#lastError.get(conn.executor);
          void this.#recover(`executor ${conn.executor} disconnected${why ? `: ${why}` : err ? `: ${err.message}` : ''}`);
        }
      },
    );
  }

  #onMessage(conn: Conn, m: Exclude<ExecutorMessage, { type: 'hello' }>): void {
    switch (m.type) {
      case 'ready':
        conn.ready = true;
        if ([...this.#conns.values()].every((c) => c.ready) && this.#conns.size === this.plan.executors) {
          this.phase = 'running';
          this.#runningSince = Date.now();
          for (const c of this.#conns.values()) c.lastSeen = Date.now();
          for (const c of this.#conns.values()) c.channel.send({ type: 'go' });
          this.logger.info({ epoch: this.epoch, restoreT: this.#restoreT }, 'all executors running');
        }
        break;
      case 'staged':
        this.#committer.staged(m.t, m.task, m.parts, m.stats);
        break;
      case 'exhausted':
        this.#committer.exhausted(m.task, m.lastDataTs);
        this.#checkFinished();
        break;
      case 'status':
        for (const s of m.tasks) {
          this.#clock.update(s.task, s.clock, s.pendingMin, s.watermark);
          this.#messages[s.task] = s.messages;
        }
        if (m.blobs) this.#blobs?.perExecutor.set(conn.executor, m.blobs);
        break;
      case 'blobReady':
        this.#blobs?.onReady(conn.executor, m.versions);
        break;
      case 'blobPrepared':
        this.#blobs?.onPrepared(conn.executor, m.id, m.ok, m.reason);
        break;
      case 'stopped':
        conn.stopped = true;
        break;
      case 'fatal': {
        const where = m.task ? `task ${m.task}${m.processor ? ` (processor ${m.processor})` : ''}` : `executor ${conn.executor}`;
        const reason = `${where} failed: ${m.error}`;
        this.#lastError.set(conn.executor, reason);
        if (!m.fenced) this.logger.error({ executor: conn.executor, processor: m.processor, task: m.task, error: m.error }, 'executor failed');
        break;
      }
      default: {
        const never: never = m;
        return never;
      }
    }
  }

  #onCommitted(t: number): void {
    for (const c of this.#conns.values()) c.channel.send({ type: 'commit', t });
    this.#checkFinished();
  }

  #onCommitError(err: unknown): void {
    if (isStorageError(err, 'STORAGE_FENCED')) {
      this.logger.warn({ err: String(err) }, 'checkpoint commit fenced: a newer AppMaster exists');
      void this.#exit(0);
      return;
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
      clearInterval(this.#hbTimer);
      await this.#master('POST', `/apps/${this.env.appId}/finish`, { epoch: this.epoch, amEpoch: this.amEpoch, status: 'stopped' }).catch((err: unknown) =>
        this.logger.error({ err }, 'could not report the finish to the master'),
      );
      this.phase = 'done';
      this.logger.info({ committed: this.#committer.lastCommitted }, 'app finished');
      await this.#exit(0);
    })();
  }

  async #recover(reason: string): Promise<void> {
    if (this.phase === 'recovering' || this.phase === 'finishing' || this.phase === 'done') return;
    this.phase = 'recovering';
    this.restarts++;
    this.logger.warn({ reason, epoch: this.epoch, restarts: this.restarts }, 'recovering: restarting all executors');
    for (const c of this.#conns.values()) {
      c.channel.send({ type: 'exit' });
      c.channel.socket.destroy();
    }
    this.#conns = new Map();
    this.#blobs?.cancel();
    try {
      // The master counts the restart against the app's budget and answers with the
      // new epoch and the backed-off time to start; past the budget the app fails (409).
      const progressed = (this.#committer?.commits ?? 0) > 0;
      const r = await this.#master<RestartReply>('POST', `/apps/${this.env.appId}/restart`, { epoch: this.epoch, amEpoch: this.amEpoch, reason, progressed });
      this.epoch = r.epoch;
      const wait = r.notBefore - Date.now();
      if (wait > 0) {
        this.logger.info({ epoch: this.epoch, delayMs: wait }, 'backing off before the next attempt');
        await new Promise((res) => setTimeout(res, wait));
      }
      await this.#attempt();
    } catch (err) {
      this.logger.error({ err }, 'recovery failed; exiting so the master starts a new AppMaster');
      await this.#exit(1);
    }
  }

  async #exit(code: number): Promise<never> {
    clearInterval(this.#hbTimer);
    return exitAfterFlush(code);
  }
}
