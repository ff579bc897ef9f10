import type { AppStorage, CheckpointPart, CheckpointWriter, OffsetWriter } from '@sluice/storage-api';
import type { Dag } from '../dsl/dag.js';
import type { SourceTask, Task, TaskContext, TaskLogger } from '../dsl/task.js';
import { encodeClock, encodeData } from './framing.js';
import { hashKey, type ExecutionPlan, type PlannedTask } from './plan.js';

/** Sends frames to other executors; absent when every task is local. */
export interface Transport {
  send(executor: number, frame: Buffer): void;
  /** True while some outbound queue is above its high-water mark. */
  backpressured(): boolean;
  whenDrained(): Promise<void>;
}

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

const boundary = (c: number, interval: number): number => Math.floor(c / interval) * interval;

function encodeState(state: unknown): Uint8Array {
  if (state instanceof Uint8Array) {
    const out = new Uint8Array(state.length + 1);
    out[0] = 1;
    out.set(state, 1);
    return out;
  }
  const json = Buffer.from(JSON.stringify(state ?? null), 'utf8');
  const out = new Uint8Array(json.length + 1);
  out[0] = 0;
  out.set(json, 1);
  return out;
}

function decodeState(bytes: Uint8Array): unknown {
  if (bytes[0] === 1) return bytes.subarray(1);
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 1, bytes.length - 1).toString('utf8'));
}

/** One checkpoint part per executor: the states of all its tasks (fewer store writes). */
export function encodeParts(parts: Map<string, Uint8Array>): Uint8Array {
  let n = 4;
  const names = [...parts.keys()].map((k) => Buffer.from(k, 'utf8'));
  for (const [i, v] of [...parts.values()].entries()) n += 2 + names[i]!.length + 4 + v.length;
  const out = Buffer.allocUnsafe(n);
  out.writeUInt32BE(parts.size, 0);
  let off = 4;
  for (const [i, v] of [...parts.values()].entries()) {
    const name = names[i]!;
    out.writeUInt16BE(name.length, off);
    name.copy(out, off + 2);
    off += 2 + name.length;
    out.writeUInt32BE(v.length, off);
    out.set(v, off + 4);
    off += 4 + v.length;
  }
  return out;
}

export function decodeParts(bytes: Uint8Array): Map<string, Uint8Array> {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = new Map<string, Uint8Array>();
  let off = 4;
  for (let i = 0, n = b.readUInt32BE(0); i < n; i++) {
    const len = b.readUInt16BE(off);
    const name = b.toString('utf8', off + 2, off + 2 + len);
    off += 2 + len;
    const size = b.readUInt32BE(off);
    out.set(name, b.subarray(off + 4, off + 4 + size));
    off += 4 + size;
  }
  return out;
}

/**
 * An exception thrown by app code (a task's onNext/onClock/restore/..., a source's
 * open/read), labelled with where it happened so it reaches the logs and the app's
 * status with its processor and task.
 */
