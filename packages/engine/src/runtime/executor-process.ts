import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { isStorageError } from '@sluice/storage-api';
import type { Logger } from 'pino';
import { ControlChannel } from './channel.js';
import { isAppMasterMessage, type AppMasterMessage, type ExecutorMessage } from './control-protocol.js';
import type { ExecutorEnv, LoadedApp } from './env.js';
import { ExecutorCore, TaskFailure } from './executor-core.js';
import { registerEventTimeMetrics } from './watermark-metrics.js';
import { FrameDecoder, FrameKind } from './framing.js';
import { PeerTransport } from './peer-transport.js';
import { ExecutionPlan } from './plan.js';
import type { MetricsRegistry } from '../observability/index.js';
import { exitAfterFlush } from './observe.js';
import { blobMappingOf } from '../cluster/blob-mapping.js';
import { EngineError } from '../errors.js';
import { BlobCache } from './blob-cache.js';
import { BlobWatcher, ExecutorBlobs } from './executor-blobs.js';

/**
 * A task executor: connects to its AppMaster, opens a data port for peers, and once
 * told the plan runs its share of the tasks. It exits when the AppMaster goes away,
 * when told to, or when a storage write is fenced (it is a zombie of an older epoch).
 */
export class ExecutorProcess {
  core: ExecutorCore | undefined;
  transport: PeerTransport | undefined;
  #data!: Server;
  #control!: ControlChannel<AppMasterMessage, ExecutorMessage>;
  #failing = false;
  #stopping = false;
  #queue: Promise<void> = Promise.resolve();
  #statusTimer: NodeJS.Timeout | undefined;
  #blobs: ExecutorBlobs | undefined;
  #watcher: BlobWatcher | undefined;

  constructor(readonly env: ExecutorEnv, readonly loaded: LoadedApp, readonly logger: Logger, readonly registry?: MetricsRegistry) {}

