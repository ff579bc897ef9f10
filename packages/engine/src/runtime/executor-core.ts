import { LIMITS, type AppStorage, type CheckpointPart, type CheckpointStager, type CheckpointStore } from '@sluice/storage-api';
import type { FrozenState, KeyedStateManifest } from '../state/heap-state.js';
import { withStateBackend, type KeyedBackend } from '../state/backend.js';
import { stateBackendMaker, type StateBackendChoice } from '../state/choose-backend.js';
import { isStatefulTask } from '../state/keyed-api.js';
import { TASKS_STORE } from './committer.js';
import type { StageStats } from './control-protocol.js';
import type { Dag } from '../dsl/dag.js';
import type { TaskBlobs, TaskLogger } from '../dsl/task.js';
import { EngineError } from '../errors.js';
import { BlobSchedule, type BlobSwitch } from './blob-schedule.js';
import type { BlobVersions, ExecutorBlobs } from './executor-blobs.js';
import type { ExecutionPlan, PlannedTask } from './plan.js';
import { Router, type Transport } from './router.js';
import { commitSource, SourceRunner, type SourceHost } from './source-runner.js';
import { decodeParts, decodeState, encodeParts, encodeState, executorPart } from './state-codec.js';
import { inTask, inTaskAsync } from './task-failure.js';
import { TaskRunner, type RunnerHost } from './task-runner.js';
import { isInitialWatermark, isWatermarkSnapshot, type EventTimeContext, type WatermarkMessage, type WatermarkSnapshot } from './watermark.js';
import { EventTimeRouter, type EventTimeDelivery } from './watermark-router.js';

export { decodeParts, encodeParts, executorPart } from './state-codec.js';

/** The key of the blob versions record in an executor's checkpoint part (never a task name: NUL). */
export const BLOB_PART_KEY = '\u0000blobs';
/** The key of a task's keyed-state manifest in the executor's part (NUL: never a task name). */
export const KEYED_SUFFIX = '\u0000keyed';
const keyedKey = (task: string): string => `${task}${KEYED_SUFFIX}`;
/**
 * The part holding the executor's watermarks (task -> per input and its own), staged
 * beside its main part and only once some task has event time: an app without it pays
 * nothing, and tools that read exec-<n> parts see no new keys.
 */
export const watermarkPart = (executor: number): string => `${executorPart(executor)}.wm`;
/** Keyed-state segments are split into parts of at most this size. */
const SEGMENT_PART_BYTES = Math.min(64 * 1024 * 1024, LIMITS.checkpointPartBytes);
export { TaskFailure } from './task-failure.js';
export type { Transport } from './router.js';

export interface CoreOptions {
  appId: string;
  epoch: number;
  plan: ExecutionPlan;
  self: number;
  app: AppStorage;
  intervalMs: number;
  /** Last committed checkpoint to restore from; undefined = fresh start. */
  restoreT?: number;
  transport?: Transport;
  logger: TaskLogger & { child?(b: Record<string, unknown>): TaskLogger };
  batchSize?: number;
  configPollMs?: number;
  /** Keyed-state backend (app config `stateBackend`, else the DAG's option, else heap) and where disk state lives. */
  state?: StateBackendChoice;
  /** Mapped blobs and the versions to start with (from the AppMaster: restored or newest). */
  blobs?: { local: ExecutorBlobs; initial: BlobVersions };
  /** The executor's parts of checkpoint t: its own part first, then keyed-state segments (new and shared). */
  onStaged(t: number, task: string, parts: CheckpointPart[], stats: StageStats): void;
  onExhausted(task: string, lastDataTs: number): void;
  /** App code threw (TaskFailure) or a storage write failed (STORAGE_FENCED: a zombie): the executor must stop. */
  onFatal(err: unknown): void;
}

interface Collected {
  parts: Map<string, Uint8Array>;
  waits: Promise<unknown>[];
  /** Keyed state frozen at t, per task. */
  keyed: Map<string, FrozenState>;
  /** Segments frozen at earlier boundaries that never completed here (a task's clock jumped): encoded with t. */
  carried: Array<[string, FrozenState]>;
  /** Watermark state at t, per task that has any. */
  watermarks: Map<string, WatermarkSnapshot>;
  pauseMs: number;
}


