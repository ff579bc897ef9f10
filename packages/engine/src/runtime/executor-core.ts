import type { AppStorage, CheckpointPart, CheckpointWriter } from '@sluice/storage-api';
import type { Dag } from '../dsl/dag.js';
import type { TaskContext, TaskLogger } from '../dsl/task.js';
import type { ExecutionPlan, PlannedTask } from './plan.js';
import { Router, type Transport } from './router.js';
import { SourceRunner, type SourceHost } from './source-runner.js';
import { decodeParts, decodeState, encodeParts, encodeState, executorPart } from './state-codec.js';
import { inTask, inTaskAsync } from './task-failure.js';
import { TaskRunner, type RunnerHost } from './task-runner.js';

export { decodeParts, encodeParts, executorPart } from './state-codec.js';
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
  onStaged(t: number, task: string, part: CheckpointPart): void;
  onExhausted(task: string, lastDataTs: number): void;
  /** App code threw (TaskFailure) or a storage write failed (STORAGE_FENCED: a zombie): the executor must stop. */
  onFatal(err: unknown): void;
}

/** The one thing an executor may do with a checkpoint: stage its part (never commit). */
export interface StagingHandle {
  stage(t: number, name: string, bytes: Uint8Array): Promise<CheckpointPart>;
}

function stagingHandle(w: CheckpointWriter): StagingHandle {
  return { stage: (t, name, bytes) => w.stage(t, name, bytes) };
}

/**
 * Hosts the tasks an executor runs. Inside the executor, batches move by plain calls;
 * to other executors they go through the Transport as binary frames. Clocks travel
 * in-band after the data they cover, so a task's input clock is exact.
 */
export class ExecutorCore implements RunnerHost, SourceHost {
  readonly intervalMs: number;
  readonly runners = new Map<number, TaskRunner>();
  readonly sources: SourceRunner[] = [];
  /** Executors only stage: committing is the AppMaster's (a narrower handle than the writer). */
  #staging: StagingHandle | undefined;
  readonly #router: Router;
  #stopped = false;
  #loops: Promise<void>[] = [];
  #configTimer: NodeJS.Timeout | undefined;
  #configVersions = new Map<string, number>();
  #initialConfig = new Map<string, unknown>();
  #stageQueue: Promise<unknown> = Promise.resolve();
  #collect = new Map<number, { parts: Map<string, Uint8Array>; waits: Promise<unknown>[] }>();
  #localTasks = 0;

  constructor(readonly opts: CoreOptions) {
    this.intervalMs = opts.intervalMs;
    this.#router = new Router(opts.plan, opts.self, this, opts.transport);
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  get plan(): ExecutionPlan {
    return this.opts.plan;
  }

  #ctx(meta: PlannedTask): TaskContext & { epoch: number } {
    const core = this;
    const logger = this.opts.logger.child ? this.opts.logger.child({ task: meta.name }) : this.opts.logger;
    return {
      appId: this.opts.appId, taskId: meta.name, processor: meta.processor, index: meta.index, parallelism: meta.parallelism,
      epoch: this.opts.epoch, config: this.#initialConfig.get(meta.processor), logger,
      emit(values: unknown[], ts: number) {
        core.route(meta, ts, values);
      },
    };
  }

  /** Instantiates local tasks, restores state at restoreT and opens writers. */
  async open(dag: Dag): Promise<void> {
    const { plan, self, app, restoreT, epoch } = this.opts;
    const store = app.checkpoints('tasks');
    this.#staging = stagingHandle(await store.writer(epoch));
    const restored = restoreT === undefined ? undefined : decodeParts(await store.readPart(restoreT, executorPart(self)));
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
        const task = inTask(meta, 'create', () => spec.task!());
        const start = restoreT ?? 0;
        if (restored && task.restore) {
          const bytes = restored.get(meta.name);
          if (!bytes) throw new Error(`checkpoint ${restoreT} has no state for task ${meta.name}`);
          await inTaskAsync(meta, 'restore', () => task.restore!(decodeState(bytes), ctx));
        }
        await inTaskAsync(meta, 'onRecover', () => task.onRecover?.(restoreT, ctx));
        await inTaskAsync(meta, 'onStart', () => task.onStart?.(ctx));
        this.runners.set(meta.id, new TaskRunner(this, meta, task, ctx, start));
      }
    }
    await this.#pollConfig();
    const poll = this.opts.configPollMs ?? 2000;
    this.#configTimer = setInterval(() => void this.#pollConfig().catch(() => {}), poll);
    this.#configTimer.unref();
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
  stage(t: number, task: string, state: unknown): void {
    this.stageAfter(undefined, t, task, state);
  }

  stageAfter(before: Promise<unknown> | undefined, t: number, task: string, state: unknown): void {
    // Start the prerequisite now (e.g. the offset append); the part is staged after it.
    before?.catch(() => {});
    let c = this.#collect.get(t);
    if (!c) this.#collect.set(t, (c = { parts: new Map(), waits: [] }));
    c.parts.set(task, encodeState(state));
    if (before) c.waits.push(before);
    if (c.parts.size < this.#localTasks) return;
    // Every local task reached t: older incomplete times can no longer complete.
    for (const k of this.#collect.keys()) if (k <= t) this.#collect.delete(k);
    const { parts, waits } = c;
    const name = executorPart(this.opts.self);
    this.#stageQueue = this.#stageQueue.then(async () => {
      if (this.#stopped) return;
      try {
        await Promise.all(waits);
        const part = await this.#staging!.stage(t, name, encodeParts(parts));
        this.opts.onStaged(t, name, part);
      } catch (err) {
        this.opts.onFatal(err);
      }
    });
  }

  /** Checkpoint t is committed: let transactional sinks publish. */
  async commit(t: number): Promise<void> {
    for (const r of this.runners.values()) await r.task.onCommit?.(t, r.ctx);
  }

  /** Per-task clocks and counters for the AppMaster's clock service and metrics. */
  status(): Array<{ task: string; clock: number; pendingMin?: number; messages: number }> {
    const out: Array<{ task: string; clock: number; pendingMin?: number; messages: number }> = [];
    for (const s of this.sources) out.push({ task: s.meta.name, clock: s.clock, messages: s.messagesOut });
    for (const r of this.runners.values()) {
      const p = r.pendingMin();
      out.push({ task: r.meta.name, clock: r.inputClock, messages: r.messagesIn, ...(p === undefined ? {} : { pendingMin: p }) });
    }
    return out;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#configTimer) clearInterval(this.#configTimer);
    await Promise.allSettled(this.#loops);
    await this.#stageQueue.catch(() => {});
    for (const s of this.sources) await s.source.close?.();
    for (const r of this.runners.values()) await r.task.onStop?.(r.ctx);
  }
}