  async run(): Promise<void> {
    this.#data = createServer((s) => this.#acceptData(s));
    await new Promise<void>((r) => this.#data.listen(0, this.env.host, () => r()));
    const port = (this.#data.address() as { port: number }).port;
    const [host, amPort] = splitHostPort(this.env.am);
    const socket = connect({ host, port: amPort });
    this.#control = new ControlChannel<AppMasterMessage, ExecutorMessage>(
      socket,
      isAppMasterMessage,
      (m) => {
        // Once failing, nothing queued behind the failure runs: a `stop` after a failed
        // `commit` must not report a clean stop (the AppMaster restarts from the fatal).
        this.#queue = this.#queue.then(() => (this.#failing ? undefined : this.#onControl(m))).catch((err: unknown) => this.fatal(err));
      },
      () => {
        if (this.#failing) return;
        this.logger.info('AppMaster connection closed; exiting');
        void exitAfterFlush(0);
      },
    );
    this.#control.send({ type: 'hello', executor: this.env.executor, epoch: this.env.epoch, host: this.env.host, dataPort: port, pid: process.pid });
    this.logger.debug({ uptimeMs: Math.round(process.uptime() * 1000) }, 'hello sent to the AppMaster');
  }

  /**
   * The executor cannot go on: the error goes to the app's log store at level error
   * with its stack and labels, and to the AppMaster as the restart's reason; then the
   * process exits once its logs are flushed (bounded).
   */
  fatal(err: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    const fenced = isStorageError(err, 'STORAGE_FENCED');
    const labels = err instanceof TaskFailure ? { processor: err.processor, task: err.task, hook: err.hook } : {};
    if (fenced) this.logger.warn({ err: String(err) }, 'fenced by a newer epoch; exiting');
    else this.logger.error({ err, ...labels }, err instanceof TaskFailure ? `task ${err.task} failed` : 'executor failed');
    const message = err instanceof Error ? err.message : String(err);
    void (this.#control ? this.#control.flushSend({ type: 'fatal', error: message, fenced, ...(err instanceof TaskFailure ? { processor: err.processor, task: err.task } : {}) }) : Promise.resolve())
      .then(() => exitAfterFlush(fenced ? 0 : 1));
  }

  async #onControl(m: AppMasterMessage): Promise<void> {
    switch (m.type) {
      case 'start': {
        const startAt = performance.now();
        const plan = new ExecutionPlan(this.loaded.dag, m.executors);
        // A peer closing while the app stops is the normal end, not a warning.
        this.transport = new PeerTransport(m.peers, this.env.executor, this.env.epoch, (peer) =>
          this.#stopping ? this.logger.debug({ peer }, 'peer connection closed') : this.logger.warn({ peer }, 'peer connection closed'),
        );
        this.#blobs = this.#openBlobs();
        this.core = new ExecutorCore({
          ...(this.#blobs ? { blobs: { local: this.#blobs, initial: m.blobs ?? {} } } : {}),
          appId: this.env.appId, epoch: this.env.epoch, plan, self: this.env.executor, app: this.loaded.app, intervalMs: m.intervalMs,
          transport: this.transport, logger: this.logger,
          // Disk keyed state (app config stateBackend=disk) lives in the executor's own local dir.
          state: { backend: this.loaded.config.stateBackend, cacheEntries: this.loaded.config.stateCacheEntries, dir: join(this.env.blobDir, 'state') },
          ...(m.restoreT === undefined ? {} : { restoreT: m.restoreT }),
          onStaged: (t, task, parts, stats) => this.#control.send({ type: 'staged', t, task, parts, stats }),
          onExhausted: (task, lastDataTs) => this.#control.send({ type: 'exhausted', task, lastDataTs }),
          onFatal: (err) => this.fatal(err),
        });
        await this.core.open(this.loaded.dag);
        const core = this.core;
        for (const t of plan.tasksOf(this.env.executor)) {
          const labels = { processor: t.processor, task: t.name };
          this.registry?.counterFn('sluice_task_messages_total', 'Messages read (sources) or received (tasks)', labels, () => core.status().find((s) => s.task === t.name)?.messages ?? 0);
          this.registry?.gaugeFn('sluice_task_clock', 'Input clock of the task (ms)', labels, () => core.status().find((s) => s.task === t.name)?.clock ?? 0);
          // Event-time lag: how far the task's input clock trails the wall clock.
          this.registry?.gaugeFn('sluice_task_lag_ms', 'Wall clock minus the task input clock (ms)', labels, () => {
            const clock = core.status().find((s) => s.task === t.name)?.clock;
            return clock ? Math.max(0, Date.now() - clock) : 0;
          });
          const runner = core.runners.get(t.id);
          if (this.registry && runner) registerEventTimeMetrics(this.registry, runner, labels);
        }
        this.#control.send({ type: 'ready' });
        // Recovery time is made of these phases: worth a line per start.
        this.logger.info({ openMs: Math.round(performance.now() - startAt), restoreT: m.restoreT }, 'tasks opened (state restored)');
        break;
      }
      case 'go':
        this.core!.start();
        this.#statusTimer = setInterval(() => this.#control.send({ type: 'status', tasks: this.core!.status(), ...(this.#blobs ? { blobs: this.core!.blobsInUse() } : {}) }), 500);
        if (this.#blobs) {
          this.#watcher = new BlobWatcher(this.#blobs, this.env.blobPollMs, this.logger, (versions) => this.#control.send({ type: 'blobReady', versions }));
          this.#watcher.start(this.core!.blobsInUse());
        }
        break;
      case 'blobPrepare': {
        // Fetch first (normally done already by the watcher), then answer at once.
        let ok = false;
        let reason: string | undefined;
        try {
          for (const [name, v] of Object.entries(m.versions)) await this.#blobs!.materialize(name, v);
          ok = this.core!.prepareBlobSwitch({ id: m.id, from: m.from, versions: m.versions });
          if (!ok) reason = `a local task or source already reached ${m.from}`;
        } catch (err) {
          reason = String(err);
        }
        this.#control.send({ type: 'blobPrepared', id: m.id, ok, ...(reason ? { reason } : {}) });
        break;
      }
      case 'blobRelease':
        this.core?.releaseBlobSwitch(m.id);
        break;
      case 'blobAbort':
        this.core?.abortBlobSwitch(m.id);
        break;
      case 'commit':
        await this.core?.commit(m.t);
        break;
      case 'stop':
        this.#stopping = true;
        clearInterval(this.#statusTimer);
        this.#watcher?.stop();
        await this.core?.stop();
        await this.#control.flushSend({ type: 'stopped' });
        this.logger.info('stopped');
        await exitAfterFlush(0);
        break;
      case 'exit':
        this.#stopping = true;
        await exitAfterFlush(0);
        break;
      default: {
        const never: never = m;
        return never;
      }
    }
  }

  /** The app's mapped blobs on this executor, or undefined when it maps none. */
  #openBlobs(): ExecutorBlobs | undefined {
    const mapping = blobMappingOf(this.loaded.config);
    if (!mapping || Object.keys(mapping).length === 0) return undefined;
    const store = this.loaded.storage.blobs;
    if (!store) throw new EngineError('CONFIG_INVALID', 'the app maps blobs but the storage backend has no blob store (capability blobs)');
    return new ExecutorBlobs(store, new BlobCache(this.env.blobCacheDir, this.env.blobCacheMaxBytes), this.env.blobDir, mapping);
  }

  #acceptData(socket: Socket): void {
    const decoder = new FrameDecoder();
    let ok = false;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.logger.warn({ err: String(err) }, 'bad frame from peer; closing');
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (f.kind === FrameKind.JSON) {
          const h = f.message as { type?: string; epoch?: number };
          ok = h.type === 'hello' && h.epoch === this.env.epoch;
          if (!ok) socket.destroy();
          continue;
        }
        if (!ok || !this.core) continue;
        if (f.kind === FrameKind.DATA) this.core.deliverFrame(f.to, f.ts, f.values);
        else if (f.kind === FrameKind.WATERMARK) for (const to of f.to) this.core.watermarkFrame(f.from, to, f.ts, f);
        else for (const to of f.to) this.core.clockFrame(f.from, to, f.clock);
      }
      const t = this.transport;
      if (t?.backpressured()) {
        // Push back on the sender while our own outbound queues are full. Bounded in
        // time: two executors sending to each other could otherwise each wait for the
        // other to read (a cycle of full buffers); sources stop producing meanwhile.
        socket.pause();
        void Promise.race([t.whenDrained(), new Promise((r) => setTimeout(r, 100))]).then(() => socket.resume());
      }
    });
  }
}

export function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i) || '127.0.0.1', Number(s.slice(i + 1))];
}