/**
 * Hosts the tasks an executor runs. Inside the executor, batches move by plain calls;
 * to other executors they go through the Transport as binary frames. Clocks travel
 * in-band after the data they cover, so a task's input clock is exact.
 */
export class ExecutorCore implements RunnerHost, SourceHost, EventTimeDelivery {
  readonly intervalMs: number;
  readonly runners = new Map<number, TaskRunner>();
  readonly sources: SourceRunner[] = [];
  /** Executors only stage: committing is the AppMaster's (a narrower handle than the writer). */
  #staging: CheckpointStager | undefined;
  readonly #router: Router;
  readonly #eventTime: EventTimeRouter;
  #stopped = false;
  #loops: Promise<void>[] = [];
  #configTimer: NodeJS.Timeout | undefined;
  #configVersions = new Map<string, number>();
  #initialConfig = new Map<string, unknown>();
  #stageQueue: Promise<unknown> = Promise.resolve();
  #collect = new Map<number, Collected>();
  /** Parts this executor staged or restored, by name: a checkpoint lists them again while a segment is live. */
  readonly #known = new Map<string, CheckpointPart>();
  #localTasks = 0;
  readonly #schedule: BlobSchedule;
  /** Task name -> the blob versions it uses now. */
  readonly #taskBlobs = new Map<string, BlobVersions>();

  constructor(readonly opts: CoreOptions) {
    this.intervalMs = opts.intervalMs;
    this.#router = new Router(opts.plan, opts.self, this, opts.transport);
    this.#eventTime = new EventTimeRouter(opts.plan, opts.self, this, opts.transport);
    this.#schedule = new BlobSchedule(opts.blobs?.initial ?? {});
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  get plan(): ExecutionPlan {
    return this.opts.plan;
  }

  #ctx(meta: PlannedTask): EventTimeContext & { epoch: number } {
    const core = this;
    const logger = this.opts.logger.child ? this.opts.logger.child({ task: meta.name }) : this.opts.logger;
    return {
      appId: this.opts.appId, taskId: meta.name, processor: meta.processor, index: meta.index, parallelism: meta.parallelism,
      epoch: this.opts.epoch, config: this.#initialConfig.get(meta.processor), logger, blobs: this.#taskBlobsOf(meta.name),
      emit(values: unknown[], ts: number) {
        core.route(meta, ts, values);
      },
      get watermark() {
        return core.runners.get(meta.id)?.watermarks.watermark ?? -Infinity;
      },
      emitWatermark(watermark: number, ts: number, idle = false) {
        core.forwardWatermark(meta, ts, { watermark, idle });
      },
      emitSide(port: string, values: unknown[], ts: number) {
        core.#eventTime.side(meta, port, ts, values);
      },
    };
  }