export class TaskFailure extends Error {
  constructor(readonly processor: string, readonly task: string, readonly hook: string, cause: unknown) {
    super(`${hook} threw: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    if (cause instanceof Error && cause.stack) this.stack = `TaskFailure: ${this.message}\n    in ${hook} of task ${task}\n${cause.stack}`;
  }
  override get name(): string {
    return 'TaskFailure';
  }
}

function inTask<T>(meta: PlannedTask, hook: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw err instanceof TaskFailure ? err : new TaskFailure(meta.processor, meta.name, hook, err);
  }
}

async function inTaskAsync<T>(meta: PlannedTask, hook: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof TaskFailure ? err : new TaskFailure(meta.processor, meta.name, hook, err);
  }
}

/** The checkpoint part name of an executor's combined state. */
export const executorPart = (executor: number): string => `exec-${executor}`;

interface Held {
  ts: number;
  values: unknown[];
}

/** Runs one non-source task: input channel clocks, alignment at boundaries, snapshots. */
class TaskRunner {
  readonly inputs = new Map<number, number>();
  inputClock: number;
  lastBoundary: number;
  held: Held[] = [];
  messagesIn = 0;
  constructor(readonly core: ExecutorCore, readonly meta: PlannedTask, readonly task: Task, readonly ctx: TaskContext & { epoch: number }, start: number) {
    for (const i of meta.inputs) this.inputs.set(i, start);
    this.inputClock = start;
    this.lastBoundary = boundary(start, core.intervalMs);
  }

  receive(ts: number, values: unknown[]): void {
    if (ts >= this.lastBoundary + this.core.intervalMs) {
      // Past the next boundary while some input is still before it: hold (alignment).
      this.held.push({ ts, values });
      return;
    }
    this.messagesIn += values.length;
    inTask(this.meta, 'onNext', () => this.task.onNext(values, ts, this.ctx));
  }

  clock(from: number, c: number): void {
    const prev = this.inputs.get(from);
    if (prev === undefined || c <= prev) return;
    this.inputs.set(from, c);
    let min = Infinity;
    for (const v of this.inputs.values()) if (v < min) min = v;
    if (min > this.inputClock) this.advance(min);
  }

  #release(below: number): void {
    if (this.held.length === 0) return;
    const keep: Held[] = [];
    const held = this.held;
    this.held = keep;
    for (const h of held) {
      if (h.ts < below) {
        this.messagesIn += h.values.length;
        inTask(this.meta, 'onNext', () => this.task.onNext(h.values, h.ts, this.ctx));
      } else keep.push(h);
    }
  }

  advance(c: number): void {
    this.inputClock = c;
    const b = boundary(c, this.core.intervalMs);
    if (b > this.lastBoundary) {
      this.#release(b);
      inTask(this.meta, 'onClock', () => this.task.onClock?.(b, this.ctx));
      this.lastBoundary = b;
      this.core.stage(b, this.meta.name, this.task.snapshot ? inTask(this.meta, 'snapshot', () => this.task.snapshot!()) : null);
      this.#release(b + this.core.intervalMs);
    }
    this.core.forwardClock(this.meta, c);
  }

  pendingMin(): number | undefined {
    let m: number | undefined;
    for (const h of this.held) if (m === undefined || h.ts < m) m = h.ts;
    return m;
  }
}

/** Runs one source task: reads batches, stamps them, records offsets at boundaries. */
class SourceRunner {
  clock: number;
  lastBoundary: number;
  lastDataTs: number;
  exhausted = false;
  messagesOut = 0;
  writer: OffsetWriter | undefined;
  constructor(readonly core: ExecutorCore, readonly meta: PlannedTask, readonly source: SourceTask, readonly ctx: TaskContext & { epoch: number }, start: number) {
    this.clock = start;
    this.lastBoundary = boundary(start, core.intervalMs);
    this.lastDataTs = start - 1;
  }
}

/**
 * Hosts the tasks an executor runs. Inside the executor, batches move by plain calls;
 * to other executors they go through the Transport as binary frames. Clocks travel
 * in-band after the data they cover, so a task's input clock is exact.
 */
export class ExecutorCore {
  readonly intervalMs: number;
  readonly runners = new Map<number, TaskRunner>();
  readonly sources: SourceRunner[] = [];
  #ckpt: CheckpointWriter | undefined;
  #rr = new Map<string, number>();
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
    this.#ckpt = await store.writer(epoch);
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
        const r = new SourceRunner(this, meta, src, ctx, start);
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
    for (const s of this.sources) this.#loops.push(this.#runSource(s));
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
    if (values.length === 0) return;
    for (const out of this.plan.outEdges(meta.processor)) {
      const { edge, targets } = out;
      if (edge.partition === 'forward') this.#send(meta.id, targets[meta.index]!, ts, values);
      else if (edge.partition === 'shuffle') {
        const k = `${meta.id}>${edge.to}`;
        const n = this.#rr.get(k) ?? meta.index;
        this.#rr.set(k, n + 1);
        this.#send(meta.id, targets[n % targets.length]!, ts, values);
      } else {
        const p = targets.length;
        if (p === 1) {
          this.#send(meta.id, targets[0]!, ts, values);
          continue;
        }
        const parts: unknown[][] = Array.from({ length: p }, () => []);
        const key = edge.key!;
        for (let i = 0; i < values.length; i++) parts[hashKey(key(values[i])) % p]!.push(values[i]);
        for (let j = 0; j < p; j++) if (parts[j]!.length) this.#send(meta.id, targets[j]!, ts, parts[j]!);
      }
    }
  }

  #send(from: number, to: number, ts: number, values: unknown[]): void {
    const owner = this.plan.tasks[to]!.executor;
    if (owner === this.opts.self) this.deliver(to, ts, values);
    else this.opts.transport!.send(owner, encodeData(from, to, ts, values));
  }

  forwardClock(meta: PlannedTask, c: number): void {
    const remote = new Map<number, number[]>();
    for (const { edge, targets } of this.plan.outEdges(meta.processor)) {
      const tos = edge.partition === 'forward' ? [targets[meta.index]!] : targets;
      for (const to of tos) {
        const owner = this.plan.tasks[to]!.executor;
        if (owner === this.opts.self) this.clock(meta.id, to, c);
        else remote.set(owner, [...(remote.get(owner) ?? []), to]);
      }
    }
    for (const [owner, tos] of remote) this.opts.transport!.send(owner, encodeClock(c, meta.id, tos));
  }

  /** Snapshots are taken synchronously (consistent), stored asynchronously in order. */
  stage(t: number, task: string, state: unknown): void {
    this.#stageAfter(undefined, t, task, state);
  }

  #stageAfter(before: Promise<unknown> | undefined, t: number, task: string, state: unknown): void {
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
        const part = await this.#ckpt!.stage(t, name, encodeParts(parts));
        this.opts.onStaged(t, name, part);
      } catch (err) {
        this.opts.onFatal(err);
      }
    });
  }

  async #runSource(s: SourceRunner): Promise<void> {
    const batch = this.opts.batchSize ?? 1000;
    const interval = this.intervalMs;
    let reported = false;
    try {
      while (!this.#stopped) {
        const now = Math.max(Date.now(), s.clock);
        const b = boundary(now, interval);
        if (b > s.lastBoundary) {
          // Everything before b has been emitted: record where b starts. The write is
          // off the hot loop; the source's part is staged only once the offset is
          // durable, so a commit of b implies offset(b) is in the store.
          const position = s.source.position() ?? null;
          s.lastBoundary = b;
          this.#stageAfter(s.writer!.append(b, Buffer.from(JSON.stringify(position), 'utf8')), b, s.meta.name, { position });
        }
        let values: unknown[] | null = [];
        if (!s.exhausted) {
          values = inTask(s.meta, 'read', () => s.source.read(batch));
          if (values === null) {
            s.exhausted = true;
            values = [];
          }
        }
        if (values.length) {
          s.messagesOut += values.length;
          s.lastDataTs = now;
          this.route(s.meta, now, values);
        }
        s.clock = now;
        this.forwardClock(s.meta, now);
        if (s.exhausted && !reported) {
          reported = true;
          this.opts.onExhausted(s.meta.name, s.lastDataTs);
        }
        const t = this.opts.transport;
        if (t?.backpressured()) await t.whenDrained();
        else if (values.length === 0) await sleep(Math.min(20, interval / 4));
        else await new Promise<void>((r) => setImmediate(r));
      }
    } catch (err) {
      this.#fail(err);
    }
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