  #taskBlobsOf(task: string): TaskBlobs {
    this.#taskBlobs.set(task, { ...(this.opts.blobs?.initial ?? {}) });
    const versions = (): BlobVersions => this.#taskBlobs.get(task)!;
    const local = this.opts.blobs?.local;
    const versionOf = (name: string): number => {
      const v = versions()[name];
      if (v === undefined) throw new EngineError('BAD_REQUEST', `blob ${JSON.stringify(name)} is not mapped by this app (config blobs)`);
      return v;
    };
    return {
      version: versionOf,
      path: (name) => {
        const v = versionOf(name);
        const p = local?.pathOf(name, v);
        if (!p) throw new EngineError('INTERNAL', `blob ${name} v${v} is not materialized on this executor`);
        return p;
      },
    };
  }

  blobCap(): number | undefined {
    return this.#schedule.cap();
  }

  blobSwitchesIn(lo: number, hi: number): BlobSwitch[] {
    return this.#schedule.between(lo, hi);
  }

  applyBlobSwitch(runner: TaskRunner, sw: { from: number }): void {
    const s = sw as BlobSwitch;
    const mine = this.#taskBlobs.get(runner.meta.name)!;
    for (const [name, version] of Object.entries(s.versions)) {
      if (mine[name] === version) continue;
      mine[name] = version;
      const path = this.opts.blobs?.local.pathOf(name, version) ?? '';
      inTask(runner.meta, 'onBlobUpdate', () => runner.task.onBlobUpdate?.(name, version, path, runner.ctx));
    }
    void this.#releaseUnused();
  }

  sourceBoundary(runner: SourceRunner, lo: number, b: number): void {
    const mine = this.#taskBlobs.get(runner.meta.name)!;
    for (const sw of this.#schedule.between(lo, b)) Object.assign(mine, sw.versions);
  }

  /**
   * The AppMaster proposes switching to `versions` at boundary `from`. Accepted (true) only
   * if no local task or source has reached `from`; then clocks stay below it until release
   * or abort. The versions must already be materialized (the caller awaits that first).
   */
  prepareBlobSwitch(sw: BlobSwitch): boolean {
    if (this.#schedule.pending) return false;
    for (const s of this.sources) if (s.clock >= sw.from || s.lastBoundary >= sw.from) return false;
    for (const r of this.runners.values()) if (r.inputClock >= sw.from || r.lastBoundary >= sw.from) return false;
    this.#schedule.pending = sw;
    return true;
  }

  releaseBlobSwitch(id: number): void {
    if (this.#schedule.release(id)) for (const r of this.runners.values()) r.reclock();
  }

  abortBlobSwitch(id: number): void {
    this.#schedule.abort(id);
    for (const r of this.runners.values()) r.reclock();
  }

  /** The oldest version any local task still uses, per blob (the status report). */
  blobsInUse(): BlobVersions {
    // An executor without tasks holds every released version: it reports the newest.
    if (this.#taskBlobs.size === 0) return this.#schedule.versionsAt(Infinity);
    const out: BlobVersions = {};
    for (const v of this.#taskBlobs.values()) for (const [n, x] of Object.entries(v)) out[n] = Math.min(out[n] ?? Infinity, x);
    return out;
  }

  async #releaseUnused(): Promise<void> {
    const local = this.opts.blobs?.local;
    if (!local) return;
    const keep = new Map<string, Set<number>>();
    const add = (v: BlobVersions): void => {
      for (const [n, x] of Object.entries(v)) keep.set(n, (keep.get(n) ?? new Set()).add(x));
    };
    for (const v of this.#taskBlobs.values()) add(v);
    for (const s of this.#schedule.released) if (s.from !== -Infinity) add(s.versions);
    if (this.#schedule.pending) add(this.#schedule.pending.versions);
    await local.release(keep).catch((err: unknown) => this.opts.logger.warn({ err: String(err) }, 'could not remove an old blob version'));
  }

  /** Instantiates local tasks, restores state at restoreT and opens writers. */
  async open(dag: Dag): Promise<void> {
    const { plan, self, app, restoreT, epoch } = this.opts;
    // Every mapped blob is local before any task starts.
    for (const [name, version] of Object.entries(this.opts.blobs?.initial ?? {})) await this.opts.blobs!.local.materialize(name, version);
    const store = app.checkpoints(TASKS_STORE);
    // Stage-only: no writer is opened and nothing is swept (that is the AppMaster's writer's).
    this.#staging = store.stager(epoch);
    // An executor without tasks stages no part: it has nothing to restore either.
    const restored = restoreT === undefined || plan.tasksOf(self).length === 0 ? undefined : decodeParts(await store.readPart(restoreT, executorPart(self)));
    if (restoreT !== undefined) for (const p of (await store.get(restoreT))?.parts ?? []) this.#known.set(p.name, p);
    const wmName = watermarkPart(self);
    const restoredWm = restoreT !== undefined && this.#known.has(wmName) ? (decodeState(await store.readPart(restoreT, wmName)) as Record<string, unknown>) : {};
    this.#localTasks = plan.tasksOf(self).length;
    // Tasks see their processor's config from onStart on; later versions via onConfig.
    for (const p of new Set(plan.tasksOf(self).map((t) => t.processor))) {
      const e = await app.config.get(p);
      if (!e) continue;
      this.#configVersions.set(p, e.version);
      this.#initialConfig.set(p, e.value);
    }
    for (const meta of plan.tasksOf(self)) {
      const spec = dag.processors.get(meta.processor)!;
      const ctx = this.#ctx(meta);
      if (meta.source) {
        const src = inTask(meta, 'create', () => spec.source!());
        const start = Math.max(restoreT ?? 0, 0);
        const r = new SourceRunner(meta, src, ctx, start, this.intervalMs);
        const offsets = app.offsets(meta.name);
        r.writer = await offsets.writer(epoch);
        await r.writer.truncateAfter(restoreT ?? 0);
        let position: unknown;
        if (restoreT !== undefined) {
          const look = await offsets.lookUp(restoreT);
          if (look.status === 'found') {
            if (look.entry.t !== restoreT) ctx.logger.warn({ restoreT, found: look.entry.t }, 'offset at checkpoint time missing; using the next one');
            position = JSON.parse(Buffer.from(look.entry.value).toString('utf8'));
          } else if (look.status === 'overflow') {
            ctx.logger.warn({ restoreT, max: look.max.t }, 'offset lookUp overflow; clamping to the last offset');
            position = JSON.parse(Buffer.from(look.max.value).toString('utf8'));
          } else if (look.status === 'underflow') {
            ctx.logger.warn({ restoreT, min: look.min.t }, 'offset lookUp underflow; starting from the beginning');
          }
        }
        await inTaskAsync(meta, 'open', () => src.open(ctx, position));
        this.sources.push(r);
      } else {
        const task = inTask(meta, 'create', () => withStateBackend(stateBackendMaker(this.opts.state, dag.options.stateBackend, meta.name), () => spec.task!()));
        const start = restoreT ?? 0;
        const manifest = restored?.get(keyedKey(meta.name));
        if (manifest && isStatefulTask(task)) await this.#restoreKeyed(store, restoreT!, meta, task.keyedState, decodeState(manifest) as KeyedStateManifest);
        if (restored && task.restore) {
          const bytes = restored.get(meta.name);
          if (!bytes) throw new Error(`checkpoint ${restoreT} has no state for task ${meta.name}`);
          await inTaskAsync(meta, 'restore', () => task.restore!(decodeState(bytes), ctx));
        }
        await inTaskAsync(meta, 'onRecover', () => task.onRecover?.(restoreT, ctx));
        await inTaskAsync(meta, 'onStart', () => task.onStart?.(ctx));
        const wm = restoredWm[meta.name];
        this.runners.set(meta.id, new TaskRunner(this, meta, task, ctx, start, isWatermarkSnapshot(wm) ? wm : undefined));
      }
    }
    await this.#pollConfig();
    const poll = this.opts.configPollMs ?? 2000;
    this.#configTimer = setInterval(() => void this.#pollConfig().catch(() => {}), poll);
    this.#configTimer.unref();
  }

  /** Applies a task's keyed-state segments, oldest first (fetched a few at a time). */
  async #restoreKeyed(store: CheckpointStore, t: number, meta: PlannedTask, backend: KeyedBackend, m: KeyedStateManifest): Promise<void> {
    if (m.maxParallelism !== backend.maxParallelism) {
      throw new EngineError('APP_STATE', `task ${meta.name}: checkpoint ${t} has ${m.maxParallelism} key groups, the app now ${backend.maxParallelism} (maxParallelism is fixed for an app's life)`);
    }
    for (const n of m.tables) backend.table(n);
    const fetches = m.segments.map((s) => () => Promise.all(s.parts.map((p) => store.readPart(t, p))));
    const ahead = 4;
    const pending = fetches.slice(0, ahead).map((f) => f());
    for (let i = 0; i < m.segments.length; i++) {
      const parts = await pending[i]!;
      if (i + ahead < fetches.length) pending.push(fetches[i + ahead]!());
      backend.apply({ ...m.segments[i]!, parts: [...m.segments[i]!.parts] }, parts);
    }
  }

  async #pollConfig(): Promise<void> {
    const procs = new Set([...this.runners.values()].map((r) => r.meta.processor).concat(this.sources.map((s) => s.meta.processor)));
    for (const p of procs) {
      const e = await this.opts.app.config.get(p);
      if (!e || this.#configVersions.get(p) === e.version) continue;
      this.#configVersions.set(p, e.version);
      for (const r of this.runners.values()) {
        if (r.meta.processor !== p) continue;
        (r.ctx as { config: unknown }).config = e.value;
        r.task.onConfig?.(e.value, r.ctx);
      }
      for (const s of this.sources) if (s.meta.processor === p) (s.ctx as { config: unknown }).config = e.value;
    }
  }

  /** Starts the source loops (after every executor is connected). */
  start(): void {
    const batch = this.opts.batchSize ?? 1000;
    for (const s of this.sources) this.#loops.push(s.run(this, batch).catch((err: unknown) => this.#fail(err)));
  }

  exhausted(task: string, lastDataTs: number): void {
    this.opts.onExhausted(task, lastDataTs);
  }

  backpressure(): Promise<void> | undefined {
    const t = this.opts.transport;
    return t?.backpressured() ? t.whenDrained() : undefined;
  }

  /** Delivers a batch to a local task (from a local emit or a DATA frame). */
  deliver(to: number, ts: number, values: unknown[]): void {
    this.runners.get(to)?.receive(ts, values);
  }

  /** A CLOCK frame or local clock forward. */
  clock(from: number, to: number, c: number): void {
    this.runners.get(to)?.clock(from, c);
  }

  /** Entry points for frames from peers: a task's exception fails the executor, loudly. */
  deliverFrame(to: number, ts: number, values: unknown[]): void {
    try {
      this.deliver(to, ts, values);
    } catch (err) {
      this.#fail(err);
    }
  }

  clockFrame(from: number, to: number, c: number): void {
    try {
      this.clock(from, to, c);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** A watermark for a local task (a local forward or a WATERMARK frame). */
  watermark(from: number, to: number, ts: number, m: WatermarkMessage): void {
    this.runners.get(to)?.receiveWatermark(from, ts, m);
  }

  watermarkFrame(from: number, to: number, ts: number, m: WatermarkMessage): void {
    try {
      this.watermark(from, to, ts, m);
    } catch (err) {
      this.#fail(err);
    }
  }

  forwardWatermark(meta: PlannedTask, ts: number, m: WatermarkMessage): void {
    this.#eventTime.watermark(meta, ts, m);
  }

  #fail(err: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.opts.onFatal(err);
  }

  route(meta: PlannedTask, ts: number, values: unknown[]): void {
    this.#router.route(meta, ts, values);
  }

  forwardClock(meta: PlannedTask, c: number): void {
    this.#router.forwardClock(meta, c);
  }

  /** Snapshots are taken synchronously (consistent), stored asynchronously in order. */
  stage(t: number, task: string, state: unknown, keyed?: FrozenState, watermarks?: WatermarkSnapshot): void {
    this.stageAfter(undefined, t, task, state, keyed, watermarks);
  }

  stageAfter(before: Promise<unknown> | undefined, t: number, task: string, state: unknown, keyed?: FrozenState, watermarks?: WatermarkSnapshot): void {
    // Start the prerequisite now (e.g. the offset append); the part is staged after it.
    before?.catch(() => {});
    let c = this.#collect.get(t);
    if (!c) this.#collect.set(t, (c = { parts: new Map(), waits: [], keyed: new Map(), carried: [], watermarks: new Map(), pauseMs: 0 }));
    c.parts.set(task, encodeState(state));
    if (watermarks && !isInitialWatermark(watermarks)) c.watermarks.set(task, watermarks);
    if (keyed) {
      c.keyed.set(task, keyed);
      c.pauseMs = Math.max(c.pauseMs, keyed.pauseMs);
    }
    if (before) c.waits.push(before);
    if (c.parts.size < this.#localTasks) return;
    // The blob versions for messages at or after t: a restore at t uses exactly these.
    if (this.opts.blobs) c.parts.set(BLOB_PART_KEY, encodeState(this.#schedule.versionsAt(t)));
    // Every local task reached t: older incomplete times can no longer complete, but the
    // segments their tasks froze hold writes checkpoint t needs: they are encoded with t.
    for (const [k, old] of this.#collect) {
      if (k > t) continue;
      if (k < t) c.carried.push(...old.carried, ...old.keyed);
      this.#collect.delete(k);
    }
    const job = c;
    const name = executorPart(this.opts.self);
    this.#stageQueue = this.#stageQueue.then(async () => {
      if (this.#stopped) return;
      try {
        await Promise.all(job.waits);
        const t0 = performance.now();
        let newBytes = 0;
        const staged: CheckpointPart[] = [];
        const fresh = new Set<string>();
        const encode = async (task: string, f: FrozenState): Promise<void> => {
          if (!f.fresh) return;
          const backend = this.#backendByTask(task);
          const bytes = await backend.encode(f.fresh, SEGMENT_PART_BYTES);
          const names = bytes.map((_, i) => (bytes.length === 1 ? `${task}.s${f.fresh!.info.t}` : `${task}.s${f.fresh!.info.t}.${i}`));
          for (let i = 0; i < bytes.length; i++) {
            const p = await this.#staging!.stage(t, names[i]!, bytes[i]!);
            this.#known.set(p.name, p);
            fresh.add(p.name);
            newBytes += p.size;
          }
          f.fresh.info.parts = names;
        };
        for (const [task, f] of job.carried) await encode(task, f);
        let entries = 0;
        const listed: CheckpointPart[] = [];
        for (const [task, f] of job.keyed) {
          await encode(task, f);
          const m = this.#backendByTask(task).manifest(f);
          job.parts.set(keyedKey(task), encodeState(m));
          entries += f.liveEntries;
          for (const seg of m.segments) for (const n of seg.parts) {
            const p = this.#known.get(n);
            if (!p) throw new EngineError('INTERNAL', `task ${task}: keyed-state segment part ${n} of checkpoint ${t} was never staged`);
            listed.push(p);
          }
        }
        const main = await this.#staging!.stage(t, name, encodeParts(job.parts));
        staged.push(main);
        newBytes += main.size;
        if (job.watermarks.size) {
          const wm = await this.#staging!.stage(t, watermarkPart(this.opts.self), encodeState(Object.fromEntries(job.watermarks)));
          staged.push(wm);
          newBytes += wm.size;
        }
        let sharedBytes = 0;
        for (const p of listed) {
          staged.push(p);
          if (!fresh.has(p.name)) sharedBytes += p.size;
        }
        this.#forget(staged);
        this.opts.onStaged(t, name, staged, { newBytes, sharedBytes, pauseMs: job.pauseMs, uploadMs: performance.now() - t0, stateEntries: entries });
      } catch (err) {
        this.#fail(err);
      }
    });
  }

  /** Forgets parts no longer listed (their segments were cleaned). */
  #forget(listed: CheckpointPart[]): void {
    const keep = new Set(listed.map((p) => p.name));
    for (const n of this.#known.keys()) if (!keep.has(n)) this.#known.delete(n);
  }

  #backendByTask(task: string): KeyedBackend {
    const r = [...this.runners.values()].find((x) => x.meta.name === task);
    if (!r || !isStatefulTask(r.task)) throw new EngineError('INTERNAL', `task ${task} has no keyed state`);
    return r.task.keyedState;
  }

  /** Checkpoint t is committed: let transactional sinks publish. */
  async commit(t: number): Promise<void> {
    // Labelled like the other hooks: a failed commit names its processor and task in status.
    for (const r of this.runners.values()) await inTaskAsync(r.meta, 'onCommit', () => r.task.onCommit?.(t, r.ctx));
    // Sources that acknowledge upstream (a replication slot) may do so only now.
    for (const s of this.sources) await inTaskAsync(s.meta, 'onCommit', () => commitSource(s, t));
  }

  /** Per-task clocks and counters for the AppMaster's clock service and metrics. */
  status(): Array<{ task: string; clock: number; pendingMin?: number; messages: number; watermark?: number }> {
    const out: Array<{ task: string; clock: number; pendingMin?: number; messages: number; watermark?: number }> = [];
    for (const s of this.sources) out.push({ task: s.meta.name, clock: s.clock, messages: s.messagesOut });
    for (const r of this.runners.values()) {
      const p = r.pendingMin();
      const w = r.watermarks.watermark;
      out.push({ task: r.meta.name, clock: r.inputClock, messages: r.messagesIn, ...(p === undefined ? {} : { pendingMin: p }), ...(Number.isFinite(w) ? { watermark: w } : {}) });
    }
    return out;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#configTimer) clearInterval(this.#configTimer);
    await Promise.allSettled(this.#loops);
    await this.#stageQueue.catch(() => {});
    for (const s of this.sources) await s.source.close?.();
    for (const r of this.runners.values()) {
      if (isStatefulTask(r.task)) r.task.keyedState.close();
      await r.task.onStop?.(r.ctx);
    }
  }
}
